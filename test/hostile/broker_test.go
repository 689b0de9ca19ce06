package hostile

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetricsTopicMissing: host metrics are on (every second) but
// sink.kafka.metrics_topic names a topic the broker does not have (and
// auto-creation is off). Logs must still flow, the counters of log records
// must balance, and SIGTERM must end the process within shutdown_timeout.
func TestMetricsTopicMissing(t *testing.T) {
	w := newWorld(t, worldOpt{
		top:  "hostmetrics: {enabled: true, interval: 1s}\n",
		sink: []string{"metrics_topic: no-such-topic"},
		edit: func(s string) string { return strings.Replace(s, "shutdown_timeout: 15s", "shutdown_timeout: 3s", 1) },
	})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	// Several metric snapshots later, logs still flow.
	waitFor(t, "three metric snapshots taken", 20*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_hostmetrics_snapshots_total") >= 3
	})
	w.lines(w.path, 100, 200)
	w.waitSeqs(100, 200, 20*time.Second)
	m := w.settled(200, 20*time.Second)
	w.check(0, 200, false)
	t.Logf("metric records sent %v, dropped %v; send failures %v",
		m.Sum("ferry_ship_records_sent_total", `record="metric"`), m.Sum("ferry_ship_dropped_records_total", `record="metric"`),
		m.Sum("ferry_ship_send_failures_total"))
	start := time.Now()
	stop(t, p)
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("SIGTERM took %s with shutdown_timeout 3s", d.Round(time.Millisecond))
	}
}

// TestBrokerSlowerThanWriteTimeout: every Produce is answered after 2.5 s
// while write_timeout is 1 s, for 8 s; the broker stores what it answers
// late. Nothing is lost; the late answers may cause duplicates (at least
// once), reported; the counters balance afterwards.
func TestBrokerSlowerThanWriteTimeout(t *testing.T) {
	guarded(t)
	var slow atomic.Bool
	var delayed atomic.Int64
	w := newWorld(t, worldOpt{sink: []string{"write_timeout: 1s", "retry: {backoff_min: 100ms, backoff_max: 1s}"}})
	c := w.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if slow.Load() {
			delayed.Add(1)
			c.SleepControl(func() { time.Sleep(2500 * time.Millisecond) })
		}
		return nil, nil, false
	})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	slow.Store(true)
	pace := time.NewTicker(time.Second) // the container writes 100 lines a second
	for i := 1; i <= 8; i++ {
		w.lines(w.path, i*100, i*100+100)
		<-pace.C
	}
	pace.Stop()
	slow.Store(false)
	w.waitSeqs(0, 900, 60*time.Second)
	w.lines(w.path, 900, 901)
	w.waitSeqs(900, 901, 30*time.Second)
	m := w.settled(901, 30*time.Second)
	lost, dup := w.count(0, 901)
	t.Logf("%d produce requests delayed; lost %d, duplicates %d; send failures %v", delayed.Load(), lost, dup, m.Sum("ferry_ship_send_failures_total"))
	w.check(0, 901, true)
	stop(t, p)
}

