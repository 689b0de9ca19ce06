package ship

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

func startCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics")}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

func testKafkaConfig(addr string) Config {
	c := DefaultConfig()
	k := c.Kafka
	k.Brokers = []string{addr}
	k.Batch.Linger = 5 * time.Millisecond
	k.Retry = RetryConfig{BackoffMin: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	k.DialTimeout, k.WriteTimeout = 2*time.Second, 3*time.Second
	return c
}

// shipper runs a Shipper on cfg; feed closes logs (and metrics) after
// sending, and wait returns Run's error.
type harness struct {
	s       *Shipper
	logs    chan []event.Log
	metrics chan event.Snapshot
	ack     *recAcker
	reg     *prometheus.Registry
	errc    chan error
	cancel  context.CancelFunc
	logBuf  *syncBuffer
}

func runShipper(t testing.TB, cfg Config, ack *recAcker, setup ...func(*Options)) *harness {
	t.Helper()
	return startShipper(t, cfg, ack, setup, nil)
}

// runShipperWith is runShipper with a hook that adjusts the Shipper
// before it runs.
func runShipperWith(t testing.TB, cfg Config, ack *recAcker, adjust func(*Shipper)) *harness {
	t.Helper()
	return startShipper(t, cfg, ack, nil, adjust)
}

func startShipper(t testing.TB, cfg Config, ack *recAcker, setup []func(*Options), adjust func(*Shipper)) *harness {
	t.Helper()
	if ack == nil {
		ack = &recAcker{}
	}
	h := &harness{logs: make(chan []event.Log), metrics: make(chan event.Snapshot), ack: ack,
		reg: prometheus.NewPedanticRegistry(), errc: make(chan error, 1), logBuf: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := Options{Logs: h.logs, Metrics: h.metrics, Acker: ack, Registerer: h.reg}
	for _, f := range setup {
		f(&opts)
	}
	s, err := New(cfg, logger, opts)
	if err != nil {
		t.Fatal(err)
	}
	if adjust != nil {
		adjust(s)
	}
	h.s = s
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(cancel)
	go func() { h.errc <- s.Run(ctx) }()
	return h
}

func (h *harness) finish(t testing.TB) {
	t.Helper()
	close(h.logs)
	close(h.metrics)
	select {
	case err := <-h.errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after its inputs were closed")
	}
}

// consume reads at least n records of topics from the start with franz-go.
func consume(t testing.TB, addr string, n int, topics []string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(recs) >= n }, topics, opts...)
}

func metaFor(i int) *event.Meta {
	return &event.Meta{Namespace: "shop", Pod: fmt.Sprintf("pod-%d", i), PodUID: fmt.Sprintf("uid-%d", i),
		Container: "app", Node: "node-1", Labels: map[string]string{"app": "x"}}
}

// checkPerKeyOrder asserts that the records of each key sit in one
// partition and carry increasing offsets of their file.
func checkPerKeyOrder(t *testing.T, recs []*kgo.Record) {
	t.Helper()
	part := map[string]int32{}
	last := map[string]int64{}
	for _, r := range recs {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		k := string(r.Key)
		if p, ok := part[k]; ok && p != r.Partition {
			t.Errorf("key %q in partitions %d and %d", k, p, r.Partition)
		}
		part[k] = r.Partition
		if rec.Offset <= last[k] {
			t.Errorf("key %q: offset %d after %d: order broken", k, rec.Offset, last[k])
		}
		last[k] = rec.Offset
		if rec.Kubernetes.PodUID != k {
			t.Errorf("key %q but pod_uid %q", k, rec.Kubernetes.PodUID)
		}
	}
}

