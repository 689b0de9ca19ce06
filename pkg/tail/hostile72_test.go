package tail

import (
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestHostile72FinishedAwayUndoneTwice: the finished file, away at the
// start, is renamed back (read on from its end), written, renamed away
// again and back again (a second undo), and written: every line written
// since the start comes once.
func TestHostile72FinishedAwayUndoneTwice(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	away := doneAway(t, state, path, "20261206-000003")
	r := startRunner(t, cfg, Options{})
	waitLooked(t, r)
	mustRename(t, away, path)
	appendFile(t, path, lines(7, 9))
	waitFor(t, 10*time.Second, "line 8", func() bool { return hasSeq(r, 8) })
	mustRename(t, path, away)
	waitLooked(t, r)
	appendFile(t, away, lines(9, 10)) // the runtime still writes to it
	mustRename(t, away, path)
	appendFile(t, path, lines(10, 13))
	waitFor(t, 10*time.Second, "line 12", func() bool { return hasSeq(r, 12) })
	waitLooked(t, r)
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(7, 13)) {
		t.Errorf("lines %v, want %v once each, in order", got, upto(7, 13))
	}
}

// TestHostile72FinishedAwayThenNextFile: the finished file, away at the
// start, is not renamed back: the runtime's next file comes, and the
// finished one is compressed and deleted. The next file is read whole,
// nothing of the finished one again, and nothing counted lost.
func TestHostile72FinishedAwayThenNextFile(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "still", true: "written"}[late], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			away := doneAway(t, state, path, "20261206-000003")
			r := startRunner(t, cfg, Options{})
			waitLooked(t, r)
			want := upto(10, 14)
			if late {
				// The runtime writes to the renamed file before it
				// reopens the path.
				appendFile(t, away, lines(7, 10))
				want = upto(7, 14)
			}
			appendFile(t, path, lines(10, 14))
			waitFor(t, 10*time.Second, "line 13", func() bool { return hasSeq(r, 13) })
			waitLooked(t, r)
			mustGzip(t, away)
			if err := os.Remove(away + ".gz"); err != nil {
				t.Fatal(err)
			}
			waitLooked(t, r)
			r.stop()
			got := seqs(r.snapshot())
			if lost := hostile61Lost(t, r.reg); !slices.Equal(got, want) || lost != 0 {
				t.Errorf("lines %v, want %v once each, in order; lost %v, want 0", got, want, lost)
			}
		})
	}
}

// TestHostile72BackAtStopThenCopytruncated: a file read to its end as a
// rotated one (the path's anchor) is renamed back after the last look,
// written, and copytruncated before the final checkpoint; written again
// before the next start. Lines 0-4 come once from the first agent, 5-11
// once from the second (from the copy from where the file was finished,
// then the file at the path from 0).
func TestHostile72BackAtStopThenCopytruncated(t *testing.T) {
	for _, when := range []string{"beforeClose", "afterClose"} {
		t.Run(when, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			appendFile(t, path, lines(0, 5))
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 100 * time.Millisecond })
			waitFor(t, 10*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
			away := path + ".20261206-000001"
			mustRename(t, path, away)
			waitFor(t, 10*time.Second, "the file closed as rotated", func() bool {
				return testutil.ToFloat64(r.tl.m.openFiles) == 0 && testutil.ToFloat64(r.tl.m.rotations) == 1
			})
			r.stop()
			mustRename(t, away, path) // the rotation undone, after the last look
			appendFile(t, path, lines(5, 8))
			cp := path + ".20261206-000002"
			if when == "beforeClose" {
				copyTruncate(t, path, cp)
			}
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			if when == "afterClose" {
				copyTruncate(t, path, cp)
			}
			first := seqs(r.snapshot())
			appendFile(t, path, lines(8, 12))
			r2 := startRunner(t, cfg, Options{})
			waitFor(t, 10*time.Second, "line 11", func() bool { return hasSeq(r2, 11) })
			waitLooked(t, r2)
			r2.stop()
			got := append(first, seqs(r2.snapshot())...)
			if lost := hostile61Lost(t, r2.reg); !slices.Equal(got, upto(0, 12)) || lost != 0 {
				t.Errorf("lines %v, want %v once each, in order; lost %v", got, upto(0, 12), lost)
			}
		})
	}
}

