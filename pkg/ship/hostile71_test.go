package ship

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Hostile pass 71: the encoder's memo of a record's source members, the
// pool of request buffers, ship's own message type, the read-to-ack
// histogram observed in runs and the bound of missing topics.

// hostile71Paths are file paths a node could hand over: plain, with
// characters JSON escapes, with invalid UTF-8, and empty.
var hostile71Paths = []string{
	"/var/log/pods/shop_a_1/app/0.log",
	"/var/log/pods/shop_b_2/app/0.log",
	`/var/log/pods/q"uote\back/app/0.log`,
	"/var/log/pods/ctl\n\t\x01\u2028<&>/app/0.log",
	"/var/log/pods/bad\xff\xfeutf8/app/0.log",
	"",
}

// hostile71Logs makes n records that alternate between files and pods,
// whose pods are relabelled every few records (a new *event.Meta for the
// same pod), some with parsed fields too large for maxMsg (sent without
// them), and returns each record's expected value by its cursor: what a
// fresh encoder writes for it.
func hostile71Logs(n, maxMsg int) ([][]event.Log, map[event.Cursor]string) {
	return hostile71LogsAs(n, maxMsg, func(l *event.Log) []byte { return newEncoder().appendLog(nil, l) })
}

// hostile71LogsAs is hostile71Logs with the expected values encoded by
// fresh (a fresh encoder of the sink's encoding).
func hostile71LogsAs(n, maxMsg int, fresh func(*event.Log) []byte) ([][]event.Log, map[event.Cursor]string) {
	metas := make([]*event.Meta, 4)
	for i := range metas {
		metas[i] = metaFor(i)
	}
	want := map[event.Cursor]string{}
	offsets := make([]int64, len(hostile71Paths))
	var reads [][]event.Log
	var read []event.Log
	now := time.Now().UnixNano()
	for i := range n {
		src := (i*7 + i/3) % len(hostile71Paths)
		pod := (i / 2) % len(metas)
		if i%11 == 0 { // relabelled: same pod, new Meta
			m := *metas[pod]
			m.Labels = map[string]string{"app": "x", "rev": fmt.Sprint(i), "q\"": "\\"}
			metas[pod] = &m
		}
		if i%13 == 5 { // a Meta without a uid: no key
			m := *metas[pod]
			m.PodUID = ""
			metas[pod] = &m
		}
		offsets[src] += 100
		l := event.Log{Time: time.Unix(1700000000+int64(i/5), int64(i)), ReadAt: now,
			Body: fmt.Appendf(nil, "line %d \"%s\"", i, strings.Repeat("é", i%5)), Path: strings.Clone(hostile71Paths[src]),
			Cursor: event.Cursor{Source: uint64(src + 1), Offset: offsets[src]}, Meta: metas[pod]}
		if i%4 == 3 {
			l.Fields = []event.Field{{Key: "k", Value: "v"}}
		}
		if i%17 == 9 {
			l.Fields = []event.Field{{Key: "big", Value: strings.Repeat("z", min(maxMsg, 8000))}}
		}
		if i%19 == 0 {
			l.Meta = nil
		}
		short := l
		v := fresh(&short)
		if len(short.Fields) > 0 && len(v) > maxMsg {
			short.Fields = nil
			v = fresh(&short)
		}
		want[l.Cursor] = string(v)
		read = append(read, l)
		if len(read) == 1+len(reads)%9 {
			reads = append(reads, read)
			read = nil
		}
	}
	if len(read) > 0 {
		reads = append(reads, read)
	}
	return reads, want
}

