package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/process"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// world is one node's log directory, a state directory and a file sink
// per run.
type world struct {
	dir, logFile, state string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_cart-0_0b1e2c3d-0000-4000-8000-000000000001", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &world{dir: dir, logFile: filepath.Join(logDir, "0.log"), state: filepath.Join(dir, "state")}
}

// write appends CRI lines with the given messages.
func (w *world) write(t *testing.T, msgs ...string) {
	t.Helper()
	f, err := os.OpenFile(w.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, m := range msgs {
		if _, err := fmt.Fprintf(f, "2026-12-05T10:00:00.000000000Z stdout F %s\n", m); err != nil {
			t.Fatal(err)
		}
	}
}

// config is the agent's defaults for this world, shipping to sink.
func (w *world) config(sink string) Config {
	logs := tail.DefaultConfig()
	logs.Include = []string{filepath.Join(w.dir, "pods", "*", "*", "*.log")}
	logs.StateDir = w.state
	logs.PollInterval = 50 * time.Millisecond
	logs.ReadInterval = 20 * time.Millisecond
	kube := enrich.DefaultConfig()
	kube.Enabled = false
	kube.NodeName = "node-1"
	return Config{
		Logs: logs, Kubernetes: kube, Processing: process.DefaultConfig(),
		Sink:     ship.Config{File: &ship.FileConfig{Path: sink, Linger: time.Millisecond}},
		NodeName: "node-1", ShutdownTimeout: 10 * time.Second,
	}
}

// acked counts the lines the pipeline acknowledged and wakes waiters.
type acked struct {
	n    atomic.Int64
	tick chan struct{}
}

func newAcked() *acked { return &acked{tick: make(chan struct{}, 1)} }

func (a *acked) add(lines int) {
	a.n.Add(int64(lines))
	select {
	case a.tick <- struct{}{}:
	default:
	}
}

// waitFor waits until at least n lines were acknowledged.
func (a *acked) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for a.n.Load() < n {
		select {
		case <-a.tick:
		case <-deadline:
			t.Fatalf("%d lines acknowledged after 30s, want %d", a.n.Load(), n)
		}
	}
}

// start runs a pipeline until the returned stop is called; stop returns
// Run's error.
func start(t *testing.T, cfg Config, opts Options) (stop func() error) {
	t.Helper()
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return 30s after its context ended")
			return nil
		}
	}
}

// messages reads the messages of an NDJSON sink file.
func messages(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("sink record %q: %v", sc.Text(), err)
		}
		out = append(out, r.Message)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunShipsCommitsAndResumes: every line reaches the sink and is
// acknowledged; a graceful stop commits the offsets, so the next run ships
// only what was written since (the sentinel arrives alone: a re-read would
// put the old lines before it, in file order).
func TestRunShipsCommitsAndResumes(t *testing.T) {
	w := newWorld(t)
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("line %03d", i))
	}
	w.write(t, want...)

	first := filepath.Join(w.dir, "first.ndjson")
	a := newAcked()
	stop := start(t, w.config(first), Options{Acked: a.add})
	a.waitFor(t, 100)
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if got := messages(t, first); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("first run shipped %d records, want the 100 lines in order:\n%v", len(got), got)
	}

	w.write(t, "sentinel")
	second := filepath.Join(w.dir, "second.ndjson")
	b := newAcked()
	stop = start(t, w.config(second), Options{Acked: b.add})
	b.waitFor(t, 1)
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if got := messages(t, second); len(got) != 1 || got[0] != "sentinel" {
		t.Fatalf("after a restart the sink got %d records (%.3q...), want only the sentinel", len(got), got)
	}
}

// TestProcessingPlugsIn: with a multiline rule configured the processing
// stage sits between the limits stage and the sink: a trace arrives as
// one record, and the acknowledgement still covers every line read.
func TestProcessingPlugsIn(t *testing.T) {
	w := newWorld(t)
	w.write(t, "java.lang.IllegalStateException: boom", "\tat Main.main(Main.java:3)", "\tat Main.run(Main.java:9)", "next")
	sink := filepath.Join(w.dir, "out.ndjson")
	cfg := w.config(sink)
	cfg.Processing.Multiline.Rule = "java"
	cfg.Processing.Multiline.FlushTimeout = 50 * time.Millisecond
	cfg.Logs.StartAt = "beginning"
	a := newAcked()
	stop := start(t, cfg, Options{Acked: a.add})
	a.waitFor(t, 4)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := messages(t, sink)
	wantTrace := "java.lang.IllegalStateException: boom\n\tat Main.main(Main.java:3)\n\tat Main.run(Main.java:9)"
	if len(got) != 2 || got[0] != wantTrace || got[1] != "next" {
		t.Fatalf("records %q, want the trace as one record, then %q", got, "next")
	}
	if n := a.n.Load(); n != 4 {
		t.Errorf("%d lines acknowledged, want 4 (every line read, grouped or not)", n)
	}
}

// TestFailureStopsAndReports: a component that fails stops the pipeline at
// once (not after the shutdown timeout): Run returns its error, prefixed
// with its name, and OnFailure is called once.
func TestFailureStopsAndReports(t *testing.T) {
	w := newWorld(t)
	w.write(t, "one")
	cfg := w.config(filepath.Join(w.dir, "out.ndjson"))
	cfg.ShutdownTimeout = time.Hour // a failure must not wait for it
	var failures atomic.Int32
	boom := errors.New("boom")
	p, err := New(cfg, Options{
		OnFailure: func() { failures.Add(1) },
		Extra:     func(context.Context) error { return boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after a component failed")
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "extra: boom") {
		t.Errorf("Run's error %v, want extra: boom", err)
	}
	if n := failures.Load(); n != 1 {
		t.Errorf("OnFailure called %d times, want once", n)
	}
}

// TestNewReportsTheRoom: a room's configuration error is returned with the
// room's name, once.
func TestNewReportsTheRoom(t *testing.T) {
	w := newWorld(t)
	_, err := New(w.config(""), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "ship: ") || strings.HasPrefix(err.Error(), "ship: ship:") {
		t.Fatalf("New with a file sink without a path: %v, want one ship: prefix", err)
	}
}

// TestAnnotations: enrichment is asked for the annotations processing
// honours and the rate-limit one, once each however often it is asked.
func TestAnnotations(t *testing.T) {
	pc := process.DefaultConfig()
	pc.Annotations.Multiline = true
	got := Annotations(Annotations([]string{"app.kubernetes.io/*"}, pc), pc)
	want := []string{"app.kubernetes.io/*", "ferry.dev/multiline", "ferry.dev/multiline-*", tail.RateLimitAnnotation}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Annotations = %v, want %v", got, want)
	}
}
