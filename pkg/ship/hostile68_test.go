package ship

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pingBurst sends n pings at once and returns their errors.
func pingBurst(s *Shipper, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs[i] = s.Ping(ctx)
		}()
	}
	wg.Wait()
	return errs
}

// TestHostile68PingOnlyConnection: the agent pings an idle sink every 10s
// with an ApiVersions request on a bootstrap (control) connection. Once
// the connection that carried the metadata request is closed as idle
// (30s), a ping opens a connection whose only requests are pings:
// ApiVersions, which countingConn takes for the opening exchange, so the
// connection stays bounded by its dial plus dial_timeout forever. The
// next ping on it, dial_timeout after the dial (20s later with the
// defaults), fails with an i/o timeout against a healthy broker; and so
// every other ping of an idle agent.
func TestHostile68PingOnlyConnection(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.DialTimeout = 300 * time.Millisecond
	h := runShipper(t, cfg, nil)
	dials := h.s.m.dials.WithLabelValues("ok")
	// Concurrent pings until one went on a connection of its own (the
	// bootstrap connection of the metadata request is busy with another).
	for i := 0; testutil.ToFloat64(dials) < 2; i++ {
		if i == 50 {
			t.Fatalf("50 bursts of pings and still %v connections", testutil.ToFloat64(dials))
		}
		for _, err := range pingBurst(h.s, 4) {
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
		}
	}
	// The connections are idle (kafka-go keeps them 30s); let dial_timeout
	// pass since they were opened: that is the point of the test, not
	// synchronisation.
	time.Sleep(3 * cfg.Kafka.DialTimeout)
	for range 3 {
		for _, err := range pingBurst(h.s, 4) {
			if err != nil {
				t.Fatalf("a ping of a healthy broker failed on a connection older than dial_timeout that had carried only pings: %v", err)
			}
		}
	}
	h.finish(t)
}