// TestHostile71SourceMemoThroughKafka: records alternating between files
// and pods, pods relabelled, paths needing escapes, records re-encoded
// without their fields, keyed by pod uid, sent to three brokers with
// every codec: each record read back by an independent consumer is
// exactly what a fresh encoder writes for it, under its pod's uid.
func TestHostile71SourceMemoThroughKafka(t *testing.T) {
	for _, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			_, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = comp
			cfg.Kafka.MaxMessageBytes = 4000
			cfg.Kafka.Batch.MaxBytes = 16 << 10 // several requests in flight
			h := runShipper(t, cfg, nil)
			reads, want := hostile71Logs(1500, cfg.Kafka.MaxMessageBytes)
			for _, r := range reads {
				h.logs <- r
			}
			waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
			h.finish(t)
			byValue := map[string]string{}
			for _, v := range want {
				uid := ""
				var rec logRecord
				if err := json.Unmarshal([]byte(v), &rec); err == nil {
					uid = rec.Kubernetes.PodUID
				}
				byValue[v] = uid
			}
			recs := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= len(want) }, []string{"logs"})
			seen := map[string]bool{}
			for _, r := range recs {
				uid, ok := byValue[string(r.Value)]
				if !ok {
					t.Fatalf("a record no line encodes to: %q", r.Value)
				}
				if string(r.Key) != uid || (uid == "" && r.Key != nil) {
					t.Errorf("record keyed %q, want %q: %s", r.Key, uid, r.Value)
				}
				seen[string(r.Value)] = true
			}
			if len(seen) != len(want) {
				t.Errorf("%d distinct records read back, want %d", len(seen), len(want))
			}
		})
	}
}

// lingeringRT fails every third produce request at once, as an attempt
// whose deadline passed, while a goroutine of its own goes on reading the
// request's record sets later (kafka-go's connection goroutine still
// writing it), once more requests have been answered: each batch read so
// must still be the one encoded for it (its CRC holds), else its buffer
// was handed to another request while the failed one was being written.
type lingeringRT struct {
	next kafka.RoundTripper
	n    atomic.Int64
	// answered counts the requests answered; changed is closed, and
	// replaced, at each (mu), so that a waiter wakes on the count it
	// waits for.
	answered int64
	changed  chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	bad      []string
	checked  atomic.Int64
}

func (l *lingeringRT) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	pr, ok := req.(*rawproduce.Request)
	if !ok {
		return l.next.RoundTrip(ctx, addr, req)
	}
	if l.n.Add(1)%3 != 0 {
		r, err := l.next.RoundTrip(ctx, addr, req)
		if err == nil {
			l.answer()
		}
		return r, err
	}
	after := l.answeredNow() + 4
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		// Until four more requests were answered (their buffers taken
		// from the pool and returned), or a bound.
		l.awaitAnswered(after, 5*time.Second)
		for _, tp := range pr.Topics {
			for _, p := range tp.Partitions {
				b, err := io.ReadAll(p.RecordSet.Reader)
				if err != nil {
					l.fail(fmt.Sprintf("read: %v", err))
					continue
				}
				if len(b) < batchAttrsOffset || int(binary.BigEndian.Uint32(b)) != len(b)-4 {
					l.fail(fmt.Sprintf("record set of %d bytes says %d", len(b), binary.BigEndian.Uint32(b)))
					continue
				}
				if crc32.Checksum(b[batchAttrsOffset:], castagnoli) != binary.BigEndian.Uint32(b[batchCRCOffset:]) {
					l.fail("a failed request's batch changed after its attempt returned: CRC mismatch")
				}
				l.checked.Add(1)
			}
		}
	}()
	return nil, context.DeadlineExceeded
}

// answer counts a request answered and wakes the waiters.
func (l *lingeringRT) answer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answered++
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

func (l *lingeringRT) answeredNow() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered
}

// awaitAnswered returns once n requests were answered, or after d.
func (l *lingeringRT) awaitAnswered(n int64, d time.Duration) {
	deadline := time.After(d)
	for {
		l.mu.Lock()
		if l.answered >= n {
			l.mu.Unlock()
			return
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return
		}
	}
}

func (l *lingeringRT) fail(s string) {
	l.mu.Lock()
	l.bad = append(l.bad, s)
	l.mu.Unlock()
}

// TestHostile71FailedRequestBufferNotReused: attempts that fail while
// their request is still being written (a third of them), with several
// lanes sending at once through the pool of four buffers: the batches
// still being read never change, and every record arrives intact.
func TestHostile71FailedRequestBufferNotReused(t *testing.T) {
	for _, comp := range []string{"none", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			_, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = comp
			cfg.Kafka.MaxMessageBytes = 4000
			cfg.Kafka.Batch.MaxBytes = 8 << 10
			var lrt *lingeringRT
			h := runShipperWith(t, cfg, nil, func(s *Shipper) {
				mc := s.transport.(*metaCache)
				lrt = &lingeringRT{next: mc.next}
				mc.next = lrt
			})
			reads, want := hostile71Logs(1200, cfg.Kafka.MaxMessageBytes)
			for _, r := range reads {
				h.logs <- r
			}
			waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
			h.finish(t)
			lrt.wg.Wait()
			if lrt.checked.Load() == 0 {
				t.Fatal("no failed request's batch was read after its attempt")
			}
			for _, b := range lrt.bad {
				t.Error(b)
			}
			consumeExactly(t, addr, want)
		})
	}
}

