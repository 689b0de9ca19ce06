package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Hostile tests of the checkpoint's entries that share a device and inode
// (state.go entryID): the same file twice, a reused inode, kept entries
// and anchors beside trackers.

// TestUndoneRotationTwoFingerprints: kubelet renames 0.log away, the
// tailer closes the renamed file (no successor within the linger) while
// none of its lines is acknowledged; the runtime, which could not reopen
// the log, writes on to the renamed file, and kubelet renames it back. The
// second follower of the file starts where the first stopped. Under 1 KiB,
// it knows longer first bytes (the file grew past what the first one had
// seen), so the two trackers of one file are two entries of the
// checkpoint; over 1 KiB they are one, at the first follower's offset.
// Whichever order the entries are in, the next agent must start the file
// at the lower offset: the first follower's lines were never acknowledged.
func TestUndoneRotationTwoFingerprints(t *testing.T) {
	for _, tc := range []struct {
		name       string
		n          int // lines before the rotation; as many after it
		maxEntries int
	}{
		{"under 1 KiB", 5, 2},
		{"over 1 KiB", 40, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			path := mkContainer(t, dir, "ns_pod_uid")
			rot := path + ".20261126-035509"
			appendFile(t, path, lines(0, tc.n))
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 100 * time.Millisecond })
			r.setHold(true) // the broker is down
			waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, tc.n-1) })
			mustRename(t, path, rot)
			waitFor(t, 5*time.Second, "the renamed file closed", func() bool {
				return testutil.ToFloat64(r.tl.m.rotations) == 1 && testutil.ToFloat64(r.tl.m.openFiles) == 0
			})
			appendFile(t, rot, lines(tc.n, 2*tc.n)) // the runtime still writes to it
			mustRename(t, rot, path)
			waitFor(t, 5*time.Second, "the lines after the undo", func() bool { return hasSeq(r, 2*tc.n-1) })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(upto(0, 2*tc.n), seqs(r.snapshot())); diff != "" {
				t.Fatalf("first agent (-want +got):\n%s", diff)
			}
			es, ok, invalid, err := loadState(state)
			if err != nil || !ok || len(invalid) > 0 || len(es) == 0 || len(es) > tc.maxEntries {
				t.Fatalf("checkpoint: %+v ok=%v invalid=%v err=%v, want 1 to %d entries", es, ok, invalid, err, tc.maxEntries)
			}
			resumeEitherOrder(t, cfg, es, 2*tc.n-1, upto(0, 2*tc.n))
		})
	}
}

func reversed(es []stateEntry) []stateEntry {
	out := make([]stateEntry, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e
	}
	return out
}

// resumeEitherOrder writes es to the checkpoint as given and reversed and,
// for each order, runs a tailer until line last arrived: exactly want
// arrived, and nothing was counted lost.
func resumeEitherOrder(t *testing.T, cfg Config, es []stateEntry, last int, want []int) {
	t.Helper()
	for i, order := range [][]stateEntry{es, reversed(es)} {
		if err := writeState(cfg.StateDir, order); err != nil {
			t.Fatal(err)
		}
		r := startRunner(t, cfg, Options{})
		waitFor(t, 5*time.Second, fmt.Sprintf("line %d", last), func() bool { return hasSeq(r, last) })
		r.stop()
		if diff := cmp.Diff(want, seqs(r.snapshot())); diff != "" {
			t.Errorf("order %d: (-want +got):\n%s", i, diff)
		}
		if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
			t.Errorf("order %d: %v files counted lost", i, n)
		}
	}
}

// TestUndoneRotationTwoFingerprintsCompressed is the same checkpoint (two
// entries of one file, at two offsets, with first bytes of two lengths),
// but the file was rotated and compressed while no agent ran: found in its
// .gz, it is read from the lower offset, and neither entry is counted lost.
func TestUndoneRotationTwoFingerprintsCompressed(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 10))
			e1 := entryOf(t, path, path, 0)
			short := lines(0, 5)
			e1.FingerprintLen, e1.Fingerprint = len(short), fpHash([]byte(short))
			e2 := entryOf(t, path, path, int64(len(short)))
			rot := path + ".20261126-035509"
			mustRename(t, path, rot)
			if gz {
				mustGzip(t, rot)
			}
			appendFile(t, path, lines(100, 105))
			resumeEitherOrder(t, cfg, []stateEntry{e1, e2}, 104, append(upto(0, 10), upto(100, 105)...))
		})
	}
}

