package tail

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCopytruncatedThenRenamedWhileStopped: while no agent runs, the
// checkpointed 0.log is copytruncated (the copy holds what was read), new
// lines go into the truncated file, and that file is renamed to a rotated
// name (a kubelet rotation, undone later: no 0.log for a while). The
// checkpoint's inode is then a rotated sibling that no longer starts as
// the entry's file did; its copy does. Nothing was lost: the copy stands
// for the entry (read from its offset: nothing again), the renamed file's
// new lines are read from 0 once, and no loss is counted (test/model seed
// 1500169 with -poll 100ms -more counted one).
func TestCopytruncatedThenRenamedWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	firstRun(t, cfg, path)
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(100, 120))
	mustRename(t, path, path+".20261206-000002")

	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the truncated file's lines", func() bool { return hasSeq(r, 119) })
	mustRename(t, path+".20261206-000002", path) // the rotation undone
	appendFile(t, path, lines(120, 121))         // the sentinel
	waitFor(t, 10*time.Second, "the sentinel", func() bool { return hasSeq(r, 120) })
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(100, 121)) {
		t.Errorf("lines after the restart %v, want %v once each", got, upto(100, 121))
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted vanished, want 0: the copy holds what was read", n)
	}
}
