package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostile4ParkedLimitedContainerDeleted: on a node with more log files
// than max_open_files, a container held back by its limit (policy defer)
// is parked (its descriptor given to a waiting file: it could not read
// anyway), and its pod is deleted while it waits. The file is given up
// (lost_files_total{reason="waiting"}); its container's limiter must be
// let go like any other's: its episode ends (a "back within" warning, the
// gauge back to 0) and it is forgotten once its bucket is full, not kept
// limited for ever.
func TestHostile4ParkedLimitedContainerDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 100})
		cfg.MaxOpenFiles = 4
		noisy := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, noisy, noisyLines(0, 5000))
		for i := range 8 {
			appendFile(t, mkContainer(t, dir, fmt.Sprintf("ns_quiet%d_uid", i)), criLine("stdout", "F", "quiet"))
		}
		var deleted atomic.Bool
		r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) {
			tl.pollOnly = true
			tl.loopHook = func() { // on Run's goroutine
				if _, parked := tl.lim.queued[noisy]; parked && !deleted.Load() && testutil.ToFloat64(tl.m.limitedContainers) == 1 {
					if err := os.RemoveAll(filepath.Dir(filepath.Dir(noisy))); err != nil {
						t.Error(err)
					}
					deleted.Store(true)
				}
			}
		})
		for i := 0; i < 30 && !deleted.Load(); i++ {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if !deleted.Load() {
			t.Fatal("the limited container was never parked")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostWaiting)); n != 1 {
			t.Fatalf("lost_files_total{reason=waiting} = %v, want the parked file", n)
		}
		if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
			t.Errorf("rate_limited_containers = %v 10 s after the limited container's file was given up, want 0", g)
		}
		r.stop()
		if _, ok := r.tl.limiters[filepath.Dir(noisy)]; ok {
			t.Error("the limiter of a container whose file was given up is kept")
		}
	})
}
