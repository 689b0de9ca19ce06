package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/tail"
)

func TestRateLimitAnnotationKept(t *testing.T) {
	cfg := DefaultConfig()
	cfg.apply()
	n := 0
	for _, p := range cfg.Kubernetes.Annotations {
		if p == tail.RateLimitAnnotation {
			n++
		}
	}
	cfg.apply()
	for _, p := range cfg.Kubernetes.Annotations {
		if p == tail.RateLimitAnnotation {
			n++
		}
	}
	if n != 2 {
		t.Errorf("the rate-limit annotation is kept %d times in two applies, want once each", n)
	}
}

// TestRateLimitConfig: the rate-limit keys decode, and their problems are
// reported with their paths.
func TestRateLimitConfig(t *testing.T) {
	lookup := env(map[string]string{"NODE_NAME": "n"})
	good := []byte(`sink: {kafka: {brokers: ["k:9092"]}}
logs:
  rate_limit:
    default: {lines_per_second: 1000, burst_lines: 2000}
    namespaces:
      batch: {bytes_per_second: 1048576, policy: drop}
    selectors:
      - match_labels: {tier: debug}
        limit: {lines_per_second: 10}
    summary_interval: 30s
`)
	cfg, err := ParseConfig(good, lookup)
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.Logs.RateLimit
	if rl.Default.LinesPerSecond != 1000 || rl.Default.BurstLines != 2000 || rl.Namespaces["batch"].Policy != tail.PolicyDrop ||
		rl.Namespaces["batch"].BytesPerSecond != 1<<20 || rl.SummaryInterval != 30*time.Second ||
		len(rl.Selectors) != 1 || rl.Selectors[0].MatchLabels["tier"] != "debug" || rl.Selectors[0].Limit.LinesPerSecond != 10 {
		t.Errorf("decoded %+v", rl)
	}
	bad := []byte(`sink: {kafka: {brokers: ["k:9092"]}}
logs:
  rate_limit:
    default: {lines_per_second: -1}
    namespaces:
      batch: {lines: 5}
      web: {policy: later}
      web: {}
    selectors:
      - limit: {lines_per_second: 1}
      - match_labels: {a: b}
        limit: {rate: 1}
    summary_interval: 2h
`)
	_, err = ParseConfig(bad, lookup)
	for _, want := range []string{"logs.rate_limit.namespaces.batch.lines", "logs.rate_limit.namespaces.web",
		"duplicate key", "logs.rate_limit.default.lines_per_second", "logs.rate_limit.summary_interval",
		"logs.rate_limit.selectors[1].limit.rate"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to name %s", err, want)
		}
	}
}

// TestAgentRateLimitDrop runs the real pipeline with a cluster-wide limit,
// policy drop: the sink receives the burst and one summary record saying
// how many lines were dropped, the counter says the same, and the
// checkpoint reaches the end of the file (the summary's acknowledgement
// commits past the dropped lines).
func TestAgentRateLimitDrop(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_loud-0_0b1e2c3d-0000-4000-8000-000000000002", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	const total, burst = 3000, 100
	var sb strings.Builder
	for i := range total {
		fmt.Fprintf(&sb, "2026-12-04T20:50:00.%09dZ stdout F line %d\n", i, i)
	}
	logFile := filepath.Join(logDir, "0.log")
	if err := os.WriteFile(logFile, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sinkPath := filepath.Join(dir, "out.ndjson")
	stateDir := filepath.Join(dir, "state")
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
node_name: node-1
state_dir: %s
logs:
  include: ["%s/pods/*/*/*.log"]
  poll_interval: 100ms
  rate_limit:
    default: {lines_per_second: 1, burst_lines: %d, policy: drop}
    summary_interval: 200ms
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
sink: {file: {path: %s}}
http: {listen: "127.0.0.1:0"}
`, stateDir, dir, burst, sinkPath)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), runHooks{Registry: reg})
	}()
	summary := regexp.MustCompile(`^ferry: (\d+) lines \(\d+ bytes\) of this container dropped by its rate limit`)
	var kept, summarised int
	deadline := time.Now().Add(20 * time.Second)
	for kept+summarised < total {
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d lines and summaries of %d dropped, want %d in all", kept, summarised, total)
		}
		time.Sleep(20 * time.Millisecond)
		kept, summarised = 0, 0
		for _, m := range readMessages(t, sinkPath) {
			if s := summary.FindStringSubmatch(m); s != nil {
				n, _ := strconv.Atoi(s[1])
				summarised += n
			} else {
				kept++
			}
		}
	}
	dropped := gathered(t, reg, "ferry_tail_lines_dropped_total")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if kept < burst || kept > burst+5 || float64(summarised) != dropped {
		t.Errorf("kept %d (burst %d), summaries say %d dropped, the counter %v", kept, burst, summarised, dropped)
	}
	b, err := os.ReadFile(filepath.Join(stateDir, "tail.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Files) != 1 || st.Files[0].Offset != int64(sb.Len()) {
		t.Errorf("checkpoint %+v, want %s at %d", st.Files, logFile, sb.Len())
	}
}

// gathered sums the samples of a metric in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
