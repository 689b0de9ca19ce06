package hostile

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHostileCorruptMessageForever: the broker answers every Produce of the
// logs topic CORRUPT_MESSAGE (its CRC check is broken, or a proxy damages
// every request the same way). pkg/ship's doc: a request answered so 3
// times in a row is bisected, and a lone record answered so 3 times in a
// row is dropped (reason corrupt_message); one poisoned record among n
// costs about 2*log2(n) extra requests. 16 lines of one file are then
// dropped, counted, after a few dozen requests: within a minute. The
// lane's backoff is not reset by a bisection, so every level of it waits
// longer (up to kafka.retry.backoff_max): observed 2 of 16 dropped in 60 s
// (38 requests), the file held for about eight minutes.
func TestHostileCorruptMessageForever(t *testing.T) {
	t.Skip("known: under CORRUPT_MESSAGE on every request a lane drops about one record per 30 s (backoff not reset by a bisection)")
	w := newWorld(t, worldOpt{})
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs",
		Err: kerr.CorruptMessage, Count: -1})
	defer h.Remove()
	w.lines(w.path, 0, 16)
	p := w.agent.Start()
	var dropped float64
	eventually(60*time.Second, func() bool {
		if m, err := w.agent.Scrape(); err == nil {
			dropped = m.Sum("ferry_ship_dropped_records_total", `record="log"`, `reason="corrupt_message"`)
		}
		return dropped >= 16
	})
	t.Logf("%v of 16 records dropped as corrupt_message within 60 s, %d requests answered CORRUPT_MESSAGE", dropped, h.Hits())
	if dropped < 16 {
		t.Errorf("%v of 16 records dropped within 60 s (%d requests): a lane answered CORRUPT_MESSAGE to every request drains about a record per 30 s",
			dropped, h.Hits())
	}
	stop(t, p)
}
