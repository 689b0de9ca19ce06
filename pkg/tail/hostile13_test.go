package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestResumedWaitingFileOldCopyNotNamed: logrotate copytruncated a file
// long ago; the agent before read the copy and the file, and its
// checkpoint names the file at its end (the copy, read whole, is no longer
// named). This agent finds the file under max_open_files pressure: it
// waits for a descriptor, never opened, and the agent stops. The file was
// read (its checkpoint offset): the old copy, created after it and longer
// than it is now, is not a copy of anything unread, and the final
// checkpoint must not name it at offset 0 (the next agent would read its
// lines twice).
func TestResumedWaitingFileOldCopyNotNamed(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	cp := path + ".1"
	bornLater(t, cp, path, lines(0, 10)) // the copy, read by the agent before
	mustTruncate(t, path)
	appendFile(t, path, lines(10, 12))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeState(state, []stateEntry{entryOf(t, path, path, fi.Size())}); err != nil {
		t.Fatal(err)
	}
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	tl.loadState(time.Now())
	tl.lim.max = 0 // every descriptor taken
	tl.discover(path, time.Now(), false)
	if tl.byPath[path] != nil || len(tl.lim.queue) != 1 {
		t.Fatal("the file does not wait for a descriptor")
	}
	tl.refreshKept() // as Run does after its scan: the file's entry is kept
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	cfi, err := os.Stat(cp)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := keyOf(cfi)
	if i := slices.IndexFunc(readState(t, state).Files, func(e stateEntry) bool { return e.key() == ck }); i >= 0 {
		t.Errorf("the checkpoint names the old copy, read before: %+v", readState(t, state).Files[i])
	}
	tl.closeAll()
	appendFile(t, path, lines(12, 13)) // the next agent's sentinel
	restartWant(t, cfg, 12, 13)
}

// TestCopyOfResumedWaitingFile: the checkpoint names a file at offset 0
// with lines delivered past it (acked_to). This agent finds it under
// max_open_files pressure: it waits for a descriptor, never opened. It is
// copytruncated meanwhile, and the agent stops. The copy holds the bytes
// the checkpoint was written for: the next agent reads the lines not
// delivered (3 to 7), not the delivered ones again, nor loses them. The
// same if the checkpoint's offset is past them, or if none was delivered
// (the checkpoint knew the file's first bytes only).
func TestCopyOfResumedWaitingFile(t *testing.T) {
	t.Run("acked", func(t *testing.T) { copyOfResumedWaitingFile(t, 0, 3) })
	t.Run("offset", func(t *testing.T) { copyOfResumedWaitingFile(t, 3, 3) })
	t.Run("unread", func(t *testing.T) { copyOfResumedWaitingFile(t, 0, 0) })
}

// copyOfResumedWaitingFile is TestCopyOfResumedWaitingFile: the
// checkpoint's offset is past off lines, its acked_to past acked.
func copyOfResumedWaitingFile(t *testing.T, off, acked int) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 8))
	e := entryOf(t, path, path, int64(len(lines(0, off))))
	e.AckedTo = int64(len(lines(0, acked)))
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
	tl.lim.max = 0 // every descriptor taken
	tl.discover(path, time.Now(), false)
	if tl.byPath[path] != nil || len(tl.lim.queue) != 1 {
		t.Fatal("the file does not wait for a descriptor")
	}
	tl.refreshKept()
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the file's lines", func() bool { return hasSeq(r, 9) })
	r.stop()
	if got, want := seqs(r.snapshot()), upto(acked, 10); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestCopyOfWaitingFileTwoStops: a new file waits for a descriptor, is
// copytruncated, and the agent stops (its checkpoint names the file and
// its copy, at offset 0). The next agent finds the file waiting again,
// the copy not read, and stops too. The checkpoint names each file once,
// and the agent after reads every line once.
func TestCopyOfWaitingFileTwoStops(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	cp := path + ".20261126-035500"
	for i := range 2 {
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
		tl.refreshKept()
		if i == 0 {
			appendFile(t, path, lines(0, 8))
			bornLater(t, cp, path, lines(0, 8))
			mustTruncate(t, path)
			appendFile(t, path, lines(8, 10))
			tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now())
		}
		tl.lastLook(time.Now())
		if err := tl.commit(true); err != nil {
			t.Fatal(err)
		}
		tl.closeAll()
		files := readState(t, state).Files
		seen := map[entryID]bool{}
		for _, e := range files {
			id := entryID{key: e.key(), path: e.Path}
			if seen[id] {
				t.Errorf("stop %d: the checkpoint names a file twice: %+v", i, files)
			}
			seen[id] = true
		}
		if len(files) != 2 {
			t.Errorf("stop %d: the checkpoint names %d files, want the file and its copy: %+v", i, len(files), files)
		}
	}
	restartWant(t, cfg, 0, 10)
}

// TestHeldCopyOfParkedFileAcrossStop: a file nothing was read of is
// parked for a waiting file; while parked it is copied without
// truncating (the file still holds the copy's lines) and the agent stops
// before its turn. The final checkpoint must not name the copy, or the
// next agent reads its lines twice (from the copy and from the file).
func TestHeldCopyOfParkedFileAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	readThenPark(t, tl, f)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8)) // a copy, the file not truncated
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now())
	stopThenRestart(t, tl, cfg)
}

// TestNumberedCopiesOfParkedFile: a file nothing was read of is parked;
// while parked logrotate copytruncates it twice with numbered names that
// move (the first copy, 0.log.1, is renamed 0.log.2 when the second is
// made as 0.log.1). When its turn comes both copies are read, the older
// first, then the file: every line once, in order.
func TestNumberedCopiesOfParkedFile(t *testing.T) {
	tl, path, f := followNew(t)
	readThenPark(t, tl, f)
	cp1, cp2 := path+".1", path+".2"
	bornLater(t, cp1, path, lines(0, 5))
	mustRename(t, cp1, cp2)
	bornLater(t, cp1, cp2, lines(5, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp2, Op: opCreate}, time.Now())
	tl.handleEvent(notifyEvent{Name: cp1, Op: opCreate}, time.Now())
	if !tl.admitUpTo(100, time.Now()) || f.f == nil {
		t.Fatal("the file was not opened again")
	}
	readAllWant(t, tl, f, upto(0, 10))
}

// TestNumberedCopiesOfParkedFileAcrossStop: TestNumberedCopiesOfParkedFile,
// with the agent stopped before the file's turn: the final checkpoint
// names both copies, and the next agent reads every line once, in order.
func TestNumberedCopiesOfParkedFileAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	readThenPark(t, tl, f)
	cp1, cp2 := path+".1", path+".2"
	bornLater(t, cp1, path, lines(0, 5))
	mustRename(t, cp1, cp2)
	bornLater(t, cp1, cp2, lines(5, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp2, Op: opCreate}, time.Now())
	tl.handleEvent(notifyEvent{Name: cp1, Op: opCreate}, time.Now())
	stopThenRestart(t, tl, cfg)
}
