package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// emptyClosedThenWaited84 is the set-up of TestNextWaitedRenamedAfterEmptyClosed
// (compressed): one descriptor; r0 (50-51) read and closed, the path's
// anchor; the empty 0.log after it followed, rotated empty (r1), and the
// runtime's next 0.log (0-1) waits for the descriptor r1 holds; it gets
// the first fragment of line 100 and is renamed (r2) before its turn, and
// r1 is compressed. It returns the tailer, the path, r1's key, and r2.
func emptyClosedThenWaited84(t *testing.T) (*Tailer, string, fileKey, string) {
	t.Helper()
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(50, 52))
	tl := oneDescriptorRead(t, dir)
	mustRename(t, path, path+".20261206-000000")
	appendFile(t, path, "")
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	lingerOver(tl)
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	if f := tl.byPath[path]; f == nil || f.st != stFollowing {
		t.Fatalf("the empty 0.log not followed: %+v", f)
	}
	r1key := statKeyT(t, path)
	mustRename(t, path, path+".20261206-000001") // empty
	appendFile(t, path, lines(0, 2))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if _, ok := tl.lim.queued[path]; !ok {
		t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
	}
	appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
	r2 := path + ".20261206-000002"
	mustRename(t, path, r2)
	mustGzip(t, path+".20261206-000001")
	return tl, path, r1key, r2
}

// closeRotated84 reads every open file and ends the rotated files' wait
// for the next one, until none is open: r1 is closed (its inode freed,
// compressed) before the waited file's turn.
func closeRotated84(t *testing.T, tl *Tailer) {
	t.Helper()
	for range 3 {
		lingerOver(tl)
		for _, g := range tl.order {
			if g.st != stClosed && (g.pred == nil || g.pred.st == stClosed) {
				tl.readFile(g, time.Now())
			}
		}
	}
	for _, g := range tl.order {
		if g.st != stClosed {
			t.Fatalf("%s still open: %v", g.path, g.st)
		}
	}
}

// createWithInode84 creates path empty with inode key if the file system
// hands the inode out again (ext4 gives a directory's next file the inode
// freed last); false if it does not after a few tries.
func createWithInode84(t *testing.T, path string, key fileKey) bool {
	t.Helper()
	dir := filepath.Dir(path)
	for i := range 50 {
		tmp := filepath.Join(dir, "reuse84.tmp")
		appendFile(t, tmp, "")
		if statKeyT(t, tmp) == key {
			mustRename(t, tmp, path)
			return true
		}
		// Kept while trying (so the next one gets another inode), then
		// removed.
		mustRename(t, tmp, filepath.Join(dir, "reuse84."+string(rune('a'+i%26))+".keep"))
	}
	return false
}

