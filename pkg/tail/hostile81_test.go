package tail

import (
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestResumedAwayBackRotatedAgainPlainNewFileFirst: the file the start
// opened away from its path (lines 5-7 unread) is renamed back, written
// (8), rotated again by kubelet (renamed; the runtime writes 9 to it
// before it reopens) and a new file made at the path (10-11), never
// truncated, before the tailer reads any of it. The new file waits for
// it: 5-11 once each, in order; the same after a restart.
func TestResumedAwayBackRotatedAgainPlainNewFileFirst(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 9))
	rot := path + ".20261206-000022"
	mustRename(t, path, rot)
	appendFile(t, rot, lines(9, 10))
	appendFile(t, path, lines(10, 12))
	nextFileFound(t, tl, path)
	onceThenRestart(t, tl, path, 5, 12)
}

// TestResumedAwayBackRotatedAgainPlainPartialLine: as
// TestResumedAwayBackRotatedAgainPlainNewFileFirst, the file ending with
// the first fragment (P) of line 100 whose end (F) the runtime writes
// first in the new file at the path: the line comes once, whole, after
// 8 and before 10; nothing cut.
func TestResumedAwayBackRotatedAgainPlainPartialLine(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 10)+criLine("stdout", "P", "seq=100 first half "))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
	nextFileFound(t, tl, path)
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// TestResumedAwayBackRotatedAgainPlainStopWhileWaiting: as
// TestResumedAwayBackRotatedAgainPlainNewFileFirst, the agent stops while
// the new file at the path waits for the file resumed away, nothing of
// either read: the next agent reads 5 on once each, in order.
func TestResumedAwayBackRotatedAgainPlainStopWhileWaiting(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 9))
	rot := path + ".20261206-000022"
	mustRename(t, path, rot)
	appendFile(t, rot, lines(9, 10))
	appendFile(t, path, lines(10, 12))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if c := tl.byPath[path]; c == nil || c.pred == nil {
		t.Fatalf("the new file not found, or not waiting: %+v", c)
	}
	stop77(t, tl)
	appendFile(t, path, lines(12, 13))
	restartWant(t, tl.cfg, 5, 13)
}

// TestStartBetweenRenameAndCreateTwoPaths: two containers' logs in one
// directory (0.log and 1.log, a restart's), each found by the start
// between kubelet's rename and the runtime's next file: each path's next
// file waits for its own rotated file only; every line of each comes
// once, in order for its path.
func TestStartBetweenRenameAndCreateTwoPaths(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	a := mkContainer(t, dir, "ns_pod_uid")
	b := filepath.Join(filepath.Dir(a), "1.log")
	appendFile(t, a, lines(0, 5))
	appendFile(t, b, lines(100, 105))
	if err := writeState(state, []stateEntry{dataEntry(t, a, a, lines(0, 5), false), dataEntry(t, b, b, lines(100, 105), false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, a, lines(5, 8))
	appendFile(t, b, lines(105, 108)+criLine("stdout", "P", "seq=150 first half "))
	mustRename(t, a, a+".20261206-000001")
	mustRename(t, b, b+".20261206-000001")
	tl, saved, now := startSteps(t, dir, state)
	if tl.byPath[a] != nil || tl.byPath[b] != nil {
		t.Fatal("a file at a path")
	}
	tl.resumeRotated(now, saved)
	appendFile(t, b, criLine("stdout", "F", "second half")+lines(108, 110))
	tl.rescan(time.Now(), false)
	readNextIfFree(tl, b)
	appendFile(t, a, lines(8, 10))
	tl.rescan(time.Now(), false)
	readNextIfFree(tl, a)
	readEvery77(t, tl)
	lingerOver(tl)
	readEvery77(t, tl)
	var ga, gb []int
	got, paths := emitted(tl), emittedPaths77(tl)
	for i, n := range got {
		switch paths[i] {
		case a:
			ga = append(ga, n)
		case b:
			gb = append(gb, n)
		default:
			t.Errorf("line %d read under %s", n, paths[i])
		}
	}
	wb := append(upto(105, 108), append([]int{150}, upto(108, 110)...)...)
	if !slices.Equal(ga, upto(5, 10)) || !slices.Equal(gb, wb) {
		t.Errorf("lines %v and %v, want %v and %v", ga, gb, upto(5, 10), wb)
	}
	wantMerged(t, tl, got, 150, "seq=150 first half second half")
}

// TestResumedAwayBackRotatedTwiceUnseen: as
// TestResumedAwayBackRotatedAgainPlainNewFileFirst, but the new file
// (10) is rotated in turn, and another made (11), before the tailer
// looks: the file resumed away, then the one rotated after it, then the
// one at the path; 5-11 once each, in order; the same after a restart.
func TestResumedAwayBackRotatedTwiceUnseen(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 9))
	rot := path + ".20261206-000022"
	mustRename(t, path, rot)
	appendFile(t, rot, lines(9, 10))
	appendFile(t, path, lines(10, 11))
	mustRename(t, path, path+".20261206-000023")
	appendFile(t, path, lines(11, 12))
	nextFileFound(t, tl, path)
	onceThenRestart(t, tl, path, 5, 12)
}

// TestResumedAwayBackRotatedAgainPartialLineOneDescriptor: run, with
// max_open_files 1: the file under its rotated name as the agent starts
// (lines 5-7 unread) is renamed back, written (8-9), rotated again and a
// new file made at the path (10-11), whenever the tailer looks, the file
// ending with the first fragment (P) of line 100
// whose end (F) the runtime writes first in the new file at the path:
// it holds the only descriptor while the new file waits for one. Line
// 100 comes once, whole, after 9 and before 10, soon (not cut after
// rotatedLinger).
func TestResumedAwayBackRotatedAgainPartialLineOneDescriptor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = time.Hour })
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 10)+criLine("stdout", "P", "seq=100 first half "))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
	waitFor(t, 10*time.Second, "the new file", func() bool { return hasSeq(r, 11) })
	r.stop()
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	if got := seqs(r.snapshot()); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if x, n := recOf(r, "seq=100 "); n != 1 || x.body != "seq=100 first half second half" {
		t.Errorf("line 100 %+v (%d of them), want it once, whole", x, n)
	}
}
