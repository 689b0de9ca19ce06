package e2e

import (
	"os"
	"regexp"
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
	waitFor(t, "the first records", 30*time.Second, func() bool { return e.cons.Records() > 0 })
	h := e.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: e2eharness.Topic,
		Partitions: []int32{1}, Err: kerr.NotEnoughReplicas, Count: -1})
	faultAt := time.Now()
	waitFor(t, "partition 1 to refuse a request", 30*time.Second, func() bool { return h.Hits() > 0 })
	before, r0 := e.scrape(), e.cons.Records()
	// The healthy partitions keep delivering while partition 1 refuses.
	var early e2eharness.Metrics
	waitFor(t, "records of the healthy partitions while partition 1 refuses", 30*time.Second, func() bool {
		early = e.scrape()
		return e.cons.Records() > r0+100 && h.Hits() > 1 &&
			early.Sum("ferry_ship_records_sent_total", `record="log"`) > before.Sum("ferry_ship_records_sent_total", `record="log"`)
	})
	r1 := e.cons.Records()
	// The fault lasts the outage: that is the scenario, not a wait for something.
	time.Sleep(max(0, d-time.Since(faultAt)))
	during := e.scrape()
	h.Remove()
	recovered := e.cons.Records()
	t.Logf("partition 1 refused for %s: %d requests refused; %d records consumed early in it", d, h.Hits(), r1-r0)
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
	// Partition 1's pods write about 0.5 MB/s: within seconds its lane
	// holds a quarter of ship's budget and its files are held back (read
	// no more), so that the lane does not fill the budget and stop every
	// file. The whole pipeline does this: tail and ship share the Holdback.
	if v := during.Sum("ferry_ship_held_back_files"); v == 0 {
		t.Errorf("no file held back while partition 1 refused for %s", d)
	}
	if !strings.Contains(out, "its files are no longer read") {
		t.Errorf("the agent did not warn that partition 1's files are held back")
	}
	// Writing goes on until partition 1's held records come through.
	waitFor(t, "records after partition 1 recovered", 60*time.Second, func() bool { return e.cons.Records() > recovered+100 })
	e.stop()
	e.drain("stuck-partition", 0, 90*time.Second)
	if v := e.balanced().Sum("ferry_ship_held_back_files"); v != 0 {
		t.Errorf("%v files still held back after partition 1 recovered", v)
	}
	e.term(p)
}

// TestMetricsTopicMissing: host metrics on, and their topic does not exist
// (auto-creation off): the log lines keep flowing with their usual
// latency, /readyz says which topic holds records, and the failures are
// counted for the metrics destination only. Nothing of the logs is lost.
func TestMetricsTopicMissing(t *testing.T) {
	e := newEnv(t, outageNode(6), nil)
	cfg, err := os.ReadFile(e.agent.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(cfg), "hostmetrics: {enabled: false}", "hostmetrics: {enabled: true, interval: 1s}", 1)
	s = strings.Replace(s, "    compression: lz4\n", "    compression: lz4\n    metrics_topic: metrics-absent\n    not_ready_after: 5s\n", 1)
	// The drain at SIGTERM must not wait for the missing topic: with
	// ten minutes to flush, the agent still exits within e.term's bound.
	s = regexp.MustCompile(`(?m)^shutdown_timeout: .*$`).ReplaceAllString(s, "shutdown_timeout: 10m")
	if s == string(cfg) || !strings.Contains(s, "metrics-absent") || !strings.Contains(s, "shutdown_timeout: 10m") {
		t.Fatalf("could not rewrite the agent's config:\n%s", cfg)
	}
	if err := os.WriteFile(e.agent.Config, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	waitFor(t, "the first log records", 30*time.Second, func() bool { return e.cons.Records() > 0 })
	r0 := e.cons.Records()
	// Not ready once the metric records waited not_ready_after (5s),
	// and saying why.
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = e.agent.Get("/readyz"); code == 503 && strings.Contains(body, "metrics-absent") {
			break
		}
	}
	r1 := e.cons.Records()
	m := e.scrape()
	t.Logf("/readyz: %s; %d records consumed meanwhile", strings.TrimSpace(body), r1-r0)
	if code != 503 || !strings.Contains(body, "metrics-absent") {
		t.Errorf("/readyz = %d %q, want 503 naming the missing topic", code, body)
	}
	if r1 <= r0 {
		t.Errorf("no log record arrived while the metrics topic was missing")
	}
	if f := m.Sum("ferry_ship_destination_failures_total", `destination="metrics-absent"`, `reason="unknown_topic"`); f == 0 {
		t.Errorf("no unknown_topic failure counted for the metrics destination")
	}
	if f := m.Sum("ferry_ship_destination_failures_total", `destination="logs"`); f != 0 {
		t.Errorf("%v failures counted for the logs destination", f)
	}
	if age := m.Sum("ferry_ship_destination_unconfirmed_age_seconds", `destination="logs"`); age > 5 {
		t.Errorf("the oldest log record waited %.1fs: logs are held behind metrics", age)
	}
	if n := strings.Count(p.Output(), "send failed"); n > 3 {
		t.Errorf("%d warnings about the missing topic in a few seconds: the node's logs are flooded", n)
	}
	e.stop()
	e.drain("metrics-topic-missing", 0, 90*time.Second)
	e.balanced()
	e.term(p)
	if out := p.Output(); !strings.Contains(out, "not waiting for a destination that refuses its records") || !strings.Contains(out, "metrics-absent") {
		t.Errorf("no warning at shutdown naming the refusing destination:\n%s", tailOf(out, 3000))
	}
}