// TestHostile71ReadToAckCountsAckedLines: lines read long ago (a read
// time near the epoch), in the future (a wall clock stepped back), unknown
// (0) and ordinary, in runs and interleaved, while the registry is
// scraped without pause: once every line is acknowledged the histogram
// holds exactly the lines with a read time, its sum is finite and counts
// the old ones' decades, and no bucket count exceeds the total.
func TestHostile71ReadToAckCountsAckedLines(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes = 4 << 10
	h := runShipper(t, cfg, nil)
	stop := make(chan struct{})
	var scrapes atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := h.reg.Gather(); err != nil {
				t.Errorf("gather: %v", err)
				return
			}
			scrapes.Add(1)
		}
	}()
	var total, timed, old int
	for i := range 200 {
		ls := makeLogs(uint64(i%5), i*10, 10, metaFor(i%3))
		for j := range ls {
			switch (i + j) % 7 {
			case 0:
				ls[j].ReadAt = 0
			case 1:
				ls[j].ReadAt = 1 // 1970
				old++
			case 2:
				ls[j].ReadAt = time.Now().Add(time.Hour).UnixNano()
			case 3:
				ls[j].ReadAt = math.MaxInt64
			}
			if ls[j].ReadAt != 0 {
				timed++
			}
		}
		total += len(ls)
		h.logs <- ls
	}
	waitFor(t, 60*time.Second, "every line acknowledged", func() bool { return len(h.ack.cursors()) >= total })
	waitFor(t, 10*time.Second, "scrapes", func() bool { return scrapes.Load() >= 10 })
	close(stop)
	wg.Wait()
	sum, count := gathered(t, h.reg, "ferry_read_to_ack_seconds")
	if count != uint64(timed) {
		t.Errorf("histogram counts %d lines, want %d (the lines with a read time of %d acknowledged)", count, timed, total)
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) || sum < float64(old)*50*365*24*3600 {
		t.Errorf("histogram sum %v, want finite and at least %d lines of 50 years", sum, old)
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ferry_read_to_ack_seconds" {
			continue
		}
		prev := uint64(0)
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > count {
				t.Errorf("bucket le %v: %d (previous %d, total %d)", b.GetUpperBound(), b.GetCumulativeCount(), prev, count)
			}
			prev = b.GetCumulativeCount()
		}
	}
	h.finish(t)
}

// TestHostile71MissingTopicUsedAgainAfterRecheck: a templated topic the
// brokers do not know sends its pod's records to the fallback; once the
// topic exists and its minute is over, the pod's next records go to it.
// The metadata that found the topic missing is the one the recheck asks
// a minute later when nothing refreshed it since (a quiet node): it says
// missing again, and the records went to the fallback for another minute.
func TestHostile71MissingTopicUsedAgainAfterRecheck(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(1, "logs-fallback", "metrics"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs.{{ .Pod }}", "logs-fallback"
	h := runShipper(t, cfg, nil)
	m := metaFor(7)
	h.logs <- makeLogs(1, 0, 5, m)
	waitFor(t, 30*time.Second, "first records acknowledged", func() bool { return len(h.ack.cursors()) == 5 })
	if !h.s.route.isMissing("logs.pod-7") {
		t.Fatal("logs.pod-7 not remembered as missing")
	}
	createTopic(t, addr, "logs.pod-7", 1)
	// The minute is over.
	h.s.route.mu.Lock()
	h.s.route.missing["logs.pod-7"] = time.Now().Add(-time.Second)
	h.s.route.mu.Unlock()
	h.s.route.gen.Add(1) // and so is the routes' (each route's until is the topic's)
	// and the metadata is a minute old too (nothing else refreshed it).
	h.s.fresh.mu.Lock()
	h.s.fresh.lastForce = h.s.fresh.lastForce.Add(-time.Minute)
	h.s.fresh.born = h.s.fresh.born.Add(-time.Minute)
	h.s.fresh.mu.Unlock()
	h.logs <- makeLogs(1, 5, 5, m)
	waitFor(t, 30*time.Second, "second records acknowledged", func() bool { return len(h.ack.cursors()) == 10 })
	h.finish(t)
	recs := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= 5 }, []string{"logs.pod-7"})
	for _, r := range dedup(recs) {
		if !bytes.Contains(r.Value, []byte("line ")) {
			t.Errorf("unexpected record %q", r.Value)
		}
	}
	fb := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= 5 }, []string{"logs-fallback"})
	if n := len(dedup(fb)); n != 5 {
		t.Errorf("%d records in the fallback topic, want the first 5", n)
	}
	if got := len(dedup(recs)); got != 5 {
		t.Errorf("%d records in logs.pod-7 after it was created, want 5", got)
	}
}

