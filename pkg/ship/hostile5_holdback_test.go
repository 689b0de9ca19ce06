package ship

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// A missing metrics topic (the first case of the isolation work) holds
// its metric records, which count against the metric budget, not the
// log budget. They must not count towards the failing share of the log
// budget that holds files back: with a large snapshot held for the
// missing metrics topic, one log record failing once (a leadership
// change) held back its file, and a warning said the failing
// destinations held half the log budget while the log lanes held one
// record.
func TestHostile5MetricRecordsDoNotHoldBackLogFiles(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs")) // "metrics" is never created
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes, cfg.Kafka.MaxMessageBytes = 8<<10, 8<<10 // log budget 40 KiB, metric 8 KiB
	hb := &event.Holdback{}
	h := runShipper(t, cfg, nil, func(o *Options) { o.Holdback = hb })
	// One snapshot of about 40 KiB: more than the metric budget (taken
	// whole, as one input slice) and more than half the log budget.
	ms := make([]event.Metric, 400)
	for i := range ms {
		ms[i] = event.Metric{Name: fmt.Sprintf("node_some_long_metric_name_%04d", i), Labels: []event.Label{{Name: "device", Value: "nvme0n1p1"}}, Value: float64(i)}
	}
	feed(t, h.metrics, event.Snapshot{Node: "node-1", Time: time.Now(), Metrics: ms})
	waitFor(t, 20*time.Second, "the metrics destination refused", func() bool {
		return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("metrics", "unknown_topic")) >= 1 &&
			testutil.ToFloat64(h.s.m.heldBytes) > float64(h.s.logBudget/2)
	})
	// One log record whose partition answers NOT_LEADER once.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Err: kerr.NotLeaderForPartition, Count: 1})
	feed(t, h.logs, makeLogs(7, 0, 1, metaFor(7)))
	waitFor(t, 20*time.Second, "the log record confirmed", func() bool { return len(h.ack.cursors()) == 1 })
	out := h.logBuf.String()
	if testutil.ToFloat64(h.s.m.sendFailures) < 2 {
		t.Fatalf("the log partition never failed; log:\n%.3000s", out)
	}
	for _, w := range []string{"hold half the log budget", "holds a quarter of the log budget", "no longer holds back its files"} {
		if strings.Contains(out, w) {
			t.Errorf("metric records held for a missing topic counted against the log budget: %q logged:\n%.3000s", w, out)
			break
		}
	}
}

// A partition refusing long enough that its files are held back, then
// gone: the topic is deleted and created again with fewer partitions
// while the lane is held. Its records are placed again on the partitions
// that exist, its files released (ferry_ship_held_back_files back to 0),
// every record confirmed.
func TestHostile5HeldPartitionGone(t *testing.T) {
	c, addr := startCluster(t, kfake.SeedTopics(4, "logs"))
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{3},
		Err: kerr.NotEnoughReplicas, Count: -1})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Batch.MaxBytes, cfg.Kafka.MaxMessageBytes = 8<<10, 8<<10 // a budget of 40 KiB
	hb := &event.Holdback{}
	h := runShipper(t, cfg, nil, func(o *Options) { o.Holdback = hb })
	s := h.s
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", tailOf(h.logBuf.String(), 4000))
		}
	})
	var sent [][]event.Log
	next := map[int]int{}
	// Files of partition 3 only, until one is held back.
	var keys []int
	for k := 0; len(keys) < 4; k++ {
		if partOfN(k, 4) == 3 {
			keys = append(keys, k)
		}
	}
	first := makeLogs(uint64(keys[0]), 0, 1, metaFor(keys[0]))
	next[keys[0]] = 1
	sent = append(sent, first)
	feed(t, h.logs, first)
	waitFor(t, 20*time.Second, "partition 3 failing", func() bool { return testutil.ToFloat64(s.m.sendFailures) >= 1 })
	for round := 0; hb.Len() == 0; round++ {
		if round > 2000 {
			t.Fatalf("no file held back; held bytes %v", testutil.ToFloat64(s.m.heldBytes))
		}
		k := keys[round%len(keys)]
		if hb.Held(uint64(k)) {
			continue
		}
		ls := makeLogs(uint64(k), next[k], 10, metaFor(k))
		next[k] += 10
		sent = append(sent, ls)
		feed(t, h.logs, ls)
	}
	deleteTopic(t, addr, "logs")
	fault.Remove() // partition 3 no longer exists: the broker says so
	createTopic(t, addr, "logs", 2)
	waitFor(t, 30*time.Second, "every record confirmed after the topic came back smaller", func() bool {
		return len(h.ack.cursors()) == len(cursorsOf(sent...))
	})
	waitFor(t, 10*time.Second, "every file released", func() bool { return hb.Len() == 0 })
	h.finish(t)
	if got := testutil.ToFloat64(s.m.holdback); got != 0 {
		t.Errorf("ferry_ship_held_back_files = %v after the held partition was gone", got)
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
