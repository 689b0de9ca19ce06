package tail

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestHostile86StopWaitBounded: landedAtStop sleeps until the next file
// appeared read_interval ago, bounded only by read_interval itself, which
// Validate does not bound above. With read_interval: 8s (a node tuned for
// little CPU; 30s and more pass Validate too) a stop just after a rotation
// sleeps ~8s in Run's goroutine, after finalSend's 2s, before Close may
// write the final checkpoint; the sleep ignores everything (Run's context
// is already cancelled). At read_interval >= terminationGracePeriodSeconds
// (30s by default) kubelet SIGKILLs the agent in the sleep: no final
// checkpoint, the stop finishes nothing, and every line since the last
// periodic checkpoint is read again. A real kubelet node: a rolling update
// the moment kubelet rotates. Now the wait is at most stopWaitMax, and a
// file whose read_interval would end later is left as being read.
func TestHostile86StopWaitBounded(t *testing.T) {
	tl, _, _, _ := rotatedNotFinal85(t)
	ackAllBut83(tl)
	for _, f := range tl.order {
		if f.st == stRotated {
			f.succAt = time.Now() // the next file appeared just now
		}
	}
	tl.cfg.ReadInterval = 8 * time.Second
	if err := tl.cfg.Validate(); err != nil {
		t.Fatalf("read_interval 8s rejected: %v", err)
	}
	tl.lastLook(time.Now())
	// Nothing to wait for: its read_interval ends beyond stopWaitMax.
	start := time.Now()
	tl.stopWaitHook = func() {
		t.Errorf("the stop waited %v for a file whose read_interval (%v) ends beyond stopWaitMax (%v)", time.Since(start), tl.cfg.ReadInterval, stopWaitMax)
	}
	tl.landedAtStop(start)
	for _, f := range tl.order {
		if f.st == stRotated && f.rotatedFinal(time.Now(), tl.cfg.ReadInterval, tl.rotatedLinger) {
			t.Errorf("%s final at the stop, read_interval %v after its next file appeared", f.path, tl.cfg.ReadInterval)
		}
	}
	tl.closeAll()
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	// Not finished either: left as being read, as before the stop
	// finished rotated files.
	if st := readState(t, tl.cfg.StateDir); slices.ContainsFunc(st.Files, func(e stateEntry) bool { return e.Done && e.Offset > 0 }) {
		t.Errorf("a rotated file finished at the stop without its wait: %+v", st.Files)
	}
}

// TestHostile86PendingPAtRotatedEnd: r1 ends in a CRI P fragment (the
// runtime split a line over 16KiB; kubelet's rotation came between its
// fragments, the F in the next 0.log). At the stop r1 is not finished (a
// fragment pending); the next agent reads the P again and merges it with
// the F: line 9 once, whole, then 3-5, nothing counted lost. A real
// containerd node.
func TestHostile86PendingPAtRotatedEnd(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 3)+criLine("stdout", "P", "seq=9 head-"))
			tl := newIdleTailer(t, dir)
			tl.cfg.ReadInterval = time.Hour
			t.Cleanup(func() { tl.cfg.ReadInterval = testConfig("", "").ReadInterval })
			tl.loadState(time.Now())
			tl.rescan(time.Now(), true)
			readEvery77(t, tl)
			f := tl.byPath[path]
			r1 := path + ".20261206-000001"
			mustRename(t, path, r1)
			appendFile(t, path, criLine("stdout", "F", "tail")+lines(3, 5))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			readEvery77(t, tl)
			if f.st != stRotated || f.succAt.IsZero() {
				t.Fatalf("r1 %v succAt %v", f.st, f.succAt)
			}
			if rotatedAndRead(f) {
				t.Errorf("r1 with a P fragment pending taken as read to its end")
			}
			ackAllBut83(tl)
			gracefulStop85(t, tl)
			if st := readState(t, tl.cfg.StateDir); slices.ContainsFunc(st.Files, func(e stateEntry) bool { return e.Done && e.Offset > 0 }) {
				t.Errorf("r1 finished at the stop with a fragment pending: %+v", st.Files)
			}
			if gz {
				mustGzip(t, r1)
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if want := []int{9, 3, 4, 5}; !slices.Equal(got, want) {
				t.Errorf("after the restart, lines %v, want %v", got, want)
			}
			if lost != 0 {
				t.Errorf("%v losses counted, want none", lost)
			}
		})
	}
}

