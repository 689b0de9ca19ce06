package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/hostmetrics"
	"github.com/ferry-dev/ferry/pkg/ship"
)

// collectorBin returns the Collector's binary, or skips the test outside
// CI.
func collectorBin(t *testing.T) string {
	return peerBin(t, "FERRY_OTELCOL_INTEROP", "FERRY_OTELCOL_INTEROP=$(hack/peers.sh otelcol-interop) go test ./test/interop/")
}

// peerBin returns the peer binary the environment variable env names. It
// skips the test when env is not set, but for FERRY_CI=1 (.ci/run), where
// a missing peer fails it; run says how to run the test with the peer.
func peerBin(t *testing.T, env, run string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		how := env + " is not set: run " + run
		if os.Getenv("FERRY_CI") == "1" {
			t.Fatal(how)
		}
		t.Skip(how)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return bin
}

// pods are the containers whose lines the test ships.
var pods = []*event.Meta{
	{Namespace: "shop", Pod: "checkout-7d9f8-x2v", PodUID: "7c1d2e3f-0000-4000-8000-000000000001", Container: "app",
		ContainerID: "containerd://aaaa1111", Image: "registry.local:5000/shop/checkout:1.2.3", Node: "node-1",
		Labels: map[string]string{"app": "checkout", "app.kubernetes.io/version": "1.2.3"},
		Owner:  event.Owner{Kind: "Deployment", Name: "checkout"}},
	{Namespace: "db", Pod: "pg-0", PodUID: "7c1d2e3f-0000-4000-8000-000000000002", Container: "postgres",
		ContainerID: "containerd://bbbb2222", Image: "postgres@sha256:0123", Node: "node-1",
		Annotations: map[string]string{"team": "data"}, NamespaceLabels: map[string]string{"env": "prod"},
		Owner: event.Owner{Kind: "StatefulSet", Name: "pg"}},
	{Namespace: "kube-system", Pod: "bare", PodUID: "7c1d2e3f-0000-4000-8000-000000000003", Container: "c", Node: "node-1"},
}

// wantResource is the resource the Collector must report for m, written
// out independently of ship's code.
func wantResource(m *event.Meta) map[string]any {
	switch m {
	case pods[0]:
		return map[string]any{
			"k8s.namespace.name": "shop", "k8s.pod.name": "checkout-7d9f8-x2v", "k8s.pod.uid": "7c1d2e3f-0000-4000-8000-000000000001",
			"k8s.container.name": "app", "k8s.node.name": "node-1", "container.id": "aaaa1111",
			"container.image.name": "registry.local:5000/shop/checkout", "container.image.tags": []any{"1.2.3"},
			"k8s.deployment.name": "checkout", "k8s.pod.label.app": "checkout", "k8s.pod.label.app.kubernetes.io/version": "1.2.3",
		}
	case pods[1]:
		return map[string]any{
			"k8s.namespace.name": "db", "k8s.pod.name": "pg-0", "k8s.pod.uid": "7c1d2e3f-0000-4000-8000-000000000002",
			"k8s.container.name": "postgres", "k8s.node.name": "node-1", "container.id": "bbbb2222",
			"container.image.name": "postgres", "k8s.statefulset.name": "pg",
			"k8s.pod.annotation.team": "data", "k8s.namespace.label.env": "prod",
		}
	case pods[2]:
		return map[string]any{
			"k8s.namespace.name": "kube-system", "k8s.pod.name": "bare", "k8s.pod.uid": "7c1d2e3f-0000-4000-8000-000000000003",
			"k8s.container.name": "c", "k8s.node.name": "node-1",
		}
	}
	return map[string]any{}
}

// logRecord is what the test compares of one log record.
type logRecord struct {
	Resource     map[string]any
	Attrs        map[string]any
	Body         string
	Time         int64
	Observed     int64
	Severity     int32
	SeverityText string
}