func TestKafkaCodecs(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			_, addr := startCluster(t)
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = codec
			cfg.Kafka.Batch.MaxBytes = 16 << 10 // several batches
			h := runShipper(t, cfg, nil)
			var sent [][]event.Log
			for i := range 20 {
				ls := makeLogs(uint64(i%4), i*10, 10, metaFor(i%4))
				sent = append(sent, ls)
				h.logs <- ls
			}
			h.metrics <- event.Snapshot{Time: time.Unix(9, 0), Node: "node-1", Metrics: []event.Metric{
				{Name: "node_load1", Value: 0.5}, {Name: "node_cpu_seconds_total", Type: event.Counter, Value: 3,
					Labels: []event.Label{{Name: "cpu", Value: "0"}}}}}
			h.finish(t)

			recs := consume(t, addr, 200, []string{"logs"})
			got := map[string][]string{}
			for _, r := range recs {
				var rec logRecord
				if err := json.Unmarshal(r.Value, &rec); err != nil {
					t.Fatal(err)
				}
				got[string(r.Key)] = append(got[string(r.Key)], rec.Message)
			}
			want := map[string][]string{}
			for _, ls := range sent {
				for _, l := range ls {
					want[l.Meta.PodUID] = append(want[l.Meta.PodUID], string(l.Body))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("consumed per key (-want +got):\n%s", diff)
			}
			checkPerKeyOrder(t, recs)
			parts := map[int32]bool{}
			for _, r := range recs {
				parts[r.Partition] = true
			}
			if len(parts) < 2 {
				t.Errorf("4 keys over 3 partitions landed in %d partition(s)", len(parts))
			}
			// The partition a Java producer (murmur2) would choose.
			javaLike := kgo.StickyKeyPartitioner(nil).ForTopic("logs")
			for _, r := range recs {
				if want := int32(javaLike.Partition(&kgo.Record{Key: r.Key}, 3)); want != r.Partition {
					t.Errorf("key %q in partition %d, a murmur2 producer would use %d", r.Key, r.Partition, want)
				}
			}
			mrecs := consume(t, addr, 2, []string{"metrics"})
			for _, r := range mrecs {
				if string(r.Key) != "node-1" || !strings.Contains(string(r.Value), `"node":"node-1"`) {
					t.Errorf("metric record key %q value %s", r.Key, r.Value)
				}
			}
			if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
				t.Errorf("acks (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(h.s.m.sent.WithLabelValues("log")); got != 200 {
				t.Errorf("records_sent{log} = %v", got)
			}
		})
	}
}

