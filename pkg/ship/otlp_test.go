package ship

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/ferry-dev/ferry/pkg/event"
)

// otlpMetas are metadata of every shape the resource has.
var otlpMetas = []*event.Meta{
	nil,
	testMeta,
	{Namespace: "ns", Pod: "p", PodUID: "u", Container: "c", Node: "n", Image: "nginx@sha256:abc",
		Annotations: map[string]string{"team": "a"}, NamespaceLabels: map[string]string{"env": "prod"},
		Owner: event.Owner{Kind: "StatefulSet", Name: "db"}},
	{Pod: "bare", Image: "localhost:5000/app", Owner: event.Owner{Kind: "Custom", Name: "x"}},
}

// otlpLogs are records of every shape a log record has.
func otlpLogs(meta *event.Meta) []event.Log {
	ts := time.Date(2026, 11, 26, 3, 55, 9, 123456789, time.UTC)
	return []event.Log{
		{Time: ts, ReadAt: ts.UnixNano() + 5, Body: []byte("GET /cart 200"), Path: "/var/log/pods/a/app/0.log", Meta: meta},
		{Time: ts, Body: []byte("x\t\x01\xff\xfe é"), Path: "p", Stream: event.Stderr, Truncated: true, Level: "warn", Lines: 3, Meta: meta},
		{Time: ts, Body: []byte(""), Path: "p", Meta: meta, Level: "error", Fields: []event.Field{
			{Key: "msg", Value: "hi"}, {Key: "n", Value: "42", Raw: true}, {Key: "big", Value: "1e400", Raw: true},
			{Key: "x", Value: "-1.5", Raw: true}, {Key: "ok", Value: "true", Raw: true}, {Key: "nil", Value: "null", Raw: true},
			{Key: "obj", Value: `{"a":[1,"b",false]}`, Raw: true}, {Key: "log.iostream", Value: "mine"},
		}},
		{Time: ts, Body: bytes.Repeat([]byte("0123456789abcdef"), 1024), Path: "p", Meta: meta},
	}
}

// TestOTLPSpliceMatchesPdata checks that a record encoded with its cached
// resource spliced in is byte for byte what pdata writes for the whole
// request, for every resource and record shape, in both encodings (the
// hand-written log encodings left out: TestOTLPProtoMatchesPdata checks
// those).
func TestOTLPSpliceMatchesPdata(t *testing.T) {
	for _, enc := range []string{encodingOTLPProto, encodingOTLPJSON} {
		e := newOTLPEncoder(enc)
		e.slow = true
		for mi, m := range otlpMetas {
			for li, l := range otlpLogs(m) {
				got := e.appendLog(nil, &l)
				// The same request, marshalled whole.
				full := newOTLPEncoder(enc)
				full.whole = true
				want := full.appendLog(nil, &l)
				if !bytes.Equal(got, want) {
					t.Errorf("%s meta %d log %d: spliced\n%q\nwhole\n%q", enc, mi, li, got, want)
				}
			}
		}
		snap := event.Snapshot{Time: time.Unix(100, 5), Node: "node-1", Metrics: []event.Metric{
			{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}}, Value: 1.5, Type: event.Counter},
			{Name: "node_load1", Value: math.NaN()},
		}}
		e.snapshot(&snap)
		for i := range snap.Metrics {
			got := e.appendMetric(nil, &snap.Metrics[i], snap.Time)
			full := newOTLPEncoder(enc)
			full.snapshot(&snap)
			full.whole = true
			want := full.appendMetric(nil, &snap.Metrics[i], snap.Time)
			if !bytes.Equal(got, want) {
				t.Errorf("%s metric %d: spliced\n%q\nwhole\n%q", enc, i, got, want)
			}
		}
	}
}

func TestMetricUnit(t *testing.T) {
	for name, want := range map[string]string{
		"node_cpu_seconds_total": "s", "node_memory_MemTotal_bytes": "By", "node_hwmon_temp_celsius": "Cel",
		"node_load1": "", "node_network_receive_packets_total": "", "node_filesystem_avail_bytes": "By", "x": "",
	} {
		if got := metricUnit(name); got != want {
			t.Errorf("metricUnit(%q) = %q, want %q", name, got, want)
		}
	}
}

func unmarshalLogs(t *testing.T, enc string, b []byte) plog.Logs {
	t.Helper()
	var u plog.Unmarshaler = &plog.ProtoUnmarshaler{}
	if enc == encodingOTLPJSON {
		u = &plog.JSONUnmarshaler{}
	}
	ld, err := u.UnmarshalLogs(b)
	if err != nil {
		t.Fatalf("%s: unmarshal %q: %v", enc, b, err)
	}
	return ld
}