// TestHostile72LinkDoneFileAwayAtStartThenBack: TestDoneFileAwayAtStartThenBack
// on a node whose logs are found through kubelet's link directory alone
// (/var/log/containers/*.log): the link dangles while the file is away.
func TestHostile72LinkDoneFileAwayAtStartThenBack(t *testing.T) {
	n := newLinkNode(t)
	state := t.TempDir()
	path, _ := n.pod("ns", "web", "1")
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	away := doneAway(t, state, path, "20261206-000003")
	r := startRunner(t, cfg, Options{})
	waitLooked(t, r)
	mustRename(t, away, path) // the rotation undone
	appendFile(t, path, lines(7, 12))
	waitFor(t, 10*time.Second, "the lines written after the undo", func() bool { return hasSeq(r, 11) })
	waitLooked(t, r)
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(7, 12)) {
		t.Errorf("lines %v, want %v once each (0-6 were read before the stop)", got, upto(7, 12))
	}
}

// TestHostile72LinkFinishedBackAtPathAtStopThenDeleted:
// TestFinishedBackAtPathAtStopThenDeleted through the link directory.
func TestHostile72LinkFinishedBackAtPathAtStopThenDeleted(t *testing.T) {
	for _, deleted := range []bool{true, false} {
		t.Run(map[bool]string{true: "deleted", false: "kept"}[deleted], func(t *testing.T) {
			n := newLinkNode(t)
			path, _ := n.pod("ns", "web", "1")
			finishedBackAtPath(t, n.config(t.TempDir(), filepath.Join(n.containers, "*.log")), path, deleted)
		})
	}
}

// TestHostile72CheckpointedFileMovedBeforeItsOpen: the checkpoint's file,
// renamed away by a rotation while no agent ran, is found among the
// siblings at the start; between that look and its open kubelet undoes
// the rotation (back), or undoes it and rotates it again under another
// name (backAndAway), to be renamed back later. It is read on from the
// checkpoint's offset, where it is or at its path: nothing read before
// the stop comes again, and nothing is counted lost (it was counted
// vanished, and, moved twice, read again from 0 at its path:
// TestHostile61MixedRotationsAcrossRestarts seed 10026, lines 25-64
// twice).
func TestHostile72CheckpointedFileMovedBeforeItsOpen(t *testing.T) {
	for _, how := range []string{"back", "backAndAway"} {
		t.Run(how, func(t *testing.T) {
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
			if err := writeState(state, []stateEntry{{Dev: k.dev, Ino: k.ino, FingerprintLen: min(len(first), fpSize), Fingerprint: fpHash(first[:min(len(first), fpSize)]),
				Path: path, Offset: fi.Size(), AckedTo: fi.Size()}}); err != nil {
				t.Fatal(err)
			}
			away1, away2 := path+".20261206-000011", path+".20261206-000012"
			mustRename(t, path, away1)
			appendFile(t, away1, lines(7, 9)) // the runtime wrote on before it reopened
			var moved atomic.Bool
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) {
				tl.openFault = func(p string) error {
					if p == away1 && moved.CompareAndSwap(false, true) {
						if err := os.Rename(away1, path); err != nil { // the rotation undone
							t.Error(err)
						}
						if how == "backAndAway" {
							if err := os.Rename(path, away2); err != nil { // and done again
								t.Error(err)
							}
						}
					}
					return nil
				}
			})
			waitLooked(t, r)
			if how == "backAndAway" {
				mustRename(t, away2, path) // undone once more
			}
			appendFile(t, path, lines(9, 12))
			waitFor(t, 10*time.Second, "line 11", func() bool { return hasSeq(r, 11) })
			waitLooked(t, r)
			r.stop()
			got := seqs(r.snapshot())
			if lost := hostile61Lost(t, r.reg); !slices.Equal(got, upto(7, 12)) || lost != 0 || !moved.Load() {
				t.Errorf("lines %v, want %v once each, in order; lost %v, want 0 (moved %v)", got, upto(7, 12), lost, moved.Load())
			}
		})
	}
}

