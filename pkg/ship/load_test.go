package ship

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// load is one agent's traffic: lines per second over containers (each its
// own pod, so its own key), and a host metrics snapshot every
// snapshotEvery (0: none).
type load struct {
	name          string
	linesPerSec   int
	containers    int
	snapshotEvery time.Duration
	series        int           // metrics in a snapshot
	linger        time.Duration // batch.linger (0: the default)
}

// loadResult is what the brokers saw of one agent's load.
type loadResult struct {
	seconds       float64
	lines         int
	produceByNode map[int32]int
	byAPI         map[string]int
	batchBytes    int // record batches on the wire (compressed), as produce requests carried them
	payloadBytes  int // records' keys and values before compression (ferry_ship_sent_bytes_total)
}

// logLine is a typical structured log line: about 170 bytes.
func logLine(i, c int) []byte {
	return fmt.Appendf(nil, `{"level":"info","ts":"2026-12-05T00:%02d:%02d.%03dZ","msg":"request served","method":"GET","path":"/api/v1/orders/%d","status":200,"latency_ms":%d,"trace_id":"%016x"}`,
		i/60000%60, i/1000%60, i%1000, 100000+i*7%9000, 3+i%40, uint64(i)*0x9e3779b97f4a7c15^uint64(c))
}

// runLoad sends ld for d through a Shipper with cfg (its brokers set) to c
// and returns what the brokers saw. Every line must be acknowledged.
func runLoad(t *testing.T, c *kfake.Cluster, cfg Config, ld load, d time.Duration) loadResult {
	t.Helper()
	seen := watchRequests(c)
	var mu sync.Mutex
	batchBytes := 0
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n := 0
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range t.Partitions {
				n += len(p.Records)
			}
		}
		mu.Lock()
		batchBytes += n
		mu.Unlock()
		return nil, nil, false
	})
	h := runShipper(t, cfg, nil)
	metas := make([]*event.Meta, ld.containers)
	for i := range metas {
		metas[i] = metaFor(i)
	}
	// Lines arrive in slices, as the tailer sends them: every 10 ms (or
	// every line, when fewer than 100 a second).
	every := max(10*time.Millisecond, time.Second/time.Duration(ld.linesPerSec))
	perTick := max(1, ld.linesPerSec*int(every/time.Millisecond)/1000)
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	lines, snaps := 0, 0
	for time.Since(start) < d {
		if ld.snapshotEvery > 0 && time.Duration(snaps)*ld.snapshotEvery <= time.Since(start) {
			snap := event.Snapshot{Time: time.Now(), Node: "node-1"}
			for j := range ld.series {
				snap.Metrics = append(snap.Metrics, event.Metric{Name: "node_cpu_seconds_total", Value: float64(j),
					Labels: []event.Label{{Name: "cpu", Value: strconv.Itoa(j % 16)}, {Name: "mode", Value: strconv.Itoa(j)}}})
			}
			h.metrics <- snap
			snaps++
		}
		<-tick.C
		var ls []event.Log
		for range perTick {
			c := lines % ld.containers
			l := makeLogs(uint64(c), lines/ld.containers, 1, metas[c])[0]
			l.Body = logLine(lines, c)
			ls = append(ls, l)
			lines++
		}
		h.logs <- ls
	}
	waitAcked(t, h.ack, lines)
	elapsed := time.Since(start).Seconds()
	r := loadResult{seconds: elapsed, lines: lines, produceByNode: seen.byNode(kmsg.Produce), byAPI: seen.snapshot(),
		payloadBytes: int(testutil.ToFloat64(h.s.m.sentBytes.WithLabelValues("log")) + testutil.ToFloat64(h.s.m.sentBytes.WithLabelValues("metric")))}
	mu.Lock()
	r.batchBytes = batchBytes
	mu.Unlock()
	h.finish(t)
	return r
}

func (r loadResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines in %.1fs:", r.lines, r.seconds)
	for _, a := range apiNames {
		if n := r.byAPI[a]; n > 0 {
			fmt.Fprintf(&b, " %s %.2f/s", a, float64(n)/r.seconds)
		}
	}
	fmt.Fprintf(&b, "; produce by broker %v; payload %.0f B/s, record batches on the wire %.0f B/s",
		r.produceByNode, float64(r.payloadBytes)/r.seconds, float64(r.batchBytes)/r.seconds)
	return b.String()
}

// At 100 lines/s over 10 containers and a topic of 10 partitions on 3
// brokers, each broker receives at most about one produce request per
// batch.linger (100 ms): the partitions it leads share a request.
func TestKafkaProduceRequestsPerBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(10, "logs"), kfake.SeedTopics(3, "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = c.ListenAddrs()
	const d = 3 * time.Second
	r := runLoad(t, c, cfg, load{linesPerSec: 100, containers: 10}, d)
	t.Log(r)
	perSec := 1 / time.Duration(cfg.Kafka.Batch.Linger).Seconds()
	for node, n := range r.produceByNode {
		// One request per linger, plus the last flush's and slack for a
		// loaded machine's late timers.
		if limit := 1.1*perSec*r.seconds + 3; float64(n) > limit {
			t.Errorf("broker %d received %d produce requests in %.1fs, want at most %.0f (%.0f a second)", node, n, r.seconds, limit, perSec)
		}
	}
	if n := r.byAPI["metadata"]; n > 2 {
		t.Errorf("%d metadata requests, want at most 2", n)
	}
}

