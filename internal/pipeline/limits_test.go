package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// TestAnnotationLimits: the rate-limit annotation enrichment put on a
// container's lines is what the tailer is told for that container's files
// (rotated ones included), changes when the pod's annotation changes, and
// is forgotten an hour after the container's last line once its directory
// is gone.
func TestAnnotationLimits(t *testing.T) {
	a := newAnnotationLimits()
	in, out := make(chan []event.Log, 1), make(chan []event.Log, 1)
	done := make(chan error, 1)
	go func() { done <- a.run(context.Background(), in, out) }()
	web := &event.Meta{Annotations: map[string]string{tail.RateLimitAnnotation: "lines=10"}, Labels: map[string]string{"app": "web"}}
	db := &event.Meta{Annotations: map[string]string{"other": "x"}}
	batch := []event.Log{
		{Path: "/var/log/pods/shop_web_u1/app/0.log", Meta: web},
		{Path: "/var/log/pods/shop_db_u2/app/0.log", Meta: db},
		{Path: "/var/log/pods/shop_new_u3/app/0.log"}, // not enriched (yet)
	}
	in <- batch
	if got := <-out; len(got) != 3 {
		t.Fatalf("forwarded %d lines, want 3", len(got))
	}
	for _, tc := range []struct {
		path   string
		want   string
		wantOK bool
	}{
		{"/var/log/pods/shop_web_u1/app/0.log", "lines=10", true},
		{"/var/log/pods/shop_web_u1/app/0.log.20261205-000000", "lines=10", true},
		{"/var/log/pods/shop_db_u2/app/0.log", "", false},
		{"/var/log/pods/shop_new_u3/app/0.log", "", false},
	} {
		if v, ok := a.RateLimitAnnotation(tc.path); v != tc.want || ok != tc.wantOK {
			t.Errorf("%s: %q %v, want %q %v", tc.path, v, ok, tc.want, tc.wantOK)
		}
	}
	if got := a.PodLabels("/var/log/pods/shop_web_u1/app/0.log"); got["app"] != "web" {
		t.Errorf("labels %v, want app=web", got)
	}
	if got := a.PodLabels("/var/log/pods/shop_new_u3/app/0.log"); got != nil {
		t.Errorf("labels of a pod not enriched: %v", got)
	}
	// The generation moves with what is learnt, changed or forgotten, and
	// only then (the tailer resolves every limit again when it moves).
	g := a.Generation()
	if g != 2 {
		t.Errorf("generation %d after two containers were learnt, want 2", g)
	}
	a.observe(batch, time.Now())
	if a.Generation() != g {
		t.Errorf("the generation moved on lines of containers already known")
	}
	changed := &event.Meta{Annotations: map[string]string{tail.RateLimitAnnotation: "none"}}
	a.observe([]event.Log{{Path: "/var/log/pods/shop_web_u1/app/0.log", Meta: changed}}, time.Now())
	if v, _ := a.RateLimitAnnotation("/var/log/pods/shop_web_u1/app/0.log"); v != "none" {
		t.Errorf("after the annotation changed: %q, want none", v)
	}
	if a.Generation() != g+1 {
		t.Errorf("generation %d after an annotation changed, want %d", a.Generation(), g+1)
	}
	a.sweep(time.Now().Add(annotationForget))
	if _, ok := a.RateLimitAnnotation("/var/log/pods/shop_web_u1/app/0.log"); ok {
		t.Error("a container unseen for an hour is still known")
	}
	if a.Generation() != g+3 {
		t.Errorf("generation %d after two containers were forgotten, want %d", a.Generation(), g+3)
	}
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-out; ok {
		t.Fatal("out not closed after in")
	}
}

// TestAnnotationLimitsIgnoreANewMetaOfTheSameLabels: enrichment builds a
// new Meta (and labels map) at every update of a pod (a status change);
// the generation, which makes the tailer resolve every limit again, moves
// only when the annotation or the labels' values changed.
func TestAnnotationLimitsIgnoreANewMetaOfTheSameLabels(t *testing.T) {
	a := newAnnotationLimits()
	path := "/var/log/pods/shop_web_u1/app/0.log"
	meta := func() *event.Meta {
		return &event.Meta{Annotations: map[string]string{tail.RateLimitAnnotation: "lines=10"}, Labels: map[string]string{"app": "web"}}
	}
	now := time.Now()
	a.observe([]event.Log{{Path: path, Meta: meta()}}, now)
	g := a.Generation()
	for i := range 5 {
		a.observe([]event.Log{{Path: path, Meta: meta()}}, now.Add(time.Duration(i)*time.Second))
	}
	if a.Generation() != g {
		t.Errorf("generation moved %d times for new Metas with the same values", a.Generation()-g)
	}
	changed := meta()
	changed.Labels["app"] = "api"
	a.observe([]event.Log{{Path: path, Meta: changed}}, now)
	if a.Generation() != g+1 {
		t.Errorf("generation %d after the labels changed, want %d", a.Generation(), g+1)
	}
}
