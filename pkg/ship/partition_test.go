package ship

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// deleteTopic deletes topic on the cluster at addr.
func deleteTopic(t testing.TB, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{topic}
	res, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(res.Topics[0].ErrorCode); err != nil {
		t.Fatalf("delete topic %s: %v", topic, err)
	}
}

// The topic is deleted and created again with one partition while the
// records of its three partitions wait (the broker refused them): the
// records held for partitions that no longer exist are placed again by the
// new count (counted), new records go by the new count, and every record
// arrives.
func TestKafkaPartitionGone(t *testing.T) {
	c, addr := startCluster(t)
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Err: kerr.NotEnoughReplicas, Count: -1})
	h := runShipper(t, testKafkaConfig(addr), nil)
	const pods, per = 12, 10
	var sent [][]event.Log
	for i := range pods {
		ls := makeLogs(uint64(i), 0, per, metaFor(i))
		sent = append(sent, ls)
		feed(t, h.logs, ls)
	}
	waitFor(t, 20*time.Second, "the records refused on every partition", func() bool {
		return fault.Hits() >= 3 && testutil.ToFloat64(h.s.m.retries) >= 6
	})
	deleteTopic(t, addr, "logs")
	fault.Remove()
	createTopic(t, addr, "logs", 1)
	for i := range pods {
		ls := makeLogs(uint64(i), per, per, metaFor(i))
		sent = append(sent, ls)
		feed(t, h.logs, ls)
	}
	waitAcked(t, h.ack, 2*pods*per)
	h.finish(t)
	recs := consumeDistinct(t, addr, 2*pods*per, []string{"logs"})
	for _, r := range recs {
		if r.Partition != 0 {
			t.Errorf("record in partition %d of a topic with one", r.Partition)
		}
	}
	checkPerKeyOrder(t, dedup(recs))
	if t.Failed() {
		for _, r := range recs {
			if string(r.Key) == "uid-0" {
				t.Logf("p%d o%d %s", r.Partition, r.Offset, r.Value[len(r.Value)-60:])
			}
		}
		for _, ln := range strings.Split(h.logBuf.String(), "\n") {
			if !strings.Contains(ln, "level=DEBUG") {
				t.Log(ln)
			}
		}
	}
	if got := testutil.ToFloat64(h.s.m.replaced.WithLabelValues("log", "partition_gone")); got == 0 {
		t.Error("no record counted as placed again (partition_gone)")
	}
}

// shrinkProducer is a sink whose topic loses partitions on demand; a
// request to a gated partition waits for the gate.
type shrinkProducer struct {
	mu    sync.Mutex
	count int
	got   []message // confirmed, in order
	gate  map[int]chan struct{}
	sent  chan int // partitions whose request started
}

func (p *shrinkProducer) partitions(context.Context, string) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	parts := make([]int, p.count)
	for i := range parts {
		parts[i] = i
	}
	return parts, nil
}

func (p *shrinkProducer) produce(ctx context.Context, d dest, msgs []message) error {
	p.mu.Lock()
	g := p.gate[d.partition]
	p.mu.Unlock()
	if g != nil {
		select {
		case p.sent <- d.partition:
		default:
		}
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d.partition >= p.count {
		return kafka.UnknownTopicOrPartition
	}
	p.got = append(p.got, msgs...)
	return nil
}

// A lane of a partition that is gone has its request in flight when the
// new count is first seen: the new records of its keys join it and move
// with it, behind its older records, so every key keeps its order.
func TestPartitionGoneInFlightKeepsOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Kafka.Batch.Linger = time.Millisecond
	cfg.Kafka.Retry = RetryConfig{BackoffMin: time.Millisecond, BackoffMax: 10 * time.Millisecond}
	prod := &shrinkProducer{count: 3, gate: map[int]chan struct{}{2: make(chan struct{})}, sent: make(chan int, 1)}
	h := runShipperWith(t, cfg, nil, func(s *Shipper) { s.prod = prod })
	const pods = 24
	for i := range pods {
		feed(t, h.logs, makeLogs(uint64(i), 0, 5, metaFor(i)))
	}
	select {
	case <-prod.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("no request to partition 2")
	}
	prod.mu.Lock()
	prod.count = 1
	prod.mu.Unlock()
	for i := range pods {
		feed(t, h.logs, makeLogs(uint64(i), 5, 5, metaFor(i)))
	}
	// Every first-batch record not on partition 2 and the new records
	// placed, then the gate opens: partition 2's answer says it is gone.
	waitFor(t, 10*time.Second, "the records not held by partition 2 confirmed", func() bool {
		prod.mu.Lock()
		defer prod.mu.Unlock()
		n := 0
		for i := range pods {
			if murmur2.Balance(kafka.Message{Key: []byte(fmt.Sprintf("uid-%d", i))}, 0, 1, 2) != 2 {
				n += 10
			}
		}
		return len(prod.got) >= n
	})
	close(prod.gate[2])
	waitAcked(t, h.ack, pods*10)
	h.finish(t)
	last := map[string]int64{}
	for _, m := range prod.got {
		var rec logRecord
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			t.Fatal(err)
		}
		k := string(m.Key)
		if rec.Offset <= last[k] {
			t.Errorf("key %q: offset %d after %d: order broken", k, rec.Offset, last[k])
		}
		last[k] = rec.Offset
	}
	if got := testutil.ToFloat64(h.s.m.replaced.WithLabelValues("log", "partition_gone")); got == 0 {
		t.Error("no record counted as placed again")
	}
}
