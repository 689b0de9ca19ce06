package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// inProcess starts runAgent on a temp node with the file sink and returns
// the HTTP address, the sink's path and a stop function returning
// runAgent's error.
func inProcess(t *testing.T, lines int, extra func(context.Context) error) (addr, sinkPath, stateDir string, reg *prometheus.Registry, stop func() error) {
	t.Helper()
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_cart-0_0b1e2c3d-0000-4000-8000-000000000001", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&sb, "2026-11-26T03:55:09.%09dZ stdout F line %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(logDir, "0.log"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sinkPath = filepath.Join(dir, "out.ndjson")
	stateDir = filepath.Join(dir, "state")
	cfgText := fmt.Sprintf(`
node_name: node-1
state_dir: %s
logs: {include: ["%s/pods/*/*/*.log"]}
kubernetes: {enabled: false}
hostmetrics: {enabled: true, interval: 1s}
sink: {file: {path: %s}}
http: {listen: "127.0.0.1:0"}
`, stateDir, dir, sinkPath)
	cfg, err := ParseConfig([]byte(cfgText), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	reg = prometheus.NewRegistry()
	addrCh := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- runAgent(ctx, cfg, logger, runHooks{Registry: reg, Extra: extra, Listening: func(a string) { addrCh <- a }})
	}()
	select {
	case addr = <-addrCh:
	case err := <-done:
		t.Fatalf("agent: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not listen")
	}
	stop = func() error {
		if extra == nil {
			cancel() // a test with a failing component waits for the failure alone
		}
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("agent did not stop")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return addr, sinkPath, stateDir, reg, stop
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"message":"line `) {
			n++
		}
	}
	return n
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAgentInProcess runs the real pipeline to the file sink and checks the
// endpoints, the metric exposition (promtool's rules), and the checkpoint
// written at shutdown.
func TestAgentInProcess(t *testing.T) {
	const lines = 500
	addr, sink, stateDir, reg, stop := inProcess(t, lines, nil)
	deadline := time.Now().Add(20 * time.Second)
	for countLines(sink) < lines {
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d of %d lines", countLines(sink), lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c := httpStatus(t, "http://"+addr+"/healthz"); c != 200 {
		t.Errorf("/healthz: %d", c)
	}
	if c := httpStatus(t, "http://"+addr+"/readyz"); c != 200 {
		t.Errorf("/readyz after the sink accepted a batch: %d", c)
	}
	// Counters say what happened: every line read was sent.
	if got := testutil.ToFloat64(mustFamily(t, reg, "ferry_tail_lines_read_total")); got != lines {
		t.Errorf("ferry_tail_lines_read_total = %v, want %d", got, lines)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// node_exporter's names are kept as they are so that existing
		// dashboards work: the kernel's field names
		// (node_memory_MemAvailable_bytes, node_netstat_TcpExt_ListenDrops)
		// and entropy counted in bits.
		kernelField := strings.HasPrefix(p.Metric, "node_memory_") || strings.HasPrefix(p.Metric, "node_netstat_")
		if kernelField && strings.Contains(p.Text, "camelCase") ||
			strings.HasPrefix(p.Metric, "node_entropy_") && strings.Contains(p.Text, `"bits"`) {
			continue
		}
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if countLines(sink) != lines {
		t.Errorf("sink holds %d lines after stop, want %d (no duplicates)", countLines(sink), lines)
	}
	ents, _ := os.ReadDir(stateDir)
	if len(ents) == 0 {
		t.Error("no checkpoint written at shutdown")
	}
}

// mustFamily sums a gathered family into a collector-like value for
// testutil.ToFloat64 by re-exposing it as a gauge.
func mustFamily(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		found = true
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if !found {
		t.Fatalf("metric %s not exposed", name)
	}
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sum"})
	gauge.Set(sum)
	return gauge
}

// TestAgentDeadComponent: a component whose Run fails stops the whole agent
// with an error instead of leaving it half alive.
func TestAgentDeadComponent(t *testing.T) {
	boom := errors.New("boom")
	_, _, _, _, stop := inProcess(t, 10, func(ctx context.Context) error {
		select {
		case <-time.After(200 * time.Millisecond):
			return boom
		case <-ctx.Done():
			return nil
		}
	})
	err := stop() // does not cancel: the failure alone must end runAgent
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("runAgent returned %v, want the failed component's error", err)
	}
}