// TestKafkaKeyNone: records without a key go to one partition per file
// (here one batch per file; one produce request each), and files spread
// over the partitions.
func TestKafkaKeyNone(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Key = "none"
	h := runShipper(t, cfg, nil)
	const batches = 20
	for i := range batches {
		h.logs <- makeLogs(uint64(i), 0, 30, metaFor(i))
		// Wait until the batch was sent, so that each goes alone.
		for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(h.s.m.batches) < float64(i+1); {
			if time.Now().After(deadline) {
				t.Fatalf("batch %d not sent after 10s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	h.finish(t)
	recs := consume(t, addr, 30*batches, []string{"logs"})
	perFile := map[string]map[int32]bool{} // each batch is one file's lines
	used := map[int32]bool{}
	for _, r := range recs {
		if r.Key != nil {
			t.Fatalf("key %q with key: none", r.Key)
		}
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if perFile[rec.File] == nil {
			perFile[rec.File] = map[int32]bool{}
		}
		perFile[rec.File][r.Partition] = true
		used[r.Partition] = true
	}
	for f, ps := range perFile {
		if len(ps) != 1 {
			t.Errorf("the unkeyed records of one batch (%s) went to partitions %v", f, ps)
		}
	}
	if len(used) < 2 {
		t.Errorf("%d batches all went to partitions %v: not random", batches, used)
	}
	if got := testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("ok")); got != batches {
		t.Errorf("%v produce requests for %d batches of unkeyed records, want one each", got, batches)
	}
}

func TestKafkaTopicTemplate(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(1, "logs.a", "logs.b", "logs-fallback"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = `{{ with index .Labels "team" }}logs.{{ . }}{{ end }}`
	cfg.Kafka.FallbackTopic = "logs-fallback"
	h := runShipper(t, cfg, nil)
	team := func(v string) *event.Meta {
		m := metaFor(0)
		m.Labels = map[string]string{"team": v}
		return m
	}
	h.logs <- makeLogs(1, 0, 3, team("a"))
	h.logs <- makeLogs(2, 0, 4, team("b"))
	h.logs <- makeLogs(3, 0, 5, team("bad team")) // invalid name
	h.logs <- makeLogs(4, 0, 6, metaFor(4))       // no label: empty name
	h.logs <- makeLogs(5, 0, 7, nil)              // no metadata at all
	h.finish(t)
	recs := consume(t, addr, 25, []string{"logs.a", "logs.b", "logs-fallback"})
	got := map[string]int{}
	for _, r := range recs {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprintf("%s <- %s", r.Topic, rec.File)]++
	}
	want := map[string]int{
		"logs.a <- /var/log/pods/f1.log":        3,
		"logs.b <- /var/log/pods/f2.log":        4,
		"logs-fallback <- /var/log/pods/f3.log": 5,
		"logs-fallback <- /var/log/pods/f4.log": 6,
		"logs-fallback <- /var/log/pods/f5.log": 7,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records per topic and file (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(h.s.m.fallback); got != 18 {
		t.Errorf("fallback counter %v, want 18", got)
	}
}

func TestKafkaOversize(t *testing.T) {
	_, addr := startCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "100000"}))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.MaxMessageBytes = 300000
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 40, metaFor(1))
	ls[10].Body = []byte(strings.Repeat("x", 150000)) // the broker refuses it
	ls[30].Body = []byte(strings.Repeat("y", 400000)) // ship refuses it
	h.logs <- ls[:20]
	h.logs <- ls[20:]
	h.finish(t)
	recs := consume(t, addr, 38, []string{"logs"})
	var offsets []int64
	for _, r := range recs {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, rec.Offset)
	}
	var want []int64
	for i, l := range ls {
		if i != 10 && i != 30 {
			want = append(want, l.Cursor.Offset)
		}
	}
	if diff := cmp.Diff(want, offsets); diff != "" {
		t.Errorf("delivered offsets, in order (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); got != 2 {
		t.Errorf("dropped{too_large} = %v, want 2", got)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(ls)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("every record, dropped ones included, must be acked (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(h.s.m.heldBytes); got != 0 {
		t.Errorf("held bytes after drain: %v", got)
	}
	if !strings.Contains(h.logBuf.String(), "record dropped") {
		t.Errorf("no log line for the drops:\n%s", h.logBuf.String())
	}
}

// TestKafkaOversizeFields: a record that its parsed fields (processing,
// with keep_original the message a second time) make larger than
// max_message_bytes is sent without them, as it would be without a parser,
// and counted; one too large without them is still dropped.
func TestKafkaOversizeFields(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.MaxMessageBytes = 300000
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 3, metaFor(1))
	big := strings.Repeat("v", 200000)
	ls[0].Body, ls[0].Fields = []byte(`{"v":"`+big+`"}`), []event.Field{{Key: "v", Value: big}}
	ls[1].Body, ls[1].Fields = []byte("small"), []event.Field{{Key: "k", Value: "v"}}
	ls[2].Body, ls[2].Fields = []byte(strings.Repeat("y", 400000)), []event.Field{{Key: "k", Value: "v"}}
	h.logs <- ls
	h.finish(t)
	recs := consume(t, addr, 2, []string{"logs"})
	var got []string
	for _, r := range recs {
		var rec struct {
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d bytes, %d fields", len(rec.Message), len(rec.Fields)))
	}
	if want := []string{fmt.Sprintf("%d bytes, 0 fields", len(ls[0].Body)), "5 bytes, 1 fields"}; !slices.Equal(got, want) {
		t.Errorf("records sent %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(h.s.m.fieldsOmitted); got != 1 {
		t.Errorf("fields omitted = %v, want 1 (the big JSON line; the other is too large anyway)", got)
	}
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); got != 1 {
		t.Errorf("dropped{too_large} = %v, want 1", got)
	}
}

func TestKafkaFaults(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.NotEnoughReplicas, kerr.LeaderNotAvailable} {
		t.Run(code.Message, func(t *testing.T) {
			c, addr := startCluster(t)
			fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: code, Count: -1})
			var mu sync.Mutex
			var early bool
			ack := &recAcker{hook: func([]event.Cursor) {
				mu.Lock()
				defer mu.Unlock()
				if fault != nil {
					early = true
				}
			}}
			h := runShipper(t, testKafkaConfig(addr), ack)
			var sent [][]event.Log
			for i := range 5 {
				ls := makeLogs(uint64(i), 0, 20, metaFor(i))
				sent = append(sent, ls)
				h.logs <- ls
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := fault.Wait(ctx, 6); err != nil {
				t.Fatalf("fault not hit 6 times: %v", err)
			}
			if n := len(h.ack.cursors()); n != 0 {
				t.Fatalf("%d records acked while every produce failed", n)
			}
			mu.Lock()
			fault.Remove()
			fault = nil
			mu.Unlock()
			h.finish(t)
			if early {
				t.Error("acked before the broker accepted")
			}
			recs := consumeDistinct(t, addr, 100, []string{"logs"})
			checkPerKeyOrder(t, dedup(recs))
			if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
				t.Errorf("acks (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(h.s.m.retries); got < 2 {
				t.Errorf("retries = %v", got)
			}
		})
	}
}