// testLogs returns the lines to ship and the records the Collector must
// write for them.
func testLogs() ([]event.Log, []logRecord) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)
	var logs []event.Log
	var want []logRecord
	add := func(l event.Log, body string, attrs map[string]any, sev int32) {
		n := len(logs)
		l.Time = t0.Add(time.Duration(n) * time.Millisecond)
		l.ReadAt = l.Time.UnixNano() + 1000
		l.Cursor = event.Cursor{Source: uint64(1 + n%4), Offset: int64(100 * (n + 1))}
		logs = append(logs, l)
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs["log.iostream"] = l.Stream.String()
		attrs["log.file.path"] = l.Path
		want = append(want, logRecord{Resource: wantResource(l.Meta), Attrs: attrs, Body: body,
			Time: l.Time.UnixNano(), Observed: l.ReadAt, Severity: sev, SeverityText: l.Level})
	}
	for i := range 40 {
		m := pods[i%len(pods)]
		path := fmt.Sprintf("/var/log/pods/%s_%s_%s/%s/0.log", m.Namespace, m.Pod, m.PodUID, m.Container)
		body := fmt.Sprintf("line %02d of %s: GET /cart?id=%d 200 \"quoted\" \\ tab\there é ✓", i, m.Pod, i)
		add(event.Log{Body: []byte(body), Path: path, Meta: m}, body, nil, 0)
	}
	p := "/var/log/pods/shop_checkout-7d9f8-x2v_x/app/0.log"
	add(event.Log{Body: []byte("stderr line \xff\xfe end"), Path: p, Meta: pods[0], Stream: event.Stderr}, "stderr line \uFFFD\uFFFD end", nil, 0)
	add(event.Log{Body: []byte(`{"level":"error","msg":"boom","code":503,"ok":false,"ctx":{"a":[1,"b"]}}`), Path: p, Meta: pods[0],
		Level: "error", Fields: []event.Field{{Key: "msg", Value: "boom"}, {Key: "code", Value: "503", Raw: true},
			{Key: "ok", Value: "false", Raw: true}, {Key: "ctx", Value: `{"a":[1,"b"]}`, Raw: true}}},
		`{"level":"error","msg":"boom","code":503,"ok":false,"ctx":{"a":[1,"b"]}}`,
		map[string]any{"msg": "boom", "code": int64(503), "ok": false, "ctx": map[string]any{"a": []any{1.0, "b"}}}, 17)
	add(event.Log{Body: []byte("warn: disk 91%"), Path: p, Meta: pods[0], Level: "warn"}, "warn: disk 91%", nil, 13)
	add(event.Log{Body: []byte("panic: x\n\tat main.go:1\n\tat main.go:2"), Path: p, Meta: pods[0], Lines: 3, Level: "fatal"},
		"panic: x\n\tat main.go:1\n\tat main.go:2", map[string]any{"ferry.lines": int64(3)}, 21)
	add(event.Log{Body: []byte(strings.Repeat("x", 5000)), Path: p, Meta: pods[0], Truncated: true},
		strings.Repeat("x", 5000), map[string]any{"ferry.truncated": true}, 0)
	add(event.Log{Body: []byte("a line ferry had no metadata for"), Path: "/var/log/pods/unknown/c/0.log"},
		"a line ferry had no metadata for", nil, 0)
	return logs, want
}

// metricPoint is what the test compares of one metric sample.
type metricPoint struct {
	Name, Unit, Type      string
	Monotonic, Cumulative bool
	Start, Time           int64
	Value                 float64
	Attrs, Resource       map[string]any
}

// unit is the unit the Collector must report for a node_exporter name.
func unit(name string) string {
	name = strings.TrimSuffix(name, "_total")
	for suffix, u := range map[string]string{"_seconds": "s", "_bytes": "By", "_celsius": "Cel", "_hertz": "Hz",
		"_joules": "J", "_watts": "W", "_volts": "V", "_amperes": "A", "_ratio": "1"} {
		if strings.HasSuffix(name, suffix) {
			return u
		}
	}
	return ""
}