func unmarshalMetrics(t *testing.T, enc string, b []byte) pmetric.Metrics {
	t.Helper()
	var u pmetric.Unmarshaler = &pmetric.ProtoUnmarshaler{}
	if enc == encodingOTLPJSON {
		u = &pmetric.JSONUnmarshaler{}
	}
	md, err := u.UnmarshalMetrics(b)
	if err != nil {
		t.Fatalf("%s: unmarshal %q: %v", enc, b, err)
	}
	return md
}

// otlpLog is what a test reads back of one OTLP log record.
type otlpLog struct {
	Resource, Attrs map[string]any
	Scope           string
	Body            string
	Time, Observed  int64
	Severity        int32
	SeverityText    string
	Records, Scopes int
	ResourcesPerReq int
}

func readLog(t *testing.T, enc string, b []byte) otlpLog {
	t.Helper()
	ld := unmarshalLogs(t, enc, b)
	rl := ld.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	r := sl.LogRecords().At(0)
	return otlpLog{
		Resource: rl.Resource().Attributes().AsRaw(), Attrs: r.Attributes().AsRaw(), Scope: sl.Scope().Name(),
		Body: r.Body().Str(), Time: int64(r.Timestamp()), Observed: int64(r.ObservedTimestamp()),
		Severity: int32(r.SeverityNumber()), SeverityText: r.SeverityText(),
		Records: sl.LogRecords().Len(), Scopes: rl.ScopeLogs().Len(), ResourcesPerReq: ld.ResourceLogs().Len(),
	}
}

