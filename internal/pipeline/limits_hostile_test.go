package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// TestHostile4QuietContainerKeepsItsAnnotation: a container of a live pod
// (its log directory is there) that writes nothing for an hour, a nightly
// job's sidecar or a service logging only on errors, keeps its
// ferry.dev/rate-limit annotation. Forgotten, its next burst is limited by
// the namespace's or the default limit (under policy drop: dropped) until
// its first lines are enriched again and the tailer re-resolves. Only a
// container whose directory is gone (its pod deleted) is forgotten.
func TestHostile4QuietContainerKeepsItsAnnotation(t *testing.T) {
	root := t.TempDir()
	live := filepath.Join(root, "batch_nightly_u1", "app")
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(root, "batch_gone_u2", "app")
	a := newAnnotationLimits()
	meta := &event.Meta{Annotations: map[string]string{tail.RateLimitAnnotation: "lines=100000"}}
	now := time.Now()
	a.observe([]event.Log{{Path: filepath.Join(live, "0.log"), Meta: meta}, {Path: filepath.Join(gone, "0.log"), Meta: meta}}, now)
	a.sweep(now.Add(annotationForget + time.Minute))
	if v, ok := a.RateLimitAnnotation(filepath.Join(live, "0.log")); !ok || v != "lines=100000" {
		t.Errorf("a live pod's quiet container after an hour: annotation %q %v, want lines=100000", v, ok)
	}
	if _, ok := a.RateLimitAnnotation(filepath.Join(gone, "0.log")); ok {
		t.Error("a container whose directory is gone is still known after an hour")
	}
}
