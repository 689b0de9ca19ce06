package tail

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestDoneFileAwayAtStartThenBack: the checkpoint names the path's file as
// finished (it was read to its end as a rotated file, and renamed back to
// the path just before the stop: a rotation kubelet undid). While no
// agent runs kubelet renames it away again, with nothing written; the
// agent starts while it is away, finds it finished there (nothing to
// read), and it is renamed back and written to. Reading continues where
// it was finished: the lines read before the stop are not read again
// (TestHostile61MixedRotationsAcrossRestarts, seed 8082 under load: lines
// 0-6 twice).
func TestDoneFileAwayAtStartThenBack(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	appendFile(t, path, lines(0, 7))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keyOf(fi)
	first := []byte(lines(0, 7))
	if err := writeState(state, []stateEntry{{Dev: k.dev, Ino: k.ino, FingerprintLen: len(first), Fingerprint: fpHash(first),
		Path: path, Offset: fi.Size(), AckedTo: fi.Size(), Done: true}}); err != nil {
		t.Fatal(err)
	}
	away := path + ".20261206-000003"
	mustRename(t, path, away)
	r := startRunner(t, cfg, Options{})
	waitLooked(t, r)
	mustRename(t, away, path) // the rotation undone
	appendFile(t, path, lines(7, 12))
	waitFor(t, 10*time.Second, "the lines written after the undo", func() bool { return hasSeq(r, 11) })
	r.stop()
	if got := seqsSorted(r); !slices.Equal(got, upto(7, 12)) {
		t.Errorf("lines %v, want %v once each (0-6 were read before the stop)", got, upto(7, 12))
	}
}
