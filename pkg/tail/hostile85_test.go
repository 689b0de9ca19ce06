package tail

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// rotatedNotFinal85 drives a tailer to TestStoppedBeforeRotatedFinalThenDeleted's
// stop: 0.log (lines 0-2) read to its end, renamed to r1, the next 0.log
// (3-4) found and not read (it waits for r1 to be final). It returns the
// tailer, the path, r1 and r1's tracker id.
func rotatedNotFinal85(t *testing.T) (tl *Tailer, path, r1 string, id uint64) {
	t.Helper()
	dir := t.TempDir()
	path = mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 3))
	tl = newIdleTailer(t, dir)
	tl.cfg.ReadInterval = time.Hour                                             // r1 final only at the stop, however slow the steps (restart85 runs at testConfig's)
	t.Cleanup(func() { tl.cfg.ReadInterval = testConfig("", "").ReadInterval }) // before the idle tailer's closeAll
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	readEvery77(t, tl)
	f := tl.byPath[path]
	if f == nil || f.tr == nil {
		t.Fatal("0.log not followed")
	}
	id = f.tr.id
	r1 = path + ".20261206-000001"
	mustRename(t, path, r1)
	appendFile(t, path, lines(3, 5))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(0, 3)) {
		t.Fatalf("lines %v, want %v", got, upto(0, 3))
	}
	if f.st != stRotated || f.succAt.IsZero() {
		t.Fatalf("r1 %v, succAt %v: want rotated with its next file found", f.st, f.succAt)
	}
	return tl, path, r1, id
}

// gracefulStop85 is Run's end and Close: the last look, the files
// closed, the final checkpoint.
func gracefulStop85(t *testing.T, tl *Tailer) {
	t.Helper()
	// closeAll waits at most read_interval for writes in progress
	// (landedAtStop): testConfig's, not the hour the steps ran with.
	tl.cfg.ReadInterval = testConfig("", "").ReadInterval
	tl.lastLook(time.Now())
	tl.closeAll()
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
}

// restart85 runs an agent on tl's configuration until line until is
// delivered and returns its lines and losses counted.
func restart85(t *testing.T, cfg Config, until int) ([]int, float64) {
	t.Helper()
	cfg.ReadInterval = testConfig("", "").ReadInterval
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the last line", func() bool { return hasSeq(r, until) })
	r.settle()
	r.stop()
	return seqs(r.snapshot()), hostile61Lost(t, r.reg)
}

// TestStoppedBeforeRotatedFinalSinkGaveUp: as
// TestStoppedBeforeRotatedFinalThenDeleted, but the sink gave up on r1's
// lines at the stop (a shutdown timeout): r1 is finished in closeAll, its
// tracker closed but not acknowledged. The next agent reads them again
// (at least once) from r1, plain or compressed; deleted, they are counted
// lost. A real node: a rolling update while the sink is slow.
func TestStoppedBeforeRotatedFinalSinkGaveUp(t *testing.T) {
	for _, tc := range []struct {
		name       string
		gz, delete bool
		want       []int
		lost       bool
	}{
		{name: "plain", want: upto(0, 6)},
		{name: "compressed", gz: true, want: upto(0, 6)},
		{name: "compressed and deleted", gz: true, delete: true, want: upto(3, 6), lost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, path, r1, id := rotatedNotFinal85(t)
			ackAllBut83(tl, id)
			gracefulStop85(t, tl)
			if tc.gz {
				mustGzip(t, r1)
			}
			if tc.delete {
				if err := os.Remove(r1 + ".gz"); err != nil {
					t.Fatal(err)
				}
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if !slices.Equal(got, tc.want) {
				t.Errorf("after the restart, lines %v, want %v", got, tc.want)
			}
			if (lost > 0) != tc.lost {
				t.Errorf("after the restart, %v losses counted, want lost=%v", lost, tc.lost)
			}
		})
	}
}

// TestStoppedBeforeRotatedFinalKilled: the agent killed (the last
// periodic checkpoint, written after every line was acknowledged, and no
// final one). The next agent goes on from the checkpoint: nothing read
// twice, nothing lost while r1 exists.
func TestStoppedBeforeRotatedFinalKilled(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			tl, path, r1, _ := rotatedNotFinal85(t)
			ackAllBut83(tl)
			if err := tl.commit(false); err != nil {
				t.Fatal(err)
			}
			tl.cfg.ReadInterval = testConfig("", "").ReadInterval // closeAll's wait
			tl.closeAll()
			if gz {
				mustGzip(t, r1)
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if !slices.Equal(got, upto(3, 6)) {
				t.Errorf("after the restart, lines %v, want %v", got, upto(3, 6))
			}
			if lost != 0 {
				t.Errorf("after the restart, %v losses counted, want none", lost)
			}
		})
	}
}

