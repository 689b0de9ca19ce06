package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostile6Config is an agent over one CRI file of n lines, shipping to a
// file, listening on listen.
func hostile6Config(t *testing.T, dir, listen string, n int) (Config, string) {
	t.Helper()
	logDir := filepath.Join(dir, "pods", "ns_pod_0b1e2c3d-0000-4000-8000-000000000001", "c")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "2026-11-26T03:55:09.%09dZ stdout F line %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(logDir, "0.log"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sink := filepath.Join(dir, "out.ndjson")
	cfg, err := ParseConfig(fmt.Appendf(nil, `
node_name: node-1
state_dir: %s
logs: {include: ["%s/pods/*/*/*.log"], start_at: beginning}
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
sink: {file: {path: %s}}
http: {listen: %q}
`, filepath.Join(dir, "state"), dir, sink, listen), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, sink
}

// TestHostile6StartFailuresLeaveNothingBehind: an agent whose HTTP
// listener fails after the pipeline was built, or whose context ended
// before it ran, returns at once, releases state_dir and commits nothing:
// the next agent on the same state_dir starts and ships every line once.
func TestHostile6StartFailuresLeaveNothingBehind(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	cfg, sink := hostile6Config(t, dir, taken.Addr().String(), 50)
	err = runAgent(context.Background(), cfg, logger, runHooks{})
	if err == nil || !strings.Contains(err.Error(), "http: listen") {
		t.Fatalf("an agent on a taken port: %v, want the listen error", err)
	}

	cfg, _ = hostile6Config(t, dir, "127.0.0.1:0", 50)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- runAgent(cancelled, cfg, logger, runHooks{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("an agent whose context ended before it ran: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an agent whose context ended before it ran did not return")
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := make(chan string, 1)
	go func() { done <- runAgent(ctx, cfg, logger, runHooks{Listening: func(a string) { addr <- a }}) }()
	select {
	case <-addr:
	case err := <-done:
		t.Fatalf("the next agent on the state_dir: %v", err)
	}
	waitFor(t, 30*time.Second, "50 lines shipped", func() bool { return countLines(sink) >= 50 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := countLines(sink); n != 50 {
		t.Errorf("%d lines shipped, want each of the 50 once", n)
	}
}