// TestKafkaOTLP ships log records and a host metrics snapshot in each OTLP
// encoding through the in-process broker, reads them back with franz-go,
// decodes them with pdata's unmarshalers (as the Collector's Kafka
// receiver does) and checks every field, the keys and the partitions.
func TestKafkaOTLP(t *testing.T) {
	ts := time.Date(2026, 11, 26, 3, 55, 9, 123456789, time.UTC)
	logs := []event.Log{
		{Time: ts, ReadAt: ts.UnixNano() + 7, Body: []byte("GET /cart 200"), Path: "/var/log/pods/shop_checkout/app/0.log",
			Cursor: event.Cursor{Source: 1, Offset: 14}, Meta: testMeta},
		{Time: ts.Add(time.Second), ReadAt: ts.UnixNano() + 8, Body: []byte("boom \xff"), Path: "/var/log/pods/shop_checkout/app/0.log",
			Cursor: event.Cursor{Source: 1, Offset: 30}, Meta: testMeta, Stream: event.Stderr, Level: "error",
			Fields: []event.Field{{Key: "status", Value: "500", Raw: true}, {Key: "user", Value: "ann"}}},
		{Time: ts, ReadAt: 9, Body: []byte("no metadata"), Path: "/var/log/pods/x/y/0.log", Cursor: event.Cursor{Source: 2, Offset: 12}, Truncated: true},
	}
	wantResource := map[string]any{
		"k8s.namespace.name": "shop", "k8s.pod.name": "checkout-7d9f8", "k8s.pod.uid": "0b6d5c1e-uid",
		"k8s.container.name": "app", "k8s.node.name": "node-1", "container.id": "abc",
		"container.image.name": "registry/checkout", "container.image.tags": []any{"1.2"},
		"k8s.deployment.name": "checkout",
		"k8s.pod.label.app":   "checkout", "k8s.pod.label.tier": "web", "k8s.pod.label.a\"b": "c\nd",
	}
	want := []otlpLog{
		{Resource: wantResource, Attrs: map[string]any{"log.iostream": "stdout", "log.file.path": "/var/log/pods/shop_checkout/app/0.log"},
			Body: "GET /cart 200", Time: ts.UnixNano(), Observed: ts.UnixNano() + 7},
		{Resource: wantResource, Attrs: map[string]any{"log.iostream": "stderr", "log.file.path": "/var/log/pods/shop_checkout/app/0.log",
			"status": int64(500), "user": "ann"},
			Body: "boom \uFFFD", Time: ts.Add(time.Second).UnixNano(), Observed: ts.UnixNano() + 8, Severity: 17, SeverityText: "error"},
		{Resource: map[string]any{}, Attrs: map[string]any{"log.iostream": "stdout", "log.file.path": "/var/log/pods/x/y/0.log", "ferry.truncated": true},
			Body: "no metadata", Time: ts.UnixNano(), Observed: 9},
	}
	for i := range want {
		want[i].Scope, want[i].Records, want[i].Scopes, want[i].ResourcesPerReq = otlpScope, 1, 1, 1
	}
	boot := time.Date(2026, 11, 20, 0, 0, 0, 500_000_000, time.UTC)
	snap := event.Snapshot{Time: ts, Node: "node-1", Metrics: []event.Metric{
		{Name: "node_boot_time_seconds", Value: float64(boot.UnixMilli()) / 1e3},
		{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}}, Value: 1234.5, Type: event.Counter},
		{Name: "node_memory_MemAvailable_bytes", Value: 1 << 30},
	}}

	for _, enc := range []string{encodingOTLPProto, encodingOTLPJSON} {
		t.Run(enc, func(t *testing.T) {
			_, addr := startCluster(t)
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Encoding = enc
			ack := &recAcker{}
			h := runShipper(t, cfg, ack)
			h.logs <- append([]event.Log(nil), logs...)
			h.metrics <- snap
			h.finish(t)
			recs := consume(t, addr, len(logs)+len(snap.Metrics), []string{"logs", "metrics"})

			// Keys and partitions are the json encoding's: the pod UID,
			// the node name, murmur2 over the key.
			var gotLogs []otlpLog
			var metricRecs []*kgo.Record
			for _, r := range recs {
				if r.Topic == "metrics" {
					metricRecs = append(metricRecs, r)
					continue
				}
				l := readLog(t, enc, r.Value)
				gotLogs = append(gotLogs, l)
				if uid, _ := l.Resource["k8s.pod.uid"].(string); string(r.Key) != uid {
					t.Errorf("log record key %q, want the pod UID %q", r.Key, uid)
				}
				if len(r.Key) > 0 && int(r.Partition) != partOf3(r.Key) {
					t.Errorf("log record of key %q in partition %d, want %d", r.Key, r.Partition, partOf3(r.Key))
				}
			}
			// One partition per key (or file): the order within each is kept.
			if diff := cmp.Diff(sortLogs(want), sortLogs(gotLogs)); diff != "" {
				t.Errorf("log records (-want +got):\n%s", diff)
			}
			if len(ack.cursors()) != len(logs) {
				t.Errorf("acknowledged %d cursors, want %d", len(ack.cursors()), len(logs))
			}

			type point struct {
				Name, Unit, Type      string
				Monotonic, Cumulative bool
				Start, Time           int64
				Value                 float64
				Attrs, Resource       map[string]any
				Scope                 string
			}
			var got []point
			for _, r := range metricRecs {
				if string(r.Key) != "node-1" {
					t.Errorf("metric record key %q, want node-1", r.Key)
				}
				md := unmarshalMetrics(t, enc, r.Value)
				if md.ResourceMetrics().Len() != 1 || md.MetricCount() != 1 || md.DataPointCount() != 1 {
					t.Fatalf("a metric record holds %d resources, %d metrics, %d points; want one of each",
						md.ResourceMetrics().Len(), md.MetricCount(), md.DataPointCount())
				}
				rm := md.ResourceMetrics().At(0)
				sm := rm.ScopeMetrics().At(0)
				m := sm.Metrics().At(0)
				p := point{Name: m.Name(), Unit: m.Unit(), Type: m.Type().String(), Resource: rm.Resource().Attributes().AsRaw(), Scope: sm.Scope().Name()}
				var dp pmetric.NumberDataPoint
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dp = m.Gauge().DataPoints().At(0)
				case pmetric.MetricTypeSum:
					dp = m.Sum().DataPoints().At(0)
					p.Monotonic = m.Sum().IsMonotonic()
					p.Cumulative = m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
				}
				p.Start, p.Time, p.Value, p.Attrs = int64(dp.StartTimestamp()), int64(dp.Timestamp()), dp.DoubleValue(), dp.Attributes().AsRaw()
				if dp.ValueType() != pmetric.NumberDataPointValueTypeDouble {
					t.Errorf("%s: value type %s, want Double", p.Name, dp.ValueType())
				}
				got = append(got, p)
			}
			node := map[string]any{"k8s.node.name": "node-1", "host.name": "node-1"}
			wantPoints := []point{
				{Name: "node_boot_time_seconds", Unit: "s", Type: "Gauge", Time: ts.UnixNano(), Value: float64(boot.UnixMilli()) / 1e3, Attrs: map[string]any{}},
				{Name: "node_cpu_seconds_total", Unit: "s", Type: "Sum", Monotonic: true, Cumulative: true, Start: boot.UnixNano(), Time: ts.UnixNano(),
					Value: 1234.5, Attrs: map[string]any{"cpu": "0", "mode": "idle"}},
				{Name: "node_memory_MemAvailable_bytes", Unit: "By", Type: "Gauge", Time: ts.UnixNano(), Value: 1 << 30, Attrs: map[string]any{}},
			}
			for i := range wantPoints {
				wantPoints[i].Resource, wantPoints[i].Scope = node, otlpScope
			}
			if diff := cmp.Diff(wantPoints, got); diff != "" {
				t.Errorf("metric records (-want +got):\n%s", diff)
			}
		})
	}
}

