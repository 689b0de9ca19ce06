package ship

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// recAcker records the cursors it is given.
type recAcker struct {
	mu    sync.Mutex
	got   []event.Cursor
	calls int
	hook  func([]event.Cursor)
}

func (a *recAcker) Ack(c []event.Cursor) {
	if a.hook != nil {
		a.hook(c)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, c...)
	a.calls++
}

func (a *recAcker) cursors() []event.Cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// syncBuffer is an io.Writer safe for concurrent use, which can fail on
// demand.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   int // fail this many more writes
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if b.fail != 0 {
		if b.fail > 0 {
			b.fail--
		}
		return 0, errors.New("disk on fire")
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// makeLogs returns n log records of source src with increasing offsets.
func makeLogs(src uint64, from, n int, meta *event.Meta) []event.Log {
	ls := make([]event.Log, n)
	for i := range ls {
		o := from + i
		ls[i] = event.Log{Time: time.Unix(1700000000, int64(o)), ReadAt: time.Now().UnixNano(),
			Body: fmt.Appendf(nil, "line %d of %d", o, src), Path: fmt.Sprintf("/var/log/pods/f%d.log", src),
			Cursor: event.Cursor{Source: src, Offset: int64(o+1) * 100}, Meta: meta}
	}
	return ls
}

func cursorsOf(ls ...[]event.Log) []event.Cursor {
	var cs []event.Cursor
	for _, l := range ls {
		for i := range l {
			cs = append(cs, l[i].Cursor)
		}
	}
	return cs
}

func sortCursors(cs []event.Cursor) []event.Cursor {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b event.Cursor) int {
		if a.Source != b.Source {
			return int(a.Source) - int(b.Source)
		}
		return int(a.Offset - b.Offset)
	})
	return cs
}

func TestFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ndjson")
	logs := make(chan []event.Log)
	metrics := make(chan event.Snapshot)
	ack := &recAcker{}
	reg := prometheus.NewPedanticRegistry()
	s, err := New(Config{File: &FileConfig{Path: path, Linger: time.Millisecond}}, nil,
		Options{Logs: logs, Metrics: metrics, Acker: ack, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	a, b := makeLogs(1, 0, 50, testMeta), makeLogs(2, 0, 7, nil)
	logs <- a
	metrics <- event.Snapshot{Time: time.Unix(5, 0), Node: "node-1", Metrics: []event.Metric{{Name: "node_load1", Value: 1.5}}}
	logs <- b
	close(logs)
	close(metrics)
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(a, b)), sortCursors(ack.cursors())); diff != "" {
		t.Errorf("acked cursors (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var msgs []string
	var metricsSeen int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if m, ok := rec["message"].(string); ok {
			msgs = append(msgs, m)
		} else if rec["name"] == "node_load1" && rec["value"] == 1.5 && rec["node"] == "node-1" {
			metricsSeen++
		}
	}
	var want []string
	for _, l := range append(slices.Clone(a), b...) {
		want = append(want, string(l.Body))
	}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("messages in file (-want +got):\n%s", diff)
	}
	if metricsSeen != 1 {
		t.Errorf("metric records: got %d, want 1", metricsSeen)
	}
	if got := testutil.ToFloat64(s.m.sent.WithLabelValues("log")); got != 57 {
		t.Errorf("records sent: %v, want 57", got)
	}
	if got := testutil.ToFloat64(s.m.heldBytes); got != 0 {
		t.Errorf("held bytes after drain: %v", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var observed uint64
	for _, mf := range mfs {
		if mf.GetName() == "ferry_read_to_ack_seconds" {
			observed = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if observed != 57 {
		t.Errorf("ferry_read_to_ack_seconds observed %d records, want 57", observed)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}

func TestStdoutLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{}
		logs := make(chan []event.Log)
		ack := &recAcker{}
		s, err := New(Config{Stdout: &StdoutConfig{Linger: 200 * time.Millisecond}}, nil,
			Options{Logs: logs, Acker: ack, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		errc := make(chan error, 1)
		go func() { errc <- s.Run(t.Context()) }()
		start := time.Now()
		logs <- makeLogs(1, 0, 3, testMeta)
		time.Sleep(100 * time.Millisecond)
		logs <- makeLogs(1, 3, 2, testMeta)
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if out.String() != "" || len(ack.cursors()) != 0 {
			t.Fatalf("written or acked before linger: %q, %v", out.String(), ack.cursors())
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := bytes.Count([]byte(out.String()), []byte("\n")); got != 5 {
			t.Fatalf("after linger %v: %d lines, want 5", time.Since(start), got)
		}
		if got := len(ack.cursors()); got != 5 {
			t.Fatalf("acked %d, want 5", got)
		}
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

func TestStdoutRetryBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{fail: 4}
		logs := make(chan []event.Log)
		var ackedAt time.Time
		acked := make(chan struct{})
		ack := &recAcker{hook: func([]event.Cursor) { ackedAt = time.Now(); close(acked) }}
		s, err := New(Config{Stdout: &StdoutConfig{Linger: 10 * time.Millisecond}}, nil,
			Options{Logs: logs, Acker: ack, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		errc := make(chan error, 1)
		go func() { errc <- s.Run(t.Context()) }()
		start := time.Now()
		ls := makeLogs(7, 0, 10, nil)
		logs <- ls
		<-acked
		close(logs) // after the ack: a drain at shutdown caps the backoff (drainRetry)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		// 4 failures: waits in [50,100]+[100,200]+[200,400]+[400,800] ms after the linger.
		elapsed := ackedAt.Sub(start)
		if lo, hi := 760*time.Millisecond, 1510*time.Millisecond; elapsed < lo || elapsed > hi {
			t.Errorf("acked after %v, want within [%v, %v]", elapsed, lo, hi)
		}
		if out.writes != 5 {
			t.Errorf("writes: %d, want 5", out.writes)
		}
		if diff := cmp.Diff(cursorsOf(ls), ack.cursors()); diff != "" {
			t.Errorf("acks (-want +got):\n%s", diff)
		}
		if got := testutil.ToFloat64(s.m.retries); got != 4 {
			t.Errorf("retries: %v, want 4", got)
		}
	})
}

func TestHardStopAndBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{fail: -1} // the sink never accepts
		logs := make(chan []event.Log)
		metrics := make(chan event.Snapshot)
		ack := &recAcker{}
		s, err := New(Config{Stdout: &StdoutConfig{Linger: time.Millisecond}}, nil,
			Options{Logs: logs, Metrics: metrics, Acker: ack, Stdout: out})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()
		metrics <- event.Snapshot{Node: "n", Metrics: []event.Metric{{Name: "a"}, {Name: "b"}}}
		// Ship holds at most its budget (two requests for the debug sinks)
		// and one input slice; with the sink down, it must stop taking input.
		big := bytes.Repeat([]byte("x"), 100<<10)
		accepted := 0
		for range 200 {
			ls := makeLogs(1, accepted*10, 10, nil)
			for i := range ls {
				ls[i].Body = big
			}
			select {
			case logs <- ls:
				accepted++
				time.Sleep(5 * time.Millisecond)
				continue
			case <-time.After(time.Minute):
			}
			break
		}
		t.Logf("accepted %d slices with the sink down", accepted)
		if accepted > 4 { // 2 MiB for stdout, in 1000 KiB slices
			t.Errorf("ship accepted %d slices while its sink was down: not bounded", accepted)
		}
		if held := testutil.ToFloat64(s.m.heldBytes); held <= 0 || held > testutil.ToFloat64(s.m.heldLimit) {
			t.Errorf("held bytes %v, limit %v", held, testutil.ToFloat64(s.m.heldLimit))
		}
		cancel()
		err = <-errc
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after hard stop: %v, want context.Canceled", err)
		}
		if got := ack.cursors(); len(got) != 0 {
			t.Errorf("acked %d cursors the sink never confirmed", len(got))
		}
		if got := testutil.ToFloat64(s.m.dropped.WithLabelValues("metric", "shutdown")); got != 2 {
			t.Errorf("metrics dropped at shutdown: %v, want 2", got)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	kafkaWith := func(f func(k *KafkaConfig)) Config {
		c := DefaultConfig()
		c.Kafka.Brokers = []string{"127.0.0.1:9092"}
		f(c.Kafka)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"default needs brokers", DefaultConfig(), "kafka.brokers: must not be empty"},
		{"ok", kafkaWith(func(*KafkaConfig) {}), ""},
		{"none set", Config{}, "kafka, file, stdout: exactly one must be set, got 0"},
		{"two set", Config{Stdout: &StdoutConfig{}, File: &FileConfig{Path: "x"}}, "kafka, file, stdout: exactly one must be set, got 2"},
		{"file path", Config{File: &FileConfig{}}, "file.path: must not be empty"},
		{"template without fallback", kafkaWith(func(k *KafkaConfig) { k.Topic = "logs.{{ .Namespace }}" }),
			"kafka.fallback_topic: must be set when kafka.topic is a template"},
		{"bad template", kafkaWith(func(k *KafkaConfig) { k.Topic = "logs.{{ .Namespace "; k.FallbackTopic = "logs" }),
			`kafka.topic: template: topic:1: unclosed action`},
		{"unknown field in template", kafkaWith(func(k *KafkaConfig) { k.Topic = "logs.{{ .Namespaec }}"; k.FallbackTopic = "logs" }),
			`kafka.topic: template: topic:1:8: executing "topic" at <.Namespaec>: can't evaluate field Namespaec in type *event.Meta`},
		{"bad topic", kafkaWith(func(k *KafkaConfig) { k.Topic = "a b" }), `kafka.topic: "a b": character ' ' not allowed (only ASCII letters, digits, '.', '_', '-')`},
		{"many", kafkaWith(func(k *KafkaConfig) {
			k.Key, k.Compression, k.RequiredAcks, k.Batch.MaxBytes = "pod", "brotli", "none", 0
			k.SASL.Mechanism = "GSSAPI"
			k.TLS = TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}
		}), `kafka.key: "pod": must be pod_uid or none
kafka.compression: "brotli": must be none, gzip, snappy, lz4 or zstd
kafka.required_acks: "none": must be all or one (none would acknowledge records no broker confirmed)
kafka.batch.max_bytes: must be > 0
kafka.tls.ca_file: stat /nonexistent/ca.pem: no such file or directory
kafka.sasl.mechanism: "GSSAPI": must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{"bad encoding", kafkaWith(func(k *KafkaConfig) { k.Encoding = "otlp" }), `kafka.encoding: "otlp": must be json, otlp_proto or otlp_json`},
		{"empty encoding", kafkaWith(func(k *KafkaConfig) { k.Encoding = "" }), `kafka.encoding: "": must be json, otlp_proto or otlp_json`},
		{"otlp_proto", kafkaWith(func(k *KafkaConfig) { k.Encoding = "otlp_proto" }), ""},
		{"otlp_json", kafkaWith(func(k *KafkaConfig) { k.Encoding = "otlp_json" }), ""},
		{"sasl without password", kafkaWith(func(k *KafkaConfig) { k.SASL = SASLConfig{Mechanism: "PLAIN", Username: "u"} }),
			"kafka.sasl.password: must not be empty with mechanism PLAIN (is its environment variable set?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if err := tc.cfg.Validate(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFileSinkDevNull checks that the file sink works on a device that
// cannot be synced (fsync of /dev/null fails with EINVAL): every record is
// confirmed and acknowledged, none retried.
func TestFileSinkDevNull(t *testing.T) {
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Skip("no /dev/null")
	}
	logs := make(chan []event.Log)
	ack := &recAcker{}
	s, err := New(Config{File: &FileConfig{Path: "/dev/null", Linger: time.Millisecond}}, nil,
		Options{Logs: logs, Acker: ack})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	a := makeLogs(1, 0, 20, testMeta)
	logs <- a
	close(logs)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return: the sink keeps failing")
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(a)), sortCursors(ack.cursors())); diff != "" {
		t.Errorf("acked cursors (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(s.m.retries); got != 0 {
		t.Errorf("retries: %v, want 0", got)
	}
}

func TestDropLogLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{}
		s, err := New(Config{Stdout: &StdoutConfig{}}, slog.New(slog.NewTextHandler(out, nil)),
			Options{Logs: make(chan []event.Log), Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		for range 25 {
			s.logDrop("record dropped", "reason", "too_large")
		}
		if n := strings.Count(out.String(), "record dropped"); n != maxDropLines {
			t.Errorf("%d lines in the first second, want %d", n, maxDropLines)
		}
		time.Sleep(time.Second)
		s.logDrop("record dropped", "reason", "too_large")
		if !strings.Contains(out.String(), "suppressed_before=15") {
			t.Errorf("suppressed count not reported:\n%s", out.String())
		}
	})
}

// fullFile writes part of a Write to a real file and then fails with
// ENOSPC, once, as a file system that fills up mid-write does.
type fullFile struct {
	*os.File
	failed bool
}

func (f *fullFile) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: errors.New("no space left on device")}
	}
	return f.File.Write(p)
}

// TestFileSinkWholeLines: a write that fails part way is cut back, so the
// file holds whole lines only, and the retry writes them once.
func TestFileSinkWholeLines(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "out.ndjson"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ff := &fullFile{File: f}
	n := &ndjson{w: ff, sync: f.Sync, file: f}
	msgs := []message{{Value: []byte(`{"a":1}`)}, {Value: []byte(`{"b":2}`)}}
	if err := n.produce(context.Background(), dest{}, msgs); err == nil {
		t.Fatal("the failing write reported no error")
	}
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatalf("after the failed write the file holds %d bytes, want 0 (cut back)", fi.Size())
	}
	if err := n.produce(context.Background(), dest{}, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\"a\":1}\n{\"b\":2}\n"; string(got) != want {
		t.Fatalf("file = %q, want %q", got, want)
	}
}
