package hostile

import (
	"strings"
	"testing"
	"time"
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