// TestUndoneRotationAnchorAndTracker: as TestUndoneRotationTwoFingerprints,
// but every line is acknowledged: the first follower's file, finished, is
// its path's anchor (done, at the end it had) when the rotation is undone,
// and the second follower of the same file goes on past it. The next
// agent continues after the last line acknowledged: the anchor's end is
// not where the file resumes.
func TestUndoneRotationAnchorAndTracker(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	rot := path + ".20261126-035509"
	appendFile(t, path, lines(0, 5))
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 100 * time.Millisecond })
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	mustRename(t, path, rot)
	waitFor(t, 5*time.Second, "the renamed file closed", func() bool {
		return testutil.ToFloat64(r.tl.m.rotations) == 1 && testutil.ToFloat64(r.tl.m.openFiles) == 0
	})
	appendFile(t, rot, lines(5, 10))
	mustRename(t, rot, path)
	waitFor(t, 5*time.Second, "the lines after the undo", func() bool { return hasSeq(r, 9) })
	end := fileSize(t, path)
	waitFor(t, 5*time.Second, "a checkpoint at the end", func() bool {
		off, ok := checkpointOf(t, state, path)
		return ok && off == end
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	es, ok, invalid, err := loadState(state)
	if err != nil || !ok || len(invalid) > 0 {
		t.Fatalf("checkpoint: ok=%v invalid=%v err=%v", ok, invalid, err)
	}
	t.Logf("checkpoint: %+v", es)
	appendFile(t, path, lines(10, 12))
	resumeEitherOrder(t, cfg, es, 11, upto(10, 12))
}

// TestStopNamesWaitingFileOnSharedInode: a file waiting for a descriptor
// at a graceful stop has the inode number of a file of another pod that
// the checkpoint names (deleted since, its pod too: the file system
// reused the number). The final checkpoint must name the waiting file
// all the same, so that the next agent counts it lost if kubelet deletes
// it meanwhile: the entry of the other file says nothing of this one.
func TestStopNamesWaitingFileOnSharedInode(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	first, late := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, first, lines(0, 5))
	appendFile(t, late, lines(5, 10))
	gone := entryOf(t, late, late, 0)
	other := lines(100, 110)
	gone.Path = filepath.Join(dir, "ns_gone_uid", "app", "0.log") // its pod deleted
	gone.FingerprintLen, gone.Fingerprint = len(other), fpHash([]byte(other))
	gone.Offset, gone.AckedTo = int64(len(other)), int64(len(other))
	if err := writeState(state, []stateEntry{gone}); err != nil {
		t.Fatal(err)
	}
	r := startBlindRunner(t, cfg)
	waitFor(t, 5*time.Second, "the first file's lines", func() bool { return hasSeq(r, 4) })
	waitFor(t, 5*time.Second, "the second file waiting", func() bool { return testutil.ToFloat64(r.tl.m.waiting) == 1 })
	stopThenLossCounted(t, r, cfg, first, late)
}

// TestEmptyAnchorInodeReusedCurrent: a path's empty anchor (a file rotated and
// finished empty) was compressed, and the path's new file got its inode
// number, followed since: the checkpoint has both, at one inode and path,
// the anchor with no first bytes (which any file matches). Whichever
// order they are in, the current file resumes from its own entry: taken
// for the anchor's, it was read again from 0, every acknowledged line
// shipped twice after a graceful stop.
func TestEmptyAnchorInodeReusedCurrent(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(100, 110))
	cur := entryOf(t, path, path, int64(len(lines(100, 105))))
	empty := stateEntry{Dev: cur.Dev, Ino: cur.Ino, Fingerprint: fpHash(nil), Path: path, Done: true}
	resumeEitherOrder(t, cfg, []stateEntry{cur, empty}, 109, upto(105, 110))
}