// TestHostile86TwoRotationsWithinReadInterval: r1 (0-2) read to its end
// and rotated, r2 (3-4) found, then rotated itself before r1 was final, a
// third 0.log (5) found; the stop comes. closeAll closes r1 first (evStop):
// r2's predecessor is then closed, so the order in closeAll must not make
// r2 (never read) finished. kubelet then compresses r1 and deletes it. The
// next agent reads r2 and 0.log: 3-6, no loss. A real kubelet node only
// with containerLogMonitorInterval (>= 3s) under read_interval, or a
// rotation forced by hand.
func TestHostile86TwoRotationsWithinReadInterval(t *testing.T) {
	tl, path, r1, _ := rotatedNotFinal85(t)
	r2 := path + ".20261206-000002"
	mustRename(t, path, r2)
	appendFile(t, path, lines(5, 6))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	ackAllBut83(tl)
	gracefulStop85(t, tl)
	mustGzip(t, r1)
	if err := os.Remove(r1 + ".gz"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(6, 7))
	got, lost := restart85(t, tl.cfg, 6)
	if want := upto(3, 7); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	if lost != 0 {
		t.Errorf("%v losses counted, want none", lost)
	}
}

// TestHostile86MidLineWriteDuringWait: a write in progress on r1's old
// descriptor lands half during the stop's wait (the head of line 10, no
// newline yet) and half after it. r1 grew: it is left as being read. The
// next agent, r1 compressed meanwhile, reads 10 once, whole, then 3-5.
func TestHostile86MidLineWriteDuringWait(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[gz], func(t *testing.T) {
			tl, path, r1, _ := rotatedNotFinal85(t)
			ackAllBut83(tl)
			for _, f := range tl.order {
				if f.st == stRotated {
					f.succAt = time.Now()
				}
			}
			l10 := lines(10, 11)
			landed := false
			tl.stopWaitHook = func() {
				appendFile(t, r1, l10[:20])
				landed = true
			}
			gracefulStop85(t, tl)
			if !landed {
				t.Fatal("the stop did not wait")
			}
			if st := readState(t, tl.cfg.StateDir); slices.ContainsFunc(st.Files, func(e stateEntry) bool { return e.Done && e.Offset > 0 }) {
				t.Errorf("r1 grown in the wait finished at the stop: %+v", st.Files)
			}
			appendFile(t, r1, l10[20:])
			if gz {
				mustGzip(t, r1)
			}
			appendFile(t, path, lines(5, 6))
			got, lost := restart85(t, tl.cfg, 5)
			if want := []int{10, 3, 4, 5}; !slices.Equal(got, want) {
				t.Errorf("after the restart, lines %v, want %v", got, want)
			}
			if lost != 0 {
				t.Errorf("%v losses counted, want none", lost)
			}
		})
	}
}

// TestHostile86TwoPathsFinishedAtStop: two containers, each with a
// rotated file read to its end whose next file just appeared; one wait
// for both, both finished (done, anchors), kubelet compresses and deletes
// both before the next start: their next files read, nothing read again,
// nothing counted lost. A real kubelet node (rotations are per container,
// in one monitor pass).
func TestHostile86TwoPathsFinishedAtStop(t *testing.T) {
	dir := t.TempDir()
	pa := mkContainer(t, dir, "ns_poda_uida")
	pb := mkContainer(t, dir, "ns_podb_uidb")
	appendFile(t, pa, lines(0, 3))
	appendFile(t, pb, lines(100, 103))
	tl := newIdleTailer(t, dir)
	tl.cfg.ReadInterval = time.Hour
	t.Cleanup(func() { tl.cfg.ReadInterval = testConfig("", "").ReadInterval })
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	readEvery77(t, tl)
	ra, rb := pa+".20261206-000001", pb+".20261206-000001"
	mustRename(t, pa, ra)
	mustRename(t, pb, rb)
	appendFile(t, pa, lines(3, 5))
	appendFile(t, pb, lines(103, 105))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	ackAllBut83(tl)
	gracefulStop85(t, tl)
	done := 0
	for _, e := range readState(t, tl.cfg.StateDir).Files {
		if e.Done && e.Offset > 0 {
			done++
		}
	}
	if done != 2 {
		t.Errorf("%d rotated files finished at the stop, want 2", done)
	}
	for _, r := range []string{ra, rb} {
		mustGzip(t, r)
		if err := os.Remove(r + ".gz"); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, pb, lines(105, 106))
	appendFile(t, pa, lines(5, 6))
	cfg := tl.cfg
	cfg.ReadInterval = testConfig("", "").ReadInterval
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "lines 5 and 105", func() bool { return hasSeq(r, 5) && hasSeq(r, 105) })
	r.settle()
	r.stop()
	got := seqs(r.snapshot())
	slices.Sort(got)
	if want := []int{3, 4, 5, 103, 104, 105}; !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
	if lost := hostile61Lost(t, r.reg); lost != 0 {
		t.Errorf("%v losses counted, want none", lost)
	}
}
