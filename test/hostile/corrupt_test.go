package hostile

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestHostileCorruptMessageOnce: the broker answers one Produce with
// CORRUPT_MESSAGE, the CRC check of a request damaged on the way (Kafka
// marks the error retriable; the Java producer retries it). The request
// holds a single record. The next attempt would be stored: the line must
// arrive. pkg/ship's doc says only errors about the record itself drop it;
// a checksum failure of one transfer is not one.
func TestHostileCorruptMessageOnce(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e2eharness.Topic,
		Err: kerr.CorruptMessage, Count: 1})
	defer h.Remove()
	w.lines(w.path, 10, 11) // one line: a request of one record
	waitFor(t, "the damaged request answered", 20*time.Second, func() bool { return h.Hits() == 1 })
	w.lines(w.path, 11, 12)
	w.waitSeqs(11, 12, 30*time.Second)
	m := w.settled(12, 20*time.Second)
	if miss := w.missing(10, 11); miss != "" {
		t.Errorf("the line of a request answered CORRUPT_MESSAGE once never arrived; dropped as invalid_record: %v",
			m.Sum("ferry_ship_dropped_records_total", `reason="invalid_record"`))
	}
	stop(t, p)
}
