package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestTextSpans: only the mappings of the executable (the file whose
// mapping holds pc) that are not writable and hold no copy-on-write page
// are unmapped.
func TestTextSpans(t *testing.T) {
	const pc = 0x401234
	smaps := `00400000-00c8c000 r-xp 00000000 fd:01 1234 /usr/bin/ferry agent
Size:               8752 kB
Rss:                5432 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me dw sd
00c8c000-01a00000 r--p 0088c000 fd:01 1234 /usr/bin/ferry agent
Size:               8752 kB
Anonymous:             0 kB
01a00000-01a10000 r--p 0160c000 fd:01 1234 /usr/bin/ferry agent
Anonymous:             8 kB
01a10000-01a20000 rw-p 0161c000 fd:01 1234 /usr/bin/ferry agent
Anonymous:             0 kB
01a20000-01a30000 rw-p 00000000 00:00 0
Anonymous:            64 kB
7f0000000000-7f0000010000 r-xp 00000000 fd:01 99 /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000020000-7f0000030000 r-xp 00000000 fd:01 98 /usr/bin/ferry
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
7fff00000000-7fff00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
`
	got, err := textSpans(strings.NewReader(smaps), pc)
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0xc8c000}, {0xc8c000, 0x1a00000}}
	if !slices.Equal(got, want) {
		t.Fatalf("spans %x, want %x (not the RELRO one with a copy-on-write page, not the writable one, not another file's)", got, want)
	}

	// The last mapping has no attribute line after it.
	got, err = textSpans(strings.NewReader("00400000-00500000 r-xp 00000000 fd:01 1 /a (deleted)\n"), pc)
	if err != nil || !slices.Equal(got, []span{{0x400000, 0x500000}}) {
		t.Fatalf("a replaced binary: %x %v", got, err)
	}
	if _, err := textSpans(strings.NewReader("00500000-00400000 r-xp 0 fd:01 1 /a\n"), pc); err == nil {
		t.Fatal("an inverted range was accepted")
	}
}

// exeRss is the resident size of the test binary's read-only mappings.
func exeRss(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	ours := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) == 0 {
			continue
		}
		if !strings.HasSuffix(fl[0], ":") {
			ours = len(fl) >= 6 && strings.Join(fl[5:], " ") == exe && fl[1][1] == '-'
			continue
		}
		if ours && fl[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fl[1], 10, 64)
			total += kb << 10
		}
	}
	return total
}

// TestDropTextPages unmaps this test binary's start pages: their resident
// size falls, and the code still runs (a cgo or race build keeps its
// relocated pages, so this also runs where that check matters).
func TestDropTextPages(t *testing.T) {
	before := exeRss(t)
	n, err := dropTextPages()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRss(t)
	t.Logf("advised %d KiB; resident %d KiB -> %d KiB", n>>10, before>>10, after>>10)
	if n == 0 || after >= before {
		t.Fatalf("advised %d bytes; resident %d -> %d bytes: nothing was unmapped", n, before, after)
	}
	// Code, read-only data and type information are read back from the file.
	b, err := json.Marshal(map[string][]int{"x": {1, 2}})
	if err != nil || string(b) != `{"x":[1,2]}` {
		t.Fatalf("after the drop: %s %v", b, err)
	}
}

// TestTextPagesSchedule: the first drop comes textFirst after the start,
// then one every textEvery; a failure is logged and ends the loop.
func TestTextPagesSchedule(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var at []time.Duration
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			textPages(ctx, log, func() (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				at = append(at, time.Since(start))
				return 1, nil
			})
		}()
		time.Sleep(textFirst + 2*textEvery + time.Second)
		cancel()
		<-done
		want := []time.Duration{textFirst, textFirst + textEvery, textFirst + 2*textEvery}
		if !slices.Equal(at, want) {
			t.Fatalf("drops at %v, want %v", at, want)
		}

		calls := 0
		textPages(t.Context(), log, func() (int64, error) { calls++; return 0, errors.New("EINVAL") })
		if calls != 1 {
			t.Fatalf("%d drops after a failure, want 1", calls)
		}
	})
}
