package ship

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// A broker that goes away is not a topic that does not exist. After the
// connection breaks, ship replaces kafka-go's Transport; the new one
// cannot fetch metadata, and kafka-go then fails a produce request with
// "topic not found" (protocol.ErrNoTopic: its empty layout lacks the
// topic), which ship took for an unknown topic: a templated topic's
// records were sent to the fallback topic (and the topic marked missing
// for a minute), the failure was reported as unknown_topic with the hint
// to create the topic, and the drain at shutdown gave up as on a refusal
// (below).
func TestHostile5BrokerGoneIsNotAnUnknownTopic(t *testing.T) {
	b := e2eharness.NewBroker(t, kfake.SeedTopics(3, "logs-shop", "logs-fallback"))
	cfg := testKafkaConfig(b.Addr())
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs-{{.Namespace}}", "logs-fallback"
	h := runShipper(t, cfg, nil)
	feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
	waitFor(t, 20*time.Second, "the first records confirmed", func() bool { return len(h.ack.cursors()) == 10 })
	b.Stop()
	feed(t, h.logs, makeLogs(1, 10, 10, metaFor(1)))
	waitFor(t, 20*time.Second, "sends failing with the broker gone", func() bool { return testutil.ToFloat64(h.s.m.sendFailures) >= 3 })
	b.Start()
	waitFor(t, 30*time.Second, "every record confirmed once the broker is back", func() bool { return len(h.ack.cursors()) == 20 })
	h.finish(t)
	recs := consumeDistinct(t, b.Addr(), 20, []string{"logs-shop", "logs-fallback"})
	inFallback := 0
	for _, r := range recs {
		if r.Topic == "logs-fallback" {
			inFallback++
		}
	}
	unknown := testutil.ToFloat64(h.s.m.destFailures.WithLabelValues("templated", "unknown_topic"))
	if inFallback > 0 || unknown > 0 {
		t.Errorf("with the broker gone for a while, %d of 20 records went to the fallback topic and %v failures were counted as unknown_topic (the topic logs-shop exists); log:\n%s", inFallback, unknown, h.logBuf.String())
	}
}

// At shutdown with the broker gone, the drain retries until the hard stop
// (doc.go: "Other failures (a broker down, timeouts) are retried until the
// hard stop"); it gave up after about two seconds, as on a topic that
// does not exist, so a broker back within shutdown_timeout got nothing.
func TestHostile5DrainWaitsForABrokerGone(t *testing.T) {
	b := e2eharness.NewBroker(t)
	h := runShipper(t, testKafkaConfig(b.Addr()), nil)
	feed(t, h.logs, makeLogs(1, 0, 10, metaFor(1)))
	waitFor(t, 20*time.Second, "the first records confirmed", func() bool { return len(h.ack.cursors()) == 10 })
	b.Stop()
	feed(t, h.logs, makeLogs(1, 10, 10, metaFor(1)))
	waitFor(t, 20*time.Second, "a send failing with the broker gone", func() bool { return testutil.ToFloat64(h.s.m.sendFailures) >= 1 })
	close(h.logs)
	close(h.metrics)
	// Well past the drain's patience (drainPatience and a refresh): Run
	// must still be waiting for the broker.
	select {
	case err := <-h.errc:
		t.Fatalf("with the broker gone, the drain ended by itself before the hard stop: %v (refused: %v)", err, errors.Is(err, errRefused))
	case <-time.After(3 * drainPatience):
	}
	b.Start()
	select {
	case err := <-h.errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end once the broker was back")
	}
	if n := len(h.ack.cursors()); n != 20 {
		t.Errorf("%d of 20 records confirmed", n)
	}
}
