package tail

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestEmptyEntryInodeReusedCompressedAtStart: the checkpoint names 0.log,
// empty (offset 0, no first bytes). While no agent runs, lines 0-11 are
// written to it, it is rotated and compressed (its inode number freed),
// the next file is rotated, the one after it (on the freed inode, or the
// checkpoint says so: reuseInode) is written and rotated too, and the
// first file's .gz is deleted: lines 0-11 are lost. The agent starts, and
// kubelet compresses the rotated file that has the inode while the start
// looks at it: after its identity was read, before the checkpoint's entry
// is matched to it. Its birth (after the checkpoint) is read from the
// file whose identity was read, not from its name, where it no longer
// is: it is not taken for the entry's file, the loss is counted, and
// every line still on disk arrives once
// (TestHostile61MixedRotationsAcrossRestarts seed 20100: lines 0-11
// deleted unread while no agent ran, no loss counted).
func TestEmptyEntryInodeReusedCompressedAtStart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	probe := filepath.Join(dir, "probe")
	appendFile(t, probe, "")
	if !bornAfter(probe, time.Now().Add(-time.Hour)) {
		t.Skip("the file system keeps no birth time")
	}
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	emptyCheckpoint(t, cfg, path)
	appendFile(t, path, lines(0, 12))
	r1, r2, r3 := path+".20261206-000001", path+".20261206-000002", path+".20261206-000003"
	mustRename(t, path, r1)
	appendFile(t, path, lines(12, 15))
	mustGzip(t, r1)
	mustRename(t, path, r2)
	appendFile(t, path, lines(15, 20))
	mustRename(t, path, r3)
	appendFile(t, path, lines(20, 22))
	if err := os.Remove(r1 + ".gz"); err != nil { // lines 0-11
		t.Fatal(err)
	}
	reuseInode(t, state, r3)
	siblingsStarted = func() {
		siblingsStarted = nil
		if err := simnode.GzipFile(r3); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { siblingsStarted = nil })
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the lines on disk", func() bool { return hasSeq(r, 12) && hasSeq(r, 21) })
	waitLooked(t, r) // what it would read twice has had its turn
	r.stop()
	if got, want := seqsSorted(r), upto(12, 22); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v once each", got, want)
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 1 {
		t.Errorf("%v files counted vanished, want 1 (lines 0-11 were deleted unread)", n)
	}
}
