package tail

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostile4DropsSummarisedBeforeShutdown: a container drops 400 lines
// over its limit (policy drop, summary_interval 1m), then writes 10 within
// it, which are shipped and acknowledged: their acknowledgement commits
// past the dropped lines. The agent is stopped (SIGTERM, or a config
// reload, which drains the same way) before the summary was due: the
// summary is never emitted, the checkpoint is past the dropped lines, so
// the next agent does not read them again. A reader of the topic saw a
// gap of 400 lines that no record reported (ferry_tail_lines_dropped_total
// said 400, and restarts from zero). Run's end now summarises them
// (finalSend).
func TestHostile4DropsSummarisedBeforeShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, state := t.TempDir(), t.TempDir()
		cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 100, Policy: PolicyDrop})
		cfg.RateLimit.SummaryInterval = time.Minute
		path := mkContainer(t, dir, "ns_noisy_uid")
		appendFile(t, path, noisyLines(0, 500))
		r := startPolling(t, cfg)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		appendFile(t, path, noisyLines(500, 510))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		dropped := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit))
		r.stop()
		if err := r.tl.Close(); err != nil {
			t.Fatal(err)
		}
		summarised := 0
		for _, rc := range r.snapshot() {
			if summaryRE.MatchString(rc.body) {
				summarised++
			}
		}
		var off int64
		for _, e := range readState(t, state).Files {
			if strings.Contains(e.Path, "/ns_noisy_uid/") {
				off = e.Offset
			}
		}
		if dropped > 0 && summarised == 0 && off == int64(len(noisyLines(0, 510))) {
			t.Errorf("%v lines dropped, no summary emitted, and the checkpoint (%d) is past them: the next agent will not read them again", dropped, off)
		}
	})
}