// TestStoppedBeforeRotatedFinalRestartedTwice: a write landing on r1's
// old descriptor after the stop (line 10) is read by the next agent, and
// not again by the one after it.
func TestStoppedBeforeRotatedFinalRestartedTwice(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			tl, path, r1, _ := rotatedNotFinal85(t)
			ackAllBut83(tl)
			gracefulStop85(t, tl)
			appendFile(t, r1, lines(10, 11))
			if gz {
				mustGzip(t, r1)
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if want := []int{10, 3, 4, 5}; !slices.Equal(got, want) {
				t.Errorf("after the first restart, lines %v, want %v", got, want)
			}
			appendFile(t, path, lines(6, 7))
			got2, lost2 := restart85(t, tl.cfg, 6)
			if want := []int{6}; !slices.Equal(got2, want) {
				t.Errorf("after the second restart, lines %v, want %v", got2, want)
			}
			if lost+lost2 != 0 {
				t.Errorf("%v losses counted, want none", lost+lost2)
			}
		})
	}
}

// TestStoppedBeforeRotatedFinalThenUndone: after the stop, kubelet
// renames r1 back over the new 0.log (the runtime's reopen failed after
// it created the file: kubelet undoes the rotation by renaming back,
// which replaces it), and the runtime writes on to r1's inode (5). The
// next agent reads on from r1's end: 0-2 not again, 5 read.
func TestStoppedBeforeRotatedFinalThenUndone(t *testing.T) {
	tl, path, r1, _ := rotatedNotFinal85(t)
	// The new 0.log empty (the reopen failed before a line came).
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	tl.poll(time.Now())
	readEvery77(t, tl)
	ackAllBut83(tl)
	gracefulStop85(t, tl)
	mustRename(t, r1, path)
	appendFile(t, path, lines(5, 6))
	got, lost := restart85(t, tl.cfg, 5)
	if want := []int{5}; !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	if lost != 0 {
		t.Errorf("%v losses counted, want none", lost)
	}
}

// TestStoppedEmptyRotatedAfterUnreadFile: 0.log (A, lines 0-2) renamed
// before it was read, the next 0.log (B) renamed empty, a third (C, 3-4)
// found. At the stop A is closed first (evStop, not read to its end); B,
// empty and its next file found, must not be taken as following a
// finished file.
func TestStoppedEmptyRotatedAfterUnreadFile(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 3))
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	a := tl.byPath[path]
	if a == nil {
		t.Fatal("0.log not followed")
	}
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, "")
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	b := tl.byPath[path]
	if b == nil || b == a {
		t.Fatal("B not followed")
	}
	mustRename(t, path, path+".20261206-000002")
	appendFile(t, path, lines(3, 5))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if b.st != stRotated || b.succAt.IsZero() {
		t.Fatalf("B %v succAt %v", b.st, b.succAt)
	}
	gracefulStop85(t, tl)
	appendFile(t, path, lines(5, 6))
	got, lost := restart85(t, tl.cfg, 5)
	if want := upto(0, 6); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	if lost != 0 {
		t.Errorf("%v losses counted, want none", lost)
	}
}

// TestStoppedBeforeRotatedFinalInLongLine: r1 ends in a line longer than
// any line may be whose write is in progress (its first bytes landed: it
// was cut and the tailer skips to its newline, every byte read consumed).
// Its next file found, the agent stops before r1 is final; the rest of
// the line and line 10 land on r1's old descriptor after the stop. The
// next agent skips the rest of the cut line as the tailer would have: it
// does not ship it as a line of its own (finished mid-line, r1 was read
// on from inside the line).
// A real node: a container writing a line over max_line_bytes (a large
// write is visible in part while it lands) when kubelet rotates and the
// agent is stopped.
func TestStoppedBeforeRotatedFinalInLongLine(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			long := criLine("stdout", "F", "seq=9 "+strings.Repeat("y", 300<<10))
			head, rest := long[:200<<10], long[200<<10:]
			appendFile(t, path, lines(0, 3)+head)
			tl := newIdleTailer(t, dir)
			tl.cfg.ReadInterval = time.Hour // r1 not final before the stop
			t.Cleanup(func() { tl.cfg.ReadInterval = testConfig("", "").ReadInterval })
			tl.loadState(time.Now())
			tl.rescan(time.Now(), true)
			readEvery77(t, tl)
			f := tl.byPath[path]
			if f == nil || !f.skip {
				t.Fatal("the long line not cut and skipped")
			}
			r1 := path + ".20261206-000001"
			mustRename(t, path, r1)
			appendFile(t, path, lines(3, 5))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, upto(0, 3)) && !slices.Equal(got, []int{0, 1, 2, 9}) {
				t.Fatalf("lines %v, want 0-2 and the cut line 9", got)
			}
			ackAllBut83(tl)
			gracefulStop85(t, tl)
			appendFile(t, r1, rest+lines(10, 11))
			if gz {
				mustGzip(t, r1)
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			// The cut line 9 was acknowledged: not shipped again, nor
			// its rest as a line of its own, nor 0-2 read again.
			if want := []int{10, 3, 4, 5}; !slices.Equal(got, want) {
				t.Errorf("after the restart, lines %v, want %v", got, want)
			}
			if lost != 0 {
				t.Errorf("%v losses counted, want none (lines %v)", lost, got)
			}
		})
	}
}

