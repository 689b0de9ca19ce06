package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFilterDropsEverything: a config author drops every record (a filter
// matching any message, and filter_default drop behind it) while the
// workload writes plain lines and Java traces on both streams. Nothing is
// shipped; every line is acknowledged (the checkpoint reaches the end of
// the file, nothing stays in flight); the counters balance as the README
// says: lines read = records sent + records dropped + merged lines.
func TestFilterDropsEverything(t *testing.T) {
	w, fr := procWorld(t, `  multiline: {rule: java, flush_timeout: 200ms}
  filter_default: drop
  filters:
  - {name: everything, action: drop, message: "."}
`, worldOpt{})
	var b strings.Builder
	lines := 0
	for i := range 50 {
		stream := []string{"stdout", "stderr"}[i%2]
		b.WriteString(cri(stream, fmt.Sprintf("h-seq=%d plain", i)))
		lines++
		if i%10 == 0 {
			b.WriteString(criLines(stream, trace(1000+i, "a", "b", "c")...))
			lines += 5
		}
	}
	b.WriteString(cri("stdout", "")) // an empty line matches no "."
	lines++
	w.raw(w.path, b.String())
	size := fileSize(t, w.path)
	p := w.agent.Start()
	waitFor(t, "the checkpoint at the end of the file", 30*time.Second, func() bool {
		off, ok := w.checkpoint(w.path)
		return ok && off == size
	})
	bal, ok := w.procSettled(float64(lines), 20*time.Second)
	if !ok {
		t.Errorf("counters do not balance: %s", bal)
	}
	if bal.read != float64(lines) || bal.sent != 0 {
		t.Errorf("want %d lines read and none sent: %s", lines, bal)
	}
	if n := w.metric("ferry_process_dropped_total", `rule="default"`); n != 1 {
		t.Errorf(`ferry_process_dropped_total{rule="default"} = %v, want 1 (the empty line)`, n)
	}
	if got := fr.all(); len(got) > 0 {
		t.Errorf("%d records shipped, first %s", len(got), got[0].Raw)
	}
	stop(t, p)
}
