package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileSpillRereads: memory.queue_bytes is 64 KiB; 6 containers
// each write one long line slowly (1 KiB at a time, no newline until the
// end), so their unfinished lines together are over the budget and are
// spilled (pkg/tail's held.go: rewound to where the line began, read again
// from disk once the file grew). Each growth then reads the whole
// unfinished line again: the bytes read grow with the square of the
// line's length. The tailer must not read each byte of these lines many
// times over: ferry_tail_read_bytes_total stays within 4 times the bytes
// written.
func TestHostileSpillRereads(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"max_line_bytes: 65536", "read_interval: 20ms"},
		top: "hostmetrics: {enabled: false}\nmemory: {queue_bytes: 65536}\n"})
	const pods, steps = 6, 120
	paths := make([]string, pods)
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		w.raw(paths[i], "2026-11-26T03:55:09.123456789Z stdout F long"+itoa(i)+" ")
	}
	p := w.agent.Start()
	chunk := strings.Repeat("q", 1<<10)
	written := 0
	for s := 0; s < steps; s++ {
		for _, pa := range paths {
			w.raw(pa, chunk)
			written += len(chunk)
		}
		// pacing the writer (a slow line), not synchronisation
		time.Sleep(40 * time.Millisecond)
	}
	for i, pa := range paths {
		w.raw(pa, "\n")
		w.lines(pa, i*10, i*10+1)
	}
	for i := range paths {
		w.waitSeqs(i*10, i*10+1, 60*time.Second)
	}
	m := w.settled(float64(2*pods), 30*time.Second)
	read := m.Sum("ferry_tail_read_bytes_total")
	t.Logf("written %d bytes of long lines; read %.0f bytes (%.1fx); spills %v; CPU %.1fs",
		written, read, read/float64(written), m.Sum("ferry_tail_unfinished_spills_total"), m.Sum("process_cpu_seconds_total"))
	long := 0
	for _, r := range w.records() {
		if strings.HasPrefix(r.Message, "long") {
			long++
		}
	}
	if long != pods {
		t.Errorf("%d records of the %d long lines", long, pods)
	}
	if read > 4*float64(written) {
		t.Errorf("read %.0f bytes for %d written (%.1fx): each growth of a spilled line reads it again whole", read, written, read/float64(written))
	}
	stop(t, p)
}