// partOf3 is the partition murmur2 gives key over three partitions (the
// Java client's and kafka-go's Murmur2Balancer).
func partOf3(key []byte) int {
	return kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: key}, 0, 1, 2)
}

func sortLogs(ls []otlpLog) []otlpLog {
	out := append([]otlpLog(nil), ls...)
	slices.SortStableFunc(out, func(a, b otlpLog) int { return strings.Compare(a.Body, b.Body) })
	return out
}

// TestOTLPFieldAttributes checks how each kind of parsed field becomes a
// log attribute.
func TestOTLPFieldAttributes(t *testing.T) {
	e := newOTLPEncoder(encodingOTLPProto)
	l := otlpLogs(testMeta)[2]
	got := readLog(t, encodingOTLPProto, e.appendLog(nil, &l)).Attrs
	want := map[string]any{
		"log.iostream": "stdout", "log.file.path": "p", // a field cannot replace ferry's own
		"msg": "hi", "n": int64(42), "big": "1e400", "x": -1.5, "ok": true, "nil": nil,
		"obj": map[string]any{"a": []any{1.0, "b", false}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	// The encoder keeps no reference to the record's memory (the body and
	// fields belong to a batch that is recycled once encoded).
	if b := e.rec.Body().Str(); b != "" {
		t.Errorf("the encoder still holds the body %q", b)
	}
	if p, _ := e.rec.Attributes().Get(attrFilePath); e.rec.Attributes().Len() != 2 || p.Str() != "" {
		t.Errorf("the encoder still holds attributes %v", e.rec.Attributes().AsRaw())
	}
	// The encoder keeps nothing of a record: the next one has only its own.
	l2 := otlpLogs(testMeta)[0]
	if got := readLog(t, encodingOTLPProto, e.appendLog(nil, &l2)).Attrs; len(got) != 2 {
		t.Errorf("next record's attributes %v, want log.iostream and log.file.path only", got)
	}
}

func TestOTLPImageAndOwner(t *testing.T) {
	for _, tc := range []struct{ image, name, tag string }{
		{"nginx", "nginx", ""}, {"nginx:1.27", "nginx", "1.27"}, {"localhost:5000/app", "localhost:5000/app", ""},
		{"localhost:5000/app:v2", "localhost:5000/app", "v2"}, {"nginx@sha256:abc", "nginx", ""},
	} {
		if n, tag := splitImage(tc.image); n != tc.name || tag != tc.tag {
			t.Errorf("splitImage(%q) = %q, %q; want %q, %q", tc.image, n, tag, tc.name, tc.tag)
		}
	}
	if got := containerID("containerd://abc"); got != "abc" {
		t.Errorf("containerID = %q", got)
	}
	attrs := pcommon.NewMap()
	putResource(attrs, otlpMetas[2])
	want := map[string]any{"k8s.namespace.name": "ns", "k8s.pod.name": "p", "k8s.pod.uid": "u", "k8s.container.name": "c",
		"k8s.node.name": "n", "container.image.name": "nginx", "k8s.statefulset.name": "db",
		"k8s.pod.annotation.team": "a", "k8s.namespace.label.env": "prod"}
	if diff := cmp.Diff(want, attrs.AsRaw()); diff != "" {
		t.Errorf("resource (-want +got):\n%s", diff)
	}
}

// TestKafkaJSONDefault checks that the default encoding is json and that
// its records are the json encoder's bytes (TestEncodeLogExact pins them).
func TestKafkaJSONDefault(t *testing.T) {
	if got := DefaultKafkaConfig().Encoding; got != "json" {
		t.Fatalf("default encoding %q, want json", got)
	}
	_, addr := startCluster(t)
	h := runShipper(t, testKafkaConfig(addr), nil)
	ls := otlpLogs(testMeta)
	h.logs <- append([]event.Log(nil), ls...)
	h.finish(t)
	recs := consume(t, addr, len(ls), []string{"logs"})
	want := map[string]bool{}
	for i := range ls {
		want[string(newEncoder().appendLog(nil, &ls[i]))] = true
	}
	for _, r := range recs {
		if !want[string(r.Value)] {
			t.Errorf("record %q is not the json encoder's", r.Value)
		}
	}
}