// dedup drops repeated deliveries (same value), keeping the first.
func dedup(recs []*kgo.Record) []*kgo.Record {
	seen := map[string]bool{}
	var out []*kgo.Record
	for _, r := range recs {
		if !seen[string(r.Value)] {
			seen[string(r.Value)] = true
			out = append(out, r)
		}
	}
	return out
}

func TestKafkaOutage(t *testing.T) {
	dir := t.TempDir()
	c1, addr := startCluster(t, kfake.DataDir(dir))
	_, port, _ := net.SplitHostPort(addr)
	var portN int
	if _, err := fmt.Sscan(port, &portN); err != nil {
		t.Fatal(err)
	}
	h := runShipper(t, testKafkaConfig(addr), nil)

	// A producer feeds ship without pause through the whole test.
	var accepted atomic.Int64
	var sent [][]event.Log
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			src := i % 5
			ls := makeLogs(uint64(src), (i/5)*20, 20, metaFor(src))
			select {
			case h.logs <- ls:
				sent = append(sent, ls)
				accepted.Add(1)
				time.Sleep(time.Millisecond)
			case <-stop:
				return
			}
		}
	}()
	waitAcks := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for len(h.ack.cursors()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("acked %d, waited for %d", len(h.ack.cursors()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitAcks(500)
	c1.Close() // mid-stream: batches are being produced

	// Ship fills its budget, then stops reading.
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(h.s.m.budgetFull.WithLabelValues("logs")) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("ship never stopped reading with the broker down; held %v bytes", testutil.ToFloat64(h.s.m.heldBytes))
		}
		time.Sleep(5 * time.Millisecond)
	}
	a1, acks1 := accepted.Load(), len(h.ack.cursors())
	time.Sleep(time.Second)
	a2, acks2 := accepted.Load(), len(h.ack.cursors())
	if a2-a1 > 1 {
		t.Errorf("ship took %d more slices while the broker was down: not bounded", a2-a1)
	}
	if acks2 != acks1 {
		t.Errorf("%d records acked while the broker was down", acks2-acks1)
	}
	held, limit := testutil.ToFloat64(h.s.m.heldBytes), testutil.ToFloat64(h.s.m.heldLimit)
	if held <= 0 || held > limit {
		t.Errorf("held bytes %v, limit %v", held, limit)
	}
	if got := testutil.ToFloat64(h.s.m.dials.WithLabelValues("error")); got < 1 {
		t.Errorf("dials{error} = %v during the outage", got)
	}

	c2, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(portN), kfake.DataDir(dir), kfake.SeedTopics(3, "logs", "metrics"))
	if err != nil {
		t.Fatalf("restart on port %d: %v", portN, err)
	}
	defer c2.Close()
	waitAcks(acks2 + 500) // flowing again
	close(stop)
	<-done
	h.finish(t)

	total := 20 * len(sent)
	all := consumeDistinct(t, addr, total, []string{"logs"})
	recs := dedup(all)
	if len(recs) != total {
		t.Errorf("distinct records consumed %d, want %d", len(recs), total)
	}
	checkPerKeyOrder(t, recs)
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	t.Logf("%d records sent, %d consumed (%d duplicates); held %v bytes (limit %v) during the outage",
		total, len(all), len(all)-len(recs), held, limit)
}

func TestKafkaPingAndMetrics(t *testing.T) {
	_, addr := startCluster(t)
	h := runShipper(t, testKafkaConfig(addr), nil)
	if !h.s.LastSuccess().IsZero() {
		t.Fatal("LastSuccess set before any contact")
	}
	if err := h.s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(h.s.LastSuccess()) > time.Minute {
		t.Fatal("LastSuccess not updated by Ping")
	}
	h.logs <- makeLogs(1, 0, 10, metaFor(1))
	h.finish(t)
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetCounter() != nil {
			found[mf.GetName()] = m[0].GetCounter().GetValue()
		}
	}
	if ok, bad := testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("ok")), testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("error")); ok < 1 || bad != 0 {
		t.Errorf("produce requests: %v ok, %v failed; want at least 1 ok, none failed", ok, bad)
	}
	if got := testutil.ToFloat64(h.s.m.dials.WithLabelValues("ok")); got < 1 {
		t.Errorf("dials{ok} = %v", got)
	}
	if testutil.CollectAndCount(h.s.m.readToAck) != 1 {
		t.Error("ferry_read_to_ack_seconds missing")
	}
}

