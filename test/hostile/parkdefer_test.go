package hostile

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestHostileDeferredHoldDescriptors: logs.max_open_files is 8 and 8
// containers of namespace "slow" are rate limited (5 lines a second,
// policy defer) with minutes of backlog each. A ninth container, not
// limited, starts writing. pkg/tail's doc: a file found while the cap is
// reached waits, files are parked for it at each poll, and every file gets
// a turn at least once per (waiting files / max_open_files) polls: its
// lines are late, not lost, by a few polls. Observed: none of its lines
// in 30 s (open files 8, waiting 1): the deferred files still have bytes
// to read, and parkable (openlimit.go) takes only files read to their end.
func TestHostileDeferredHoldDescriptors(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"max_open_files: 8",
		"rate_limit: {namespaces: {slow: {lines_per_second: 5, policy: defer}}}"}})
	const slow = 8
	for i := 0; i < slow; i++ {
		pa := filepath.Join(w.root, fmt.Sprintf("slow_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, pa)
		w.lines(pa, 100000+i*10000, 100000+i*10000+2000)
	}
	p := w.agent.Start()
	waitFor(t, "every slow container read", 30*time.Second, func() bool {
		for i := 0; i < slow; i++ {
			if w.missing(100000+i*10000, 100000+i*10000+3) != "" {
				return false
			}
		}
		return true
	})
	w.lines(w.path, 0, 10)
	eventually(30*time.Second, func() bool { return w.missing(0, 10) == "" })
	if miss := w.missing(0, 10); miss != "" {
		m, _ := w.agent.Scrape()
		t.Errorf("an unlimited container's lines did not arrive within 30 s while 8 deferred containers hold the 8 descriptors: %s (open files %v, waiting %v)",
			miss, m.Sum("ferry_tail_open_files"), m.Sum("ferry_tail_waiting_files"))
	}
	stop(t, p)
}
