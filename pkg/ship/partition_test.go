package ship

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
	if got := testutil.ToFloat64(h.s.m.replaced.WithLabelValues("log", "partition_gone")); got == 0 {
		t.Error("no record counted as placed again (partition_gone)")
	}
}
