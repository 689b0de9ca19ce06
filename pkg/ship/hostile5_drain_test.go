package ship

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	waitUntil(t, "the missing topic refused", func() bool {
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
