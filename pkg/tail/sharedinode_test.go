package tail

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two files may share a device and inode in one checkpoint: a rotated file
// that kubelet compressed (deleting the plain file) while its lines were
// still waiting for the broker, and a new file, of another pod, that got
// the freed inode number. Both are written; the next agent must use both.

// TestCheckpointInodeShared: the checkpoint names pod one's compressed
// rotated file, half acknowledged, under the inode that pod two's current
// file has now. The loader used to take the second entry of a key for an
// invalid one: pod one's entry was dropped, its compressed file taken for
// older than the checkpoint, and its unacknowledged lines never read, with
// no counter moved.
func TestCheckpointInodeShared(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	one, two := mkContainer(t, dir, "ns_one_uid"), mkContainer(t, dir, "ns_two_uid")
	rot := one + ".20261126-035500"
	appendFile(t, rot, lines(0, 10))
	appendFile(t, one, lines(10, 12))
	appendFile(t, two, lines(100, 105))

	eTwo := entryOf(t, two, two, int64(len(lines(100, 105))))
	eRot := entryOf(t, one, rot, int64(len(lines(0, 5))))
	eRot.Dev, eRot.Ino = eTwo.Dev, eTwo.Ino // the inode pod two's file reuses
	eOne := entryOf(t, one, one, 0)
	// Pod two's entry first: the old loader kept the first of a key.
	if err := writeState(state, []stateEntry{eTwo, eRot, eOne}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, rot)

	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the unacknowledged half of the compressed file and the current file",
		func() bool { return hasSeq(r, 9) && hasSeq(r, 11) })
	appendFile(t, two, lines(105, 106))
	waitFor(t, 5*time.Second, "pod two's next line", func() bool { return hasSeq(r, 105) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(upto(5, 12), 105)
	if diff := cmp.Diff(want, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(r.tl.m.stateInvalid); n != 0 {
		t.Errorf("%v checkpoint entries taken for invalid, want 0", n)
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted lost, want 0", n)
	}
}

// TestCheckpointWritesSharedInodes: the checkpoint is written with one
// entry per file, not per inode. A tracker of a deleted file whose lines
// are not all acknowledged and a tracker of the file that reuses its inode
// are both written, and both read back; the same file twice (a rotation
// undone while the first tracker still waits) is written once, at the
// lower offset.
func TestCheckpointWritesSharedInodes(t *testing.T) {
	tl := newIdleTailer(t, t.TempDir())
	k := fileKey{dev: 7, ino: 42}
	deleted := tl.newTracker(k, "/pods/ns_one_uid/app/0.log", 300, 300, []byte("one's first bytes"))
	deleted.closed = true
	deleted.entries = append(deleted.entries, entry{end: 400, size: 100}) // waiting for the broker
	tl.newTracker(k, "/pods/ns_two_uid/app/0.log", 50, 50, []byte("two's first bytes"))
	undone := tl.newTracker(fileKey{dev: 7, ino: 43}, "/pods/ns_three_uid/app/0.log", 900, 900, []byte("three"))
	undone.closed = true
	undone.entries = append(undone.entries, entry{end: 1000, size: 100})
	tl.newTracker(fileKey{dev: 7, ino: 43}, "/pods/ns_three_uid/app/0.log", 1000, 1000, []byte("three"))
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	es, ok, invalid, err := loadState(tl.cfg.StateDir)
	if err != nil || !ok || len(invalid) > 0 {
		t.Fatalf("checkpoint: ok=%v invalid=%v err=%v", ok, invalid, err)
	}
	got := map[string]int64{}
	for _, e := range es {
		got[e.Path] = e.Offset
	}
	want := map[string]int64{"/pods/ns_one_uid/app/0.log": 300, "/pods/ns_two_uid/app/0.log": 50, "/pods/ns_three_uid/app/0.log": 900}
	if diff := cmp.Diff(want, got); diff != "" || len(es) != 3 {
		t.Errorf("checkpoint has %d entries (-want +got):\n%s", len(es), diff)
	}
}

// TestEmptyAnchorInodeReused: a path's empty anchor (a rotated file
// finished while empty, anchors.go) names an inode that kubelet freed when
// it compressed that file; the runtime's next file got the number and was
// written and rotated before the checkpoint was written, so its birth time
// does not tell it apart. It was taken for the finished empty file and
// never read (test/model seed 21724: 16 lines, no counter moved). A file
// finished empty that has lines now is another file, and is read.
func TestEmptyAnchorInodeReused(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	half := path + ".20261126-035504"
	appendFile(t, half, lines(0, 10))
	reused := path + ".20261126-035509"
	appendFile(t, reused, lines(20, 30))
	appendFile(t, path, lines(30, 32))

	eHalf := entryOf(t, path, half, int64(len(lines(0, 5))))
	eHalf.Ino = 1 << 40 // its plain file is gone: compressed below
	empty := entryOf(t, path, reused, 0)
	empty.FingerprintLen, empty.Fingerprint, empty.Done = 0, fpHash(nil), true
	if err := writeState(state, []stateEntry{eHalf, empty}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, half)

	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "every line after the checkpoint", func() bool {
		return hasSeq(r, 9) && hasSeq(r, 29) && hasSeq(r, 31)
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(upto(5, 10), upto(20, 32)...)
	if diff := cmp.Diff(want, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestCopyOfUnreadFile: a file followed while empty is written and, before
// its next read, copytruncated (logrotate's copytruncate: copied to a
// rotated name, then truncated in place). Nothing of it was read, so there
// are no first bytes to find the copy by, and at offset 0 the truncation
// shows nothing: the copy's lines were never read and no counter moved
// (test/model -more, seed 9). The copy's creation is noticed: its lines are
// read, then the file's new ones. A copy made without truncating (logrotate's
// copy) is not read: the file itself still holds its lines.
func TestCopyOfUnreadFile(t *testing.T) {
	for _, truncate := range []bool{true, false} {
		t.Run(map[bool]string{true: "copytruncate", false: "copy"}[truncate], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			// No read for the writes within the wait but the one the
			// copy's creation brings. Not an hour: a notification that
			// comes after a write's was taken waits, queued, for the read
			// that write scheduled (Run leaves notifications queued while
			// a read is due within read_interval).
			cfg.ReadInterval = 2 * time.Second
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, "")
			r := startRunner(t, cfg, Options{})
			waitFor(t, 5*time.Second, "the empty file read once", func() bool { return testutil.ToFloat64(r.tl.m.reads) >= 1 })
			appendFile(t, path, lines(0, 8))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The copy, made after the file was opened: one file,
			// created once (bornLater may make its file more than once:
			// made at the rotated name, a second file with the same lines
			// after the first was taken, read twice).
			scratch := filepath.Join(t.TempDir(), "copy")
			bornLater(t, scratch, path, string(data))
			mustRename(t, scratch, path+".20261126-035500")
			if truncate {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, lines(8, 10))
			}
			waitFor(t, 5*time.Second, "the copied lines", func() bool { return hasSeq(r, 7) })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			// The truncated file's new lines come with the copy's, or at
			// its next read (an hour away here) when a poll saw the
			// truncation first.
			got := seqs(r.snapshot())
			if diff := cmp.Diff(upto(0, 8), got); diff != "" && (!truncate || !slices.Equal(got, upto(0, 10))) {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenamedNotTakenForCopy: the creation of a rotated name beside a file
// nothing was read of is noticed as a possible copy (TestCopyOfUnreadFile).
// When that name is the path's previous file renamed (a rename rotation
// whose notification came after the new file was followed), it must not be
// read again as a copy: it was created before the file at the path. A copy
// made of the new file after it was created is taken.
func TestRenamedNotTakenForCopy(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	rot := path + ".20261126-035500"
	mustRename(t, path, rot)
	// The new file, born in a later tick of the file system's clock than
	// the renamed one (as it is unless both came within a few ms): made
	// again until it is (bounded).
	before, ok := born(rot)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.WriteFile(path, []byte(lines(5, 6)), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := born(path); b.After(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock did not move")
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 {
		t.Fatalf("the new file: %+v", f)
	}
	for f.pred != nil { // the renamed file, found by discovery as a rotated sibling
		tl.closeFollower(f.pred, evEnd)
		f.pred = nil
	}
	tl.copyCreated(rot)
	if !slices.Equal(f.copied, []string{rot}) {
		t.Fatalf("creation of %s not noted", rot)
	}
	if tl.takeCopy(f, time.Now()) {
		t.Errorf("the renamed file was taken for a copy of the new one")
	}
	cp := path + ".20261126-035501"
	bornLater(t, cp, path, lines(5, 6)+lines(6, 7)) // longer than the file
	tl.copyCreated(cp)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp {
		t.Errorf("a copy made after the file was not taken")
	}
}

// TestCopyTakenNotFoundAgain: a file followed with lines not read yet is
// copytruncated; its copy is taken (copy.go) and read to its end and
// closed. The next poll sees a file whose first bytes are not those it
// was opened with: without more it took that for a truncation and found
// the copy again by those bytes, and read it twice (test/model -more,
// seed 13, once under load).
func TestCopyTakenNotFoundAgain(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 8))
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 || f.fpLen == 0 {
		t.Fatalf("the file: %+v", f)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, string(data)) // after the file was opened
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	tl.readFile(f, time.Now())
	c := f.pred
	if c == nil || c.path != cp {
		t.Fatalf("the copy was not taken: %+v", c)
	}
	tl.readFile(c, time.Now())
	tl.closeFollower(c, evEnd)
	tl.check(f, time.Now())
	appendFile(t, path, lines(10, 11)) // and once it grew
	tl.check(f, time.Now())
	if f.pred != c {
		t.Errorf("a poll took the file for truncated again and found its copy: %s", f.pred.path)
	}
	if n := testutil.ToFloat64(tl.m.truncations); n != 1 {
		t.Errorf("truncations = %v, want 1", n)
	}
}

// TestEmptyAnchorNotCurrent: the checkpoint's empty anchor (a file rotated
// and finished empty, since compressed by kubelet) names the inode number
// that the path's new, still empty 0.log got. Both empty, they could not be
// told apart: the current file was taken for the anchor, that is for a
// file nothing was rotated after, and the rotated file between them, with
// lines, was never read (test/model seed 42685: 38 lines, no counter
// moved). An empty anchor is never taken for the file at the path.
func TestEmptyAnchorNotCurrent(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path+".20261126-035506", lines(0, 10))
	appendFile(t, path, "")
	anchor := entryOf(t, path, path, 0)
	anchor.Done = true
	gone := stateEntry{Dev: anchor.Dev, Ino: 1 << 40, Fingerprint: fpHash(nil), Path: path} // current then, compressed since
	if err := writeState(state, []stateEntry{anchor, gone}); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the rotated file's lines", func() bool { return hasSeq(r, 9) })
	r.stop()
	if diff := cmp.Diff(upto(0, 10), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestCompressedWhileRunningAnchored: a rotated file read to its end is
// compressed by kubelet (its plain file deleted) before its follower
// closes: closed as deleted, it did not become its path's anchor, and once
// its lines were acknowledged it was in the checkpoint neither as an entry
// nor as an anchor. The next agent took its .gz for a file after the
// previous anchor and read it again (soak seed 40735: 24 lines twice).
func TestCompressedWhileRunningAnchored(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	first := path + ".20261126-035500"
	appendFile(t, first, lines(0, 5)) // the previous anchor, once read
	appendFile(t, path, lines(5, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })
	rot := path + ".20261126-035501"
	mustRename(t, path, rot)
	mustGzip(t, rot) // before the follower looked again: it is closed as deleted
	appendFile(t, path, lines(10, 12))
	waitFor(t, 5*time.Second, "the compressed file anchored", func() bool {
		r.tl.mu.Lock()
		defer r.tl.mu.Unlock()
		return r.tl.anchors[path].Offset == int64(len(lines(5, 10)))
	})
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r, 11) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(12, 13))
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the next agent's line", func() bool { return hasSeq(r2, 12) })
	r2.stop()
	if diff := cmp.Diff([]int{12}, seqs(r2.snapshot())); diff != "" {
		t.Errorf("the next agent (-want +got):\n%s", diff)
	}
}
