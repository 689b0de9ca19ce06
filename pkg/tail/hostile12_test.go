package tail

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// emitted is the sequence numbers of the lines a tailer driven step by
// step holds for its receiver (never sent: nothing takes them).
func emitted(tl *Tailer) []int {
	var out []int
	add := func(b []event.Log) {
		for _, l := range b {
			n, ok := seqOf(string(l.Body))
			if !ok {
				n = -1
			}
			out = append(out, n)
		}
	}
	for _, b := range tl.ready {
		add(b)
	}
	add(tl.batch)
	return out
}

// readAll reads f and what it waits for (its copies, oldest first) to
// their ends, as turns would. Bounded.
func readAll(t *testing.T, tl *Tailer, f *follower) {
	t.Helper()
	for range 100 {
		p := f
		for p.pred != nil && p.pred.st != stClosed {
			p = p.pred
		}
		tl.readFile(p, time.Now())
		if p == f && !f.more && (f.pred == nil || f.pred.st == stClosed) && len(f.copied) == 0 {
			return
		}
	}
	t.Fatal("the file and its copies were not read to their ends")
}

// readAllWant reads f and its copies to their ends (readAll): the lines
// emitted must be want.
func readAllWant(t *testing.T, tl *Tailer, f *follower, want []int) {
	t.Helper()
	readAll(t, tl, f)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestCopyOfResumedFileKeepsAcked: the agent restarts on a checkpoint
// whose entry for a file is at offset 0 with lines acknowledged past it
// (acked_to: one stream's lines were delivered while the other stream's
// partial line at the start was still merging). The file is copytruncated
// before its first read. The copy holds the bytes the checkpoint was
// written for: the lines delivered before the restart are not emitted
// again, and the file's new lines (its new generation, short enough to
// end below acked_to) are not taken for delivered ones; the same across
// another restart once the copy is taken.
func TestCopyOfResumedFileKeepsAcked(t *testing.T) {
	t.Run("read", func(t *testing.T) { copyOfResumedFile(t, false) })
	t.Run("stopped", func(t *testing.T) { copyOfResumedFile(t, true) })
}

func copyOfResumedFile(t *testing.T, stop bool) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 8))
	e := entryOf(t, path, path, 0)
	e.AckedTo = int64(len(lines(0, 3)))
	if err := writeState(state, []stateEntry{e}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, state)
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	tl.loadState(time.Now())
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 || f.suppressTo != e.AckedTo {
		t.Fatalf("the file was not resumed at 0 with lines delivered: %+v", f)
	}
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	if stop {
		// The agent stops once the copy is taken, before reading it:
		// the checkpoint names the copy with the lines delivered, and
		// the file by its new generation.
		tl.readFile(f, time.Now())
		if f.pred == nil || f.pred.path != cp {
			t.Fatal("the copy was not taken")
		}
		if err := tl.commit(true); err != nil {
			t.Fatal(err)
		}
		tl.closeAll()
		r := startRunner(t, cfg, Options{})
		waitFor(t, 5*time.Second, "the file's lines", func() bool { return hasSeq(r, 9) })
		r.stop()
		if got, want := seqs(r.snapshot()), upto(3, 10); !slices.Equal(got, want) {
			t.Errorf("after a restart: lines %v, want %v", got, want)
		}
		return
	}
	readAllWant(t, tl, f, upto(3, 10))
}

// TestCopyHeldBesideTakenCopy: a file nothing was read of is
// copytruncated (copy A), written again, and copied once more (copy B,
// still being written when looked at: empty) before one read. A is taken;
// B stays noted while nothing of the file is read, as it does alone: the
// truncation that ends B's copytruncate comes before the file's read,
// which finds it empty. B's lines are read, after A's.
func TestCopyHeldBesideTakenCopy(t *testing.T) {
	tl, path, f := followNew(t)
	cpA, cpB := path+".20261126-035500", path+".20261126-035501"
	bornLater(t, cpA, path, lines(0, 4))
	mustTruncate(t, path)
	appendFile(t, path, lines(4, 8))
	bornLater(t, cpB, cpA, "") // B's copy has begun
	tl.copyCreated(cpA)
	tl.copyCreated(cpB)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cpA {
		t.Fatal("copy A was not taken")
	}
	appendFile(t, cpB, lines(4, 8)) // B's copy ends, then the truncation
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.fileWritten([]byte(path))
	readAllWant(t, tl, f, upto(0, 10))
}

