package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	away := doneAway(t, state, path, "20261206-000003")
	r := startRunner(t, cfg, Options{})
	waitLooked(t, r)
	mustRename(t, away, path) // the rotation undone
	appendFile(t, path, lines(7, 12))
	waitFor(t, 10*time.Second, "the lines written after the undo", func() bool { return hasSeq(r, 11) })
	waitLooked(t, r) // what it would read twice has had its turn
	r.stop()
	if got := seqsSorted(r); !slices.Equal(got, upto(7, 12)) {
		t.Errorf("lines %v, want %v once each (0-6 were read before the stop)", got, upto(7, 12))
	}
}

// doneAway writes lines 0-6 to path, a checkpoint naming its file as
// finished at its end, and renames it to path.name (a rotation kubelet
// will undo); it returns that name.
func doneAway(t *testing.T, state, path, name string) string {
	t.Helper()
	appendFile(t, path, lines(0, 7))
	e := entryOf(t, path, path, fileSize(t, path))
	e.Done = true
	if err := writeState(state, []stateEntry{e}); err != nil {
		t.Fatal(err)
	}
	away := path + "." + name
	mustRename(t, path, away)
	return away
}

// finishedGrew writes lines 0-4 to path and a checkpoint naming its file
// as finished at their end (closed as rotated; a rotation undone just
// before the stop), then, as while no agent runs, lines 5-7 to it, renames
// it (how "copytruncated": copytruncates it) to path.20261206-000001, and
// writes line 8 to the path's new file; it returns the rotated name. Every
// line from 5 on must come once.
func finishedGrew(t *testing.T, state, path, how string) string {
	t.Helper()
	appendFile(t, path, lines(0, 5))
	e := entryOf(t, path, path, fileSize(t, path))
	e.Done = true
	if err := writeState(state, []stateEntry{e}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	rot := path + ".20261206-000001"
	if how == "copytruncated" {
		copyTruncate(t, path, rot)
	} else {
		mustRename(t, path, rot)
	}
	appendFile(t, path, lines(8, 9))
	return rot
}

// TestFinishedBackAtPathAtStopThenDeleted: the path's file is renamed
// away (kubelet's rotation), read to its end there and closed as rotated
// (the path's anchor, done), and renamed back (kubelet undid the rotation)
// after the agent's last look and before its final checkpoint. While no
// agent runs it is written to, rotated and deleted (kubelet's
// containerLogMaxFiles) before anyone read those lines. The next agent
// counts the loss: the final checkpoint did not name the file as finished,
// for it was back at its path (TestUndoneRotationsAcrossRestarts seed 240,
// 3 runs in 6: 112 lines deleted unread while stopped, no loss counted).
// Not deleted, it is read on from where it was finished.
func TestFinishedBackAtPathAtStopThenDeleted(t *testing.T) {
	for _, deleted := range []bool{true, false} {
		t.Run(map[bool]string{true: "deleted", false: "kept"}[deleted], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			finishedBackAtPath(t, testConfig(dir, state), path, deleted)
		})
	}
}

// finishedBackAtPath runs TestFinishedBackAtPathAtStopThenDeleted's order
// on path, followed by cfg: the file, read to its end away from its path,
// renamed back after the last look and before the final checkpoint, then
// (no agent running) written, rotated and, with deleted, deleted.
func finishedBackAtPath(t *testing.T, cfg Config, path string, deleted bool) {
	t.Helper()
	appendFile(t, path, lines(0, 5))
	// The runtime's next file never comes: the rotated file is
	// final after the linger.
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 100 * time.Millisecond })
	waitFor(t, 10*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	waitFor(t, 10*time.Second, "the file closed as rotated", func() bool {
		return testutil.ToFloat64(r.tl.m.openFiles) == 0 && testutil.ToFloat64(r.tl.m.rotations) == 1
	})
	r.stop()
	mustRename(t, away, path) // the rotation undone, after the last look
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	first := seqs(r.snapshot())

	appendFile(t, path, lines(5, 10))
	rot := path + ".20261206-000002"
	mustRename(t, path, rot)
	appendFile(t, path, lines(10, 12))
	if deleted {
		if err := os.Remove(rot); err != nil {
			t.Fatal(err)
		}
	}
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the new file's lines", func() bool { return hasSeq(r2, 11) })
	waitLooked(t, r2) // what it would read twice has had its turn
	r2.stop()
	got := append(first, seqs(r2.snapshot())...)
	lost := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished))
	if deleted {
		want := append(upto(0, 5), upto(10, 12)...)
		if !slices.Equal(got, want) || lost != 1 {
			t.Errorf("lines %v, want %v; files counted vanished %v, want 1", got, want, lost)
		}
		return
	}
	if !slices.Equal(got, upto(0, 12)) || lost != 0 {
		t.Errorf("lines %v, want %v once each; files counted vanished %v, want 0", got, upto(0, 12), lost)
	}
}
