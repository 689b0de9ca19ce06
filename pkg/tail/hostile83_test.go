package tail

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ackAllBut83 acknowledges every line a tailer driven step by step holds
// for its receiver except those of the trackers in skip (a sink whose
// batches of those lines are still in flight: acknowledgements come in
// any order).
func ackAllBut83(tl *Tailer, skip ...uint64) {
	var cs []event.Cursor
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			if !l.End && !slices.Contains(skip, l.Cursor.Source) {
				cs = append(cs, l.Cursor)
			}
		}
	}
	tl.Ack(cs)
}

// TestClosedThenContinuedCompressedKilledBeforeAck: as
// TestStartBetweenRenameAndCreateNewestClosedThenWritten (r2, read to its
// end and closed, renamed back, written (10), rotated again (r3) and
// compressed once 0.log (11-12) was rotated in turn (r4), before the
// path's next 0.log (13) is found): r2 is continued from r3's .gz under
// its own inode's key. The continuation's lines (10) are acknowledged,
// and it is closed, the path's anchor now; r2's own lines (8-9) are not
// acknowledged yet when the agent is killed (the last periodic
// checkpoint) or stopped (its sink gave up on them), before r4 was read
// to its end, or after; the next 0.log takes r2's freed inode (ext4
// gives it the inode freed last), or another file took it first. The next agent
// reads 8-9 again (from r2's .gz) and counts nothing lost: taken for
// another file than the anchor's (the continuation's, under the .gz's
// key of its own), r2's entry was counted vanished and 8-9 were lost.
func TestClosedThenContinuedCompressedKilledBeforeAck(t *testing.T) {
	for _, tc := range []struct{ r4Read, kill, reuse bool }{
		{false, true, true}, {true, true, true}, {false, false, true}, {true, false, true}, {false, true, false}, {true, false, false},
	} {
		r3Read := tc.r4Read
		name := map[bool]string{false: "r4 not read", true: "r4 read"}[r3Read] + map[bool]string{false: ", stopped", true: ", killed"}[tc.kill] +
			map[bool]string{false: "", true: ", inode reused"}[tc.reuse]
		t.Run(name, func(t *testing.T) {
			tl, path, _, f2 := betweenRenameAndCreate80(t)
			readRotated82(tl)
			if f2.st != stClosed {
				t.Fatalf("r2 not closed: %v", f2.st)
			}
			t1 := f2.tr.id
			ackAllBut83(tl, t1) // r1's lines (5-7)
			// kubelet undoes r2's rotation (the runtime could not
			// reopen), the runtime writes on (10), kubelet rotates it
			// again (r3), then the next 0.log (11-12, r4), and gzips r3.
			mustRename(t, f2.path, path)
			appendFile(t, path, lines(10, 11))
			r3, r4 := path+".20261206-000003", path+".20261206-000004"
			mustRename(t, path, r3)
			appendFile(t, path, lines(11, 13))
			mustRename(t, path, r4)
			mustGzip(t, r3)
			if !tc.reuse {
				// Another file takes r2's freed inode first.
				appendFile(t, filepath.Join(t.TempDir(), "other"), "x")
			}
			appendFile(t, path, lines(13, 14))
			if reused := statKeyT(t, path) == f2.key; reused != tc.reuse {
				t.Logf("r2's inode reused by the next 0.log: %v (the file system's choice)", reused)
			}
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			var cont *follower
			for _, g := range tl.order {
				if g.inflated && g.st != stClosed {
					cont = g
				}
			}
			if cont == nil {
				t.Fatal("r2 not continued from its .gz")
			}
			for range 5 {
				if cont.st != stClosed {
					tl.readFile(cont, time.Now())
				}
			}
			if cont.st != stClosed {
				t.Fatalf("the continuation not closed: %v", cont.st)
			}
			if r3Read {
				readNextIfFree(tl, path)
				readEvery77(t, tl)
				lingerOver(tl)
				readEvery77(t, tl)
			}
			ackAllBut83(tl, t1)
			if tc.kill {
				if err := tl.commit(false); err != nil { // no final checkpoint
					t.Fatal(err)
				}
				tl.closeAll()
			} else {
				stop77(t, tl) // the sink gave up on 8-9 (a shutdown timeout)
			}
			appendFile(t, path, lines(14, 15))
			r := startRunner(t, tl.cfg, Options{})
			waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 14) })
			r.settle()
			r.stop()
			got := seqs(r.snapshot())
			for _, s := range []int{8, 9, 14} {
				if !slices.Contains(got, s) {
					t.Errorf("after the restart, line %d missing: lines %v", s, got)
				}
			}
			if n := hostile61Lost(t, r.reg); n != 0 {
				t.Errorf("after the restart, %v losses counted, want none (lines %v)", n, got)
			}
		})
	}
}

