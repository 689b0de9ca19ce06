package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The pages of the agent's own binary that only its start used.
//
// RSS counts every page of the executable mapped into the process, and a
// page once mapped stays mapped: the code that parsed the config, set up
// client-go and the sink and made the first listing of the node's files
// ran once and is counted for the agent's whole life. The kernel also maps
// up to 16 pages around each page a fault reads. Measured (bench/README.md,
// "The start's binary pages unmapped"), 10,000 lines/s over 50 files to
// Kafka: RssFile 19.6-19.7 MiB before, 12.7 MiB once the start's pages
// were unmapped; the CPU moved within the spread of single runs.
//
// So the agent unmaps (madvise MADV_DONTNEED) the read-only mappings of its
// executable textFirst after it starts and every textEvery after: code,
// read-only data and the pc-line table. They stay in the page cache,
// shared and reclaimable (and charged to the container's memory cgroup
// until the kernel reclaims them: what RSS and the OOM killer's score
// count falls, the cgroup's usage does not), and the pages still in use
// are mapped back by the next minor fault, a few hundred of them a time.
// A drop takes a few milliseconds (4-14 ms measured, load average 6).
// Pages that run only now and then (a GC cycle, a rescan, a reconnect) fault
// back between drops: with enrichment on, RssFile went from 14.7 MiB just
// after a drop to 20.0 MiB 150 s later, so the drop repeats every minute
// (17.4 MiB at the end of the same 150 s run; the mean RSS over it 37.4 ->
// 36.9 MiB), at well under a thousandth of a core.
// A mapping that is writable, or that holds a copy-on-write page (the
// dynamic loader's relocated RELRO segment of a cgo build), keeps its
// pages: unmapping those would lose what was written into them. Such a
// page may be in swap, not resident: unmapping it then drops the swap entry
// just the same (a cgo call through the GOT jumped to address 0).
const (
	textFirst = 10 * time.Second
	textEvery = time.Minute
)

// span is one mapping's address range, [lo, hi).
type span struct{ lo, hi uintptr }

// textSpans reads /proc/self/smaps (r) for the mappings of the file whose
// mapping holds the address pc (the agent's own code) that may be
// unmapped: not writable, and no anonymous page in them, resident or
// swapped. The file is told by the device and inode of that mapping, not by
// a path: /proc/self/exe names the dynamic loader when the agent was
// started through it (ld.so ./ferry), and smaps folds the spaces of a path
// and escapes its newlines. When pc is in no file's mapping (a packed
// binary unpacked into anonymous memory), nothing is unmapped.
func textSpans(r io.Reader, pc uintptr) ([]span, error) {
	type mapping struct {
		span
		file string // "dev inode"; "" when anonymous
		keep bool   // not writable, no copy-on-write page seen
	}
	var (
		maps []mapping
		self string
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) == 0 {
			continue
		}
		if strings.HasSuffix(fl[0], ":") { // an attribute of the mapping
			// A copy-on-write page is counted in Anonymous while resident
			// and in Swap once swapped out.
			if len(maps) > 0 && (fl[0] == "Anonymous:" || fl[0] == "Swap:") && (len(fl) < 2 || fl[1] != "0") {
				maps[len(maps)-1].keep = false
			}
			continue
		}
		// A mapping's header: address perms offset dev inode [path].
		lo, hi, ok := strings.Cut(fl[0], "-")
		if !ok || len(fl) < 5 || len(fl[1]) < 2 {
			return nil, fmt.Errorf("smaps: not a mapping: %q", sc.Text())
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || h <= l {
			return nil, fmt.Errorf("smaps: bad address range %q", fl[0])
		}
		m := mapping{span: span{uintptr(l), uintptr(h)}, keep: fl[1][1] == '-'}
		if fl[4] != "0" {
			m.file = fl[3] + " " + fl[4]
		}
		if m.lo <= pc && pc < m.hi {
			self = m.file
		}
		maps = append(maps, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("smaps: %w", err)
	}
	var out []span
	for _, m := range maps {
		if self != "" && m.file == self && m.keep {
			out = append(out, m.span)
		}
	}
	return out, nil
}

// dropTextPages unmaps the executable's read-only pages from the process
// and returns the size of the ranges it advised.
func dropTextPages() (int64, error) {
	pc, _, _, _ := runtime.Caller(0) // in the executable's code
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	spans, err := textSpans(f, pc)
	_ = f.Close()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, s := range spans {
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, s.lo, s.hi-s.lo, syscall.MADV_DONTNEED); e != 0 {
			return n, fmt.Errorf("madvise %#x-%#x: %w", s.lo, s.hi, e)
		}
		n += int64(s.hi - s.lo)
	}
	return n, nil
}

// textPages calls drop textFirst after it starts and every textEvery after,
// until ctx ends. A failure is logged once and ends it.
func textPages(ctx context.Context, log *slog.Logger, drop func() (int64, error)) {
	t := time.NewTimer(textFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := drop()
		if err != nil {
			log.Warn("could not unmap the binary's unused pages; RSS keeps them", "err", err)
			return
		}
		log.Debug("unmapped the binary's read-only pages", "bytes", n)
		t.Reset(textEvery)
	}
}