// TestHostile71MissingTopicsBoundWithTiedTimes: a clock coarser than the
// calls (stamps that tie, as a jiffies clocksource or a Windows node's
// timer gives) must not let the map of missing topics outgrow its bound.
func TestHostile71MissingTopicsBoundWithTiedTimes(t *testing.T) {
	r := &router{missing: map[string]time.Time{}}
	until := time.Now().Add(missingTopicRecheck)
	for i := range maxMissingTopics {
		r.missing[fmt.Sprintf("logs.pod-%d", i)] = until
	}
	for i := range 100 {
		r.markMissing(fmt.Sprintf("logs.new-%d", i))
	}
	if n := len(r.missing); n > maxMissingTopics {
		t.Errorf("%d topics remembered as missing, bound %d", n, maxMissingTopics)
	}
	if !r.isMissing("logs.new-99") {
		t.Error("the topic found missing last is not remembered")
	}
}

// TestHostile71SourceMemoToStdout: the same records through the stdout
// sink (one NDJSON line per record, its value only): every line is what a
// fresh encoder writes for its record, each record once.
func TestHostile71SourceMemoToStdout(t *testing.T) {
	out := &syncBuffer{}
	logs := make(chan []event.Log)
	ack := &recAcker{}
	s, err := New(Config{Stdout: &StdoutConfig{Linger: time.Millisecond}}, nil, Options{Logs: logs, Acker: ack, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(t.Context()) }()
	reads, want := hostile71Logs(1000, 16<<20)
	for _, r := range reads {
		logs <- r
	}
	close(logs)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	left := map[string]int{}
	for _, v := range want {
		left[v]++
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		if left[l] == 0 {
			t.Fatalf("a line no record encodes to (or twice): %q", l)
		}
		left[l]--
	}
	if len(lines) != len(want) || len(ack.cursors()) != len(want) {
		t.Errorf("%d lines, %d acknowledged, want %d", len(lines), len(ack.cursors()), len(want))
	}
}

// TestHostile71ProduceUnansweredThenRetried: three brokers, zstd, several
// lanes in flight: the first produce requests the brokers take are never
// answered (each attempt times out while its connection still holds the
// request), the records are retried in new requests from the pool, and
// every record read back by a consumer is one a line encodes to, every
// line present, every line acknowledged.
func TestHostile71ProduceUnansweredThenRetried(t *testing.T) {
	c, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
	var seen atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, seen.Add(1) <= 6 // handled without an answer
	})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "zstd"
	cfg.Kafka.MaxMessageBytes = 4000
	cfg.Kafka.Batch.MaxBytes = 8 << 10
	cfg.Kafka.WriteTimeout = 500 * time.Millisecond
	h := runShipper(t, cfg, nil)
	reads, want := hostile71Logs(600, cfg.Kafka.MaxMessageBytes)
	for _, r := range reads {
		h.logs <- r
	}
	waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
	h.finish(t)
	if seen.Load() <= 6 {
		t.Fatalf("only %d produce requests reached the brokers", seen.Load())
	}
	if f := failuresByReason(h); !strings.Contains(f, "timeout") {
		t.Errorf("no attempt timed out: %s", f)
	}
	consumeExactly(t, addr, want)
}

