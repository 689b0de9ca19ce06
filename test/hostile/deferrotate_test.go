package hostile

import (
	"os"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestHostileDeferredRotatedGzipped: a container limited to 20 lines a
// second (policy defer) writes 400 lines at once; kubelet rotates its log
// and gzips the rotated file (write .gz, remove the plain one) while most
// of it is still unread. pkg/tail's doc: the rotated file removed before it
// was read is closed after delete_wait and its unread bytes are counted in
// ferry_tail_lost_bytes_total{reason="rotated_unread"}. Every line is
// received once or counted: the bytes of the lines never received equal
// the bytes counted, and the new file's lines all arrive.
func TestHostileDeferredRotatedGzipped(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"delete_wait: 1s",
		"rate_limit: {default: {lines_per_second: 20, policy: defer}}"}})
	w.lines(w.path, 0, 400)
	p := w.agent.Start()
	waitFor(t, "the first lines", 30*time.Second, func() bool { return w.missing(0, 20) == "" })
	rotated := w.path + ".20261205-010000"
	must(t, os.Rename(w.path, rotated))
	w.lines(w.path, 400, 420)
	must(t, simnode.GzipFile(rotated))
	w.waitSeqs(400, 420, 90*time.Second)
	var counted float64
	waitFor(t, "the rotated file's loss counted", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		if err != nil {
			return false
		}
		counted = m.Sum("ferry_tail_lost_bytes_total", `reason="rotated_unread"`)
		return counted > 0
	})
	w.settled(0, 30*time.Second)
	m, err := w.agent.Scrape()
	must(t, err)
	counted = m.Sum("ferry_tail_lost_bytes_total", `reason="rotated_unread"`)
	var missingBytes, missingLines int
	w.mu.Lock()
	for i := 0; i < 400; i++ {
		if w.seen[i] == 0 {
			missingLines++
			missingBytes += len(line(i, ""))
		}
	}
	w.mu.Unlock()
	_, dup := w.count(0, 420)
	t.Logf("%d lines (%d bytes) never received; counted rotated_unread %v bytes, all lost bytes %v; %d duplicates",
		missingLines, missingBytes, counted, m.Sum("ferry_tail_lost_bytes_total"), dup)
	if float64(missingBytes) != counted {
		t.Errorf("bytes of the lines never received %d != counted rotated_unread %v", missingBytes, counted)
	}
	if dup > 0 {
		t.Errorf("%d duplicates", dup)
	}
	w.check(400, 420, false)
	stop(t, p)
}
