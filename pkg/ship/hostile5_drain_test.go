package ship

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// A fixed topic created during the drain, just after a metadata refresh
// and before the drain's patience (drainPatience) ran out, must be found:
// the doc promises the patience is "long enough for a metadata refresh: a
// topic created meanwhile is found". The topic is created right after the
// first metadata request that reaches the broker a second or more into the
// drain (the refresh that follows a refusal is at most once a second).
func TestHostile5TopicCreatedDuringDrainIsFound(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "metrics")) // "late" does not exist yet
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	metaAt := make(chan time.Time, 1024)
	c.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case metaAt <- time.Now():
		default:
		}
		return nil, nil, false
	})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "late"
	h := runShipper(t, cfg, nil)
	feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
	waitFor(t, 20*time.Second, "the missing topic refused", func() bool {
		return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("late", "unknown_topic")) >= 1
	})
	drainAt := time.Now()
	close(h.logs)
	close(h.metrics)
	var created time.Duration
	var seen []time.Duration
	var runErr error
wait:
	for {
		select {
		case at := <-metaAt:
			if at.Before(drainAt) {
				continue
			}
			seen = append(seen, at.Sub(drainAt).Round(time.Millisecond))
			if created == 0 && at.Sub(drainAt) >= time.Second {
				createTopic(t, addr, "late", 3)
				created = time.Since(drainAt)
			}
		case runErr = <-h.errc:
			break wait
		case <-time.After(60 * time.Second):
			t.Fatal("Run did not return")
		}
	}
	if created == 0 || created >= drainPatience {
		t.Skipf("the topic was created %v into the drain (metadata requests at %v): not before the patience ran out", created, seen)
	}
	if runErr != nil || len(h.ack.cursors()) != 10 {
		t.Errorf("topic created %v into the drain (metadata requests at %v): Run = %v, %d of 10 records acknowledged; want nil and all",
			created, seen, runErr, len(h.ack.cursors()))
		if errors.Is(runErr, errRefused) {
			t.Logf("the drain gave up on the topic although it existed %v before the patience ran out", drainPatience-created)
		}
	}
}

// A templated topic that does not exist, met first during the drain:
// its records are rerouted to the fallback topic, delivered there and
// acknowledged, and Run returns nil (the drain does not give up on the
// templated topic as on a refusal). Metric records for a missing metrics
// topic, mixed in, are dropped and counted at the end. Holds.
func TestHostile5TemplatedTopicReroutedDuringDrain(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs-fallback")) // no logs-shop, no metrics
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs-{{.Namespace}}", "logs-fallback"
	h := runShipper(t, cfg, nil)
	feed(t, h.metrics, event.Snapshot{Node: "node-1", Time: time.Now(), Metrics: []event.Metric{{Name: "a"}, {Name: "b"}}})
	feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
	close(h.logs)
	close(h.metrics)
	select {
	case err := <-h.errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return; acked %d; log:\n%s", len(h.ack.cursors()), tailOf(h.logBuf.String(), 4000))
	}
	if n := len(h.ack.cursors()); n != 10 {
		t.Errorf("%d of 10 records acknowledged", n)
	}
	recs := consumeDistinct(t, addr, 10, []string{"logs-fallback"})
	if len(recs) != 10 {
		t.Errorf("%d of 10 records in the fallback topic", len(recs))
	}
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("metric", "shutdown")); got != 2 {
		t.Errorf("dropped{metric, shutdown} = %v, want 2", got)
	}
}

// With a topic template and the metrics topic missing (the first case of
// the isolation work, with kafka.topic templated), the metrics topic was
// taken for a templated one: every retry "rerouted" the metric records
// (which have no fallback) into a new lane of the metrics topic, whose
// first failure warned again: two warnings per backoff_min forever ("topic
// does not exist: sending its records to kafka.fallback_topic" naming the
// metrics topic, and "send failed"), and a drain at shutdown that never
// gave up on it.
func TestHostile5MissingMetricsTopicWithTemplate(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs-shop", "logs-fallback")) // no metrics
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := testKafkaConfig(c.ListenAddrs()[0])
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs-{{.Namespace}}", "logs-fallback"
	h := runShipper(t, cfg, nil)
	feed(t, h.metrics, event.Snapshot{Node: "node-1", Time: time.Now(), Metrics: []event.Metric{{Name: "a"}}})
	waitFor(t, 20*time.Second, "ten failed attempts for the metrics topic", func() bool {
		return testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("metrics", "unknown_topic")) >= 10
	})
	out := h.logBuf.String()
	if n := strings.Count(out, "level=WARN"); n > 1 || strings.Contains(out, "sending its records to kafka.fallback_topic") {
		t.Errorf("%d warnings for one missing metrics topic in ten attempts (want the first only):\n%s", n, tailOf(out, 3000))
	}
}
