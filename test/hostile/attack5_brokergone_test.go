package hostile

import (
	"strings"
	"testing"
	"time"
)

// TestAttack5BrokerGoneAtShutdown: the broker goes away (its port
// refuses) after the first lines were delivered and before the next ones
// are; then SIGTERM. The drain cannot give up early (a refused
// connection is not a refusal of the records), so the hard stop at
// shutdown_timeout (3 s) must end it: the agent exits 0 within a few
// seconds, commits no offset past the last line the broker confirmed,
// and once the broker is back the next agent delivers every line.
func TestAttack5BrokerGoneAtShutdown(t *testing.T) {
	w := newWorld(t, worldOpt{
		edit: func(s string) string { return strings.Replace(s, "shutdown_timeout: 15s", "shutdown_timeout: 3s", 1) },
	})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	w.settled(100, 20*time.Second)
	waitFor(t, "a checkpoint of the delivered lines", 20*time.Second, func() bool {
		c, ok := w.checkpoint(w.path)
		return ok && c > 0
	})
	w.broker.Stop()
	w.lines(w.path, 100, 200)
	waitFor(t, "the new lines read", 20*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_lines_read_total") >= 200
	})
	start := time.Now()
	stop(t, p)
	took := time.Since(start)
	if took > 8*time.Second {
		t.Errorf("SIGTERM took %s with the broker gone and shutdown_timeout 3s", took.Round(time.Millisecond))
	}
	if out := p.Output(); strings.Contains(out, "not waiting for a destination that refuses its records") {
		t.Errorf("the drain took the broker's absence for a refusal and gave up before the hard stop:\n%s", tailOf(out, 3000))
	}
	var size int64
	for i := range 100 {
		size += int64(len(line(i, "")))
	}
	if off, _ := w.checkpoint(w.path); off > size {
		t.Errorf("checkpoint %d after the hard stop, past the %d bytes of the lines the broker confirmed", off, size)
	}
	w.broker.Start()
	p2 := w.agent.Start()
	w.waitSeqs(0, 200, 60*time.Second)
	w.check(0, 200, true)
	stop(t, p2)
	t.Logf("SIGTERM with the broker gone took %s", took.Round(time.Millisecond))
}
