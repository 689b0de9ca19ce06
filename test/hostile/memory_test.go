package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestHostileUnfinishedLinesMemory: 600 containers (a few tenants' pods)
// each leave a long line unfinished: CRI P fragments on both streams with
// no final F, and a last fragment with no newline yet. Nothing of it is a
// complete line, so none of it counts against memory.queue_bytes; the
// tailer holds per file a merge buffer per stream and the unfinished
// line. The chart's values say the agent's memory does not grow with
// input and set a 256 MiB limit: the agent's resident memory must stay
// under it with the default memory.queue_bytes (32 MiB).
func TestHostileUnfinishedLinesMemory(t *testing.T) {
	w := newWorld(t, worldOpt{})
	const pods = 600
	frag := strings.Repeat("y", 16<<10)
	var b strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "2026-11-26T03:55:09.123456789Z stdout P %s\n", frag)
		fmt.Fprintf(&b, "2026-11-26T03:55:09.123456789Z stderr P %s\n", frag)
	}
	b.WriteString("2026-11-26T03:55:09.123456789Z stdout P " + strings.Repeat("z", 200<<10)) // no newline yet
	for i := 0; i < pods; i++ {
		p := filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, p)
		w.raw(p, b.String())
	}
	w.lines(w.path, 0, 10)
	// As the chart runs it: the container's memory limit in
	// FERRY_MEMORY_LIMIT (the agent sets its Go soft limit to 90 % of it).
	w.agent.Env = []string{fmt.Sprintf("FERRY_MEMORY_LIMIT=%d", 256<<20)}
	p := w.agent.Start()
	w.waitSeqs(0, 10, 60*time.Second)
	var m e2eharness.Metrics
	waitFor(t, "every file read", 90*time.Second, func() bool {
		var err error
		m, err = w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_read_bytes_total") >= float64(pods*b.Len())
	})
	w.lines(w.path, 10, 11) // a sentinel: a fresh scrape after the reads
	w.waitSeqs(10, 11, 60*time.Second)
	m = w.settled(11, 20*time.Second)
	rss := m.Sum("process_resident_memory_bytes")
	t.Logf("%d files with unfinished lines: RSS %.0f MiB, heap in use %.0f MiB, in flight %v bytes", pods,
		rss/(1<<20), m.Sum("go_memstats_heap_inuse_bytes")/(1<<20), m.Sum("ferry_tail_inflight_bytes"))
	if rss > 256<<20 {
		t.Errorf("resident memory %.0f MiB: over the chart's 256 MiB limit with memory.queue_bytes 32 MiB", rss/(1<<20))
	}
	// Resident memory undercounts buffers allocated and never written to
	// their end (a read chunk holding a short unfinished line); the heap in
	// use does not. The unfinished lines are kept within memory.queue_bytes
	// (ferry_tail_unfinished_bytes), as lines in flight are: twice 32 MiB
	// and the rest of the agent stay well under 128 MiB.
	if heap := m.Sum("go_memstats_heap_inuse_bytes"); heap > 128<<20 {
		t.Errorf("heap in use %.0f MiB with unfinished lines in %d files: they are not bounded by memory.queue_bytes", heap/(1<<20), pods)
	}
	stop(t, p)
}
