//go:build linux

package main

import (
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestHostile56SwappedRelro: a relocated read-only page (the GOT of an
// externally linked build, a PIE build's RELRO) swapped out is no longer
// counted in Anonymous but in Swap. Unmapping that mapping drops the swap
// entry, and the next access reads the file's unrelocated bytes: a cgo call
// through the GOT jumped to address 0 (SIGSEGV) on a node with swap.
func TestHostile56SwappedRelro(t *testing.T) {
	const pc = 0x400000
	smaps := `00400000-00402000 r--p 00000000 fe:00 7 /usr/bin/ferry
Anonymous:             0 kB
Swap:                  0 kB
02549000-0254a000 r--p 02146000 fe:00 7 /usr/bin/ferry
Rss:                   0 kB
Anonymous:             0 kB
Swap:                  4 kB
SwapPss:               4 kB
VmFlags: rd mr mw me ac
0254a000-025de000 rw-p 02147000 fe:00 7 /usr/bin/ferry
Anonymous:           132 kB
`
	got, err := textSpans(strings.NewReader(smaps), pc)
	if err != nil {
		t.Fatal(err)
	}
	if want := []span{{0x400000, 0x402000}}; !slices.Equal(got, want) {
		t.Fatalf("spans %x, want %x: the mapping whose copy-on-write page is in swap was kept for unmapping", got, want)
	}
}

// h56TextRss is the mapping of /proc/self/smaps that holds pc and its
// resident size.
func h56TextRss(t *testing.T, pc uintptr) (span, int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var cur span
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		fl := strings.Fields(line)
		if len(fl) == 0 {
			continue
		}
		if !strings.HasSuffix(fl[0], ":") {
			lo, hi, _ := strings.Cut(fl[0], "-")
			l, _ := strconv.ParseUint(lo, 16, 64)
			h, _ := strconv.ParseUint(hi, 16, 64)
			cur, in = span{uintptr(l), uintptr(h)}, uintptr(l) <= pc && pc < uintptr(h)
			continue
		}
		if in && fl[0] == "Rss:" {
			kb, _ := strconv.ParseInt(fl[1], 10, 64)
			return cur, kb << 10
		}
	}
	t.Fatalf("no mapping holds %#x", pc)
	return span{}, 0
}

// TestHostile56Child is run by TestHostile56OddStart in a copy of this test
// binary: the drop unmaps the mapping of the code that runs.
func TestHostile56Child(t *testing.T) {
	if os.Getenv("FERRY_H56_CHILD") == "" {
		t.Skip("run by TestHostile56OddStart")
	}
	pc, _, _, _ := runtime.Caller(0)
	text, before := h56TextRss(t, pc)
	n, err := dropTextPages()
	if err != nil {
		t.Fatal(err)
	}
	_, after := h56TextRss(t, pc)
	exe, _ := os.Readlink("/proc/self/exe")
	if n < int64(text.hi-text.lo) || after >= before {
		t.Fatalf("started as %q: advised %d bytes, the code's mapping is %d bytes, resident %d -> %d: its pages were not unmapped", exe, n, text.hi-text.lo, before, after)
	}
}

// TestHostile56OddStart: the agent's binary at a path smaps does not print
// as it is (two spaces, a newline: smaps folds the one, escapes the other),
// or started through the dynamic loader (ld.so ./ferry: /proc/self/exe is
// the loader), still has its own pages unmapped, not none, not the
// loader's.
func TestHostile56OddStart(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	type start struct {
		name string
		argv []string
	}
	var starts []start
	for _, name := range []string{"ferry  agent", "ferry\nagent"} {
		// A hard link when it can (no 40 MB written, no descriptor open for
		// writing that a fork elsewhere could hold at the exec), a copy if not.
		p := filepath.Join(dir, name)
		if os.Link(self, p) != nil {
			bin, err := os.ReadFile(self)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bin, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		starts = append(starts, start{strconv.Quote(name), []string{p}})
	}
	if f, err := elf.Open(self); err == nil {
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b, err := io.ReadAll(p.Open())
			if err == nil {
				starts = append(starts, start{"through the loader", []string{strings.TrimRight(string(b), "\x00"), self}})
			}
		}
		_ = f.Close()
	}
	for _, s := range starts {
		t.Run(s.name, func(t *testing.T) {
			cmd := exec.Command(s.argv[0], append(s.argv[1:], "-test.run=^TestHostile56Child$", "-test.v")...)
			cmd.Env = append(os.Environ(), "FERRY_H56_CHILD=1")
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestHostile56Child") {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestHostile56TextSpansByFile: the executable is the file of the mapping
// that holds pc, whatever the paths say; code in anonymous memory (a packed
// binary unpacked at its start) or in no mapping unmaps nothing; a line
// that is neither a mapping nor an attribute stops the reading.
func TestHostile56TextSpansByFile(t *testing.T) {
	smaps := `00400000-00500000 r-xp 00000000 fd:01 7 /usr/bin/ferry (deleted)
Anonymous:             0 kB
00500000-00600000 r--p 00100000 fd:01 7 /usr/bin/ferry\012x
Anonymous:             0 kB
00600000-00700000 r--p 00000000 fd:01 8 /usr/bin/ferry (deleted)
Anonymous:             0 kB
00700000-00800000 r-xp 00000000 00:00 0
Anonymous:          1024 kB
f7000000-f7010000 r-xp 00000000 fd:01 9 /usr/lib/ld-linux-x86-64.so.2
Anonymous:             0 kB
`
	for _, c := range []struct {
		pc   uintptr
		want []span
	}{
		{0x400000, []span{{0x400000, 0x500000}, {0x500000, 0x600000}}},
		{0x5fffff, []span{{0x400000, 0x500000}, {0x500000, 0x600000}}},
		{0x600000, []span{{0x600000, 0x700000}}},
		{0x700010, nil},
		{0x900000, nil},
		{0xf7000010, []span{{0xf7000000, 0xf7010000}}},
	} {
		got, err := textSpans(strings.NewReader(smaps), c.pc)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("pc %#x: spans %x %v, want %x", c.pc, got, err, c.want)
		}
	}
	if got, err := textSpans(strings.NewReader(smaps+"x\n"), 0x400000); err == nil {
		t.Fatalf("a line neither a mapping nor an attribute: spans %x, no error", got)
	}
}

// FuzzHostile56TextSpans: whatever smaps says, textSpans does not panic
// (the agent runs it in a goroutine of its own) and returns only non-empty
// ranges of mappings it read.
func FuzzHostile56TextSpans(f *testing.F) {
	f.Add("00400000-00500000 r-xp 00000000 fd:01 7 /a\nAnonymous: 0 kB\nSwap: 0 kB\n", uint64(0x400000))
	f.Add("00400000-00500000 r--p 0 fd:01 7\nAnonymous:\nSwap:\n00500000-00600000 rw-p 0 0:0 0\n", uint64(0x500000))
	f.Add("0-1 r\n", uint64(0))
	f.Fuzz(func(t *testing.T, smaps string, pc uint64) {
		got, err := textSpans(strings.NewReader(smaps), uintptr(pc))
		if err != nil {
			return
		}
		for _, s := range got {
			if s.hi <= s.lo || !strings.Contains(strings.ToLower(smaps), strconv.FormatUint(uint64(s.lo), 16)+"-") {
				t.Fatalf("span %x not read from %q", s, smaps)
			}
		}
	})
}
