package tail

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestHostile4TinyRateSpins: a pod annotated ferry.dev/rate-limit:
// "lines=1e-12" (valid: a number > 0; any rate under about 1e-10 a second
// does it) with a line more than its burst of one: the time its budget is
// back overflows time.Duration and comes out in the past, so the file is
// read again at once, reads nothing, and is read again: the agent's loop
// spins on one CPU for as long as the pod lives, under the fake clock
// without time moving at all.
func TestHostile4TinyRateSpins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{})
		path := mkContainer(t, dir, "ns_tenant_uid")
		appendFile(t, path, noisyLines(0, 3))
		src := pods{annotations: map[string]string{"ns_tenant_uid": "lines=1e-12"}}
		var spun atomic.Bool
		release := make(chan struct{})
		r := startRunnerTuned(t, cfg, Options{Limits: src}, nil, func(tl *Tailer) {
			tl.pollOnly = true
			var last time.Time
			same := 0
			tl.loopHook = func() {
				if now := time.Now(); now.Equal(last) {
					same++
				} else {
					last, same = now, 0
				}
				if same > 10000 && !spun.Load() {
					spun.Store(true)
					<-release // let the fake clock move on
				}
			}
		})
		time.Sleep(3 * time.Second)
		synctest.Wait()
		close(release)
		if spun.Load() {
			t.Error("over 10,000 rounds of the tailer's loop at one instant: it spins")
		}
		if n := len(r.snapshot()); n != 1 {
			t.Errorf("%d lines shipped under a limit of 1e-12 lines/s (burst 1), want 1", n)
		}
		r.stop()
	})
}

// TestHostile4DeferredSharedBudgetNoSpin: two containers of a pod behind
// a per_pod limit (policy defer) share its budget: when one took it, the
// other, due by read_interval but deferred until the budget is back, must
// not make the loop go round and round meanwhile (it was due again at
// once, and deferred again, until its budget was back).
func TestHostile4DeferredSharedBudgetNoSpin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{})
		cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 100}
		app := mkContainer(t, dir, "ns_pod_uid")
		side := filepath.Join(filepath.Dir(filepath.Dir(app)), "side", "0.log")
		if err := os.MkdirAll(filepath.Dir(side), 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, app, noisyLines(0, 1000))
		appendFile(t, side, noisyLines(0, 1000))
		var most atomic.Int64
		r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) {
			tl.pollOnly = true
			var last time.Time
			var same int64
			tl.loopHook = func() {
				if now := time.Now(); now.Equal(last) {
					same++
				} else {
					last, same = now, 0
				}
				if same > most.Load() {
					most.Store(same)
				}
			}
		})
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if n := len(r.snapshot()); n < 250 || n > 450 {
			t.Errorf("%d lines in 3 s under 100/s for the pod", n)
		}
		if m := most.Load(); m > 50 {
			t.Errorf("%d rounds of the tailer's loop at one instant: it spins while a file is deferred", m)
		}
		r.stop()
	})
}
