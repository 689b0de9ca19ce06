package tail

import (
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