// TestCopiesRenamedReadInOrder: logrotate's numbered copytruncate (no
// dateext) runs twice before a read of a file nothing was read of: the
// first copy, 0.log.1, is renamed to 0.log.2 and the second copy made as
// 0.log.1. The notifications name 0.log.1 (created twice: noted once) and
// then 0.log.2 (the rename): the copies are read in the order they were
// made, the first (now 0.log.2) first.
func TestCopiesRenamedReadInOrder(t *testing.T) {
	tl, path, f := followNew(t)
	one, two := path+".1", path+".2"
	bornLater(t, one, path, lines(0, 4)) // first rotation
	tl.copyCreated(one)
	mustRename(t, one, two) // second rotation
	bornLater(t, one, two, lines(4, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(one)
	tl.copyCreated(two)
	readAllWant(t, tl, f, upto(0, 10))
}

// TestHeldEmptyCopyNoSpin: logrotate copytruncates a file that is empty
// (ifempty, its default): the copy stays empty for good, held noted on
// the file (nothing of it read). Reads with nothing written leave the
// file with nothing more to read (no turn after turn), and a write
// notification (the truncation of the empty file) brings one read, not
// a loop.
func TestHeldEmptyCopyNoSpin(t *testing.T) {
	tl, path, f := followNew(t)
	cp := path + ".1"
	bornLater(t, cp, path, "")
	tl.copyCreated(cp)
	for i := range 3 {
		now := time.Now()
		if more, _ := tl.readTurn(now); more {
			t.Fatalf("turn %d: more to read with nothing written", i)
		}
		if !f.dirty && !f.more {
			break
		}
		if f.more {
			t.Fatalf("turn %d: the file is to be read again at once", i)
		}
	}
	tl.fileWritten([]byte(path))
	if more, _ := tl.readTurn(time.Now()); more || f.more {
		t.Errorf("a write notification with nothing written keeps the file read at once")
	}
	if len(f.copied) > 1 {
		t.Errorf("notes grew: %v", f.copied)
	}
	appendFile(t, path, lines(0, 2))
	tl.fileWritten([]byte(path))
	readAllWant(t, tl, f, upto(0, 2))
	if len(f.copied) != 0 {
		t.Errorf("the held note outlived the file's first read: %v", f.copied)
	}
}

// TestCopyOfSpilledFile: a file's first line is a long CRI partial line
// (P fragments) still being merged when memory runs short: the file gives
// its unfinished bytes back (a spill) and is rewound to offset 0, where
// the line began. The file is copytruncated before it grows (the line's
// end and more lines go to the copy), and written again. The copy holds
// the spilled line whole, read once; the file's new lines are read too,
// not kept waiting for the file to grow past the size it had at the spill.
func TestCopyOfSpilledFile(t *testing.T) {
	tl, path, f := followNew(t)
	long := criLine("stdout", "P", strings.Repeat("y", 20<<10))
	appendFile(t, path, long)
	tl.cfg.MaxInflightBytes = 1 << 10 // memory runs short
	tl.readFile(f, time.Now())
	if f.off != 0 || f.spilledAt == 0 {
		t.Fatalf("the file was not spilled back to 0 (offset %d)", f.off)
	}
	tl.cfg.MaxInflightBytes = DefaultConfig().MaxInflightBytes
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, long+criLine("stdout", "F", " end")+lines(0, 4))
	mustTruncate(t, path)
	appendFile(t, path, lines(4, 6))
	tl.copyCreated(cp)
	readAllWant(t, tl, f, append([]int{-1}, upto(0, 6)...))
}

// TestCopyHeldThenStoppedThenTruncated: logrotate's copytruncate of a
// file nothing was read of makes its copy (noted, held: the file still
// holds its lines), and the agent stops before the truncation: Run's end
// keeps the note, the final checkpoint names the file at offset 0 by the
// lines it holds. The truncation comes while no agent runs. The next
// agent finds the copy by those first bytes: every line once.
func TestCopyHeldThenStoppedThenTruncated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, _ := followEmpty(t, cfg, path)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the file's lines", func() bool { return hasSeq(r, 9) })
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 10)) {
		t.Errorf("lines %v, want %v (lost %v)", got, upto(0, 10), testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)))
	}
}

