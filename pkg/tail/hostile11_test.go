package tail

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// bornLater writes data to path until its birth time is after ref's and
// after the moment it was called (the file system's clock is coarse: a
// file made within a few ms of another, or of a follower's opening, may
// have its birth time). Bounded.
func bornLater(t *testing.T, path, ref, data string) {
	t.Helper()
	since := time.Now()
	before, ok := born(ref)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := born(path); b.After(before) && b.After(since) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock did not move")
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopyNotedThenRotated: a file nothing was read of is copytruncated
// (its copy's creation noted), and before the read that the note brings,
// kubelet renames it away and a new file takes its path (notifications in
// one burst). The copy is still a copy of the renamed file: it was created
// after that file, not after the new one at its path, and must be read.
func TestCopyNotedThenRotated(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8)) // the copy
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	mustRename(t, path, path+".20261126-035501")
	bornLater(t, path, cp, lines(10, 11)) // the new file, born after the copy
	tl.check(f, time.Now())
	tl.discover(path, time.Now(), false)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp {
		t.Errorf("the copy of the file renamed away was not taken: its lines are lost")
	}
}

// TestCopyOfUnreadFileAcrossStop: the agent stops (gracefully) with a file
// nothing was read of checkpointed empty; before the next agent reads it,
// it is written and copytruncated (the note of the copy's creation, if
// any, died with the agent). The next agent reads the copy's lines,
// then the file's (by the siblings rotated since the checkpoint).
func TestCopyOfUnreadFileAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	emptyCheckpoint(t, cfg, path)
	// The copytruncate comes later than the checkpoint (not in the same
	// tick of the file system's clock).
	before := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(state, stateName), before, before); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(0, 8))
	bornLater(t, path+".20261126-035500", path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the file's new lines", func() bool { return hasSeq(r, 9) })
	r.stop()
	got := seqs(r.snapshot())
	if !slices.Equal(got, upto(0, 10)) {
		t.Errorf("lines %v, want %v (lost %v)", got, upto(0, 10), testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)))
	}
}

// TestCopyTakenThenStopped: a copy of a file nothing was read of is taken
// (copy.go), and the agent stops before reading it. The checkpoint names
// the copy (under the path its lines were written to, at offset 0) and
// the file by its new first bytes: the next agent reads the copy and then
// the file, each line once.
func TestCopyTakenThenStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	tl.readFile(f, time.Now())
	if f.pred == nil || f.pred.path != cp {
		t.Fatalf("the copy was not taken")
	}
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	if st := readState(t, state); len(st.Files) != 2 {
		t.Fatalf("checkpoint %+v, want the file and its copy", st.Files)
	}
	restartWant(t, cfg, 0, 10)
}

// TestStaleNoteCompressedNotCopy: a notification taken late names a
// rotated file created long before the path's new file (the previous file,
// read to its end since), which kubelet then compressed and deleted. Noted
// on the new file (at offset 0), its compressed copy was read as a copy of
// it: every line of the previous file twice (soak seed 41807). A noted copy
// that is gone is not looked for compressed.
func TestStaleNoteCompressedNotCopy(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	rot := path + ".20261204-000001"
	appendFile(t, rot, lines(0, 8)) // the previous file, read before
	f := followEmptyWith(t, tl, path)
	for f.pred != nil { // read and closed (as it was, long before)
		tl.closeFollower(f.pred, evEnd)
		f.pred = nil
	}
	tl.copyCreated(rot) // its creation, taken late
	mustGzip(t, rot)
	if tl.takeCopy(f, time.Now()) || f.pred != nil {
		t.Errorf("the previous file, compressed, was taken for a copy of the new one")
	}
}