// TestOnePartitionRefuses: partition 0 of the logs topic answers every
// Produce with NOT_ENOUGH_REPLICAS (retryable) for a while; pods whose
// records go to the other partitions must keep flowing meanwhile (one sick
// partition must not stop the node's logs), and everything arrives once
// the partition heals (pkg/ship's doc, Isolation: one lane per partition).
// Which pods get more lines is decided once, from the pods wholly delivered
// at that moment: the consumer keeps receiving meanwhile, so asking again
// later would name pods that were given no new lines.
func TestOnePartitionRefuses(t *testing.T) {
	w := newWorld(t, worldOpt{})
	const pods = 12
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
	}
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{0},
		Err: kerr.NotEnoughReplicas, Count: -1})
	for i, p := range paths {
		mkdirFor(t, p)
		w.lines(p, i*1000, i*1000+50)
	}
	p := w.agent.Start()
	// At least one pod is wholly delivered while partition 0 refuses.
	waitFor(t, "a pod wholly delivered while partition 0 refuses", 20*time.Second, func() bool {
		for i := range paths {
			if w.missing(i*1000, i*1000+50) == "" {
				return true
			}
		}
		return false
	})
	// More lines while the fault holds: pods on healthy partitions still flow.
	wrote := make([]bool, pods)
	delivered := 0
	for i, p := range paths {
		if w.missing(i*1000, i*1000+50) == "" {
			wrote[i] = true
			delivered++
			w.lines(p, i*1000+50, i*1000+100)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := range paths {
		if !wrote[i] {
			continue
		}
		for w.missing(i*1000+50, i*1000+100) != "" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if miss := w.missing(i*1000+50, i*1000+100); miss != "" {
			m, _ := w.agent.Scrape()
			var ship []string
			for k, v := range m {
				if (strings.HasPrefix(k, "ferry_ship_") || strings.HasPrefix(k, "ferry_tail_inflight")) && !strings.Contains(k, "_bucket") && v != 0 {
					ship = append(ship, fmt.Sprintf("%s %v", k, v))
				}
			}
			sort.Strings(ship)
			t.Fatalf("pod %d (a healthy partition): the lines written while partition 0 refuses did not arrive within 20 s: %s (%d requests refused)\n%s",
				i, miss, h.Hits(), strings.Join(ship, "\n"))
		}
	}
	t.Logf("%d of %d pods delivered while partition 0 refused (%d requests refused)", delivered, pods, h.Hits())
	if h.Hits() == 0 {
		t.Fatal("the fault refused nothing")
	}
	h.Remove()
	for i, p := range paths {
		if !wrote[i] {
			w.lines(p, i*1000+50, i*1000+100)
		}
	}
	for i := range paths {
		w.waitSeqs(i*1000, i*1000+100, 30*time.Second)
	}
	w.settled(float64(pods*100), 20*time.Second)
	for i := range paths {
		w.check(i*1000, i*1000+100, false)
	}
	stop(t, p)
}

// TestOnePartitionRejectsRecords: partition 0 of the logs topic answers
// every Produce with INVALID_RECORD (not retryable: the records are dropped
// and counted, after bisection). The pods on the other partitions lose
// nothing; every line not received is counted in
// ferry_ship_dropped_records_total{reason="invalid_record"}, exactly; the
// counters balance and the agent exits on SIGTERM.
func TestOnePartitionRejectsRecords(t *testing.T) {
	w := newWorld(t, worldOpt{})
	const pods, per = 12, 40
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.lines(paths[i], i*1000, i*1000+per)
	}
	h := w.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "logs", Partitions: []int32{0},
		Err: kerr.InvalidRecord, Count: -1})
	defer h.Remove()
	p := w.agent.Start()
	m := w.settled(pods*per, 30*time.Second)
	// What was confirmed reaches the consumer: then the lines not
	// received are exactly those dropped.
	missing := 0
	waitFor(t, "the consumer to settle", 10*time.Second, func() bool {
		n := 0
		for i := range paths {
			l, _ := w.count(i*1000, i*1000+per)
			n += l
		}
		missing = n
		return float64(n) == m.Sum("ferry_ship_dropped_records_total", `record="log"`)
	})
	dropped := m.Sum("ferry_ship_dropped_records_total", `record="log"`, `reason="invalid_record"`)
	t.Logf("%d lines not received, %v dropped as invalid_record (%d requests refused)", missing, dropped, h.Hits())
	if h.Hits() == 0 || missing == 0 {
		t.Fatal("no pod on partition 0: the attack did nothing")
	}
	if float64(missing) != dropped {
		t.Errorf("%d lines not received but %v counted dropped (invalid_record)", missing, dropped)
	}
	for i := range paths {
		_, d := w.count(i*1000, i*1000+per)
		if d > 0 {
			t.Errorf("pod %d: %d duplicates", i, d)
		}
	}
	stop(t, p)
}