// TestNextWaitedRenamedAfterEmptyClosed: as
// TestNextWaitedRenamedEndingWithFirstFragment, but the file rotated
// before the one that waited was empty (0.log rotated before anything was
// written to it): the last rotated file closed has no first bytes to be
// found by among the siblings. It is found by its inode while plain, and
// by the path's anchor (the rotated file before it, finished with lines)
// once compressed; the waited file, renamed before its turn, is the
// path's last file either way, and line 100, its first fragment at the
// waited file's end, is merged with its end in the next 0.log. Before, it
// was cut at the waited file's end and its end shipped alone
// (TestStartBetweenRenameAndCreateMixed seeds 1030 and 3009). kubelet
// rotates only a file over containerLogMaxSize, but an empty rotated file
// must not cost a line either.
func TestNextWaitedRenamedAfterEmptyClosed(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(map[bool]string{false: "empty plain", true: "empty compressed"}[compressed], func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			first := ""
			if compressed {
				first = lines(50, 52) // the anchor once rotated and read
			}
			appendFile(t, path, first)
			tl := oneDescriptorRead(t, dir)
			if compressed {
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
			}
			mustRename(t, path, path+".20261206-000001") // empty
			appendFile(t, path, lines(0, 2))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			if _, ok := tl.lim.queued[path]; !ok {
				t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
			}
			appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
			mustRename(t, path, path+".20261206-000002")
			if compressed {
				mustGzip(t, path+".20261206-000001")
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
			want := append(upto(0, 2), append([]int{100}, upto(2, 4)...)...)
			if compressed {
				want = append(upto(50, 52), want...)
			}
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
		})
	}
}

// TestNextWaitedRenamedTwiceBeforeTurn: as
// TestNextWaitedRenamedEndingWithFirstFragment, but kubelet rotates twice
// before the waited file's turn: the waited 0.log (5-6, the first
// fragment of line 100) is renamed (r2), the runtime's next 0.log (the
// line's end, 7-8, the first fragment of line 101) renamed too (r3),
// and the turn comes with no 0.log, or with the next one made (the end
// of line 101, 9-10) before it. Every line once, in order, 100 and 101
// whole.
func TestNextWaitedRenamedTwiceBeforeTurn(t *testing.T) {
	for _, made := range []bool{false, true} {
		name := map[bool]string{false: "next made after the turn", true: "next made before the turn"}[made]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 5))
			tl := newIdleTailer(t, dir)
			tl.lim.max = 1
			tl.loadState(time.Now())
			tl.rescan(time.Now(), true)
			readEvery77(t, tl)
			mustRename(t, path, path+".20261206-000001")
			appendFile(t, path, lines(5, 7))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			if _, ok := tl.lim.queued[path]; !ok {
				t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
			}
			appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
			mustRename(t, path, path+".20261206-000002")
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(7, 9)+criLine("stdout", "P", "seq=101 first half "))
			mustRename(t, path, path+".20261206-000003")
			tail := criLine("stdout", "F", "second half") + lines(9, 11)
			if made {
				appendFile(t, path, tail)
			}
			lingerOver(tl) // r1 final
			for range 3 {
				readEvery77(t, tl)
				tl.rebalance(time.Now())
			}
			if !made {
				appendFile(t, path, tail)
			}
			nextFileFound(t, tl, path)
			tl.rebalance(time.Now())
			nextFileFound(t, tl, path)
			want := append(upto(0, 7), 100, 7, 8, 101, 9, 10)
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			wantMerged(t, tl, want, 101, "seq=101 first half second half")
			stop77(t, tl)
			appendFile(t, path, lines(11, 12))
			restartWantList(t, tl.cfg, 11, append(want, 11))
		})
	}
}