func TestKafkaRunHardStopPromptly(t *testing.T) {
	c, addr := startCluster(t)
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	defer fault.Remove()
	h := runShipper(t, testKafkaConfig(addr), nil)
	h.logs <- makeLogs(1, 0, 10, metaFor(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fault.Wait(ctx, 2); err != nil {
		t.Fatal(err)
	}
	h.cancel()
	select {
	case err := <-h.errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the hard stop")
	}
	if n := len(h.ack.cursors()); n != 0 {
		t.Errorf("acked %d unconfirmed records", n)
	}
}

// The default batch bound keeps an uncompressed produce request within a
// broker's default message.max.bytes: nothing is refused, nothing resent.
func TestKafkaDefaultBatchFitsBroker(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(1, "logs"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.Batch.Linger = time.Second
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 6000, metaFor(1)) // ~2.5 MB
	for i := 0; i < len(ls); i += 1000 {
		h.logs <- ls[i : i+1000]
	}
	h.finish(t)
	if got := testutil.ToFloat64(h.s.m.sent.WithLabelValues("log")); got != 6000 {
		t.Errorf("sent %v, want 6000", got)
	}
	mfs, _ := h.reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "ferry_ship_kafka_produce_requests_total":
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "error" && m.GetCounter().GetValue() != 0 {
					t.Errorf("%v produce requests failed, want none (no resend)", m.GetCounter().GetValue())
				}
			}
		case "ferry_ship_dropped_records_total":
			for _, m := range mf.GetMetric() {
				if m.GetCounter().GetValue() != 0 {
					t.Errorf("drops: %v", m)
				}
			}
		}
	}
	if got := testutil.ToFloat64(h.s.m.batches); got < 3 {
		t.Errorf("batches %v: 2.5 MB should need at least 3 batches of 1 MiB", got)
	}
}

// A template naming a topic the brokers do not know must not hold the
// pipeline: those records go to the fallback topic.
func TestKafkaTemplateMissingTopic(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(2, "logs.shop", "logs-fallback"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "logs.{{ .Namespace }}"
	cfg.Kafka.FallbackTopic = "logs-fallback"
	h := runShipper(t, cfg, nil)
	ghost := metaFor(2)
	ghost.Namespace = "ghost"
	shop := makeLogs(1, 0, 10, metaFor(1))
	lost := makeLogs(2, 0, 10, ghost)
	h.logs <- shop
	h.logs <- lost
	h.logs <- makeLogs(1, 10, 5, metaFor(1))
	h.logs <- makeLogs(2, 10, 5, ghost) // after the topic was found missing
	h.finish(t)
	recs := consumeDistinct(t, addr, 30, []string{"logs.shop", "logs-fallback"})
	got := map[string]int{}
	for _, r := range dedup(recs) {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		got[r.Topic+" <- "+rec.Kubernetes.Namespace]++
	}
	if diff := cmp.Diff(map[string]int{"logs.shop <- shop": 15, "logs-fallback <- ghost": 15}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := len(h.ack.cursors()); n != 30 {
		t.Errorf("acked %d, want 30", n)
	}
	if !strings.Contains(h.logBuf.String(), "topic does not exist") {
		t.Errorf("no log line about the missing topic")
	}
}

// countingRT counts the requests that reach the real transport.
type countingRT struct {
	next          kafka.RoundTripper
	meta, produce atomic.Int64
}

func (c *countingRT) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	switch req.(type) {
	case *metadata.Request:
		c.meta.Add(1)
	case *produce.Request, *rawproduce.Request:
		c.produce.Add(1)
	}
	return c.next.RoundTrip(ctx, addr, req)
}

// TestKafkaMetadataCache checks that the Writer's per-message metadata
// lookups are answered by the cache: a thousand records in several
// batches cost a metadata request or two, and every record arrives.
func TestKafkaMetadataCache(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes = 64 << 10 // several produce requests
	logs := make(chan []event.Log)
	ack := &recAcker{}
	s, err := New(cfg, nil, Options{Logs: logs, Acker: ack})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mc, ok := s.transport.(*metaCache)
	if !ok {
		t.Fatalf("transport is %T, want *metaCache", s.transport)
	}
	rt := &countingRT{next: mc.next}
	mc.next = rt
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	var sent [][]event.Log
	for i := range 10 {
		ls := makeLogs(uint64(i%3), i*100, 100, metaFor(i%3))
		sent = append(sent, ls)
		logs <- ls
	}
	close(logs)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := len(consume(t, addr, 1000, []string{"logs"})); n != 1000 {
		t.Errorf("consumed %d records, want 1000", n)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	if p := rt.produce.Load(); p < 2 {
		t.Errorf("%d produce requests, want several (batches of 64 KiB)", p)
	}
	// One lookup per metaCacheTTL, plus kafka-go's own first lookups; not
	// one per record.
	if m := rt.meta.Load(); m < 1 || m > 10 {
		t.Errorf("%d metadata requests reached the transport for 1000 records, want 1..10", m)
	}
}

// consumeDistinct reads until n distinct records (by value) were seen.
func consumeDistinct(t testing.TB, addr string, n int, topics []string) []*kgo.Record {
	t.Helper()
	return consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= n }, topics)
}

