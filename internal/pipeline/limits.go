package pipeline

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// annotationLimits tells the tailer the ferry.dev/rate-limit annotation
// and the labels of each container's pod, as enrichment put them on the
// container's lines: it watches the enriched batches on their way to
// processing. A container's annotation and labels are therefore known once
// its first lines were enriched, and the tailer applies them within its
// poll_interval (it asks again when Generation moved); before that the
// namespace's or the default limit applies.
type annotationLimits struct {
	mu    sync.RWMutex
	byDir map[string]annotationSeen // by container directory
	gen   atomic.Uint64             // moves when what byDir says changes
}

// Generation implements tail.LimitGeneration: it moves whenever a
// container's annotation or labels are learnt, change, or are forgotten.
func (a *annotationLimits) Generation() uint64 { return a.gen.Load() }

type annotationSeen struct {
	value  string
	ok     bool
	labels map[string]string // the enriched Meta's (shared, never written)
	seen   time.Time
}

// annotationForget is how long a container's annotation is kept after its
// last line at least; then it is forgotten once its directory is gone (its
// pod deleted). A live pod's container quiet for longer keeps it: its next
// burst must not be limited by the default before its lines are enriched
// again.
const annotationForget = time.Hour

var (
	_ tail.LimitSource     = (*annotationLimits)(nil)
	_ tail.LimitGeneration = (*annotationLimits)(nil)
)

func newAnnotationLimits() *annotationLimits {
	return &annotationLimits{byDir: make(map[string]annotationSeen)}
}

// RateLimitAnnotation implements tail.LimitSource.
func (a *annotationLimits) RateLimitAnnotation(path string) (string, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	s := a.byDir[filepath.Dir(path)]
	return s.value, s.ok
}

// PodLabels implements tail.LimitSource.
func (a *annotationLimits) PodLabels(path string) map[string]string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.byDir[filepath.Dir(path)].labels
}

// observe records the annotations of a batch's containers.
func (a *annotationLimits) observe(batch []event.Log, now time.Time) {
	var last *event.Meta
	lastPath := ""
	for i := range batch {
		l := &batch[i]
		if l.Meta == nil || (l.Meta == last && l.Path == lastPath) {
			continue
		}
		last, lastPath = l.Meta, l.Path
		v, ok := l.Meta.Annotations[tail.RateLimitAnnotation]
		dir := filepath.Dir(l.Path)
		a.mu.RLock()
		s, known := a.byDir[dir]
		a.mu.RUnlock()
		changed := !known || s.value != v || s.ok != ok || !maps.Equal(s.labels, l.Meta.Labels)
		if !changed && now.Sub(s.seen) < annotationForget/4 {
			continue // known, and seen recently enough
		}
		a.mu.Lock()
		a.byDir[dir] = annotationSeen{value: v, ok: ok, labels: l.Meta.Labels, seen: now}
		a.mu.Unlock()
		if changed {
			a.gen.Add(1)
		}
	}
}

// sweep forgets the containers not seen for annotationForget whose
// directory is gone.
func (a *annotationLimits) sweep(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for d, s := range a.byDir {
		if now.Sub(s.seen) < annotationForget {
			continue
		}
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			delete(a.byDir, d)
			a.gen.Add(1)
		}
	}
}

// run forwards the batches of in to out, observing them, until in is
// closed (then it closes out) or ctx ends.
func (a *annotationLimits) run(ctx context.Context, in <-chan []event.Log, out chan<- []event.Log) error {
	defer close(out)
	sweep := time.NewTicker(annotationForget / 4)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-sweep.C:
			a.sweep(now)
		case b, ok := <-in:
			if !ok {
				return nil
			}
			a.observe(b, time.Now())
			select {
			case out <- b:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// rateLimitAnnotations adds the rate-limit annotation to those enrichment
// puts on the records, so that the tailer can read it (idempotent).
func rateLimitAnnotations(patterns []string) []string {
	if slices.Contains(patterns, tail.RateLimitAnnotation) {
		return patterns
	}
	return append(slices.Clip(patterns), tail.RateLimitAnnotation)
}