// TestWaitingFileInodeShared: the checkpoint names, at one path and inode,
// a rotated file kubelet compressed while its lines waited for the broker
// and the path's new file, which got the freed inode number. At the start
// the new file waits for a descriptor (logs.max_open_files), so it is not
// open when the path's rotated files are looked at: the compressed file's
// entry must still be found in its .gz and read from its offset, not taken
// for the waiting file's by inode alone.
func TestWaitingFileInodeShared(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	first, path := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, first, lines(0, 5))
	rot := path + ".20261126-035500"
	appendFile(t, rot, lines(10, 20))
	appendFile(t, path, lines(20, 25))
	cur := entryOf(t, path, path, int64(len(lines(20, 22))))
	gone := entryOf(t, path, rot, int64(len(lines(10, 15))))
	gone.Dev, gone.Ino = cur.Dev, cur.Ino // the inode the new file reuses
	if err := writeState(state, []stateEntry{entryOf(t, first, first, 0), gone, cur}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, rot)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the waiting file's lines", func() bool { return hasSeq(r, 24) && hasSeq(r, 4) })
	appendFile(t, first, lines(5, 6))
	waitFor(t, 5*time.Second, "the sentinel", func() bool { return hasSeq(r, 5) })
	r.stop()
	got := seqs(r.snapshot())
	slices.Sort(got)
	want := slices.Concat(upto(0, 6), upto(15, 20), upto(22, 25))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines, sorted (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted lost", n)
	}
}

// TestWaitingFileRotatedResumes: a file the checkpoint names, read up to
// half, waits for a descriptor at the start, and kubelet rotates it
// before its turn. At its turn it is read where it went (its plain
// rotated sibling), from the checkpoint's offset: its first half was
// acknowledged before the restart and is not shipped again.
func TestWaitingFileRotatedResumes(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	busy, path := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, busy, lines(0, 3000))
	appendFile(t, path, lines(5000, 5010))
	if err := writeState(state, []stateEntry{entryOf(t, busy, busy, 0), entryOf(t, path, path, int64(len(lines(5000, 5005))))}); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, cfg, Options{})
	r.setHold(true) // the busy file keeps more to read: it is not parked
	waitFor(t, 5*time.Second, "the second file waiting", func() bool { return testutil.ToFloat64(r.tl.m.waiting) >= 1 })
	mustRename(t, path, path+".20261126-035500")
	appendFile(t, path, lines(6000, 6005))
	r.setHold(false)
	waitFor(t, 10*time.Second, "every line", func() bool { return hasSeq(r, 2999) && hasSeq(r, 6004) })
	r.stop()
	var got []int
	for _, s := range seqs(r.snapshot()) {
		if s >= 5000 {
			got = append(got, s)
		}
	}
	if diff := cmp.Diff(append(upto(5005, 5010), upto(6000, 6005)...), got); diff != "" {
		t.Errorf("the waiting file's lines (-want +got):\n%s", diff)
	}
}

// TestInodeReusedSamePathKilled: while the broker is down, kubelet
// rotates a pod's log, compresses the rotated file (freeing its inode) and
// rotates again; the new 0.log gets the freed inode number (ext4 gives the
// number just freed in the directory back at once). The agent is killed:
// the checkpoint it left names the compressed file and the new 0.log under
// one inode and path. The next agent reads the compressed file, the plain
// rotated one and the new 0.log, each from its entry, and counts nothing
// lost. Where the file system does not reuse the inode, the same holds.
func TestInodeReusedSamePathKilled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	ts1, ts2 := path+".20261126-035501", path+".20261126-035502"
	appendFile(t, path, lines(0, 5))
	old := inoOf(t, path)
	r := startRunner(t, cfg, Options{})
	r.setHold(true)
	waitFor(t, 5*time.Second, "the first file", func() bool { return hasSeq(r, 4) })
	mustRename(t, path, ts1)
	appendFile(t, path, lines(100, 105))
	waitFor(t, 5*time.Second, "the second file, the first closed", func() bool {
		return hasSeq(r, 104) && testutil.ToFloat64(r.tl.m.openFiles) == 1
	})
	mustGzip(t, ts1)
	mustRename(t, path, ts2)
	appendFile(t, path, lines(200, 205))
	reused := inoOf(t, path) == old
	t.Logf("inode reused: %v", reused)
	waitFor(t, 5*time.Second, "the third file", func() bool { return hasSeq(r, 204) })
	var killed []stateEntry
	waitFor(t, 5*time.Second, "a checkpoint naming the three files", func() bool {
		es, ok, _, err := loadState(state)
		if err != nil || !ok || len(es) != 3 {
			return false
		}
		killed = es
		return true
	})
	r.stop()
	if err := writeState(state, killed); err != nil { // what the SIGKILL left
		t.Fatal(err)
	}
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "every line", func() bool { return hasSeq(r2, 4) && hasSeq(r2, 104) && hasSeq(r2, 204) })
	r2.stop()
	want := slices.Concat(upto(0, 5), upto(100, 105), upto(200, 205))
	if diff := cmp.Diff(want, seqs(r2.snapshot())); diff != "" {
		t.Errorf("next agent (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted lost", n)
	}
	if n := testutil.ToFloat64(r2.tl.m.stateInvalid); n != 0 {
		t.Errorf("%v checkpoint entries refused", n)
	}
}

