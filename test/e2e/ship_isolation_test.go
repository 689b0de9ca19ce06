package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestStuckPartition: partition 1 of the log topic answers every Produce
// NOT_ENOUGH_REPLICAS (retryable, nothing stored) under load for
// FERRY_CHAOS_OUTAGE, while partitions 0 and 2 stay healthy. The lines of
// the containers whose keys the other partitions own keep arriving; the
// stuck partition's are held (ship's budget, then the files on disk) and
// arrive after it recovers; nothing is lost or duplicated. If the outage
// outlasts ship's budget, reading stops for every destination, and the
// agent says so (ferry_ship_budget_full_total names the destination, a
// warning names the partition).
func TestStuckPartition(t *testing.T) {
	d := outage(t)
	e := newEnv(t, outageNode(5), keepDeleted(d))
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	time.Sleep(3 * time.Second)
	h := e.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e2eharness.Topic,
		Partitions: []int32{1}, Err: kerr.NotEnoughReplicas, Count: -1})
	time.Sleep(2 * time.Second)
	before, r0 := e.scrape(), e.cons.Records()
	time.Sleep(3 * time.Second)
	early, r1 := e.scrape(), e.cons.Records()
	time.Sleep(max(0, d-5*time.Second))
	during := e.scrape()
	h.Remove()
	t.Logf("partition 1 refused for %s: %d requests refused; %d records consumed in 3 s of it", d, h.Hits(), r1-r0)
	if h.Hits() == 0 {
		t.Fatal("the fault refused nothing")
	}
	if r1 <= r0 {
		t.Errorf("no record arrived while only partition 1 refused: the healthy partitions were held too")
	}
	if sent := early.Sum("ferry_ship_records_sent_total", `record="log"`) - before.Sum("ferry_ship_records_sent_total", `record="log"`); sent <= 0 {
		t.Errorf("no record counted sent while only partition 1 refused")
	}
	if f := during.Sum("ferry_ship_destination_failures_total", `destination="logs"`, `reason="broker"`); f == 0 {
		t.Errorf("no failure counted for the logs destination")
	}
	out := p.Output()
	if !strings.Contains(out, "send failed") || !strings.Contains(out, `"partition":1`) {
		t.Errorf("the agent did not warn about partition 1")
	}
	if during.Sum("ferry_ship_budget_full_total", `destination="logs"`) > 0 && !strings.Contains(out, "whole in-flight budget") {
		t.Errorf("ship's budget filled but the agent did not say which destination holds it")
	}
	time.Sleep(3 * time.Second)
	e.stop()
	e.drain("stuck-partition", 0, 90*time.Second)
	e.balanced()
	e.term(p)
}
