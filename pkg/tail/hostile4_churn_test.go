package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