// TestNextWaitedEmptyClosedInodeReusedBeforeTurn: as
// TestNextWaitedRenamedAfterEmptyClosed (compressed), but r1, closed
// empty and compressed, gives its freed inode to the runtime's next
// 0.log (the end of line 100, then 2-3), which kubelet rotates too (r3)
// before the waited file's turn. Found by that inode, r3 was taken for
// r1: the waited file, r2, seemed to lie before it, was not the path's
// last, and line 100 was cut at its end.
func TestNextWaitedEmptyClosedInodeReusedBeforeTurn(t *testing.T) {
	tl, path, r1key, _ := emptyClosedThenWaited84(t)
	closeRotated84(t, tl)
	if !createWithInode84(t, path, r1key) {
		t.Skip("the file system did not hand r1's inode out again")
	}
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
	mustRename(t, path, path+".20261206-000003")
	for range 3 {
		tl.rebalance(time.Now()) // the waited file's turn
		readEvery77(t, tl)
	}
	appendFile(t, path, lines(4, 6))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	want := append(upto(50, 52), append(upto(0, 2), append([]int{100}, upto(2, 6)...)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// TestRotatedAfterEmptyClosedInodeReused: no descriptor cap. The
// followed 0.log is rotated empty (r1) and closed once the next 0.log
// is there; before the tailer looks at the path again, that 0.log (0-1)
// is rotated (r2) and r1 compressed, freeing its inode, which the
// runtime's next 0.log (2-3) takes; it is rotated too (r3), r2
// compressed, and the next 0.log (4-5) is found. r3, found by r1's
// inode, was taken for r1 grown (a rotation undone), read from 0, and
// r2's lines, rotated before it, were never read and never counted.
// kubelet rotates only files over containerLogMaxSize, never an empty
// one: a node with kubelet does not make this.
func TestRotatedAfterEmptyClosedInodeReused(t *testing.T) {
	for _, reuse := range []bool{true, false} {
		t.Run(map[bool]string{true: "inode reused", false: "inode not reused"}[reuse], func(t *testing.T) { rotatedAfterEmptyClosed84(t, reuse) })
	}
}

func rotatedAfterEmptyClosed84(t *testing.T, reuse bool) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	readEvery77(t, tl)
	if f := tl.byPath[path]; f == nil || f.st != stFollowing {
		t.Fatalf("the empty 0.log not followed: %+v", f)
	}
	r1key := statKeyT(t, path)
	r1 := path + ".20261206-000001"
	mustRename(t, path, r1) // empty
	appendFile(t, path, lines(0, 2))
	tl.poll(time.Now()) // r1 rotated, a new file at the path
	closeRotated84(t, tl)
	mustRename(t, path, path+".20261206-000002")
	mustGzip(t, r1)
	if reuse {
		if !createWithInode84(t, path, r1key) {
			t.Skip("the file system did not hand r1's inode out again")
		}
	} else {
		appendFile(t, filepath.Join(t.TempDir(), "other"), "x") // takes r1's inode
	}
	appendFile(t, path, lines(2, 4))
	mustRename(t, path, path+".20261206-000003")
	mustGzip(t, path+".20261206-000002")
	appendFile(t, path, lines(4, 6))
	nextFileFound(t, tl, path)
	if got := emitted(tl); !slices.Equal(got, upto(0, 6)) {
		t.Errorf("lines %v, want %v", got, upto(0, 6))
	}
}

// TestNextWaitedAfterEmptyClosedAnchorDeleted: as
// TestNextWaitedRenamedAfterEmptyClosed (compressed), but kubelet deletes
// r0, the path's anchor (the oldest first), before the waited file's
// turn: r1's .gz (empty) is all that lies before the waited file, which
// is the path's last file, and line 100 is merged with its end in the
// next 0.log. With no reference found, it was taken for a file that
// cannot be placed and the line was cut at its end, its end shipped alone
// (TestStartBetweenRenameAndCreateMixed seed 20094: the anchor deleted
// while no agent ran, then two files rotated empty). kubelet rotates only
// files over containerLogMaxSize, never an empty one.
func TestNextWaitedAfterEmptyClosedAnchorDeleted(t *testing.T) {
	tl, path, _, _ := emptyClosedThenWaited84(t)
	if err := os.Remove(path + ".20261206-000000"); err != nil {
		t.Fatal(err)
	}
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	want := append(upto(50, 52), append(upto(0, 2), append([]int{100}, upto(2, 4)...)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// TestNextWaitedAfterEmptyClosedLinesBeforeNoAnchor: as
// TestNextWaitedAfterEmptyClosedAnchorDeleted, but a file with lines the
// tailer never finished lies before the waited file with no anchor to
// place it (r0 taken out of the anchors: a file from before the agents
// began). The waited file is not taken for the path's last one: every line
// is delivered once.
func TestNextWaitedAfterEmptyClosedLinesBeforeNoAnchor(t *testing.T) {
	tl, path, _, _ := emptyClosedThenWaited84(t)
	tl.mu.Lock()
	delete(tl.anchors, path)
	tl.mu.Unlock()
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	got := emitted(tl)
	if c := count84(got); c[50] != 1 || c[51] != 1 || c[0] != 1 || c[1] != 1 || c[2] != 1 || c[3] != 1 {
		t.Errorf("lines %v, want 50-51, 0-3 once each", got)
	}
}

func count84(s []int) map[int]int {
	m := make(map[int]int)
	for _, n := range s {
		m[n]++
	}
	return m
}

// restartWhole84 runs a tailer on cfg until line last arrives: the lines
// must be want, in order, line seq whole, none flagged truncated, and no
// file counted lost.
func restartWhole84(t *testing.T, cfg Config, last int, want []int, seq int, whole string) {
	t.Helper()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, last) })
	r.settle()
	r.stop()
	recs := r.snapshot()
	if got := seqs(recs); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	for _, x := range recs {
		if n, _ := seqOf(x.body); x.truncated || (n == seq && x.body != whole) {
			t.Errorf("after the restart, %q (truncated %v), want line %d whole", x.body, x.truncated, seq)
		}
	}
	if n := hostile61Lost(t, r.reg); n != 0 {
		t.Errorf("after the restart, %v losses counted, want none", n)
	}
}

// waitedTurn84 is emptyClosedThenWaited84 and the waited file's turn (r1
// final, then every file read): r2 is open as the path's last file,
// waiting with the first fragment of line 100 for the next 0.log.
func waitedTurn84(t *testing.T) (*Tailer, string, string) {
	t.Helper()
	tl, path, _, r2 := emptyClosedThenWaited84(t)
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	if got := emitted(tl); !slices.Equal(got, []int{50, 51, 0, 1}) {
		t.Fatalf("lines %v before the next 0.log, want 50, 51, 0, 1", got)
	}
	if o := tl.lastOpen(path); o == nil || o.path != r2 {
		t.Fatalf("r2 not the path's last file: %+v", o)
	}
	return tl, path, r2
}

// TestNextWaitedAfterEmptyClosedStoppedAfterTurn: the agent is stopped
// (its final checkpoint) or killed (the last periodic one, after the
// lines delivered were acknowledged) right after the waited file's turn,
// before the next 0.log (the end of line 100, then 2-3) is made. The next
// agent delivers line 100 whole, then 2-3, and counts nothing lost.
func TestNextWaitedAfterEmptyClosedStoppedAfterTurn(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "stopped", true: "killed"}[kill], func(t *testing.T) {
			tl, path, _ := waitedTurn84(t)
			ackEmitted82(tl)
			if kill {
				if err := tl.commit(false); err != nil {
					t.Fatal(err)
				}
				tl.closeAll()
			} else {
				stop77(t, tl)
			}
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
			restartWhole84(t, tl.cfg, 3, []int{100, 2, 3}, 100, "seq=100 first half second half")
		})
	}
}

