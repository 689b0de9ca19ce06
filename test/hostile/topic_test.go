package hostile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestHostileTopicRecreatedSmaller: the logs topic (3 partitions) is
// deleted and created again with one partition while records wait in the
// agent for their partitions (the broker was refusing them, retryably).
// Kafka cannot shrink a topic, so this is how an operator does it. The
// records held for partitions 1 and 2 have no partition any more; the
// agent must place them again (or drop and count them), not retry them
// forever: at least once, and nothing held without end.
func TestHostileTopicRecreatedSmaller(t *testing.T) {
	w := newWorld(t, worldOpt{sink: []string{"retry: {backoff_min: 100ms, backoff_max: 500ms}"}})
	const pods = 12
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*1000, i*1000+10)
	}
	p := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*1000, i*1000+10, 30*time.Second)
	}
	// Every partition refuses, retryably: new lines wait in their lanes.
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e2eharness.Topic,
		Err: kerr.NotEnoughReplicas, Count: -1})
	for i, p := range paths {
		w.lines(p, i*1000+10, i*1000+20)
	}
	waitFor(t, "the new lines refused", 20*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && h.Hits() >= 3 && m.Sum("ferry_tail_lines_read_total") >= pods*20
	})
	// The operator recreates the topic with one partition.
	admin, err := kgo.NewClient(kgo.SeedBrokers(w.broker.Addr()))
	must(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(e2eharness.Topic)
	del.Topics = append(del.Topics, dt)
	del.TopicNames = []string{e2eharness.Topic}
	dresp, err := del.RequestWith(ctx, admin)
	must(t, err)
	for _, r := range dresp.Topics {
		must(t, kerr.ErrorForCode(r.ErrorCode))
	}
	h.Remove()
	cr := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = e2eharness.Topic, 1, 1
	cr.Topics = append(cr.Topics, ct)
	cresp, err := cr.RequestWith(ctx, admin)
	must(t, err)
	for _, r := range cresp.Topics {
		must(t, kerr.ErrorForCode(r.ErrorCode))
	}
	// A new consumer of the new topic, from its start.
	seen := consumeFresh(t, w.broker.Addr())
	for i, p := range paths {
		w.lines(p, i*1000+20, i*1000+30)
	}
	missing := func() []string {
		s, _ := seen()
		var out []string
		for i := range paths {
			n := 0
			for q := i*1000 + 10; q < i*1000+30; q++ {
				if s[q] == 0 {
					n++
				}
			}
			if n > 0 {
				out = append(out, fmt.Sprintf("pod%d: %d", i, n))
			}
		}
		return out
	}
	eventually(30*time.Second, func() bool { return len(missing()) == 0 })
	if miss := missing(); len(miss) > 0 {
		m, _ := w.agent.Scrape()
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(e2eharness.Topic)
		mreq.Topics = append(mreq.Topics, mt)
		if mresp, err := mreq.RequestWith(context.Background(), admin); err == nil && len(mresp.Topics) == 1 {
			t.Logf("the broker says the topic has %d partitions", len(mresp.Topics[0].Partitions))
		}
		t.Errorf("30 s after the topic came back with one partition, lines written before and after never arrived (%s); "+
			"dropped %v, held records %v, unknown_topic failures %v",
			strings.Join(miss, ", "), m.Sum("ferry_ship_dropped_records_total", `record="log"`),
			m.Sum("ferry_ship_destination_held_records"), m.Sum("ferry_ship_destination_failures_total", `reason="unknown_topic"`))
	}
	stop(t, p)
}