// TestCopyOutOfDescriptorsAtStop: a file nothing was read of is written
// and copytruncated, and the agent stops before the read the copy's
// creation brings; at Run's end the copy cannot be opened (out of file
// descriptors). The final checkpoint names it all the same (a stat needs
// no descriptor): the next agent reads the copy's lines, then the file's.
func TestCopyOutOfDescriptorsAtStop(t *testing.T) {
	t.Run("truncated", func(t *testing.T) { copyOutOfDescriptorsAtStop(t, true) })
	t.Run("held", func(t *testing.T) { copyOutOfDescriptorsAtStop(t, false) })
}

// copyOutOfDescriptorsAtStop is TestCopyOutOfDescriptorsAtStop; without
// trunc the copy is made without truncating (the file still holds its
// lines): not named, or its lines are read twice.
func copyOutOfDescriptorsAtStop(t *testing.T, trunc bool) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, _ := followEmpty(t, cfg, path)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	if trunc {
		mustTruncate(t, path)
	}
	appendFile(t, path, lines(8, 10))
	tl.openFault = func(p string) error {
		if p == cp {
			return syscall.EMFILE
		}
		return nil
	}
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	stopThenRestart(t, tl, cfg)
}

// TestCopyOfParkedUnreadFile: under max_open_files pressure a file read
// while still empty (nothing of it read: offset 0) is parked, its
// descriptor closed for a waiting file. While parked it is written and
// copytruncated: the copy's creation finds no follower at the path (a
// parked one is not there), and at offset 0 the truncated file shows
// nothing. When its turn comes the copy's lines are read, before the
// file's.
func TestCopyOfParkedUnreadFile(t *testing.T) {
	tl, path, f := followNew(t)
	tl.readFile(f, time.Now())
	tl.park(1)
	if f.f != nil || tl.byPath[path] != nil {
		t.Fatal("the file was not parked")
	}
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now())
	if !tl.admitUpTo(100, time.Now()) || f.f == nil {
		t.Fatal("the file was not opened again")
	}
	readAllWant(t, tl, f, upto(0, 10))
}

// TestCopyOfWaitingFile: under max_open_files pressure a new file, found
// empty, waits for a descriptor, never opened. While it waits it is
// written and copytruncated (the copy's creation finds no follower).
// When its turn comes its copy's lines are read, before the file's.
func TestCopyOfWaitingFile(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	tl.lim.max = 0 // every descriptor taken
	tl.discover(path, time.Now(), false)
	if tl.byPath[path] != nil || len(tl.lim.queue) != 1 {
		t.Fatal("the file does not wait for a descriptor")
	}
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now())
	tl.lim.max = 100
	if !tl.admitUpTo(100, time.Now()) || tl.byPath[path] == nil {
		t.Fatal("the file was not opened in its turn")
	}
	readAll(t, tl, tl.byPath[path])
	if got, want := emitted(tl), upto(0, 10); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestCopyOfParkedFileAcrossStop: a file nothing was read of is parked
// for a waiting file, then written and copytruncated, and the agent stops
// before its turn. The next agent reads the copy's lines, then the
// file's.
func TestCopyOfParkedFileAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	readThenPark(t, tl, f)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	stopThenRestart(t, tl, cfg)
}

// TestCopyOfWaitingFileAcrossStop: a new file, found empty, waits for a
// descriptor, never opened; it is written and copytruncated, and the
// agent stops before its turn (the checkpoint names it, kept.go). The
// next agent reads the copy's lines, then the file's.
func TestCopyOfWaitingFileAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl.loadState(time.Now())
	tl.lim.max = 0 // every descriptor taken
	tl.discover(path, time.Now(), false)
	if tl.byPath[path] != nil || len(tl.lim.queue) != 1 {
		t.Fatal("the file does not wait for a descriptor")
	}
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	stopThenRestart(t, tl, cfg)
}
