package hostile

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHostileRateLimitSummaryMerged: a container over its rate limit
// (policy drop) gets a summary record from the agent, "ferry: N lines ...
// dropped by its rate limit", on stderr, "so a reader of the topic sees
// the gap" (pkg/tail). Processing treats it as a line the container wrote:
// with the most common custom multiline rule (a line that starts with a
// date begins a record, any other continues it) the summary is glued to
// the end of the container's last stderr record, inside its message. A
// reader or an alert looking for the gap records finds none: the drop is
// hidden in the workload's own output.
func TestHostileRateLimitSummaryMerged(t *testing.T) {
	w, fr := procWorld(t, `  multiline:
    rule: dated
    flush_timeout: 1m
    custom:
    - {name: dated, start: '^\d{4}-\d\d-\d\d'}
`, worldOpt{logs: []string{"rate_limit: {default: {lines_per_second: 5, burst_lines: 5, policy: drop}, summary_interval: 500ms}"}})
	var b strings.Builder
	for i := range 200 {
		b.WriteString(cri("stderr", fmt.Sprintf("2026-12-04 20:50:00 h-seq=%d working", i)))
	}
	w.raw(w.path, b.String())
	p := w.agent.Start()
	waitFor(t, "the rate limit's summary", 30*time.Second, func() bool {
		return w.metric("ferry_tail_drop_summaries_total") > 0
	})
	// The next line of the container (within the limit again) ends what
	// the rule holds.
	w.raw(w.path, cri("stderr", "2026-12-04 20:50:01 h-seq=900 calm"))
	var merged []string
	ok := eventually(20*time.Second, func() bool {
		merged = merged[:0]
		found := false
		for _, r := range fr.with("dropped by its rate limit") {
			if strings.HasPrefix(r.Message, "ferry: ") {
				found = true
			} else {
				merged = append(merged, r.Message)
			}
		}
		return found || len(merged) > 0
	})
	if !ok || len(merged) > 0 {
		t.Errorf("no rate-limit summary record of its own; the summary is inside %d workload records, first:\n%.400s", len(merged), strings.Join(merged, "\n---\n"))
	}
	stop(t, p)
}

// TestHostileRateLimitSummariesOfTwoPods: two pods go over their rate
// limit (policy drop) and then write within it again, so that the last
// line read of each file was shipped: their summaries then carry no
// cursor, and processing, which groups by the cursor's file, puts the
// summaries of every such container into one stream. With the dated
// custom rule the second pod's summary is glued into the first pod's
// summary record: one record, under the first pod's namespace and name,
// tells of the other pod's dropped lines, and the other pod has no gap
// record at all.
func TestHostileRateLimitSummariesOfTwoPods(t *testing.T) {
	w, fr := procWorld(t, `  multiline:
    rule: dated
    flush_timeout: 1m
    custom:
    - {name: dated, start: '^\d{4}-\d\d-\d\d'}
`, worldOpt{logs: []string{"rate_limit: {default: {lines_per_second: 5, burst_lines: 5, policy: drop}, summary_interval: 3s}"}})
	other := filepath.Join(w.root, "nsb_podb_uidb", "app", "0.log")
	mkdirFor(t, other)
	burst := func(path string, from int) {
		var b strings.Builder
		for i := from; i < from+100; i++ {
			b.WriteString(cri("stdout", fmt.Sprintf("2026-12-04 20:50:00 h-seq=%d burst", i)))
		}
		w.raw(path, b.String())
	}
	burst(w.path, 0)
	burst(other, 1000)
	p := w.agent.Start()
	var dropped float64
	waitFor(t, "the bursts read", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		dropped = m.Sum("ferry_tail_lines_dropped_total")
		return err == nil && m.Sum("ferry_tail_lines_read_total")+dropped >= 200
	})
	// A line within the limit again (the bucket refilled meanwhile): the
	// last line read of each file is then not a dropped one.
	w.raw(w.path, cri("stdout", "2026-12-04 20:50:01 h-seq=500 calm"))
	w.raw(other, cri("stdout", "2026-12-04 20:50:01 h-seq=1500 calm"))
	waitFor(t, "the calm lines read", 30*time.Second, func() bool {
		m, err := w.agent.Scrape()
		if err != nil || m.Sum("ferry_tail_lines_read_total")+m.Sum("ferry_tail_lines_dropped_total") < 202 {
			return false
		}
		if d := m.Sum("ferry_tail_lines_dropped_total"); d != dropped {
			t.Fatalf("a calm line was dropped too (%v dropped, then %v)", dropped, d)
		}
		return true
	})
	waitFor(t, "both summaries emitted", 30*time.Second, func() bool {
		return w.metric("ferry_tail_drop_summaries_total") >= 2
	})
	stop(t, p) // sends what is held
	var recs []fullRec
	waitFor(t, "the summaries shipped", 30*time.Second, func() bool {
		recs = fr.with("dropped by its rate limit")
		n := 0
		for _, r := range recs {
			n += strings.Count(r.Message, "dropped by its rate limit")
		}
		return n >= 2
	})
	for _, r := range recs {
		if n := strings.Count(r.Message, "dropped by its rate limit"); n > 1 || !strings.HasPrefix(r.Message, "ferry: ") {
			t.Errorf("a record holds %d summaries (or a summary inside a workload record):\n%s", n, r.Raw)
		}
	}
}