// TestNextWaitedRotationUndoneBeforeTurn: as
// TestNextWaitedRenamedEndingWithFirstFragment, but kubelet undoes the
// waited file's rotation before its turn (the runtime could not reopen:
// r2 renamed back to 0.log), and the runtime goes on writing to it:
// r1 ends with first fragments on both streams (100 on stdout, 101 on
// stderr), the waited 0.log starts with their ends in the other order,
// and ends with another first fragment (102) whose end comes after the
// turn. Every line once, in order, all three whole; a restart repeats
// nothing acknowledged.
func TestNextWaitedRotationUndoneBeforeTurn(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	tl := oneDescriptorRead(t, dir)
	appendFile(t, path, criLine("stdout", "P", "seq=100 out first ")+criLine("stderr", "P", "seq=101 err first "))
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, criLine("stderr", "F", "err end")+criLine("stdout", "F", "out end")+lines(5, 7))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if _, ok := tl.lim.queued[path]; !ok {
		t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
	}
	r2 := path + ".20261206-000002"
	mustRename(t, path, r2)
	mustRename(t, r2, path) // undone
	appendFile(t, path, criLine("stdout", "P", "seq=102 first "))
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	appendFile(t, path, criLine("stdout", "F", "end")+lines(7, 9))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	want := append(upto(0, 5), 101, 100, 5, 6, 102, 7, 8)
	wantMerged(t, tl, want, 100, "seq=100 out first out end")
	wantMerged(t, tl, want, 101, "seq=101 err first err end")
	wantMerged(t, tl, want, 102, "seq=102 first end")
	ackEmitted82(tl)
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWantList(t, tl.cfg, 9, []int{9})
}

// killedAfterCarry83: an agent starts after kubelet rotated 0.log (r1:
// 5-6, then the first fragment of line 100) and the runtime wrote the
// next (the line's end, 7-8); its checkpoint, written at once for the
// files it found, says nothing of them read. It reads both, delivers line
// 100 whole, and is killed: with a checkpoint written after the merge
// (checkpointed), or none since its start. While no agent runs, kubelet
// rotates on (r2, r3), compresses r1 and r2 and deletes r1's .gz (the
// oldest). The next agent's lines are checked: no line's end alone
// unflagged.
func killedAfterCarry83(t *testing.T, checkpointed bool) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 7)+criLine("stdout", "P", "seq=100 first half "))
	r1, r2, r3 := path+".20261206-000001", path+".20261206-000002", path+".20261206-000003"
	mustRename(t, path, r1)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(7, 9))
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	if err := tl.commit(false); err != nil { // the files found: written at once
		t.Fatal(err)
	}
	readEvery77(t, tl)
	lingerOver(tl)
	readEvery77(t, tl)
	want := append(upto(5, 7), append([]int{100}, upto(7, 9)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
	if checkpointed {
		if err := tl.commit(false); err != nil { // the next periodic one
			t.Fatal(err)
		}
	}
	tl.closeAll() // killed
	mustRename(t, path, r2)
	appendFile(t, path, lines(9, 11))
	mustGzip(t, r1)
	mustRename(t, path, r3)
	mustGzip(t, r2)
	if err := os.Remove(r1 + ".gz"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(11, 12))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 11) })
	r.settle()
	r.stop()
	for _, x := range r.snapshot() {
		if _, ok := seqOf(x.body); !ok && !x.truncated {
			t.Errorf("%q delivered as a line of its own, not flagged truncated", x.body)
		}
	}
	got := seqs(r.snapshot())
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n < 0 }), upto(7, 12)) {
		t.Errorf("after the restart, lines %v, want 7-11 once each", got)
	}
}

// TestKilledAfterCarryCheckpointedPredecessorDeletedWhileDown: the
// killed agent's last checkpoint was written after the merge: r2's entry
// marks its first stdout line as the end of a carried line (cont), and
// the next agent, r1 gone, flags it Truncated.
func TestKilledAfterCarryCheckpointedPredecessorDeletedWhileDown(t *testing.T) {
	killedAfterCarry83(t, true)
}