// TestStoppedBeforeEmptyRotatedFinalWithCopyAway: as
// TestCopyOfUndoneFileCompressedThenRotatedAgain (an empty file rotated,
// seen; renamed back unseen, written, copytruncated with its copy
// compressed at once, rotated again while empty; the runtime's next file
// found), but the agent stops before the empty file is final: finished at
// the stop as read to its end (empty), copiesAway never looked for its
// copy. The next agent reads the copy's lines (0-7) once, before the new
// file's (8-9). Not a kubelet-only node: copytruncate beside kubelet's
// renames (test/model's mixed rotations).
func TestStoppedBeforeEmptyRotatedFinalWithCopyAway(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy plain", true: "copy compressed"}[gz], func(t *testing.T) {
			tl, path, f := followNew(t)
			away := path + ".20261204-000007"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			mustRename(t, away, path) // undone, not seen
			appendFile(t, path, lines(0, 8))
			cp := path + ".20261204-000008"
			hostile51CopyTo(t, path, cp)
			mustRename(t, path, path+".20261204-000009")
			if gz {
				mustGzip(t, cp)
			}
			appendFile(t, path, lines(8, 10))
			tl.check(f, time.Now())
			tl.discover(path, time.Now(), false)
			tl.readFile(f, time.Now())
			if f.st != stRotated || f.succAt.IsZero() {
				t.Fatalf("the empty file %v, succAt %v: want rotated, its next file found", f.st, f.succAt)
			}
			early := emitted(tl)
			ackAllBut83(tl)
			gracefulStop85(t, tl)
			appendFile(t, path, lines(10, 11))
			got, lost := restart85(t, tl.cfg, 10)
			if all := append(early, got...); !slices.Equal(all, upto(0, 11)) {
				t.Errorf("lines %v before the stop, %v after the restart: want %v once", early, got, upto(0, 11))
			}
			if lost != 0 {
				t.Errorf("%v losses counted, want none", lost)
			}
		})
	}
}

// TestStoppedBeforeRotatedFinalWriteLandingAtStop: r1 read to its end,
// its next file found just before the stop; a write in progress on r1's
// old descriptor (line 10) lands within read_interval of that, as the
// agent stops. kubelet then compresses r1, and deletes it or not, before
// the next start. Deleted, line 10 was never read: the next agent counts
// the loss (finished at the stop without waiting read_interval, r1 was a
// done file that vanished, and 10 was lost uncounted). Kept, 10 is read.
// A real node, rarely: a rolling update the moment kubelet rotates a
// chatty container, and kubelet's next rotations deleting r1 before the
// new agent's first scan.
func TestStoppedBeforeRotatedFinalWriteLandingAtStop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delete bool
		want   []int
	}{
		{name: "compressed and deleted", delete: true, want: upto(3, 6)},
		{name: "compressed", want: []int{10, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, path, r1, _ := rotatedNotFinal85(t)
			ackAllBut83(tl)
			tl.cfg.ReadInterval = testConfig("", "").ReadInterval
			for _, f := range tl.order {
				if f.st == stRotated {
					f.succAt = time.Now() // the next file appeared just now
				}
			}
			landed := false
			tl.stopWaitHook = func() {
				appendFile(t, r1, lines(10, 11))
				landed = true
			}
			gracefulStop85(t, tl)
			if !landed { // the stop did not wait: it lands just after
				appendFile(t, r1, lines(10, 11))
			}
			mustGzip(t, r1)
			if tc.delete {
				if err := os.Remove(r1 + ".gz"); err != nil {
					t.Fatal(err)
				}
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if !slices.Equal(got, tc.want) {
				t.Errorf("after the restart, lines %v, want %v", got, tc.want)
			}
			if (lost > 0) != tc.delete {
				t.Errorf("after the restart, %v losses counted, want lost=%v", lost, tc.delete)
			}
		})
	}
}

// TestStoppedBeforeRotatedFinalInodeReused: r1 finished at the stop (its
// inode and first bytes the path's anchor); kubelet then compresses it
// (its inode freed) and rotates the next 0.log (r2, 3-5), and the runtime's
// new 0.log (6) takes r1's freed inode (ext4 gives the inode freed last;
// the file system's choice). The next agent takes the new 0.log for a new
// file, not the anchor grown: r2 then 0.log read whole, 0-2 not again. A
// real kubelet node: compression and rotation while no agent runs.
func TestStoppedBeforeRotatedFinalInodeReused(t *testing.T) {
	tl, path, r1, _ := rotatedNotFinal85(t)
	k1 := statKeyT(t, r1)
	ackAllBut83(tl)
	gracefulStop85(t, tl)
	mustGzip(t, r1)
	appendFile(t, path, lines(5, 6))
	mustRename(t, path, path+".20261206-000002")
	appendFile(t, path, lines(6, 7))
	if reused := statKeyT(t, path) == k1; !reused {
		t.Logf("r1's inode not reused by the next 0.log (the file system's choice)")
	}
	got, lost := restart85(t, tl.cfg, 6)
	if want := upto(3, 7); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	if lost != 0 {
		t.Errorf("%v losses counted, want none", lost)
	}
}
