package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/tail"
)

// TestAgentProcessing runs the real pipeline with processing on: a Java
// trace becomes one record, a JSON line is parsed, an e-mail address is
// masked, and every line is acknowledged (the checkpoint reaches the end
// of the file at shutdown).
func TestAgentProcessing(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_cart-0_0b1e2c3d-0000-4000-8000-000000000001", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := []string{
		`2026-12-04 20:50:00 ERROR request failed`,
		`java.lang.IllegalStateException: outer problem`,
		"\tat Main.outer(Main.java:3)",
		`Caused by: java.lang.IllegalArgumentException: inner problem`,
		"\t... 9 more",
		`{"level":"warn","msg":"slow","user":"bob@example.com","took_ms":1500}`,
		`done`,
	}
	var sb strings.Builder
	for i, l := range body {
		fmt.Fprintf(&sb, "2026-12-04T20:50:00.%09dZ stdout F %s\n", i, l)
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
logs: {include: ["%s/pods/*/*/*.log"]}
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
processing:
  multiline: {rule: java, flush_timeout: 100ms}
  parser: {format: json, keep_original: false}
  redact: {builtins: [email]}
sink: {file: {path: %s}}
http: {listen: "127.0.0.1:0"}
`, stateDir, dir, sinkPath)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runAgent(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), runHooks{Registry: prometheus.NewRegistry()})
	}()
	type record struct {
		Message string         `json:"message"`
		Level   string         `json:"level"`
		Fields  map[string]any `json:"fields"`
		Lines   int            `json:"lines"`
	}
	var recs []record
	deadline := time.Now().Add(20 * time.Second)
	for len(recs) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d records, want 3", len(recs))
		}
		time.Sleep(50 * time.Millisecond)
		recs = recs[:0]
		f, err := os.Open(sinkPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("invalid record %s: %v", sc.Bytes(), err)
			}
			recs = append(recs, r)
		}
		f.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	want := []record{
		{Message: strings.Join(body[:5], "\n"), Lines: 5},
		{Message: "slow", Level: "warn", Fields: map[string]any{"level": "warn", "user": "[REDACTED]", "took_ms": 1500.0}},
		{Message: "done"},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	state, err := os.ReadFile(filepath.Join(stateDir, "tail.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(fmt.Sprintf(`"offset":\s*%d\b`, sb.Len())).Match(state) {
		t.Errorf("checkpoint does not reach the end of the file (%d): %s", sb.Len(), state)
	}
}

func TestProcessingConfigErrors(t *testing.T) {
	_, err := ParseConfig([]byte(`
sink: {file: {path: /dev/null}}
kubernetes: {enabled: false}
processing:
  multiline: {rule: cobol, max_line: 3}
`), env(nil))
	if err == nil || !strings.Contains(err.Error(), "processing.multiline.max_line: unknown key") {
		t.Errorf("unknown key: %v", err)
	}
	_, err = ParseConfig([]byte(`
sink: {file: {path: /dev/null}}
kubernetes: {enabled: false}
processing:
  multiline: {rule: cobol}
  filters: [{name: x, action: maybe}]
`), env(nil))
	for _, want := range []string{"processing.multiline.rule: unknown rule", "processing.filters[0].action: must be drop or keep",
		"processing.filters[0]: needs at least one condition"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	cfg, err := ParseConfig([]byte(`
sink: {file: {path: /dev/null}}
kubernetes: {enabled: false}
processing: {annotations: {multiline: true}}
`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.apply()
	want := []string{"app.kubernetes.io/*", "ferry.dev/multiline", "ferry.dev/multiline-*", tail.RateLimitAnnotation}
	if diff := cmp.Diff(want, cfg.Kubernetes.Annotations); diff != "" {
		t.Errorf("annotations enrichment exposes (-want +got):\n%s", diff)
	}
}

// readRecords returns the messages of the records in an NDJSON sink file.
func readMessages(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("invalid record %s: %v", sc.Bytes(), err)
		}
		out = append(out, r.Message)
	}
	return out
}

// TestAgentRestartMidGroup stops the agent hard while a group is held: its
// lines are not committed, and the next run reads the group again whole.
func TestAgentRestartMidGroup(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "pods", "shop_cart-0_0b1e2c3d-0000-4000-8000-000000000001", "app")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	trace := []string{
		`2026-12-04 20:50:00 ERROR request failed`,
		`java.lang.IllegalStateException: outer problem`,
		"\tat Main.outer(Main.java:3)",
		"\t... 9 more",
	}
	logFile := filepath.Join(logDir, "0.log")
	cri := func(l string) string { return fmt.Sprintf("2026-12-04T20:50:00.000000000Z stdout F %s\n", l) }
	write := func(lines ...string) {
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprint(f, cri(l))
		}
		f.Close()
	}
	write(append([]string{"a", "b"}, trace...)...)
	stateDir := filepath.Join(dir, "state")
	run := func(sink, flush string, stopWhen func() bool) error {
		cfg, err := ParseConfig([]byte(fmt.Sprintf(`
node_name: node-1
state_dir: %s
logs: {include: ["%s/pods/*/*/*.log"]}
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
processing: {multiline: {rule: java, flush_timeout: %s}}
sink: {file: {path: %s}}
http: {listen: "127.0.0.1:0"}
`, stateDir, dir, flush, sink)), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		stop := func(ctx context.Context) error { // fails once stopWhen holds: the hard stop
			deadline := time.Now().Add(20 * time.Second)
			for !stopWhen() {
				if time.Now().After(deadline) {
					t.Error("condition not reached")
					break
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(20 * time.Millisecond):
				}
			}
			return fmt.Errorf("stop here")
		}
		return runAgent(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)),
			runHooks{Registry: prometheus.NewRegistry(), Extra: stop})
	}

	// Run 1 stops once "a" and "b" are committed: the checkpoint reaches
	// the end of "b" (and can go no further: the trace is held).
	sink1 := filepath.Join(dir, "run1.ndjson")
	endB := regexp.MustCompile(fmt.Sprintf(`"offset":\s*%d\b`, len(cri("a"))+len(cri("b"))))
	err := run(sink1, "1h", func() bool {
		state, _ := os.ReadFile(filepath.Join(stateDir, "tail.json"))
		return endB.Match(state)
	})
	if err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Fatalf("run 1: %v", err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, readMessages(t, sink1)); diff != "" {
		t.Fatalf("run 1 records (-want +got):\n%s", diff)
	}

	write("after")
	sink2 := filepath.Join(dir, "run2.ndjson")
	err = run(sink2, "50ms", func() bool { return len(readMessages(t, sink2)) >= 2 })
	if err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Fatalf("run 2: %v", err)
	}
	if diff := cmp.Diff([]string{strings.Join(trace, "\n"), "after"}, readMessages(t, sink2)); diff != "" {
		t.Errorf("run 2 records (-want +got):\n%s", diff)
	}
}