// TestNextWaitedAfterEmptyClosedUndoneAfterTurn: after the waited file's
// turn (r2, the path's last file, ending with the first fragment of line
// 100), kubelet undoes its rotation (the runtime could not reopen):
// renamed back to 0.log, written on (the line's end, 2-3), rotated again
// (r3), and the next 0.log (4-5) is made. Every line once, in order, 100
// whole; a restart repeats nothing.
func TestNextWaitedAfterEmptyClosedUndoneAfterTurn(t *testing.T) {
	tl, path, r2 := waitedTurn84(t)
	mustRename(t, r2, path)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	mustRename(t, path, path+".20261206-000003")
	appendFile(t, path, lines(4, 6))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	want := []int{50, 51, 0, 1, 100, 2, 3, 4, 5}
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
	ackEmitted82(tl)
	stop77(t, tl)
	appendFile(t, path, lines(6, 7))
	restartWantList(t, tl.cfg, 6, []int{6})
}

// TestNextWaitedAfterEmptyClosedCompressedBeforeTurn: as
// TestNextWaitedCompressedBeforeTurn after an empty rotated file closed:
// the waited file (0-1, the first fragment of line 100) is renamed (r2),
// the next 0.log (the line's end, 2-3) rotated in turn (r3) and r2
// compressed before the waited file's turn; the next 0.log (4-5) is made.
// Every line once, in order, and no waiting file counted lost.
func TestNextWaitedAfterEmptyClosedCompressedBeforeTurn(t *testing.T) {
	tl, path, _, r2 := emptyClosedThenWaited84(t)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4))
	mustRename(t, path, path+".20261206-000003")
	mustGzip(t, r2)
	appendFile(t, path, lines(4, 6))
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	got := emitted(tl)
	if want := []int{50, 51, 0, 1, 100, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if n := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostWaiting)); n != 0 {
		t.Errorf("%v waiting files counted lost, want none", n)
	}
}

// emittedOf84 is emitted for the lines of the files beside path (its
// own and its rotated siblings').
func emittedOf84(tl *Tailer, path string) []int {
	var out []int
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			if filepath.Dir(l.Path) != filepath.Dir(path) {
				continue
			}
			n, ok := seqOf(string(l.Body))
			if !ok {
				n = -1
			}
			out = append(out, n)
		}
	}
	return out
}

// TestParkedRotatedThenNextWaitedRenamed: one descriptor, two
// containers. A's 0.log (0-4) is parked for B's; while parked it gets the
// first fragment of line 100 and is rotated (r1); at its turn it is found
// there and the runtime's next 0.log (the line's end, 5-6, then the first
// fragment of line 101) waits for a descriptor; kubelet rotates that one
// too (r2) before its turn, and the next 0.log (the end of line 101,
// 7-8) is made. A's lines come once each, in order, 100 and 101 whole.
//
// Or a file (the line's end, 5-6) lies between r1 and the waited file
// (7-8, then the first fragment of line 101), rotated before A's turn.
func TestParkedRotatedThenNextWaitedRenamed(t *testing.T) {
	for _, between := range []bool{false, true} {
		t.Run(map[bool]string{false: "next waited", true: "a file between"}[between], func(t *testing.T) { parkedRotated84(t, between) })
	}
}

