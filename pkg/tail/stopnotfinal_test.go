package tail

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestStoppedBeforeRotatedFinalThenDeleted: a rotated file read to its
// end, its next file found (so nothing more is written to it, but not
// read_interval ago: it is not final yet), and the agent stopped
// gracefully with every line acknowledged. kubelet compresses and
// deletes it before the next agent's first scan (a rolling update while
// the container rotates fast). Nothing was lost, but the checkpoint named
// it as a file still being read (its next file, not read yet, waits
// for it), and the next agent counts it vanished:
// a loss counted that was none (test/model soak, seeds 6100447 and
// 6400489 under a load average of 6, where the deletion came between the
// agent's /healthz and its first scan). It is finished at the stop now.
func TestStoppedBeforeRotatedFinalThenDeleted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		late   bool // a write on the old descriptor lands after the stop (line 10)
		delete bool // kubelet deletes the .gz before the next start
		want   []int
	}{
		{name: "compressed and deleted", delete: true, want: upto(3, 6)},
		{name: "compressed", want: upto(3, 6)},
		{name: "written after the stop, compressed", late: true, want: []int{10, 3, 4, 5}},
		{name: "written after the stop, plain", late: true, want: []int{10, 3, 4, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 3))
			tl := newIdleTailer(t, dir)
			// r1 is not final before the stop however slow the steps
			// (under load they took more than testConfig's 10ms).
			tl.cfg.ReadInterval = time.Hour
			t.Cleanup(func() { tl.cfg.ReadInterval = testConfig("", "").ReadInterval })
			tl.loadState(time.Now())
			tl.rescan(time.Now(), true)
			readEvery77(t, tl)
			r1 := path + ".20261206-000001"
			mustRename(t, path, r1)
			appendFile(t, path, lines(3, 5))
			tl.poll(time.Now())
			tl.rescan(time.Now(), false)
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, upto(0, 3)) {
				t.Fatalf("lines %v, want %v (the next file waits for the rotated one to be final)", got, upto(0, 3))
			}
			ackAllBut83(tl)
			// Run's stop: its last look, the files closed (closeAll),
			// then the final checkpoint (Close, once the sink
			// acknowledged).
			tl.cfg.ReadInterval = testConfig("", "").ReadInterval // closeAll waits at most this (landedAtStop); the runner below reads at it
			tl.lastLook(time.Now())
			tl.closeAll()
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			if st := readState(t, tl.cfg.StateDir); !slices.ContainsFunc(st.Files, func(e stateEntry) bool { return e.Done && e.Offset > 0 }) {
				t.Errorf("the rotated file read to its end not finished in the checkpoint: %+v", st.Files)
			}
			if tc.late {
				appendFile(t, r1, lines(10, 11))
			}
			if tc.name != "written after the stop, plain" {
				mustGzip(t, r1)
			}
			if tc.delete {
				if err := os.Remove(r1 + ".gz"); err != nil {
					t.Fatal(err)
				}
			}
			appendFile(t, path, lines(5, 6))
			r := startRunner(t, tl.cfg, Options{})
			waitFor(t, 5*time.Second, "line 5", func() bool { return hasSeq(r, 5) })
			r.settle()
			r.stop()
			if got := seqs(r.snapshot()); !slices.Equal(got, tc.want) {
				t.Errorf("after the restart, lines %v, want %v", got, tc.want)
			}
			if n := hostile61Lost(t, r.reg); n != 0 {
				t.Errorf("after the restart, %v losses counted, want none", n)
			}
		})
	}
}