// TestHostile71SourceMemoPastMetaCache: more Metas than the encoder's
// cache of kubernetes objects holds (it is cleared when full), revisited
// in runs and alone, some relabelled copies of others, with the path
// changing under an unchanged Meta and the Meta under an unchanged path:
// every record is encoded as a fresh encoder encodes it.
func TestHostile71SourceMemoPastMetaCache(t *testing.T) {
	const n = maxMetaCache + 700
	metas := make([]*event.Meta, n)
	for i := range metas {
		metas[i] = metaFor(i % 900) // the same pod under many Metas
		if i%3 == 0 {
			metas[i].Labels = map[string]string{"rev": fmt.Sprint(i)}
		}
	}
	enc := newEncoder()
	for i := range 3 * n {
		k := (i * 7919) % n
		if i%5 < 2 {
			k = (i / 5) % n // runs
		}
		l := event.Log{Time: time.Unix(int64(i), 0), Body: []byte("b"), Meta: metas[k],
			Path: hostile71Paths[(i/4)%len(hostile71Paths)], Cursor: event.Cursor{Offset: int64(i)}}
		got := enc.appendLog(nil, &l)
		if want := newEncoder().appendLog(nil, &l); !bytes.Equal(got, want) {
			t.Fatalf("record %d (meta %d): got\n%s\nwant\n%s", i, k, got, want)
		}
	}
}

// TestHostile71ManyMissingTopicsCreatedLater: a topic per pod, 300 pods
// (more topics than the metadata names one by one), none existing at
// first: every record goes to the fallback. Half the topics are created,
// the minute passes with nothing refreshing the metadata: the next
// records of those pods go to their topics, the others' to the fallback.
func TestHostile71ManyMissingTopicsCreatedLater(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(1, "logs-fallback", "metrics"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs.{{ .Pod }}", "logs-fallback"
	h := runShipper(t, cfg, nil)
	const pods = 300
	metas := make([]*event.Meta, pods)
	for i := range metas {
		metas[i] = metaFor(i)
	}
	round := func(r int) {
		for i := 0; i < pods; i += 50 {
			var ls []event.Log
			for j := i; j < i+50; j++ {
				ls = append(ls, makeLogs(uint64(j), r, 1, metas[j])...)
			}
			h.logs <- ls
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d acknowledged", r), func() bool { return len(h.ack.cursors()) == (r+1)*pods })
	}
	round(0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	for i := 0; i < pods; i += 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = fmt.Sprintf("logs.pod-%d", i), 1, 1
		req.Topics = append(req.Topics, rt)
	}
	if _, err := req.RequestWith(t.Context(), cl); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	// A minute later, nothing having refreshed the metadata meanwhile.
	h.s.route.mu.Lock()
	if len(h.s.route.missing) != pods {
		t.Errorf("%d topics remembered as missing, want %d", len(h.s.route.missing), pods)
	}
	for tp := range h.s.route.missing {
		h.s.route.missing[tp] = time.Now().Add(-time.Second)
	}
	h.s.route.mu.Unlock()
	h.s.route.gen.Add(1)
	h.s.fresh.mu.Lock()
	h.s.fresh.lastForce = h.s.fresh.lastForce.Add(-time.Minute)
	h.s.fresh.born = h.s.fresh.born.Add(-time.Minute)
	h.s.fresh.mu.Unlock()
	round(1)
	h.finish(t)
	var topics []string
	for i := 0; i < pods; i += 2 {
		topics = append(topics, fmt.Sprintf("logs.pod-%d", i))
	}
	recs := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= pods/2 }, topics)
	if n := len(dedup(recs)); n != pods/2 {
		t.Errorf("%d records in the created topics, want %d", n, pods/2)
	}
	fb := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= pods+pods/2 }, []string{"logs-fallback"})
	if n := len(dedup(fb)); n != pods+pods/2 {
		t.Errorf("%d records in the fallback topic, want %d", n, pods+pods/2)
	}
	if n := testutil.ToFloat64(h.s.m.fallback); n != pods+pods/2 {
		t.Errorf("ferry_ship_fallback_total %v, want %d (the records in the fallback topic)", n, pods+pods/2)
	}
}