// A request shared by several partitions keeps each partition's outcome
// its own: the partition with a record the broker refuses as too large
// finds it by bisection alone and drops it, the others are delivered
// from the shared request, each record once, in order.
func TestKafkaSharedRequestBisection(t *testing.T) {
	c, addr := startCluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "100000"}))
	var mu sync.Mutex
	maxParts := 0
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n := 0
		for _, t := range req.(*kmsg.ProduceRequest).Topics {
			n += len(t.Partitions)
		}
		mu.Lock()
		maxParts = max(maxParts, n)
		mu.Unlock()
		return nil, nil, false
	})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.MaxMessageBytes = 300000
	cfg.Kafka.Batch.Linger = 50 * time.Millisecond
	h := runShipper(t, cfg, nil)
	// Three pods whose keys fall in three partitions of "logs".
	var metas []*event.Meta
	parts := map[int]bool{}
	for i := 0; len(metas) < 3; i++ {
		m := metaFor(i)
		p := murmur2.Balance(kafka.Message{Key: []byte(m.PodUID)}, 0, 1, 2)
		if !parts[p] {
			parts[p] = true
			metas = append(metas, m)
		}
	}
	var batch, all []event.Log
	for i, m := range metas {
		ls := makeLogs(uint64(i), 0, 10, m)
		if i == 1 {
			ls[4].Body = []byte(strings.Repeat("x", 150000)) // the broker refuses it
		}
		batch = append(batch, ls...)
		all = append(all, ls...)
	}
	h.logs <- batch
	h.finish(t)
	mu.Lock()
	if maxParts < 3 {
		t.Errorf("the largest produce request carried %d partitions, want 3 (one shared request)", maxParts)
	}
	mu.Unlock()
	recs := consume(t, addr, 29, []string{"logs"})
	if len(recs) != 29 || len(dedup(recs)) != 29 {
		t.Errorf("consumed %d records (%d distinct), want 29 once each", len(recs), len(dedup(recs)))
	}
	checkPerKeyOrder(t, recs)
	for _, r := range recs {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(rec.Message, "xxx") {
			t.Error("the refused record was delivered")
		}
	}
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); got != 1 {
		t.Errorf("dropped{too_large} = %v, want 1", got)
	}
	// The shared request and the bisection's refused ones count as
	// errors: a partition refused fails its request's result.
	if got := testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("error")); got < 2 {
		t.Errorf("produce_requests{error} = %v, want at least 2", got)
	}
	if diff := cmp.Diff(sortCursors(cursorsOf(all)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("every record, the dropped one included, must be acked (-want +got):\n%s", diff)
	}
}

// TestKafkaSizing measures what one agent costs the brokers at typical
// rates, for the README's "Sizing Kafka for N nodes". Each load runs 2 s
// (FERRY_SIZING_SECONDS=30 for the README's figures):
//
//	FERRY_SIZING_SECONDS=30 go test -run TestKafkaSizing -v ./pkg/ship/
func TestKafkaSizing(t *testing.T) {
	d := 2 * time.Second
	if s := os.Getenv("FERRY_SIZING_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("FERRY_SIZING_SECONDS=%q: %v", s, err)
		}
		d = time.Duration(n) * time.Second
	}
	for _, ld := range []load{
		{name: "quiet", linesPerSec: 10, containers: 10, snapshotEvery: 15 * time.Second, series: 300},
		{name: "typical", linesPerSec: 100, containers: 10, snapshotEvery: 15 * time.Second, series: 300},
		{name: "busy", linesPerSec: 1000, containers: 30, snapshotEvery: 15 * time.Second, series: 300},
		{name: "typical-linger-1s", linesPerSec: 100, containers: 10, snapshotEvery: 15 * time.Second, series: 300, linger: time.Second},
	} {
		t.Run(ld.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(12, "logs"), kfake.SeedTopics(3, "metrics"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cfg := DefaultConfig()
			cfg.Kafka.Brokers = c.ListenAddrs()
			if ld.linger > 0 {
				cfg.Kafka.Batch.Linger = ld.linger
			}
			linger := cfg.Kafka.Batch.Linger
			r := runLoad(t, c, cfg, ld, d)
			t.Logf("%s (%d lines/s over %d containers, %d series every %s, linger %s): %v",
				ld.name, ld.linesPerSec, ld.containers, ld.series, ld.snapshotEvery, linger, r)
			total := 0
			for _, n := range r.produceByNode {
				total += n
			}
			if limit := 3 * (r.seconds/linger.Seconds() + 3); float64(total) > limit {
				t.Errorf("%d produce requests, want at most %.0f (one per linger per broker)", total, limit)
			}
		})
	}
}
