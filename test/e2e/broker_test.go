package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// outageNode: 24 containers at 100 lines/s, rotating at 512 KiB (about
// every 25 s), so that the files written during an outage stay on disk.
func outageNode(seed uint64) simnode.Config {
	return simnode.Config{Pods: 12, ContainersPerPod: 2, LinesPerSecond: 100, LongEvery: 100, LongBytes: 20 << 10,
		RotateBytes: 512 << 10, Keep: 4, Compress: true, Seed: seed}
}

// keepDeleted keeps files that kubelet deletes during a long outage open
// until they are read: the files on disk are the buffer.
func keepDeleted(d time.Duration) func(*e2eharness.AgentConfig) {
	return func(c *e2eharness.AgentConfig) {
		c.Logs = append(c.Logs, fmt.Sprintf("delete_wait: %s", 2*d+time.Minute))
	}
}

// TestBrokerDown: the broker goes away (connections closed, port refusing)
// for FERRY_CHAOS_OUTAGE under load, then comes back on the same port with
// its data. Nothing is lost. Duplicates are bounded by the records whose
// produce the broker stored but whose answer was lost when it closed: at
// most what ship holds (ferry_ship_held_bytes_limit) divided by the
// smallest encoded record here (over 200 bytes: a 40-byte message, its
// file path and metadata).
func TestBrokerDown(t *testing.T) { brokerDown(t, outageNode(3), outage(t)) }

// TestBrokerDownFastRotation is TestBrokerDown with files rotated every ~3 s
// (128 KiB), so that a 15 s outage spans several rotations: while the sink
// is down the tailer must keep discovering and opening new files (and hold
// the ones kubelet renames and gzips away), or their lines are lost.
func TestBrokerDownFastRotation(t *testing.T) {
	n := outageNode(9)
	n.RotateBytes = 128 << 10
	brokerDown(t, n, 15*time.Second)
}

// TestBrokerDownFastRotationLinks is TestBrokerDownFastRotation with the
// agent reading the kubelet's link directory (logs.include
// /var/log/containers/*.log, as many log agents are set up): the files
// kubelet rotates and gzips while the sink is down lie beside the links'
// targets, not beside the links, and must be found there.
func TestBrokerDownFastRotationLinks(t *testing.T) {
	n := outageNode(11)
	n.RotateBytes = 128 << 10
	n.Links = "containers"
	brokerDown(t, n, 15*time.Second, func(c *e2eharness.AgentConfig) {
		c.Include = filepath.Join(filepath.Dir(c.Root), "containers", "*.log")
	})
}

func brokerDown(t *testing.T, n simnode.Config, d time.Duration, mods ...func(*e2eharness.AgentConfig)) {
	e := newEnv(t, n, func(c *e2eharness.AgentConfig) {
		keepDeleted(d)(c)
		for _, m := range mods {
			m(c)
		}
	})
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	e.shipping(300)
	failures := e.scrape().Sum("ferry_ship_send_failures_total")
	e.broker.Stop()
	down, writtenAtDown := time.Now(), e.node.Written()
	// What was in flight fails: a send failure counted after the stop.
	waitFor(t, "a send failure after the broker stopped", 30*time.Second, func() bool {
		return e.scrape().Sum("ferry_ship_send_failures_total") > failures
	})
	before := e.scrape()
	e.lastsFor(writtenAtDown, d, n.LinesPerSecond)
	during := e.scrape()
	written := e.node.Written()
	e.broker.Start()
	t.Logf("broker down %.1fs; %d lines written by then", time.Since(down).Seconds(), written)

	sentDuring := during.Sum("ferry_ship_records_sent_total", `record="log"`) - before.Sum("ferry_ship_records_sent_total", `record="log"`)
	if sentDuring != 0 {
		t.Errorf("%v records reported sent while the broker was down", sentDuring)
	}
	if f := during.Sum("ferry_ship_send_failures_total"); f == 0 {
		t.Errorf("no send failure counted during the outage")
	}
	if r := during.Sum("ferry_tail_lines_read_total") - during.Sum("ferry_ship_records_sent_total", `record="log"`); r <= 0 {
		t.Errorf("no line waiting during the outage (read - sent = %v)", r)
	}
	if out := p.Output(); !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "send failed") {
		t.Errorf("the agent did not warn about failed sends during the outage")
	}
	e.shipping(300) // shipping again
	e.stop()
	bound := int64(during.Sum("ferry_ship_held_bytes_limit") / 200)
	e.drain("broker-down", bound, 90*time.Second)
	e.balanced()
	e.term(p)
}

