package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHostile4IdleLimitersForgottenBesideNoisyNeighbour: a namespace limit
// (per_namespace, policy drop) that a noisy container keeps spent, and
// short-lived pods (jobs) coming and going in the same namespace: a job's
// limiter and its pod's aggregate must be forgotten once its file is gone
// and its own buckets are full. A limiter kept until the namespace's shared
// bucket is full is kept for as long as the noisy neighbour is noisy: the
// limiters and aggregates maps grow with every job ever run.
func TestHostile4IdleLimitersForgottenBesideNoisyNeighbour(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		const jobs, perTick = 60, 100
		cfg := limitConfig(dir, state, RateLimit{})
		cfg.RateLimit.PerNamespace = RateLimit{LinesPerSecond: 200, Policy: PolicyDrop}
		cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 1000, Policy: PolicyDrop}
		noisy := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, noisy, "")
		r := startPolling(t, cfg)
		synctest.Wait()
		written := 0
		var jobDirs []string
		for tick := 1; tick <= jobs+30; tick++ { // every 100 ms
			appendFile(t, noisy, noisyLines(written, written+perTick))
			written += perTick
			if tick <= jobs {
				p := mkContainer(t, dir, fmt.Sprintf("ns_job%d_uid%d", tick, tick))
				appendFile(t, p, criLine("stdout", "F", "job done"))
				jobDirs = append(jobDirs, filepath.Dir(filepath.Dir(p)))
			}
			// The job's pod is deleted a few ticks after it ran.
			if k := tick - 5; k >= 1 && k <= jobs {
				if err := os.RemoveAll(jobDirs[k-1]); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		if testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit)) == 0 {
			t.Fatal("the noisy container was never over the namespace's limit")
		}
		if g := testutil.ToFloat64(r.tl.m.openFiles); g != 1 {
			t.Fatalf("%v files open, want the noisy one alone", g)
		}
		r.stop()
		t.Logf("limiters %d aggregates %d dropped %v", len(r.tl.limiters), len(r.tl.aggregates), testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit)))
		// Every job's file closed seconds ago; their buckets (1 line
		// taken of 1000 per pod) were full again within a millisecond.
		if n, a := len(r.tl.limiters), len(r.tl.aggregates); n > 2 || a > 3 {
			t.Errorf("%d limiters and %d aggregates kept for 1 container open (of %d that ran): idle ones never forgotten while the namespace's bucket is spent", n, a, jobs+1)
		}
	})
}

// TestHostile4AggregateOutlivesItsLimiters: a pod's aggregate whose last
// container's limiter is forgotten (its own bucket full again) keeps what
// was taken from it until it is full itself: a container coming back (a
// restart, the next file after a rotation) finds the pod's budget spent,
// not a new burst. An idle container takes no part of the pod's budget.
func TestHostile4AggregateOutlivesItsLimiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.RateLimit.Default = RateLimit{LinesPerSecond: 1000}
		cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 10}
		tl, err := New(cfg, nil, make(chan<- []event.Log), Options{})
		if err != nil {
			t.Fatal(err)
		}
		app, side := &follower{}, &follower{}
		app.dec.path, side.dec.path = "/l/shop_a_u1/app/0.log", "/l/shop_a_u1/side/0.log"
		app.lim = tl.limiterFor(app, time.Now())
		side.lim = tl.limiterFor(side, time.Now())
		pod := app.lim.pod
		if lines, _, _ := tl.allowance(app, time.Now()); lines != 5 {
			t.Errorf("app may read %d of the pod's 10 lines beside side, want half", lines)
		}
		tl.releaseLimiter(side, false)
		if lines, _, _ := tl.allowance(app, time.Now()); lines != 10 {
			t.Errorf("app may read %d of the pod's 10 lines once side has no file open, want all", lines)
		}
		pod.lines.take(10)
		tl.releaseLimiter(app, false)
		time.Sleep(100 * time.Millisecond) // the containers' own buckets are full; the pod's holds 1 of 10
		tl.limitTick(time.Now())
		if len(tl.limiters) != 0 || tl.aggregates["pod /l/shop_a_u1"] != pod {
			t.Fatalf("%d limiters, pod aggregate kept %v; want the limiters forgotten, the aggregate kept", len(tl.limiters), tl.aggregates["pod /l/shop_a_u1"] == pod)
		}
		back := &follower{}
		back.dec.path = "/l/shop_a_u1/app/1.log"
		back.lim = tl.limiterFor(back, time.Now())
		if back.lim.pod != pod || pod.lines.avail() != 1 {
			t.Errorf("the container back gets a pod budget of %d lines, want the 1 left", back.lim.pod.lines.avail())
		}
		tl.releaseLimiter(back, false)
		time.Sleep(time.Second)
		tl.limitTick(time.Now())
		if len(tl.limiters) != 0 || len(tl.aggregates) != 0 {
			t.Errorf("%d limiters, %d aggregates once every bucket is full, want none", len(tl.limiters), len(tl.aggregates))
		}
	})
}

// TestHostile4LimiterKeptWhileItsNextFileWaits: a container limited only
// by its pod's aggregate (no limit of its own, so its own buckets are
// always full) whose rotated file is closed while its new file waits to be
// read (the in-flight budget is full, say) keeps its limiter: its episode
// and its drops not yet summarised survive the rotation, rather than being
// summarised and warned about again at every rotation that a poll falls
// into.
func TestHostile4LimiterKeptWhileItsNextFileWaits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RateLimit.PerPod = RateLimit{LinesPerSecond: 10, Policy: PolicyDrop}
	tl, err := New(cfg, nil, make(chan<- []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := &follower{}
	old.dec.path = "/l/shop_a_u1/app/0.log"
	old.lim = tl.limiterFor(old, time.Now())
	l := old.lim
	for range 20 {
		tl.dropLine(old, 10, mark{end: 10})
	}
	if l.dropped != 10 || !l.limited {
		t.Fatalf("%d dropped, limited %v; want 10 of 20 over the pod's burst", l.dropped, l.limited)
	}
	next := &follower{} // opened, not read yet: no limiter attached
	next.dec.path = old.dec.path
	tl.order = append(tl.order, next)
	old.st = stClosed
	tl.releaseLimiter(old, false)
	tl.limitTick(time.Now())
	if tl.limiters[l.key] != l || l.dropped != 10 || !l.limited {
		t.Errorf("the container's limiter forgotten while its next file waits (kept %v, %d drops pending, limited %v)", tl.limiters[l.key] == l, l.dropped, l.limited)
	}
	if s := testutil.ToFloat64(tl.m.dropSummaries); s != 0 {
		t.Errorf("%v summaries at a rotation", s)
	}
}
