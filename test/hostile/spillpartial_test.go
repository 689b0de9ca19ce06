package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileSpilledPartialRestart: memory.queue_bytes is 64 KiB and 6
// containers each have a stdout line being merged (two 16 KiB P
// fragments, no F yet) followed by complete stderr lines. The merges
// together are over the budget: files are spilled (rewound to the first
// fragment, the stderr lines already emitted suppressed when read again).
// The agent is stopped (SIGTERM); the F fragment and more lines are
// written; a new agent starts. The stdout line arrives once, whole (its
// first fragment included); the stderr lines arrive once (SIGTERM: no
// duplicates).
func TestHostileSpilledPartialRestart(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"max_line_bytes: 65536"},
		top: "hostmetrics: {enabled: false}\nmemory: {queue_bytes: 65536}\n"})
	const pods = 6
	paths := make([]string, pods)
	crit := func(stream, tag, body string, seq int) string {
		return fmt.Sprintf("2026-11-26T03:55:09.123456789Z %s %s h-seq=%d %s\n", stream, tag, seq, body)
	}
	for i := range paths {
		paths[i] = filepath.Join(w.root, fmt.Sprintf("ns_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, paths[i])
		var b strings.Builder
		b.WriteString(crit("stdout", "P", strings.Repeat("A", 16<<10), i*100))
		b.WriteString("2026-11-26T03:55:09.123456789Z stdout P " + strings.Repeat("B", 16<<10) + "\n")
		for j := 1; j < 10; j++ {
			b.WriteString(crit("stderr", "F", "err", i*100+j))
		}
		w.raw(paths[i], b.String())
	}
	p := w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*100+1, i*100+10, 30*time.Second)
	}
	waitFor(t, "spills", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_unfinished_spills_total") > 0
	})
	w.settled(float64(pods*9), 30*time.Second)
	stop(t, p)
	for i, pa := range paths {
		w.raw(pa, "2026-11-26T03:55:09.123456789Z stdout F C-end\n")
		w.lines(pa, i*100+10, i*100+20)
	}
	p = w.agent.Start()
	for i := range paths {
		w.waitSeqs(i*100, i*100+20, 30*time.Second)
	}
	w.settled(float64(pods*11), 30*time.Second)
	whole := map[int]int{}
	for _, r := range w.records() {
		var seq int
		if _, err := fmt.Sscanf(r.Message, "h-seq=%d", &seq); err == nil && seq%100 == 0 {
			if strings.HasSuffix(r.Message, "C-end") && strings.Count(r.Message, "A") == 16<<10 {
				whole[seq]++
			} else {
				t.Errorf("pod %d: the merged line arrived %d bytes long, not whole", seq/100, len(r.Message))
			}
		}
	}
	for i := range paths {
		if whole[i*100] != 1 {
			t.Errorf("pod %d: the merged line arrived whole %d times", i, whole[i*100])
		}
		w.check(i*100, i*100+20, false)
	}
	stop(t, p)
}