func parkedRotated84(t *testing.T, between bool) {
	dir := t.TempDir()
	a := mkContainer(t, dir, "ns_a_uid")
	b := mkContainer(t, dir, "ns_b_uid")
	appendFile(t, a, lines(0, 5))
	appendFile(t, b, lines(1000, 1002))
	tl := oneDescriptorRead(t, dir)
	var parked *follower
	for range 6 {
		tl.rebalance(time.Now())
		if w, ok := tl.lim.queued[a]; ok && w.f != nil {
			parked = w.f
			break
		}
		readEvery77(t, tl)
	}
	if parked == nil {
		t.Fatalf("A's 0.log not parked: queue %+v, open %v", tl.lim.queue, tl.byPath[a] != nil)
	}
	appendFile(t, a, criLine("stdout", "P", "seq=100 first half "))
	mustRename(t, a, a+".20261206-000001")
	rn, last := 2, 7
	if between {
		appendFile(t, a, criLine("stdout", "F", "second half")+lines(5, 7))
		mustRename(t, a, a+".20261206-000002")
		appendFile(t, a, lines(7, 9)+criLine("stdout", "P", "seq=101 first half "))
		rn, last = 3, 9
	} else {
		appendFile(t, a, criLine("stdout", "F", "second half")+lines(5, 7)+criLine("stdout", "P", "seq=101 first half "))
	}
	queuedNext := false
	for range 6 {
		tl.rebalance(time.Now())
		readEvery77(t, tl)
		if w, ok := tl.lim.queued[a]; ok && w.f == nil {
			queuedNext = true
			break
		}
	}
	if !queuedNext {
		t.Fatalf("A's next 0.log not waiting for a descriptor: queue %+v", tl.lim.queue)
	}
	mustRename(t, a, fmt.Sprintf("%s.20261206-%06d", a, rn))
	for range 4 {
		tl.rebalance(time.Now())
		readEvery77(t, tl)
	}
	// r1's next file appeared a read_interval ago: r1 is final, the
	// waited file not (rotatedLinger has not passed).
	parked.succAt = time.Now().Add(-time.Hour)
	for range 4 {
		tl.rebalance(time.Now())
		readEvery77(t, tl)
	}
	appendFile(t, a, criLine("stdout", "F", "second half")+lines(last, last+2))
	for range 4 { // turns come far more often than rotatedLinger ends
		tl.rebalance(time.Now())
		readEvery77(t, tl)
	}
	nextFileFound(t, tl, a)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, a)
	want := append(upto(0, 5), append(append([]int{100}, upto(5, last)...), 101, last, last+1)...)
	if got := emittedOf84(tl, a); !slices.Equal(got, want) {
		t.Errorf("A's lines %v, want %v", got, want)
	}
	for _, bt := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range bt {
			if n, _ := seqOf(string(l.Body)); (n == 100 || n == 101) && string(l.Body) != fmt.Sprintf("seq=%d first half second half", n) {
				t.Errorf("line %d %q, want it whole", n, l.Body)
			}
		}
	}
	ackEmitted82(tl)
	stop77(t, tl)
	appendFile(t, a, lines(20, 21))
	restartWantList(t, tl.cfg, 20, []int{20})
}

// TestNextWaitedRenamedWithFileBetween: one descriptor. The followed
// 0.log (0-4) is rotated (r1); the runtime's next 0.log (5-6) is rotated
// too (r2) before the tailer looks, and the one after it (7-8, then the
// first fragment of line 100) waits for the descriptor r1 holds, and is
// renamed (r3) before its turn; the next 0.log (the line's end, 9-10)
// comes after (or before the turn). r2 lies between the last rotated
// file closed and the waited file: every line once, in order. Left to
// the path's next file, r2 was read after the waited file, or, that one
// closed first and become the path's last rotated file closed, never, and
// nothing was counted; line 100 was cut.
func TestNextWaitedRenamedWithFileBetween(t *testing.T) {
	for _, tc := range []struct{ empty, made bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		empty := tc.empty
		name := map[bool]string{false: "r1 with lines", true: "r1 empty"}[empty] + map[bool]string{false: "", true: ", next made before the turn"}[tc.made]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			first := lines(0, 5)
			if empty {
				first = ""
			}
			appendFile(t, path, first)
			tl := oneDescriptorRead(t, dir)
			mustRename(t, path, path+".20261206-000001")
			appendFile(t, path, lines(5, 7))
			mustRename(t, path, path+".20261206-000002")
			appendFile(t, path, lines(7, 9))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			if _, ok := tl.lim.queued[path]; !ok {
				t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
			}
			appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
			mustRename(t, path, path+".20261206-000003")
			next := criLine("stdout", "F", "second half") + lines(9, 11)
			if tc.made {
				appendFile(t, path, next)
			}
			lingerOver(tl) // r1 final
			for range 3 {
				readEvery77(t, tl)
				tl.rebalance(time.Now())
			}
			if !tc.made {
				appendFile(t, path, next)
			}
			for range 3 {
				tl.poll(time.Now())
				tl.rescan(time.Now(), false)
				tl.rebalance(time.Now())
				readEvery77(t, tl)
			}
			nextFileFound(t, tl, path)
			tl.rebalance(time.Now())
			nextFileFound(t, tl, path)
			want := append(upto(5, 9), append([]int{100}, upto(9, 11)...)...)
			if !empty {
				want = append(upto(0, 5), want...)
			}
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
		})
	}
}

