package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileHeldLinePinsChunk: a node with 2000 pods that each wrote a
// burst of about 120 KiB at start-up and then went quiet; processing
// groups Java traces with a flush_timeout of a minute (traces printed
// slowly, line by line, by a loaded JVM). The last line of every file may
// begin a trace, so it is held. The tailer reads a file in chunks of up to
// 128 KiB and a line's body stays in its chunk (no copy); the held line
// keeps its whole chunk alive, while memory.queue_bytes counts only the
// line's own bytes. 2000 quiet pods keep 2000 chunks, about 240 MiB,
// outside the memory budget (32 MiB in flight is what the agent counts):
// when written, the heap in use was 291 MiB (120 MiB with the same files
// and a processing stage that holds nothing), over the chart's 256 MiB
// limit. In a pod the kernel kills the agent, and the restarted agent,
// reading the same backlog, is killed again. The bound is the chart's:
// resident memory under 256 MiB.
//
// It writes 240 MiB and reads them back (half a minute on an idle machine,
// minutes beside other tests): it runs with FERRY_HOSTILE=1.
// TestHeldLineOwnsItsBody (pkg/process) guards the fix in every run.
func TestHostileHeldLinePinsChunk(t *testing.T) {
	guarded(t)
	w, _ := procWorld(t, "  multiline: {rule: java, flush_timeout: 1m}\n", worldOpt{logs: []string{"max_open_files: 4096"}})
	const pods = 2000
	var b strings.Builder
	for i := 0; b.Len() < 120<<10; i++ {
		b.WriteString(cri("stdout", fmt.Sprintf("starting component %d %s", i, strings.Repeat("s", 900))))
	}
	b.WriteString(cri("stdout", "ready"))
	for i := range pods {
		p := filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, p)
		w.raw(p, b.String())
	}
	w.agent.Env = []string{fmt.Sprintf("FERRY_MEMORY_LIMIT=%d", 256<<20)}
	p := w.agent.Start()
	waitFor(t, "every file read and its last line held", 120*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") >= pods
	})
	w.lines(w.path, 0, 2) // a sentinel: a fresh scrape after the reads
	w.waitSeqs(0, 1, 3*time.Minute)
	m, err := w.agent.Scrape()
	must(t, err)
	heap := m.Sum("go_memstats_heap_inuse_bytes")
	t.Logf("%d pods with a held last line: heap in use %.0f MiB, RSS %.0f MiB, in flight %.0f KiB", pods,
		heap/(1<<20), m.Sum("process_resident_memory_bytes")/(1<<20), m.Sum("ferry_tail_inflight_bytes")/(1<<10))
	if rss := m.Sum("process_resident_memory_bytes"); rss > 256<<20 || heap > 256<<20 {
		t.Errorf("resident memory %.0f MiB, heap in use %.0f MiB with %.0f KiB in flight: over the chart's 256 MiB limit; the held lines' chunks are not bounded by memory.queue_bytes",
			rss/(1<<20), heap/(1<<20), m.Sum("ferry_tail_inflight_bytes")/(1<<10))
	}
	stop(t, p)
}