// TestBrokerRefusesProduce: the broker answers every Produce with
// NOT_ENOUGH_REPLICAS (retryable; nothing stored) for FERRY_CHAOS_OUTAGE,
// then accepts again. Nothing is lost, nothing is duplicated.
func TestBrokerRefusesProduce(t *testing.T) {
	d := outage(t)
	n := outageNode(4)
	e := newEnv(t, n, keepDeleted(d))
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	e.shipping(300)
	h := e.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.NotEnoughReplicas, Count: -1})
	faultAt, writtenAtFault := time.Now(), e.node.Written()
	// A refusal seen by the agent: what was in flight before the fault
	// has its answer.
	failures := e.scrape().Sum("ferry_ship_send_failures_total")
	waitFor(t, "a send refused", 30*time.Second, func() bool {
		return h.Hits() > 0 && e.scrape().Sum("ferry_ship_send_failures_total") > failures
	})
	before := e.scrape()
	e.lastsFor(writtenAtFault, d, n.LinesPerSecond)
	during := e.scrape()
	h.Remove()
	t.Logf("produce refused for %.1fs (%d lines written meanwhile): %d requests refused",
		time.Since(faultAt).Seconds(), e.node.Written()-writtenAtFault, h.Hits())
	if h.Hits() == 0 {
		t.Fatal("the fault refused nothing")
	}
	sentDuring := during.Sum("ferry_ship_records_sent_total", `record="log"`) - before.Sum("ferry_ship_records_sent_total", `record="log"`)
	if sentDuring != 0 {
		t.Errorf("%v records reported sent while the broker refused them", sentDuring)
	}
	if f := during.Sum("ferry_ship_send_failures_total") - before.Sum("ferry_ship_send_failures_total"); f == 0 {
		t.Errorf("no send failure counted while produce was refused")
	}
	e.shipping(300) // shipping again
	e.stop()
	e.drain("produce-refused", 0, 90*time.Second)
	e.balanced() // and no record dropped for a retryable refusal
	e.term(p)
}

// TestSlowBroker: every Produce answer is delayed by 500ms while the node
// writes faster than that lets through, with memory.queue_bytes 1 MiB.
// Reading pauses (backpressure is counted), the in-flight bytes stay within
// the limit plus one read turn's accounted cost plus the longest line (see
// TestInflightBoundAsDocumented), and when the broker is fast again
// everything arrives, once.
func TestSlowBroker(t *testing.T) { slowBroker(t) }

func slowBroker(t *testing.T) {
	const queue, turn, long = 1 << 20, 64 << 10, 20 << 10
	// A line's bytes in flight: its message plus one CRI header per
	// partial (well under 256 bytes for a 20 KiB line).
	const longest = long + 256
	e := newEnv(t, simnode.Config{Pods: 10, ContainersPerPod: 2, LinesPerSecond: 200, LongEvery: 50, LongBytes: long,
		RotateBytes: 8 << 20, Keep: 4, Compress: true, Seed: 5}, func(c *e2eharness.AgentConfig) {
		c.QueueBytes = queue
		c.Logs = append(c.Logs, fmt.Sprintf("read_bytes_per_turn: %d", turn))
	})
	var slow atomic.Bool
	slow.Store(true)
	var delayed atomic.Int64
	c := e.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if slow.Load() {
			delayed.Add(1)
			c.SleepControl(func() { time.Sleep(500 * time.Millisecond) })
		}
		return nil, nil, false // then handled as usual
	})
	e.cons.Start()
	p := e.agent.Start()
	e.write()

	var maxInflight, limit, maxHeld, heldLimit, maxRSS float64
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m, err := e.agent.Scrape()
		if err != nil {
			t.Fatal(err)
		}
		maxInflight = max(maxInflight, m.Sum("ferry_tail_inflight_bytes"))
		limit = m.Sum("ferry_tail_inflight_limit_bytes")
		maxHeld = max(maxHeld, m.Sum("ferry_ship_held_bytes"))
		heldLimit = m.Sum("ferry_ship_held_bytes_limit")
		maxRSS = max(maxRSS, m.Sum("process_resident_memory_bytes"))
		time.Sleep(100 * time.Millisecond)
	}
	slowM := e.scrape()
	slow.Store(false)
	t.Logf("slow phase: %d produce requests delayed; max inflight %.0f of limit %.0f; max ship held %.0f of %.0f; max RSS %.1f MiB; backpressure %.1fs; behind %.0f bytes",
		delayed.Load(), maxInflight, limit, maxHeld, heldLimit, maxRSS/(1<<20),
		slowM.Sum("ferry_tail_backpressure_seconds_total"), slowM.Sum("ferry_tail_behind_bytes"))
	if limit != queue {
		t.Errorf("ferry_tail_inflight_limit_bytes %v, want memory.queue_bytes %d", limit, queue)
	}
	// A read turn is accounted at its real cost: its bytes plus each line's
	// record and acknowledgement entry (pkg/tail's lineOverhead, 176 bytes
	// on amd64; 256 bounds it), and no CRI line is shorter than 40 bytes.
	const perLine, minLine = 256, 40
	turnCost := turn + turn/minLine*perLine
	if maxInflight > float64(queue+turnCost+longest) {
		t.Errorf("inflight bytes reached %v, over the limit %d plus one read turn's accounted cost %d plus the longest line %d", maxInflight, queue, turnCost, longest)
	}
	if maxHeld > heldLimit {
		t.Errorf("ship held %v bytes, over its limit %v", maxHeld, heldLimit)
	}
	if bp := slowM.Sum("ferry_tail_backpressure_seconds_total"); bp < 1 {
		t.Errorf("ferry_tail_backpressure_seconds_total %v: reading never paused", bp)
	}
	if maxRSS > 128<<20 {
		t.Errorf("RSS reached %.1f MiB with a 1 MiB queue", maxRSS/(1<<20))
	}
	e.stop()
	e.drain("slow-broker", 0, 90*time.Second)
	e.balanced()
	e.term(p)
}
