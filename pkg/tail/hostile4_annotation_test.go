package tail

import (
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// changingPods is a LimitSource whose annotations a test changes while the
// tailer runs (kubectl annotate --overwrite).
type changingPods struct {
	mu          sync.Mutex
	annotations map[string]string // by pod directory
}

func (p *changingPods) set(pod, v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v == "" {
		delete(p.annotations, pod)
		return
	}
	p.annotations[pod] = v
}

func (p *changingPods) RateLimitAnnotation(path string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.annotations[filepath.Base(filepath.Dir(filepath.Dir(path)))]
	return v, ok
}

func (p *changingPods) PodLabels(string) map[string]string { return nil }

// TestHostile4PolicyChangedWhileLimited: a container held back by its
// annotation's limit (policy defer) whose annotation is changed to policy
// drop while it is behind: its lines are then read at full speed and
// those over the limit dropped, and once it stops writing its episode ends
// (a warning, and ferry_tail_rate_limited_containers back to 0) like any
// drop episode. The same when the annotation says "none" while a per_pod
// limit of policy drop applies.
func TestHostile4PolicyChangedWhileLimited(t *testing.T) {
	for _, tc := range []struct {
		name, then string
		perPod     RateLimit
	}{
		{name: "to drop", then: "lines=100,policy=drop"},
		{name: "to none beside a per_pod drop limit", then: "none", perPod: RateLimit{LinesPerSecond: 1e6, Policy: PolicyDrop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir, state := t.TempDir(), t.TempDir()
				cfg := limitConfig(dir, state, RateLimit{})
				cfg.RateLimit.PerPod = tc.perPod
				src := &changingPods{annotations: map[string]string{"ns_noisy_uid": "lines=100"}}
				path := mkContainer(t, dir, "ns_noisy_uid")
				appendFile(t, path, noisyLines(0, 2000))
				logs := &lockedBuffer{}
				r := startRunnerTuned(t, cfg, Options{Limits: src}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
					func(tl *Tailer) { tl.pollOnly = true })
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 1 {
					t.Fatalf("rate_limited_containers = %v while deferred, want 1", g)
				}
				src.set("ns_noisy_uid", tc.then)
				time.Sleep(cfg.RescanInterval + 5*cfg.RateLimit.SummaryInterval)
				synctest.Wait()
				if n, _ := countPrefix(r.snapshot(), "ns_noisy_uid"); n < 300 {
					t.Fatalf("%d lines shipped: the file was not read on after the change", n)
				}
				out := logs.String()
				if g := testutil.ToFloat64(r.tl.m.limitedContainers); g != 0 {
					t.Errorf("rate_limited_containers = %v long after the container stopped writing, want 0; log:\n%s", g, out)
				}
				if n := countLog(out, "container back within its rate limit", "container=ns/noisy/app"); n < 1 {
					t.Errorf("no warning that the container is back within its limit:\n%s", out)
				}
				r.stop()
			})
		})
	}
}

// flappingPods answers two annotations in turn, one per look.
type flappingPods struct {
	mu sync.Mutex
	n  int
	vs [2]string
}

func (p *flappingPods) RateLimitAnnotation(string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return p.vs[p.n%2], true
}

func (p *flappingPods) PodLabels(string) map[string]string { return nil }

// TestHostile4FlappingAnnotationNoBurst: a pod owner rewrites the pod's
// annotation between two limits of the same rate at every
// rescan_interval. Each change of limit must not hand the container a new
// burst: what it ships stays within burst + rate x elapsed.
func TestHostile4FlappingAnnotationNoBurst(t *testing.T) {
	for _, policy := range []string{PolicyDefer, PolicyDrop} {
		t.Run(policy, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir, state := t.TempDir(), t.TempDir()
				const rate, seconds = 100, 10
				cfg := limitConfig(dir, state, RateLimit{})
				src := &flappingPods{vs: [2]string{"lines=100,policy=" + policy, "lines=100,burst_lines=100,policy=" + policy}}
				path := mkContainer(t, dir, "ns_tenant_uid")
				appendFile(t, path, "")
				r := startRunnerTuned(t, cfg, Options{Limits: src}, nil, func(tl *Tailer) { tl.pollOnly = true })
				synctest.Wait()
				start := time.Now()
				written := 0
				for range seconds * 10 {
					appendFile(t, path, noisyLines(written, written+100))
					written += 100
					time.Sleep(100 * time.Millisecond)
					synctest.Wait()
				}
				shipped, _ := countPrefix(r.snapshot(), "ns_tenant_uid")
				if max := rate + rate*time.Since(start).Seconds(); float64(shipped) > max {
					t.Errorf("%d lines shipped in %v under %d lines/s: over burst + rate x elapsed = %.0f", shipped, time.Since(start), rate, max)
				}
				r.stop()
			})
		})
	}
}