// TestRenamedCompressedNotTakenForCopy: logrotate's create mode with
// compress: the followed file is renamed to 0.log.1 and a new 0.log made
// (followed at offset 0, the rename's notification noted on it), and
// 0.log.1 is compressed before the read. The compressed file is the
// renamed one, read by its own follower: not taken for a copy of the new
// file (a duplicate).
func TestRenamedCompressedNotTakenForCopy(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	tl.discover(path, time.Now(), false)
	old := tl.byPath[path]
	if old == nil || old.fpLen == 0 {
		t.Fatalf("the file: %+v", old)
	}
	rot := path + ".1"
	mustRename(t, path, rot)
	bornLater(t, path, rot, lines(5, 6))
	tl.check(old, time.Now())
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f == old || f.off != 0 {
		t.Fatalf("the new file: %+v", f)
	}
	tl.copyCreated(rot)
	mustGzip(t, rot)
	if tl.takeCopy(f, time.Now()) {
		t.Errorf("the renamed file, compressed, was taken for a copy of the new one")
	}
}

// TestCopyNotedThenStopped: a file nothing was read of (followed empty:
// no first bytes) is written and copytruncated, and the agent stops
// gracefully before the read the copy's creation brings: Run's end takes
// the notification (its last look) and writes the final checkpoint. The
// next agent reads the copy's lines: the checkpoint names the copy. (A
// copy made before the checkpoint is not among the files rotated since.)
func TestCopyNotedThenStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl.loadState(time.Now())
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 || f.fpLen != 0 {
		t.Fatalf("the file: %+v", f)
	}
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.handleEvent(notifyEvent{Name: cp, Op: opCreate}, time.Now()) // Run's end: its last notifications
	stopThenRestart(t, tl, cfg)
}

// TestCopyTruncatedTwiceBeforeRead: a file nothing was read of is
// copytruncated twice before its read: both copies are read, the older
// first, then the file; a third copy made without truncating (the file
// still starts with it and is not shorter) is left to the file's own read.
func TestCopyTruncatedTwiceBeforeRead(t *testing.T) {
	tl, path, f := followNew(t)
	cp1, cp2, cp3 := path+".20261126-035500", path+".20261126-035501", path+".20261126-035502"
	bornLater(t, cp1, path, lines(0, 4))
	bornLater(t, cp2, path, lines(4, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	bornLater(t, cp3, path, lines(8, 9)) // a copy while the file is written
	for _, cp := range []string{cp1, cp2, cp3} {
		tl.copyCreated(cp)
	}
	if !tl.takeCopy(f, time.Now()) {
		t.Fatal("no copy taken")
	}
	var got []string
	for p := f.pred; p != nil; p = p.pred {
		got = append(got, p.path)
	}
	if !slices.Equal(got, []string{cp2, cp1}) {
		t.Errorf("read before the file (newest first): %v, want %v", got, []string{cp2, cp1})
	}
}

// TestCopyOpenOutOfDescriptors: the copy of a file nothing was read of
// cannot be opened when the read its note brings comes (out of file
// descriptors: EMFILE). The file is not read past it meanwhile, and the
// copy is taken once a descriptor is free.
func TestCopyOpenOutOfDescriptors(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	tl.openFault = func(p string) error {
		if p == cp {
			return syscall.EMFILE
		}
		return nil
	}
	tl.readFile(f, time.Now())
	if f.off != 0 || !f.dirty {
		t.Fatalf("the file was read past its copy (to %d), or not to be read again", f.off)
	}
	tl.openFault = nil
	tl.readFile(f, time.Now())
	if f.pred == nil || f.pred.path != cp {
		t.Errorf("the copy was not taken once a descriptor was free (file read to %d)", f.off)
	}
}

// TestCopyTakenNotTakenAgain: a copy of a file nothing was read of is
// taken and read to its end (its follower closed) while the file, just
// truncated, is still empty; then a notification of the same name's
// creation comes (the name created twice in one burst, each creation
// notified). The copy is not a copy of the file's new generation, and
// must not be read again (CI: TestCopyOfUnreadFile read its 8 lines
// twice). A copy made after it, of the new generation, is taken.
func TestCopyTakenNotTakenAgain(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8))
	mustTruncate(t, path)
	tl.copyCreated(cp)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp {
		t.Fatal("the copy was not taken")
	}
	c := f.pred
	tl.closeFollower(c, evEnd) // read to its end and closed
	f.pred = nil
	tl.copyCreated(cp) // the late notification
	if tl.takeCopy(f, time.Now()) {
		t.Errorf("the copy already taken was taken again: its lines are read twice")
	}
	// The new generation is written and copytruncated before a read.
	appendFile(t, path, lines(8, 10))
	cp2 := path + ".20261126-035501"
	bornLater(t, cp2, cp, lines(8, 10))
	mustTruncate(t, path)
	tl.copyCreated(cp2)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp2 {
		t.Errorf("a copy of the new generation was not taken: its lines are lost")
	}
}