func consumeUntil(t testing.TB, addr string, enough func([]*kgo.Record) bool, topics []string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for !enough(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed only %d records before the deadline", len(recs))
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs
}

// With kafka.drop_unauthorized, the records of a topic the broker refuses
// for authorization are dropped, counted and acknowledged; the rest flows
// in order.
func TestKafkaUnauthorizedDroppedWhenOptedIn(t *testing.T) {
	c, addr := startCluster(t, kfake.SeedTopics(2, "logs.shop", "logs.secret", "logs-fallback"))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs.secret", Err: kerr.TopicAuthorizationFailed, Count: -1})
	defer fault.Remove()
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "logs.{{ .Namespace }}"
	cfg.Kafka.FallbackTopic = "logs-fallback"
	cfg.Kafka.DropUnauthorized = true
	h := runShipper(t, cfg, nil)
	secret := metaFor(2)
	secret.Namespace = "secret"
	var sent [][]event.Log
	for i := range 4 {
		a, b := makeLogs(1, i*10, 10, metaFor(1)), makeLogs(2, i*10, 10, secret)
		sent = append(sent, a, b)
		h.logs <- a
		h.logs <- b
	}
	h.finish(t)
	recs := consumeDistinct(t, addr, 40, []string{"logs.shop"})
	checkPerKeyOrder(t, recs)
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "topic_authorization")); got != 40 {
		t.Errorf("dropped{topic_authorization} = %v, want 40", got)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

// The kafka-go settings the ordering and at-least-once guarantees rest on.
func TestKafkaProducerSettings(t *testing.T) {
	cfg := testKafkaConfig("127.0.0.1:9")
	cfg.Kafka.RequiredAcks = "one"
	cfg.Kafka.Compression = "lz4"
	cfg.Kafka.ClientID = "ferry-node-1"
	s, err := New(cfg, nil, Options{Logs: make(chan []event.Log)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := s.prod.(*kafkaProducer)
	type settings struct {
		RequiredAcks kafka.RequiredAcks
		Compression  kafka.Compression
		ClientID     string
		Timeout      time.Duration
		DialTimeout  time.Duration
		AutoCreate   bool
		Cached       bool // the producer's metadata goes through the cache
		// kafka-go's own refresh never fires: ship refreshes by age (5m)
		// and on errors, for the topics in use only.
		TTL, MaxAge time.Duration
		Topics      []string
	}
	// The metadata cache sits in front of the transport that keeps
	// kafka-go's Transport's metadata fresh.
	fresh := s.transport.(*metaCache).next.(*freshTransport)
	tr := fresh.current()
	got := settings{p.acks, p.comp, tr.ClientID, p.client.Timeout, tr.DialTimeout,
		p.autoCreate, p.client.Transport == s.transport, tr.MetadataTTL, fresh.maxAge, tr.MetadataTopics}
	// The client's timeout is only the ceiling of attemptTimeout.
	want := settings{kafka.RequireOne, kafka.Lz4, "ferry-node-1", 64 * 3 * time.Second, 2 * time.Second, false, true,
		neverTTL, 5 * time.Minute, []string{"logs", "metrics"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A fault injected N times: the first ack comes only after the N-th faulted
// produce, and everything arrives.
func TestKafkaFaultNTimes(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.NotEnoughReplicas, kerr.LeaderNotAvailable} {
		t.Run(code.Message, func(t *testing.T) {
			c, addr := startCluster(t, kfake.SeedTopics(1, "logs"))
			const n = 4
			fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: code, Count: n})
			defer fault.Remove()
			var mu sync.Mutex
			hitsAtFirstAck := -1
			ack := &recAcker{hook: func([]event.Cursor) {
				mu.Lock()
				defer mu.Unlock()
				if hitsAtFirstAck < 0 {
					hitsAtFirstAck = fault.Hits()
				}
			}}
			h := runShipper(t, testKafkaConfig(addr), ack)
			ls := makeLogs(1, 0, 50, metaFor(1))
			h.logs <- ls
			h.finish(t)
			if hitsAtFirstAck != n {
				t.Errorf("first ack after %d faulted produces, want %d", hitsAtFirstAck, n)
			}
			recs := consumeDistinct(t, addr, 50, []string{"logs"})
			checkPerKeyOrder(t, dedup(recs))
			if diff := cmp.Diff(cursorsOf(ls), h.ack.cursors()); diff != "" {
				t.Errorf("acks (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(h.s.m.retries); got != n {
				t.Errorf("retries = %v, want %d", got, n)
			}
		})
	}
}

// By default the records of a topic the broker refuses for authorization
// are held and retried with backoff, not dropped: when the ACL is fixed
// they are delivered; meanwhile the other topics flow and the failure is
// counted by destination. The refusal lasts a minute (5 s with -short)
// while lines keep coming to both topics.
func TestKafkaUnauthorizedHeldThenDelivered(t *testing.T) {
	t.Parallel() // a minute of waiting on the scenario: other tests run meanwhile
	refusal := time.Minute
	if testing.Short() {
		refusal = 5 * time.Second
	}
	start := time.Now()
	c, addr := startCluster(t, kfake.SeedTopics(2, "logs.shop", "logs.secret", "logs-fallback"))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs.secret", Err: kerr.TopicAuthorizationFailed, Count: -1})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "logs.{{ .Namespace }}"
	cfg.Kafka.FallbackTopic = "logs-fallback"
	h := runShipper(t, cfg, nil)
	secret := metaFor(2)
	secret.Namespace = "secret"
	var shop, held [][]event.Log
	for i := range 4 {
		a, b := makeLogs(1, i*10, 10, metaFor(1)), makeLogs(2, i*10, 10, secret)
		shop, held = append(shop, a), append(held, b)
		h.logs <- a
		h.logs <- b
	}
	consumeDistinct(t, addr, 40, []string{"logs.shop"})
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("templated", "topic_authorization")) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("no repeated authorization failures counted for the templated destination")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := sortCursors(h.ack.cursors()), sortCursors(cursorsOf(shop...)); !cmp.Equal(want, got) {
		t.Errorf("acked while the topic was refused (-want +got):\n%s", cmp.Diff(want, got))
	}
	// The rest of the refusal under load: a slice to each topic every
	// 100 ms (the producers' pace); the allowed topic keeps flowing.
	for i := 4; time.Since(start) < refusal; i++ {
		a, b := makeLogs(1, i*10, 10, metaFor(1)), makeLogs(2, i*10, 10, secret)
		shop, held = append(shop, a), append(held, b)
		feed(t, h.logs, a)
		feed(t, h.logs, b)
		<-time.After(100 * time.Millisecond)
	}
	consumeDistinct(t, addr, 10*len(shop), []string{"logs.shop"})
	if n := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("templated", "topic_authorization")); n < 10 {
		t.Errorf("%v authorization failures counted in %s of refusal", n, refusal)
	}
	fault.Remove()
	h.finish(t)
	recs := consumeDistinct(t, addr, 10*len(held), []string{"logs.secret"})
	checkPerKeyOrder(t, dedup(recs))
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "topic_authorization")); got != 0 {
		t.Errorf("dropped{topic_authorization} = %v, want 0", got)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(append(shop, held...)...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	// One at the first failure, then at most one a minute.
	if n, most := strings.Count(h.logBuf.String(), "level=WARN msg=\"send failed: the destination"), 1+int(time.Since(start)/time.Minute); n < 1 || n > most {
		t.Errorf("%d warnings for one failing destination, want 1 to %d (later attempts at debug):\n%.3000s", n, most, h.logBuf.String())
	}
}
