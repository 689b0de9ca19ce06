package ship

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// A broker that answers produce requests three times slower than
// write_timeout (the 3 s against 1 s, scaled down tenfold), while
// lines keep coming: every line is delivered, with at most one extra copy
// (the broker stores a timed-out request; the next attempt waits four
// times longer and gets its answer).
func TestSlowBrokerDuplicateBound(t *testing.T) {
	const answerIn, writeTimeout = 300 * time.Millisecond, 100 * time.Millisecond
	c, addr := startCluster(t, kfake.SeedTopics(3, "logs"))
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		// The broker's latency, not synchronisation: the request is served
		// normally after it.
		c.SleepControl(func() { time.Sleep(answerIn) })
		return nil, nil, false
	})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.WriteTimeout = writeTimeout
	h := runShipper(t, cfg, nil)
	var sent [][]event.Log
	// Six seconds of lines (20 answer times), a slice every 100 ms.
	const slices = 60
	for i := range slices {
		ls := makeLogs(uint64(i%3), (i/3)*5, 5, metaFor(i%3))
		sent = append(sent, ls)
		select {
		case h.logs <- ls:
		case <-time.After(30 * time.Second):
			t.Fatalf("ship stopped taking lines after %d slices", i)
		}
		<-time.After(100 * time.Millisecond) // the producer's pace
	}
	h.finish(t)
	total := 5 * slices
	all, ok := consumeWithin(t, addr, 30*time.Second, func(r []*kgo.Record) bool { return len(dedup(r)) >= total }, "logs")
	if !ok {
		t.Fatalf("%d of %d lines delivered", len(dedup(all)), total)
	}
	// Let the consumer see copies stored after the last answer.
	all, _ = consumeWithin(t, addr, time.Second, func(r []*kgo.Record) bool { return false }, "logs")
	copies := map[string]int{}
	most := 0
	for _, r := range all {
		var rec logRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%s@%d", rec.File, rec.Offset)
		copies[k]++
		most = max(most, copies[k])
	}
	t.Logf("%d lines, %d records stored, at most %d copies of a line; %v retries",
		total, len(all), most, testutil.ToFloat64(h.s.m.retries))
	if len(copies) != total {
		t.Errorf("%d distinct lines stored, want %d", len(copies), total)
	}
	if most > 2 {
		t.Errorf("a line was stored %d times: more than one extra copy", most)
	}
	checkPerKeyOrder(t, dedup(all))
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}
