package ship

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker that refuses record batches older than 2 s (Kafka's
// message.timestamp.before.max.ms, which the in-process broker does not
// have: a control function applies it to every produce request, answering
// INVALID_TIMESTAMP) is unavailable (NOT_ENOUGH_REPLICAS) until the held
// records are older than that. Each attempt stamps its records anew, so
// once the outage ends they are accepted: none is refused as too old, and
// every record arrives once.
func TestKafkaBrokerRefusesOldTimestamps(t *testing.T) {
	c, addr := startCluster(t)
	const maxAge = 2 * time.Second
	var outage atomic.Bool
	outage.Store(true)
	var refusedOld, attempts atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		now := time.Now().UnixMilli()
		old := false
		for _, tp := range pr.Topics {
			for _, p := range tp.Partitions {
				var b kmsg.RecordBatch
				if err := b.ReadFrom(p.Records); err != nil {
					t.Errorf("record batch: %v", err)
				} else if now-b.FirstTimestamp > maxAge.Milliseconds() {
					old = true
				}
			}
		}
		attempts.Add(1)
		if !outage.Load() && !old {
			return nil, nil, false // the broker stores it
		}
		code := kerr.NotEnoughReplicas.Code
		if old {
			code = kerr.InvalidTimestamp.Code
			refusedOld.Add(1)
		}
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	h := runShipper(t, testKafkaConfig(addr), nil)
	feed(t, h.logs, makeLogs(1, 0, 20, metaFor(1)))
	waitFor(t, 20*time.Second, "the held records to be older than the broker takes", func() bool {
		return unconfirmedAge(t, h, "logs") > (maxAge + time.Second).Seconds()
	})
	outage.Store(false)
	recs := consume(t, addr, 20, []string{"logs"})
	h.finish(t)
	if len(recs) != 20 || len(dedup(recs)) != 20 {
		t.Errorf("consumed %d records (%d distinct), want 20 once each", len(recs), len(dedup(recs)))
	}
	if n := refusedOld.Load(); n != 0 {
		t.Errorf("%d produce requests refused as too old (of %d): a retry kept its first attempt's time", n, attempts.Load())
	}
	if n := attempts.Load(); n < 3 {
		t.Errorf("%d produce attempts: the outage was not retried through", n)
	}
}

// unconfirmedAge is ferry_ship_destination_unconfirmed_age_seconds of
// destination d, as scraped now.
func unconfirmedAge(t testing.TB, h *harness, d string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ferry_ship_destination_unconfirmed_age_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination" && l.GetValue() == d {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