// TestExcludedFileInodeShared: the checkpoint names pod two's current file
// and, under the same inode, pod one's rotated file kubelet compressed
// while its lines waited (TestCheckpointInodeShared). The next agent
// excludes pod two (logs.exclude): it reads pod one's compressed file from
// its entry and keeps pod two's entry, as loaded, in its checkpoints; the
// agent after it, which includes pod two again, resumes it from there.
func TestExcludedFileInodeShared(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	one, two := mkContainer(t, dir, "ns_one_uid"), mkContainer(t, dir, "ns_two_uid")
	rot := one + ".20261126-035500"
	appendFile(t, rot, lines(0, 10))
	appendFile(t, one, lines(10, 12))
	appendFile(t, two, lines(100, 110))
	eTwo := entryOf(t, two, two, int64(len(lines(100, 105))))
	eRot := entryOf(t, one, rot, int64(len(lines(0, 5))))
	eRot.Dev, eRot.Ino = eTwo.Dev, eTwo.Ino
	if err := writeState(state, []stateEntry{eTwo, eRot, entryOf(t, one, one, 0)}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, rot)
	cfg := testConfig(dir, state)
	cfg.Exclude = []string{filepath.Join(dir, "ns_two_uid", "*", "*.log")}
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "pod one's lines", func() bool { return hasSeq(r, 9) && hasSeq(r, 11) })
	appendFile(t, one, lines(12, 13))
	ino, size := inoOf(t, one), fileSize(t, one)
	waitFor(t, 5*time.Second, "a checkpoint after the sentinel", func() bool {
		es, _, _, _ := loadState(state)
		return hasSeq(r, 12) && slices.ContainsFunc(es, func(e stateEntry) bool {
			return e.Ino == ino && e.Path == one && e.Offset == size
		})
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(upto(5, 13), seqs(r.snapshot())); diff != "" {
		t.Errorf("excluding agent (-want +got):\n%s", diff)
	}
	if off, ok := checkpointOf(t, state, two); !ok || off != eTwo.Offset {
		t.Errorf("pod two's entry: offset %d (named %v), want %d", off, ok, eTwo.Offset)
	}
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "pod two's lines", func() bool { return hasSeq(r2, 109) })
	r2.stop()
	if diff := cmp.Diff(upto(105, 110), seqs(r2.snapshot())); diff != "" {
		t.Errorf("including agent (-want +got):\n%s", diff)
	}
	for i, rr := range []*runner{r, r2} {
		if n := testutil.ToFloat64(rr.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
			t.Errorf("agent %d: %v files counted lost", i+1, n)
		}
	}
}

