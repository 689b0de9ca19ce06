package tail

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
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
