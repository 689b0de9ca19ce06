package tail

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRotationsInARow writes and rotates one container's log the kubelet
// way as fast as a test can (rename, a new 0.log, the older rotated file
// gzipped, the oldest deleted once delivered), often two rotations with a
// write between and no pause, while a tailer runs: every line arrives,
// once. Each run is a seeded sequence with random pauses (up to 15 ms)
// between operations, so the tailer's looks fall at different points of
// kubelet's steps. A few sequences run by default; TAIL_ROTATIONS=N runs
// N (a soak: 1,600 found TestRotatedRefCompressedAfterListing's case and
// TestFollowedFileCompressedAtStart's). A failing sequence logs its
// operations, the lines as they arrived and the tailer's debug log.
func TestRotationsInARow(t *testing.T) {
	n := 4
	if s := os.Getenv("TAIL_ROTATIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TAIL_ROTATIONS: %v", err)
		}
	}
	for seed := range n {
		t.Run(strconv.Itoa(seed), func(t *testing.T) { rotationsInARow(t, uint64(seed), false) })
	}
}

// TestCopytruncatesInARow is TestRotationsInARow with copytruncates too
// (the log copied to a rotated name and truncated in place; the copy
// gzipped at the next rotation, once its lines arrived), often two a few
// milliseconds apart. A few sequences run by default; TAIL_COPIES=N runs N.
// Found with it (and fixed): a copy made within a tick of the file
// system's coarse clock after the file's open or truncation was taken for
// older and lost uncounted (TestCopyWithinATickOfTheOpen); a copy read as
// a rotated file before the path's new file, or as a later copy of a
// truncation, was found again as a copy and read twice; a copy compressed
// before its lines were read, of a file nothing was read of, was lost when
// its creation's notification was taken after the compression (copy.go
// noteCompressed). The test waits for a copy's lines before it compresses
// it, unless TAIL_COPIES_NOWAIT=1. Without the wait, before noteCompressed
// 5 of 300 sequences failed (losses; the copy compressed at once, most with
// a rename rotation of the same file before the tailer looked); after it,
// 2 of 600: a second copytruncate made as the first one's truncation was
// handled, lost; and a copy read as a rotated file at the first scan, then
// compressed and found again by the file's truncation, read twice.
func TestCopytruncatesInARow(t *testing.T) {
	n := 4
	if s := os.Getenv("TAIL_COPIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TAIL_COPIES: %v", err)
		}
	}
	for seed := range n {
		t.Run(strconv.Itoa(seed), func(t *testing.T) { rotationsInARow(t, uint64(seed), true) })
	}
}

// syncBuffer is a bytes.Buffer a logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func rotationsInARow(t *testing.T, seed uint64, copies bool) {
	rng := rand.New(rand.NewPCG(seed, 7))
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	var debug syncBuffer
	r := startRunnerLog(t, testConfig(dir, state), Options{}, slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var ops []string
	logf := func(format string, args ...any) {
		ops = append(ops, time.Now().Format("15:04:05.000000 ")+fmt.Sprintf(format, args...))
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var recs []string
		for _, x := range r.snapshot() {
			n, _ := seqOf(x.body)
			recs = append(recs, fmt.Sprintf("%s %d %s", x.at.Format("15:04:05.000000"), n, filepath.Base(x.path)))
		}
		t.Logf("operations:\n%s\nlines as they arrived:\n%s\ntailer:\n%s", strings.Join(ops, "\n"), strings.Join(recs, "\n"), debug.String())
	})
	delivered := func() int {
		seen := make(map[int]bool)
		for _, s := range seqs(r.snapshot()) {
			seen[s] = true
		}
		return len(seen)
	}
	pause := func() {
		if rng.IntN(3) == 0 {
			// Part of the operation, as kubelet's steps are spread in time.
			time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
		}
	}
	next, clock := 0, 0
	write := func(n int) {
		appendFile(t, path, lines(next, next+n))
		logf("write %d..%d", next, next+n-1)
		next += n
	}
	var rotated []string
	copyLines := make(map[string]int) // a copy's name: the lines written before it
	var rotate, copyTruncate func()
	compressAndExpire := func(name string) {
		rotated = append(rotated, name)
		for i := range len(rotated) - 1 {
			if want, ok := copyLines[rotated[i]]; ok && os.Getenv("TAIL_COPIES_NOWAIT") == "" {
				// A copy is compressed once its lines were read: one
				// compressed before, of a file nothing was read of, is
				// lost (a known limit: copy.go takeCopyOf).
				waitFor(t, 20*time.Second, "the lines of a copy before it is compressed", func() bool { return delivered() >= want })
			}
			if !strings.HasSuffix(rotated[i], ".gz") {
				mustGzip(t, rotated[i])
				logf("gzip %s", filepath.Base(rotated[i]))
				rotated[i] += ".gz"
			}
		}
		for len(rotated) > 2 {
			// kubelet deletes the oldest; these lines must be read first.
			want := next
			waitFor(t, 20*time.Second, "the lines of the oldest file before it is deleted", func() bool { return delivered() >= want })
			if err := os.Remove(rotated[0]); err != nil {
				t.Fatal(err)
			}
			logf("delete %s", filepath.Base(rotated[0]))
			rotated = rotated[1:]
		}
	}
	rotate = func() {
		clock++
		name := fmt.Sprintf("%s.20261204-%06d", path, clock)
		mustRename(t, path, name)
		appendFile(t, path, "")
		logf("rotate -> %s", filepath.Base(name))
		compressAndExpire(name)
	}
	copyTruncate = func() {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			return
		}
		clock++
		name := fmt.Sprintf("%s.20261204-%06d", path, clock)
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		copyLines[name] = next
		logf("copytruncate -> %s", filepath.Base(name))
		compressAndExpire(name)
	}
	kinds := 4
	if copies {
		kinds = 6
	}
	for range 30 {
		switch rng.IntN(kinds) {
		case 0, 1:
			write(1 + rng.IntN(30))
		case 2:
			rotate()
		case 3, 4, 5:
			first, second := rotate, rotate
			if copies && rng.IntN(2) == 0 {
				first = copyTruncate
			}
			if copies && rng.IntN(2) == 0 {
				second = copyTruncate
			}
			first()
			pause()
			write(rng.IntN(10))
			pause()
			second()
		}
		pause()
	}
	write(1)
	want := next
	waitFor(t, 20*time.Second, "every line", func() bool { return delivered() >= want })
	r.stop() // whatever was read is delivered by now
	count := make(map[int]int)
	for _, s := range seqs(r.snapshot()) {
		count[s]++
	}
	for s := range want {
		if count[s] != 1 {
			t.Errorf("line %d delivered %d times", s, count[s])
		}
	}
}
