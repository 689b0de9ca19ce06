package tail

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// inoOf is the inode of path.
func inoOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// waitCheckpoint waits until the checkpoint on disk satisfies ok, given the
// inodes of its live and its done entries.
func waitCheckpoint(t *testing.T, state, what string, ok func(live, done map[uint64]bool) bool) {
	t.Helper()
	waitFor(t, 5*time.Second, what, func() bool {
		m, loaded, _, err := loadState(state)
		if err != nil || !loaded {
			return false
		}
		live, done := map[uint64]bool{}, map[uint64]bool{}
		for _, e := range m {
			if e.Done {
				done[e.Ino] = true
			} else {
				live[e.Ino] = true
			}
		}
		return ok(live, done)
	})
}

// TestAnchorDeletedEmptyStays: the path's anchor is a file with lines (f1),
// a file rotated empty (f2) finished after it, and the current file (f3)
// is empty at the graceful stop. While no agent runs, f3 is written,
// rotated and compressed, and kubelet deletes the oldest rotated file, the
// anchor (it keeps a few, the oldest goes first); f2, empty, is still
// there. f3's lines are in its .gz and the next agent reads them: nothing
// was lost, and no lost file may be counted.
func TestAnchorDeletedEmptyStays(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	appendFile(t, path, lines(0, 10))
	f1 := inoOf(t, path)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 9) })
	rot1, rot2, rot3, rot4 := path+".20261126-035501", path+".20261126-035502", path+".20261126-035503", path+".20261126-035504"
	mustRename(t, path, rot1)
	appendFile(t, path, "") // f2, rotated while empty
	f2 := inoOf(t, path)
	waitCheckpoint(t, state, "the file with lines finished, the anchor", func(live, done map[uint64]bool) bool { return done[f1] && live[f2] })
	mustRename(t, path, rot2)
	appendFile(t, path, "") // f3
	f3 := inoOf(t, path)
	waitCheckpoint(t, state, "the empty file finished", func(live, _ map[uint64]bool) bool { return !live[f2] && live[f3] })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	// While no agent runs: f3 written and rotated, then the next one;
	// every rotated file but the newest compressed, the oldest deleted.
	appendFile(t, path, lines(10, 20))
	mustRename(t, path, rot3)
	appendFile(t, path, lines(20, 25))
	mustRename(t, path, rot4)
	appendFile(t, path, lines(25, 30))
	mustGzip(t, rot3)
	if err := os.Remove(rot1); err != nil {
		t.Fatal(err)
	}
	r2 := startRunner(t, cfg, Options{})
	defer r2.stop()
	waitFor(t, 5*time.Second, "the current file's lines", func() bool { return hasSeq(r2, 29) })
	if diff := cmp.Diff(upto(10, 30), seqs(r2.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); got != 0 {
		t.Errorf("lost files = %v, want 0: every line of the checkpoint's files was read", got)
	}
}

// TestStopNamesWaitingFiles: a file waiting for a descriptor at a graceful
// stop (logs.max_open_files reached), never opened, is on disk at the stop:
// the final checkpoint names it, so that if kubelet deletes it while no
// agent runs, the next agent counts it lost. While running, a waiting file
// deleted is counted (lostWaiting); across a stop it was lost without a
// trace.
func TestStopNamesWaitingFiles(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	// Files take turns at polls: none comes between the wait and the stop
	// (the first file is read on its notifications, the second found by
	// the rescan). With the test's 50 ms, a loaded machine let one come,
	// the second file was read, and the checkpoint named it read.
	cfg.PollInterval = time.Hour
	first := mkContainer(t, dir, "ns_a_uid")
	appendFile(t, first, lines(0, 5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first file's lines", func() bool { return hasSeq(r, 4) })
	late := mkContainer(t, dir, "ns_b_uid")
	appendFile(t, late, lines(5, 10))
	waitFor(t, 5*time.Second, "the second file waiting", func() bool { return testutil.ToFloat64(r.tl.m.waiting) == 1 })
	stopThenLossCounted(t, r, cfg, first, late)
}

// TestStopSkipsExcluded: the rescan at a graceful stop takes what a scan
// takes, no more: a file created since the last scan that the Excluder or
// logs.exclude excludes is not named by the final checkpoint, one that is
// included is.
func TestStopSkipsExcluded(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.Exclude = []string{filepath.Join(dir, "ns_c_uid", "*", "*.log")}
	first := mkContainer(t, dir, "ns_a_uid")
	appendFile(t, first, lines(0, 5))
	var ex excludeSet
	ex.m = map[string]bool{}
	r := startRunnerTuned(t, cfg, Options{Excluder: &ex}, nil, func(tl *Tailer) {
		tl.pollOnly = true
		tl.cfg.PollInterval, tl.cfg.RescanInterval = time.Hour, time.Hour
	})
	waitFor(t, 5*time.Second, "the first file's lines", func() bool { return hasSeq(r, 4) })
	b, c, d := mkContainer(t, dir, "ns_b_uid"), mkContainer(t, dir, "ns_c_uid"), mkContainer(t, dir, "ns_d_uid")
	ex.mu.Lock()
	ex.m[b] = true
	ex.mu.Unlock()
	for _, p := range []string{b, c, d} {
		appendFile(t, p, lines(5, 10))
	}
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, e := range readState(t, state).Files {
		named = append(named, e.Path)
	}
	if diff := cmp.Diff([]string{first, d}, named); diff != "" {
		t.Errorf("paths in the final checkpoint (-want +got):\n%s", diff)
	}
}