func wantMetrics(snap event.Snapshot) []metricPoint {
	var boot int64
	for _, m := range snap.Metrics {
		if m.Name == "node_boot_time_seconds" {
			sec, frac := math.Modf(m.Value)
			boot = time.Unix(int64(sec), int64(frac*1e9)).UnixNano()
		}
	}
	node := map[string]any{"k8s.node.name": snap.Node, "host.name": snap.Node}
	var want []metricPoint
	for _, m := range snap.Metrics {
		p := metricPoint{Name: m.Name, Unit: unit(m.Name), Type: "Gauge", Time: snap.Time.UnixNano(), Value: m.Value,
			Attrs: map[string]any{}, Resource: node}
		for _, l := range m.Labels {
			p.Attrs[l.Name] = l.Value
		}
		if m.Type == event.Counter {
			p.Type, p.Monotonic, p.Cumulative, p.Start = "Sum", true, true, boot
		}
		want = append(want, p)
	}
	return want
}

func TestCollectorReadsFerry(t *testing.T) {
	bin := collectorBin(t)
	hm, err := hostmetrics.New(hostmetrics.DefaultConfig(), nil, hostmetrics.Options{Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	snap := hm.Snapshot()
	if !slices.ContainsFunc(snap.Metrics, func(m event.Metric) bool { return m.Name == "node_boot_time_seconds" }) ||
		!slices.ContainsFunc(snap.Metrics, func(m event.Metric) bool { return m.Type == event.Counter }) {
		t.Fatalf("the host snapshot lacks node_boot_time_seconds or a counter: %d metrics", len(snap.Metrics))
	}
	for _, enc := range []string{"otlp_proto", "otlp_json"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			logs, want := testLogs()
			addr := startBroker(t)
			shipRecords(t, addr, enc, logs, snap)
			dir := t.TempDir()
			logsOut, metricsOut := filepath.Join(dir, "logs.jsonl"), filepath.Join(dir, "metrics.jsonl")
			runCollector(t, bin, dir, addr, enc, logsOut, metricsOut)

			wantPoints := wantMetrics(snap)
			var gotLogs []logRecord
			var gotPoints []metricPoint
			deadline := time.Now().Add(2 * time.Minute)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				gotLogs, gotPoints = readLogs(t, logsOut), readMetrics(t, metricsOut)
				if len(gotLogs) >= len(want) && len(gotPoints) >= len(wantPoints) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 2m the Collector wrote %d of %d log records and %d of %d metric points",
						len(gotLogs), len(want), len(gotPoints), len(wantPoints))
				}
				<-tick.C
			}
			byBody := func(a, b logRecord) int { return strings.Compare(a.Body, b.Body) }
			slices.SortFunc(want, byBody)
			slices.SortFunc(gotLogs, byBody)
			if diff := cmp.Diff(want, gotLogs); diff != "" {
				t.Errorf("log records the Collector wrote (-want +got):\n%s", diff)
			}
			byKey := func(a, b metricPoint) int { return strings.Compare(pointKey(a), pointKey(b)) }
			slices.SortFunc(wantPoints, byKey)
			slices.SortFunc(gotPoints, byKey)
			// NaN samples are equal to NaN here.
			if diff := cmp.Diff(wantPoints, gotPoints, cmp.Comparer(func(a, b float64) bool {
				return a == b || math.IsNaN(a) && math.IsNaN(b)
			})); diff != "" {
				t.Errorf("metric points the Collector wrote (-want +got):\n%s", diff)
			}
			t.Logf("%s: the Collector wrote %d log records and %d metric points (%d names), all as shipped",
				enc, len(gotLogs), len(gotPoints), countNames(gotPoints))
		})
	}
}

func pointKey(p metricPoint) string {
	keys := make([]string, 0, len(p.Attrs))
	for k, v := range p.Attrs {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(keys)
	return p.Name + "{" + strings.Join(keys, ",") + "}"
}

func countNames(ps []metricPoint) int {
	names := map[string]bool{}
	for _, p := range ps {
		names[p.Name] = true
	}
	return len(names)
}

func startBroker(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("broker listens on %s, not 127.0.0.1", addr)
	}
	return addr
}

type acker struct{ n chan int }

func (a acker) Ack(cs []event.Cursor) { a.n <- len(cs) }

// shipRecords ships logs and snap with pkg/ship in encoding enc, and
// returns once the broker confirmed every record.
func shipRecords(t *testing.T, addr, enc string, logs []event.Log, snap event.Snapshot) {
	t.Helper()
	shipWith(t, addr, func(k *shipKafka) { k.Encoding = enc }, logs, snap)
}

