package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// wideJSON is one JSON line of about size bytes made of many small keys.
func wideJSON(tag string, size int) string {
	var b strings.Builder
	b.WriteString(`{"tag":"` + tag + `"`)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	b.WriteString("}")
	return b.String()
}

// TestHostileJSONManyKeys: a workload logs JSON objects with many keys (a
// dump of a map: 24 000 keys in a 250 KiB line, under the default
// max_line_bytes). The json parser keeps keys unique by comparing each new
// key with every key before it, so a line costs time quadratic in its
// keys: about half a second of CPU per line, where an ordinary 250 KiB
// line costs well under a millisecond. Processing is one goroutine for
// the whole node: two such lines a second from one pod hold back the logs
// of every pod on the node, without end (logfmt keeps keys unique the same
// way). The test writes 5 MiB of them and measures the agent's CPU time
// against the same bytes of JSON in two keys: when written, 6.2 s against
// 0.1 s.
func TestHostileJSONManyKeys(t *testing.T) {
	w, fr := procWorld(t, "  parser: {format: json}\n", worldOpt{})
	p := w.agent.Start()
	// cpuFor writes 20 lines of 250 KiB made by mk and a sentinel h-seq=seq
	// after them, and returns the agent's CPU seconds until the sentinel
	// was shipped.
	cpuFor := func(seq int, mk func(i int) string) (float64, time.Duration) {
		_, ok := w.procSettled(float64(seq*21), 20*time.Second)
		if !ok {
			t.Fatalf("counters do not balance before h-seq=%d", seq)
		}
		cpu0 := w.metric("process_cpu_seconds_total")
		var b strings.Builder
		for i := range 20 {
			b.WriteString(cri("stdout", mk(i)))
		}
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d after the lines", seq)))
		start := time.Now()
		w.raw(w.path, b.String())
		w.waitSeqs(seq, seq+1, 120*time.Second)
		took := time.Since(start)
		w.procSettled(float64(seq*21+21), 20*time.Second)
		return w.metric("process_cpu_seconds_total") - cpu0, took
	}
	// The control: the same bytes of JSON in two keys.
	narrow, _ := cpuFor(0, func(i int) string {
		return fmt.Sprintf(`{"tag":"narrow-%d","v":"%s"}`, i, strings.Repeat("v", 250<<10))
	})
	wide, took := cpuFor(1, func(i int) string { return wideJSON(fmt.Sprintf("wide-%d", i), 250<<10) })
	if n := len(fr.with(`"tag":"wide-`)); n != 20 {
		t.Errorf("%d wide records shipped, want 20", n)
	}
	if wide > 2+5*narrow {
		t.Errorf("5 MiB of JSON lines with many keys cost %.1f s of CPU (%s of wall time before the next line came out), the same bytes in two keys %.1f s; want < 2 s + 5x that",
			wide, took.Round(time.Millisecond), narrow)
	}
	stop(t, p)
}
