package hostile

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMultilineBrokerDownAtShutdown: the broker is down when a trace is
// held and then sent on by its flush_timeout; the agent is stopped
// (SIGTERM) during the outage and gives up at shutdown_timeout. Nothing
// of the trace was confirmed, so nothing of it is committed: the next
// agent, with the broker back, reads the trace again and ships it whole,
// and the lines around it arrive.
func TestMultilineBrokerDownAtShutdown(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 300ms}\n", worldOpt{edit: func(s string) string {
		return strings.Replace(s, "shutdown_timeout: 15s", "shutdown_timeout: 2s", 1)
	}})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	w.broker.Stop()
	w.raw(w.path, criLines("stdout", append(trace(10, "add", "put"), "h-seq=11 after the trace")...))
	waitFor(t, "the trace sent on to the sink", 30*time.Second, func() bool {
		return w.metric("ferry_process_multiline_records_total") >= 1 && w.metric("ferry_process_multiline_held_lines") == 0
	})
	if err := p.Term(30 * time.Second); err != nil {
		t.Logf("SIGTERM with the broker down: %v", err)
	}
	w.broker.Start()
	p = w.agent.Start()
	got := fr.waitWith(t, "IllegalStateException: boom 10", 1, 60*time.Second)
	w.waitSeqs(11, 12, 30*time.Second)
	stop(t, p)
	if got[0].Lines != 4 {
		t.Errorf("the trace came out as %d lines, want 4: %s", got[0].Lines, got[0].Raw)
	}
	w.check(0, 12, true)
}

// TestMultilineSlowBroker: the broker holds its Produce answers past
// write_timeout (1 s) until the agent has retried (it stores what it
// answers late), while a container writes Java traces between plain lines.
// Retries may duplicate records (at least once), but every trace arrives
// whole, no line is lost, nothing stays unacknowledged (the checkpoint
// reaches the end of the file, no grouped record waits for its ack) and
// the counters balance.
func TestMultilineSlowBroker(t *testing.T) {
	// Produce requests are held, once slow is set, until the agent timed
	// out on one and retried (its retry counter moved): late answers by an
	// event, not by a clock.
	var slow atomic.Bool
	release := make(chan struct{})
	var releaseOnce sync.Once
	answer := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(answer)
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 300ms}\n",
		worldOpt{sink: []string{"write_timeout: 1s", "retry: {backoff_min: 100ms, backoff_max: 1s}"}})
	c := w.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if slow.Load() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	slow.Store(true)
	var b strings.Builder
	for i := range 20 {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d plain", 100+i)))
		b.WriteString(criLines("stdout", trace(200+i, "a", "b", "c")...))
	}
	b.WriteString(cri("stdout", "h-seq=120 plain"))
	w.raw(w.path, b.String())
	waitFor(t, "the lines read", 30*time.Second, func() bool {
		return w.metric("ferry_tail_lines_read_total") >= 10+20*6+1
	})
	waitFor(t, "a produce answered late", 30*time.Second, func() bool {
		return w.metric("ferry_ship_retries_total") > 0
	})
	slow.Store(false)
	answer()
	w.waitSeqs(100, 120, 60*time.Second)
	w.waitSeqs(200, 220, 60*time.Second)
	w.raw(w.path, cri("stdout", "h-seq=121 last"))
	w.waitSeqs(120, 121, 30*time.Second)
	size := fileSize(t, w.path)
	var off int64
	if !eventually(30*time.Second, func() bool {
		off, _ = w.checkpoint(w.path)
		return off == size && w.metric("ferry_process_unacked_grouped_records") == 0
	}) {
		m, _ := w.agent.Scrape()
		t.Errorf("after the slow broker: checkpoint %d, want the end of the file %d; ferry_process_unacked_grouped_records %v, ferry_tail_inflight_bytes %v; %s",
			off, size, m.Sum("ferry_process_unacked_grouped_records"), m.Sum("ferry_tail_inflight_bytes"), procBalanceOf(m))
	}
	for i := range 20 {
		want := strings.Join(trace(200+i, "a", "b", "c"), "\n")
		for _, r := range fr.with(fmt.Sprintf("boom %d", 200+i)) {
			if r.Message != want {
				t.Errorf("trace %d came out as %q", 200+i, r.Message)
			}
		}
	}
	w.check(100, 121, true)
	w.check(200, 220, true)
	stop(t, p)
}