type shipKafka = ship.KafkaConfig

// shipWith ships logs and snap with pkg/ship configured by adjust, and
// returns once the broker confirmed every record.
func shipWith(t *testing.T, addr string, adjust func(*shipKafka), logs []event.Log, snap event.Snapshot) {
	t.Helper()
	cfg := ship.DefaultConfig()
	cfg.Kafka.Brokers = []string{addr}
	cfg.Kafka.Batch.Linger = 5 * time.Millisecond
	adjust(cfg.Kafka)
	logCh, metricCh := make(chan []event.Log, 1), make(chan event.Snapshot, 1)
	ack := acker{n: make(chan int, len(logs))}
	s, err := ship.New(cfg, nil, ship.Options{Logs: logCh, Metrics: metricCh, Acker: ack})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logCh <- logs
	metricCh <- snap
	close(logCh)
	close(metricCh)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Run(ctx); err != nil { // returns once everything was confirmed
		t.Fatalf("ship: %v", err)
	}
	acked := 0
	for len(ack.n) > 0 {
		acked += <-ack.n
	}
	if acked != len(logs) {
		t.Fatalf("ship acknowledged %d of %d lines", acked, len(logs))
	}
}

// runCollector starts the Collector reading the broker's logs and metrics
// topics in encoding enc into two files; it is stopped at the end of the
// test.
func runCollector(t *testing.T, bin, dir, addr, enc, logsOut, metricsOut string) {
	t.Helper()
	cfg := fmt.Sprintf(`receivers:
  kafka:
    brokers: [%q]
    initial_offset: earliest
    group_id: ferry-interop
    logs: {topics: [logs], encoding: %s}
    metrics: {topics: [metrics], encoding: %s}
exporters:
  file/logs: {path: %q, flush_interval: 100ms}
  file/metrics: {path: %q, flush_interval: 100ms}
service:
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs: {receivers: [kafka], exporters: [file/logs]}
    metrics: {receivers: [kafka], exporters: [file/metrics]}
`, addr, enc, enc, logsOut, metricsOut)
	path := filepath.Join(dir, "otelcol.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "otelcol.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("the Collector's output:\n%s", b)
		}
	})
}

// lines returns the complete lines of the file at path (none if it does
// not exist yet).
func lines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if n := len(b); n > 0 && b[n-1] != '\n' && len(out) > 0 {
		out = out[:len(out)-1] // a line still being written
	}
	return out
}

func readLogs(t *testing.T, path string) []logRecord {
	t.Helper()
	var out []logRecord
	for _, line := range lines(t, path) {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
		if err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				if sl.Scope().Name() != "github.com/ferry-dev/ferry" {
					t.Errorf("scope %q", sl.Scope().Name())
				}
				for _, r := range sl.LogRecords().All() {
					out = append(out, logRecord{Resource: rl.Resource().Attributes().AsRaw(), Attrs: r.Attributes().AsRaw(),
						Body: r.Body().Str(), Time: int64(r.Timestamp()), Observed: int64(r.ObservedTimestamp()),
						Severity: int32(r.SeverityNumber()), SeverityText: r.SeverityText()})
				}
			}
		}
	}
	return out
}

func readMetrics(t *testing.T, path string) []metricPoint {
	t.Helper()
	var out []metricPoint
	for _, line := range lines(t, path) {
		md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
		if err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					p := metricPoint{Name: m.Name(), Unit: m.Unit(), Type: m.Type().String(), Resource: rm.Resource().Attributes().AsRaw()}
					var dps pmetric.NumberDataPointSlice
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						dps = m.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = m.Sum().DataPoints()
						p.Monotonic = m.Sum().IsMonotonic()
						p.Cumulative = m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
					default:
						t.Fatalf("metric %s of type %s", m.Name(), m.Type())
					}
					for _, dp := range dps.All() {
						q := p
						q.Start, q.Time, q.Value, q.Attrs = int64(dp.StartTimestamp()), int64(dp.Timestamp()), dp.DoubleValue(), dp.Attributes().AsRaw()
						out = append(out, q)
					}
				}
			}
		}
	}
	return out
}