// TestWaitingFileKeptNotItsRotated: the checkpoint names, under one inode
// and path, a rotated file kubelet compressed while its lines waited and
// the path's new file that got its inode number. The next agent reads the
// compressed file from its entry, but the new file waits for a descriptor
// for the agent's whole life, so the path's entries are kept (kept.go) in
// its checkpoints: the compressed file's entry must not be among them, or
// the agent after it reads the compressed file again from that entry (the
// lines shipped twice after a graceful stop) or, taking the anchor its
// reader left, counts that entry lost.
func TestWaitingFileKeptNotItsRotated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	busy, path := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	rot := path + ".20261126-035500"
	appendFile(t, busy, lines(0, 5))
	appendFile(t, rot, lines(5000, 5010))
	appendFile(t, path, lines(6000, 6005))
	cur := entryOf(t, path, path, 0)
	gone := entryOf(t, path, rot, int64(len(lines(5000, 5005))))
	gone.Dev, gone.Ino = cur.Dev, cur.Ino // the inode the new file reuses
	if err := writeState(state, []stateEntry{entryOf(t, busy, busy, 0), gone, cur}); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, rot)
	cfg.MaxOpenFiles = 1
	r := startBlindRunner(t, cfg) // no poll: the new file never gets its turn
	waitFor(t, 5*time.Second, "the compressed file's lines", func() bool { return hasSeq(r, 4) && hasSeq(r, 5009) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	got := seqs(r.snapshot())
	slices.Sort(got)
	if diff := cmp.Diff(slices.Concat(upto(0, 5), upto(5005, 5010)), got); diff != "" {
		t.Fatalf("first agent, sorted (-want +got):\n%s", diff)
	}
	es, ok, invalid, err := loadState(state)
	if err != nil || !ok || len(invalid) > 0 {
		t.Fatalf("checkpoint: ok=%v invalid=%v err=%v", ok, invalid, err)
	}
	cfg.MaxOpenFiles = DefaultConfig().MaxOpenFiles
	resumeEitherOrder(t, cfg, es, 6004, upto(6000, 6005))
}

// TestStopNamesWaitingFileOnAnchorInode: the path's anchor (its newest
// finished rotated file) was deleted by kubelet while no agent ran, and
// the path's new 0.log got its inode number. That file waits for a
// descriptor until the graceful stop: the final checkpoint must name it,
// not leave it to the anchor's entry, which is kept (a file with its inode
// is at its path) but is done: a done file that vanished lost nothing, so
// the loss of the waiting file, deleted with its pod before the next agent
// ran, would be counted nowhere.
func TestStopNamesWaitingFileOnAnchorInode(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	first, late := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, first, lines(0, 5))
	appendFile(t, late, lines(5, 10))
	anchor := entryOf(t, late, late, 0)
	other := lines(100, 110)
	anchor.FingerprintLen, anchor.Fingerprint = len(other), fpHash([]byte(other))
	anchor.Offset, anchor.AckedTo, anchor.Done = int64(len(other)), int64(len(other)), true
	if err := writeState(state, []stateEntry{entryOf(t, first, first, 0), anchor}); err != nil {
		t.Fatal(err)
	}
	r := startBlindRunner(t, cfg)
	waitFor(t, 5*time.Second, "the first file's lines", func() bool { return hasSeq(r, 4) })
	waitFor(t, 5*time.Second, "the second file waiting", func() bool { return testutil.ToFloat64(r.tl.m.waiting) == 1 })
	stopThenLossCounted(t, r, cfg, first, late)
}

// TestCopyTruncateKilled: copytruncate (the file copied to 0.log.1, then
// truncated in place and written again) while the broker is down: the
// copy takes over the first generation's tracker, under the copy's inode,
// and the truncated file is a second generation on the original inode.
// The checkpoint a SIGKILL leaves names both; the next agent reads each
// from its entry (the copy from its start, nothing of it acknowledged) and
// counts nothing lost.
func TestCopyTruncateKilled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	r.setHold(true)
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustTruncate(t, path)
	appendFile(t, path, lines(20, 25))
	waitFor(t, 5*time.Second, "the second generation", func() bool { return hasSeq(r, 24) })
	copyIno, ino := inoOf(t, path+".1"), inoOf(t, path)
	var killed []stateEntry
	waitFor(t, 5*time.Second, "a checkpoint naming both", func() bool {
		es, ok, _, err := loadState(state)
		if err != nil || !ok || len(es) != 2 {
			return false
		}
		inos := map[uint64]bool{es[0].Ino: true, es[1].Ino: true}
		killed = es
		return inos[copyIno] && inos[ino] && es[0].FingerprintLen > 0 && es[1].FingerprintLen > 0
	})
	r.stop()
	if err := writeState(state, killed); err != nil {
		t.Fatal(err)
	}
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "every line", func() bool { return hasSeq(r2, 9) && hasSeq(r2, 24) })
	r2.stop()
	if diff := cmp.Diff(slices.Concat(upto(0, 10), upto(20, 25)), seqs(r2.snapshot())); diff != "" {
		t.Errorf("next agent (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted lost", n)
	}
}