// TestNextWaitedRenamedWithFileBetweenStoppedAtTurn: as
// TestNextWaitedRenamedWithFileBetween (r1 with lines), the agent stopped
// (its final checkpoint) or killed (the last periodic one) right after
// the waited file's turn opened r2 and the waited file, before either was
// read; the next 0.log (the end of line 100, 9-10) is made while no agent
// runs. The next agent delivers 5-10 once each, in order, 100 whole, and
// counts nothing lost.
func TestNextWaitedRenamedWithFileBetweenStoppedAtTurn(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "stopped", true: "killed"}[kill], func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 5))
			tl := oneDescriptorRead(t, dir)
			mustRename(t, path, path+".20261206-000001")
			appendFile(t, path, lines(5, 7))
			mustRename(t, path, path+".20261206-000002")
			appendFile(t, path, lines(7, 9))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			if _, ok := tl.lim.queued[path]; !ok {
				t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
			}
			appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
			mustRename(t, path, path+".20261206-000003")
			lingerOver(tl) // r1 final
			readEvery77(t, tl)
			tl.rebalance(time.Now()) // the turn
			if len(tl.lim.queue) != 0 {
				t.Fatalf("the waited file not admitted: %+v", tl.lim.queue)
			}
			if got := emitted(tl); !slices.Equal(got, upto(0, 5)) {
				t.Fatalf("lines %v at the turn, want %v", got, upto(0, 5))
			}
			ackEmitted82(tl)
			if kill {
				if err := tl.commit(false); err != nil {
					t.Fatal(err)
				}
				tl.closeAll()
			} else {
				stop77(t, tl)
			}
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(9, 11))
			restartWhole84(t, tl.cfg, 10, append(upto(5, 9), append([]int{100}, upto(9, 11)...)...), 100, "seq=100 first half second half")
		})
	}
}

// TestNextWaitedAfterEmptyClosedRenamedTwice: as
// TestNextWaitedRenamedTwiceBeforeTurn after an empty rotated file closed
// and compressed: the waited file (0-1, the first fragment of line 100)
// renamed (r2), the runtime's next 0.log (its end, 2-3, the first
// fragment of line 101) renamed too (r3) before the turn, then the next
// 0.log (the end of line 101, 4-5) made after it, or before it. Every
// line once, in order, both whole.
func TestNextWaitedAfterEmptyClosedRenamedTwice(t *testing.T) {
	for _, made := range []bool{false, true} {
		t.Run(map[bool]string{false: "next made after the turn", true: "next made before the turn"}[made], func(t *testing.T) {
			tl, path, _, _ := emptyClosedThenWaited84(t)
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 4)+criLine("stdout", "P", "seq=101 first half "))
			mustRename(t, path, path+".20261206-000003")
			next := criLine("stdout", "F", "second half") + lines(4, 6)
			if made {
				appendFile(t, path, next)
			}
			lingerOver(tl) // r1 final
			for range 3 {
				readEvery77(t, tl)
				tl.rebalance(time.Now())
			}
			if !made {
				appendFile(t, path, next)
			}
			nextFileFound(t, tl, path)
			tl.rebalance(time.Now())
			nextFileFound(t, tl, path)
			want := []int{50, 51, 0, 1, 100, 2, 3, 101, 4, 5}
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			wantMerged(t, tl, want, 101, "seq=101 first half second half")
			ackEmitted82(tl)
			stop77(t, tl)
			appendFile(t, path, lines(6, 7))
			restartWantList(t, tl.cfg, 6, []int{6})
		})
	}
}
