package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHostileWaitingFileDeleted: logs.max_open_files is 8 and 8
// containers of namespace "slow" are rate limited (10 lines a second,
// policy defer) with 10 s of backlog each, so they hold every descriptor
// (see TestHostileDeferredHoldDescriptors). A ninth pod writes 10 lines; its
// file is found and waits for a descriptor (ferry_tail_waiting_files 1);
// the pod is deleted before its turn. The README: nothing is lost
// silently. Its lines arrive, or a loss counter moves
// (ferry_tail_lost_files_total or ferry_tail_lost_bytes_total). Observed:
// all 10 lost, no counter moved, and ferry_tail_waiting_files still 1 after
// the descriptors were free again. Only parked files (opened once) are
// counted (reason waiting); a waiter that was never opened is not.
func TestHostileWaitingFileDeleted(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"max_open_files: 8", "delete_wait: 1s",
		"rate_limit: {namespaces: {slow: {lines_per_second: 10, policy: defer}}}"}})
	const slow, per = 8, 100
	for i := 0; i < slow; i++ {
		pa := filepath.Join(w.root, fmt.Sprintf("slow_pod%d_uid-%d", i, i), "app", "0.log")
		mkdirFor(t, pa)
		w.lines(pa, 100000+i*10000, 100000+i*10000+per)
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
	waitFor(t, "the ninth pod's file waiting", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_waiting_files") >= 1
	})
	must(t, os.RemoveAll(filepath.Dir(filepath.Dir(w.path))))
	for i := 0; i < slow; i++ {
		w.waitSeqs(100000+i*10000, 100000+i*10000+per, 90*time.Second)
	}
	// A sentinel in a new pod: the descriptors are free again and the
	// scrape below is fresh.
	other := filepath.Join(w.root, "ns_x_uid-x", "app", "0.log")
	mkdirFor(t, other)
	w.lines(other, 500, 501)
	w.waitSeqs(500, 501, 30*time.Second)
	m := w.settled(slow*per+1, 30*time.Second)
	lost, _ := w.count(0, 10)
	files, bytes := m.Sum("ferry_tail_lost_files_total"), m.Sum("ferry_tail_lost_bytes_total")
	t.Logf("%d of 10 lines lost; lost files %v, bytes %v; waiting %v", lost, files, bytes, m.Sum("ferry_tail_waiting_files"))
	if lost > 0 && files == 0 && bytes == 0 {
		t.Errorf("%d lines of a file deleted while it waited for a descriptor lost silently (no loss counter moved)", lost)
	}
	stop(t, p)
}