// TestHostile71OTLPThroughKafka: the same records in the OTLP encodings
// (their own cache of resources by Meta), keyed by pod uid, through three
// brokers: each record read back is what a fresh OTLP encoder writes.
func TestHostile71OTLPThroughKafka(t *testing.T) {
	for _, encoding := range []string{encodingOTLPJSON, encodingOTLPProto} {
		t.Run(encoding, func(t *testing.T) {
			_, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Encoding = encoding
			cfg.Kafka.MaxMessageBytes = 6000
			cfg.Kafka.Batch.MaxBytes = 16 << 10
			h := runShipper(t, cfg, nil)
			reads, want := hostile71LogsAs(800, cfg.Kafka.MaxMessageBytes, func(l *event.Log) []byte {
				return newOTLPEncoder(encoding).appendLog(nil, l)
			})
			uids := map[string]string{}
			for _, r := range reads {
				for i := range r {
					uid := ""
					if r[i].Meta != nil {
						uid = r[i].Meta.PodUID
					}
					uids[want[r[i].Cursor]] = uid
				}
			}
			for _, r := range reads {
				h.logs <- r
			}
			waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
			h.finish(t)
			recs := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= len(want) }, []string{"logs"})
			seen := map[string]bool{}
			for _, r := range recs {
				uid, ok := uids[string(r.Value)]
				if !ok {
					t.Fatalf("a record no line encodes to: %q", r.Value)
				}
				if string(r.Key) != uid {
					t.Errorf("record keyed %q, want %q", r.Key, uid)
				}
				seen[string(r.Value)] = true
			}
			if len(seen) != len(want) {
				t.Errorf("%d distinct records read back, want %d", len(seen), len(want))
			}
		})
	}
}

// chaosRT breaks produce requests at random: some fail before they are
// sent, some after the brokers took them (the answer lost: the records
// are sent again), the rest go through.
type chaosRT struct {
	next   kafka.RoundTripper
	mu     sync.Mutex
	rng    *rand.Rand
	before atomic.Int64
	after  atomic.Int64
}

func (c *chaosRT) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	if _, ok := req.(*rawproduce.Request); !ok {
		return c.next.RoundTrip(ctx, addr, req)
	}
	c.mu.Lock()
	roll := c.rng.IntN(100)
	c.mu.Unlock()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	switch {
	case roll < 12:
		c.before.Add(1)
		return nil, reset
	case roll < 24:
		if _, err := c.next.RoundTrip(ctx, addr, req); err != nil {
			return nil, err
		}
		c.after.Add(1)
		return nil, reset
	}
	return c.next.RoundTrip(ctx, addr, req)
}

// TestHostile71ChaosEveryCodec: produce requests failing at random before
// and after the brokers took them, three brokers, every codec, lanes
// grouped per broker and alone: every line is acknowledged once, every
// record read back is one a line encodes to, and every line is there.
func TestHostile71ChaosEveryCodec(t *testing.T) {
	for i, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			_, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = comp
			cfg.Kafka.MaxMessageBytes = 4000
			cfg.Kafka.Batch.MaxBytes = 8 << 10
			cfg.Kafka.Retry = RetryConfig{BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond}
			var crt *chaosRT
			h := runShipperWith(t, cfg, nil, func(s *Shipper) {
				mc := s.transport.(*metaCache)
				crt = &chaosRT{next: mc.next, rng: rand.New(rand.NewPCG(uint64(i), 71))}
				mc.next = crt
			})
			reads, want := hostile71Logs(1500, cfg.Kafka.MaxMessageBytes)
			for _, r := range reads {
				h.logs <- r
			}
			waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
			h.finish(t)
			acked := map[event.Cursor]int{}
			for _, c := range h.ack.cursors() {
				acked[c]++
			}
			for c := range want {
				if acked[c] != 1 {
					t.Errorf("cursor %v acknowledged %d times", c, acked[c])
				}
			}
			if crt.before.Load() == 0 || crt.after.Load() == 0 {
				t.Fatalf("chaos did not strike: %d before, %d after", crt.before.Load(), crt.after.Load())
			}
			consumeExactly(t, addr, want)
		})
	}
}