// TestHostile72FinishedAwayNextFileWaits: one descriptor for two
// containers. The checkpoint has one container's file read to its end,
// and for the other's path a finished file away (its newest sibling) and
// the file at the path read in part. The start notes the finished one as
// the path's last rotated file while the file at the path waits for a
// descriptor; that file is rotated and the next one written before or
// after its turn. Every line not read before the stop comes once, in
// order per path, and nothing is counted lost.
func TestHostile72FinishedAwayNextFileWaits(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	other := mkContainer(t, dir, "ns_a_uid")
	path := mkContainer(t, dir, "ns_b_uid")
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	entry := func(p string, first []byte, off int64, done bool) stateEntry {
		k := statKeyT(t, p)
		n := min(len(first), fpSize)
		return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: n, Fingerprint: fpHash(first[:n]), Path: p, Offset: off, AckedTo: off, Done: done}
	}
	appendFile(t, other, lines(100, 105))
	appendFile(t, path, lines(0, 7))
	es := []stateEntry{
		entry(other, []byte(lines(100, 105)), int64(len(lines(100, 105))), false),
		entry(path, []byte(lines(0, 7)), int64(len(lines(0, 7))), true),
	}
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	appendFile(t, path, lines(7, 10))
	es = append(es, entry(path, []byte(lines(7, 10)), int64(len(lines(7, 8))), false))
	if err := writeState(state, es); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, cfg, Options{})
	waitLooked(t, r)
	mustRename(t, path, path+".20261206-000002")
	appendFile(t, path, lines(10, 13))
	appendFile(t, other, lines(105, 107))
	waitFor(t, 10*time.Second, "lines 12 and 106", func() bool { return hasSeq(r, 12) && hasSeq(r, 106) })
	waitLooked(t, r)
	r.stop()
	var mine, theirs []int
	for _, n := range seqs(r.snapshot()) {
		if n >= 100 {
			theirs = append(theirs, n)
		} else {
			mine = append(mine, n)
		}
	}
	if lost := hostile61Lost(t, r.reg); !slices.Equal(mine, upto(8, 13)) || !slices.Equal(theirs, upto(105, 107)) || lost != 0 {
		t.Errorf("lines %v and %v, want %v and %v once each, in order; lost %v", mine, theirs, upto(8, 13), upto(105, 107), lost)
	}
	if w := testutil.ToFloat64(r.tl.m.waits); w == 0 {
		t.Errorf("no file waited for a descriptor")
	}
}

// TestHostile72FinishedGrewCompressedAtStart: TestFinishedGrewWhileStopped
// (a finished file renamed back, written and rotated or copytruncated
// while no agent ran), the rotated file or copy compressed by kubelet or
// logrotate while the start looks at it: after it was matched to the
// finished file's entry, plain, and before its growth is looked at. The
// lines written after the finish are read once.
func TestHostile72FinishedGrewCompressedAtStart(t *testing.T) {
	for _, how := range []string{"renamed", "copytruncated"} {
		t.Run(how, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			rot := finishedGrew(t, state, path, how)
			compressed := false
			siblingsMatched = func() {
				siblingsMatched = nil
				if err := simnode.GzipFile(rot); err != nil {
					t.Error(err)
				}
				compressed = true
			}
			t.Cleanup(func() { siblingsMatched = nil })
			r := startRunner(t, cfg, Options{})
			waitFor(t, 10*time.Second, "line 8", func() bool { return hasSeq(r, 8) })
			waitLooked(t, r)
			r.stop()
			if got := seqsSorted(r); !slices.Equal(got, upto(5, 9)) || !compressed {
				t.Errorf("lines %v, want %v once each (compressed at the start: %v)", got, upto(5, 9), compressed)
			}
		})
	}
}