// TestCopyHeldThenTruncated: the copy of a copytruncate is looked at
// (noted at its creation) before the truncation: the file still holds its
// lines, so it is left to the file's own read. The truncation comes before
// that read, which finds the file empty (CI: TestCopyOfUnreadFile lost 8
// lines, no counter moved). The copy stays noted, the truncation's write
// notification brings a read at once, and the copy is taken then. A copy
// still empty when looked at (being written) is kept noted the same way.
func TestCopyHeldThenTruncated(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(map[bool]string{false: "held", true: "empty"}[empty], func(t *testing.T) {
			dir := t.TempDir()
			tl := newIdleTailer(t, dir)
			tl.loadState(time.Now())
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, "")
			tl.discover(path, time.Now(), false)
			f := tl.byPath[path]
			if f == nil || f.off != 0 {
				t.Fatalf("the file: %+v", f)
			}
			appendFile(t, path, lines(0, 8))
			cp := path + ".20261126-035500"
			if empty {
				bornLater(t, cp, path, "")
			} else {
				bornLater(t, cp, path, lines(0, 8))
			}
			tl.copyCreated(cp)
			if tl.takeCopy(f, time.Now()) {
				t.Fatal("a copy the file still holds was taken")
			}
			if !slices.Equal(f.copied, []string{cp}) {
				t.Fatalf("the copy is no longer noted: %v", f.copied)
			}
			if empty {
				appendFile(t, cp, lines(0, 8))
			}
			mustTruncate(t, path)
			f.more = false
			tl.fileWritten([]byte(path))
			if !f.more {
				t.Error("the write of a file with a noted copy does not bring a read at once")
			}
			if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp {
				t.Errorf("the copy was not taken after the truncation: its lines are lost")
			}
		})
	}
}

// followEmpty makes path an empty file and a tailer on cfg (never run:
// the test calls its steps) following it, at offset 0.
func followEmpty(t *testing.T, cfg Config, path string) (*Tailer, *follower) {
	t.Helper()
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl.loadState(time.Now())
	return tl, followEmptyWith(t, tl, path)
}

// followNew has an idle tailer, its checkpoint loaded as of now, follow a
// new container's empty log file at offset 0.
func followNew(t *testing.T) (*Tailer, string, *follower) {
	t.Helper()
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	return tl, path, followEmptyWith(t, tl, path)
}

// followEmptyWith makes path an empty file and has tl follow it, at
// offset 0.
func followEmptyWith(t *testing.T, tl *Tailer, path string) *follower {
	t.Helper()
	appendFile(t, path, "")
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 {
		t.Fatalf("the file: %+v", f)
	}
	return f
}

// readThenPark reads f (nothing: it is empty) and parks it, as a file
// waiting for a descriptor would.
func readThenPark(t *testing.T, tl *Tailer, f *follower) {
	t.Helper()
	tl.readFile(f, time.Now())
	tl.park(1)
	if f.f != nil {
		t.Fatal("the file was not parked")
	}
}

// restartWant runs a tailer on cfg until line to-1 arrives: the lines
// must be from through to-1, each once.
func restartWant(t *testing.T, cfg Config, from, to int) {
	t.Helper()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, to-1) })
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(from, to)) {
		t.Errorf("lines %v, want %v (lost %v)", got, upto(from, to), testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)))
	}
}

// stopThenRestart ends tl as Run's end does (its last look, the final
// checkpoint, its files closed), then runs a tailer on cfg until line 9
// arrives: the lines must be 0-9, each once.
func stopThenRestart(t *testing.T, tl *Tailer, cfg Config) {
	t.Helper()
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	restartWant(t, cfg, 0, 10)
}
