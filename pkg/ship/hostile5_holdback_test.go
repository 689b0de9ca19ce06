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
	waitUntil(t, "the metrics destination refused", func() bool {
		return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("metrics", "unknown_topic")) >= 1 &&
			testutil.ToFloat64(h.s.m.heldBytes) > float64(h.s.logBudget/2)
	})
	// One log record whose partition answers NOT_LEADER once.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Err: kerr.NotLeaderForPartition, Count: 1})
	feed(t, h.logs, makeLogs(7, 0, 1, metaFor(7)))
	waitUntil(t, "the log record confirmed", func() bool { return len(h.ack.cursors()) == 1 })
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