// TestHostile71ReadToAckCountsTooLargeDrops: lines larger than the
// largest record the sink takes are dropped and acknowledged at once;
// ferry_read_to_ack_seconds is observed at acknowledgement "after the sink
// confirmed (or dropped)" a line, so it counts them with the others: its
// count is every acknowledged line with a read time.
func TestHostile71ReadToAckCountsTooLargeDrops(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.MaxMessageBytes = 4000
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 20, metaFor(1))
	for i := range ls {
		if i%4 == 1 {
			ls[i].Body = bytes.Repeat([]byte("x"), 5000)
		}
	}
	h.logs <- ls
	waitFor(t, 30*time.Second, "every line acknowledged", func() bool { return len(h.ack.cursors()) == len(ls) })
	if n := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); n != 5 {
		t.Fatalf("%v lines dropped as too large, want 5", n)
	}
	if _, count := gathered(t, h.reg, "ferry_read_to_ack_seconds"); count != uint64(len(ls)) {
		t.Errorf("read-to-ack counts %d lines, %d acknowledged (5 dropped as too large)", count, len(ls))
	}
	h.finish(t)
}

// TestHostile71LeadersMoveWhileGrouped: three brokers, six partitions,
// lanes grouped into one request per leader; the partitions' leaders move
// between the brokers while records flow (a request grouped by leaders
// that moved is refused by the client, or answered NOT_LEADER): every
// line is acknowledged exactly once and every record arrives intact.
func TestHostile71LeadersMoveWhileGrouped(t *testing.T) {
	c, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "logs", "metrics"))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.MaxMessageBytes = 4000
	cfg.Kafka.Batch.MaxBytes = 8 << 10
	cfg.Kafka.Retry = RetryConfig{BackoffMin: time.Millisecond, BackoffMax: 50 * time.Millisecond}
	h := runShipper(t, cfg, nil)
	reads, want := hostile71Logs(1500, cfg.Kafka.MaxMessageBytes)
	for i, r := range reads {
		h.logs <- r
		if i%40 == 20 {
			for p := range int32(6) {
				to := (c.LeaderFor("logs", p) + 1) % 3
				if err := c.MoveTopicPartition("logs", p, to); err != nil {
					t.Fatal(err)
				}

			}
		}
	}
	waitFor(t, 60*time.Second, "every record acknowledged", func() bool { return len(h.ack.cursors()) >= len(want) })
	h.finish(t)
	acked := map[event.Cursor]int{}
	for _, c := range h.ack.cursors() {
		acked[c]++
	}
	for c := range want {
		if acked[c] != 1 {
			t.Errorf("cursor %v acknowledged %d times", c, acked[c])
		}
	}
	consumeExactly(t, addr, want)
	if n := testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("error")); n == 0 {
		t.Errorf("no produce request failed: the leaders did not move under the requests")
	}
}

// TestHostile71MissingTopicsKeepNewest: 50,000 topics found missing in a
// row (pods coming and going, a topic each): the map never holds more
// than its bound, and the topics found missing last (a quarter of the
// bound) are all still avoided.
func TestHostile71MissingTopicsKeepNewest(t *testing.T) {
	r := &router{}
	name := func(i int) string { return fmt.Sprintf("logs.pod-%d", i) }
	const n = 50000
	for i := range n {
		r.markMissing(name(i))
		if len(r.missing) > maxMissingTopics {
			t.Fatalf("after %d topics, %d remembered: bound %d", i+1, len(r.missing), maxMissingTopics)
		}
	}
	for i := n - maxMissingTopics/4; i < n; i++ {
		if !r.isMissing(name(i)) {
			t.Fatalf("topic %d of the last %d found missing is forgotten", i, maxMissingTopics/4)
		}
	}
}

// consumeExactly reads topic logs with an independent client until it
// holds as many distinct records as want, and fails unless every record
// is one of want and every one of want came.
func consumeExactly(t *testing.T, addr string, want map[event.Cursor]string) {
	t.Helper()
	vals := map[string]bool{}
	for _, v := range want {
		vals[v] = true
	}
	recs := consumeUntil(t, addr, func(recs []*kgo.Record) bool { return len(dedup(recs)) >= len(want) }, []string{"logs"})
	got := map[string]bool{}
	for _, r := range recs {
		if !vals[string(r.Value)] {
			t.Fatalf("a record no line encodes to: %q", r.Value)
		}
		got[string(r.Value)] = true
	}
	if len(got) != len(vals) {
		t.Errorf("%d distinct records, want %d", len(got), len(vals))
	}
}