// TestKilledAfterCarryPredecessorDeletedWhileDown: the suspicion of the
// randomized window test (TAIL_WINDOW_STRICT=1: seeds 1105, 1133, 1217
// and others from TAIL_WINDOW_BASE=1100), as killedAfterCarry83 with the
// agent killed before any checkpoint after the merge (within
// filesCommitDelay of it: the carry asks for one soon,
// TestCarryCheckpointedSoon; before that, within commit_interval). The next agent counts r1's entry vanished
// (nothing was lost: the killed agent had delivered its lines), and reads
// r2 from its entry (offset 0): the line's end is its first line, and
// nothing tells it is one (r2's cont mark would have come with the next
// checkpoint; CRI tags a whole line F too). It is shipped as a line of
// its own, not flagged Truncated. A node makes this with an agent killed
// within 100 ms of the carry and down for containerLogMaxFiles
// rotations; the line itself came whole once, and the vanished file was
// counted. Not fixed: flagging the first line of every file read after
// a vanished one would flag whole lines too.
func TestKilledAfterCarryPredecessorDeletedWhileDown(t *testing.T) {
	knownOpen(t, "a line's end, its first fragment's file deleted while no agent ran, after an agent killed before its checkpoint held the carry delivered the line whole, comes again alone, not flagged truncated")
	killedAfterCarry83(t, false)
}

// TestNextWaitedCompressedBeforeTurn: with max_open_files 1, the
// runtime's next 0.log (5-6) waits for the descriptor the rotated r1
// holds; kubelet rotates it (r2), the runtime's next 0.log (7-8) is
// rotated in turn (r3) and r2 compressed, all before the waited file's
// turn, and the next 0.log (9-10) is made. r2's lines are read from its
// .gz, after r1's and before r3's, and no loss is counted; each line
// once, in order.
func TestNextWaitedCompressedBeforeTurn(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	tl := oneDescriptorRead(t, dir)
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, lines(5, 7))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if _, ok := tl.lim.queued[path]; !ok {
		t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
	}
	r2, r3 := path+".20261206-000002", path+".20261206-000003"
	mustRename(t, path, r2)
	appendFile(t, path, lines(7, 9))
	mustRename(t, path, r3)
	mustGzip(t, r2)
	appendFile(t, path, lines(9, 11))
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	if got := emitted(tl); !slices.Equal(got, upto(0, 11)) {
		t.Errorf("lines %v, want %v", got, upto(0, 11))
	}
	if n := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostWaiting)); n != 0 {
		t.Errorf("%v waiting files counted lost, want none", n)
	}
}

// TestClosedThenContinuedBothEntriesVanished: as
// TestClosedThenContinuedCompressedKilledBeforeAck, killed while the
// continuation is still read (r2's lines 8-9 not acknowledged, the
// continuation's 10 read): the checkpoint holds two entries of r2 under
// its inode, with first bytes of two lengths (by design: state.go
// resumesBefore). While no agent runs kubelet deletes r1 and r3's .gz
// (the oldest first). The next agent counts one file lost: it counted
// two, one per entry, in ferry_tail_lost_files_total{reason="vanished"}.
// The entries keep only a hash of their first bytes, so the next agent
// cannot tell two entries of one file from a deleted file's and the one
// that took its inode number since (both possible at one path).
// Before the fix of 1786d44 the two entries were under two keys and
// counted twice too. Lines lost are lost either way; only the count is
// off by one.
func TestClosedThenContinuedBothEntriesVanished(t *testing.T) {
	knownOpen(t, "a file checkpointed under two entries of its inode (closed, and continued from its .gz) that vanished while no agent ran is counted lost twice")
	tl, path, f1, f2 := betweenRenameAndCreate80(t)
	readRotated82(tl)
	ackAllBut83(tl, f2.tr.id)
	mustRename(t, f2.path, path)
	appendFile(t, path, lines(10, 11))
	r3, r4 := path+".20261206-000003", path+".20261206-000004"
	mustRename(t, path, r3)
	appendFile(t, path, lines(11, 13))
	mustRename(t, path, r4)
	mustGzip(t, r3)
	appendFile(t, path, lines(13, 14))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if err := tl.commit(false); err != nil { // killed: the last periodic checkpoint
		t.Fatal(err)
	}
	tl.closeAll()
	if err := os.Remove(f1.path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r3 + ".gz"); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 13) })
	r.settle()
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(11, 14)) {
		t.Errorf("after the restart, lines %v, want %v", got, upto(11, 14))
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 1 {
		t.Errorf("%v files counted vanished, want 1 (r2)", n)
	}
}
