package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// summaryRE is the record the tailer writes for a container whose lines
// its rate limit dropped: the lines it counts.
var summaryRE = regexp.MustCompile(`^ferry: (\d+) lines \(\d+ bytes\) of this container dropped by its rate limit`)

// TestNoisyNeighbour: 20 quiet containers at 10 lines/s next to one noisy
// container writing 5,000 lines/s for 5 s; every container is limited to
// 500 lines/s. Under defer the noisy container is shipped at its limit
// and, its file being the buffer, every line arrives once the writer
// stopped; under drop, what arrived plus what the summary records say was
// dropped is every line it wrote, and the summaries add up to the
// counter. The quiet containers lose nothing in both; the counters
// balance (summary records are sent without being read).
func TestNoisyNeighbour(t *testing.T) {
	for _, policy := range []string{"defer", "drop"} {
		t.Run(policy, func(t *testing.T) { noisyNeighbour(t, policy) })
	}
}

func noisyNeighbour(t *testing.T, policy string) {
	const limit, noisyRate, noisyLines = 500, 5000, 25000
	e := newEnv(t, simnode.Config{Pods: 20, ContainersPerPod: 1, LinesPerSecond: 10, Seed: 21}, func(c *e2eharness.AgentConfig) {
		c.Logs = append(c.Logs, fmt.Sprintf("rate_limit: {default: {lines_per_second: %d, policy: %s}, summary_interval: 1s}", limit, policy))
	})
	noisy, err := simnode.New(simnode.Config{Root: filepath.Join(e.dir, "pods"), Pods: 1, FirstPod: 1000, ContainersPerPod: 1,
		LinesPerSecond: noisyRate, Seed: 22})
	if err != nil {
		t.Fatal(err)
	}
	nc := noisy.Containers()
	var summarised, summaries atomic.Int64
	e.cons.Foreign = func(r e2eharness.Record) {
		if m := summaryRE.FindStringSubmatch(r.Message); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			summarised.Add(n)
			summaries.Add(1)
		}
	}
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- noisy.Run(ctx) }()
	waitFor(t, "the noisy container's lines written", time.Minute, func() bool { return noisy.Written() >= noisyLines })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	written := noisy.Written()
	// What arrived of it while it wrote, and a second more: its limit.
	shippedWhileWriting := e.cons.Checker.Report(nc).Received
	e.stop()
	e.drain("noisy-neighbour-"+policy, 0, 2*time.Minute) // the quiet containers: every line, once
	if most := int64(limit) * int64(wrote.Seconds()+2); shippedWhileWriting > most {
		t.Errorf("%d noisy lines arrived in the %.1fs it wrote, over burst + limit x time = %d", shippedWhileWriting, wrote.Seconds(), most)
	}
	var rep simnode.Report
	switch policy {
	case "defer":
		// The rest arrives at the limit: written/limit seconds, and some.
		rep = e.cons.Drain(nc, time.Duration(written/limit+30)*time.Second, e.settle)
		if !rep.OK() || rep.Duplicates != 0 {
			t.Errorf("noisy container under defer: %s", rep)
		}
	case "drop":
		waitFor(t, "every noisy line shipped or summarised as dropped", time.Minute, func() bool {
			rep = e.cons.Checker.Report(nc)
			return rep.Received+summarised.Load() == written
		})
		if rep.Duplicates != 0 || rep.Corrupt != 0 {
			t.Errorf("noisy container under drop: %s", rep)
		}
	}
	if policy == "drop" {
		// The agent's count of summaries sent reaches what was consumed
		// (a scrape may come before the agent has counted the last one
		// the consumer already read); a count that never does fails below.
		waitFor(t, "ferry_tail_drop_summaries_total to reach the summaries consumed", 30*time.Second, func() bool {
			return e.scrape().Sum("ferry_tail_drop_summaries_total") >= float64(summaries.Load())
		})
	}
	m := e.balanced()
	t.Logf("noisy: %d written at %d lines/s over %.1fs, %d arrived while it wrote; %s; %d lines in %d summaries; deferred %v, dropped %v",
		written, noisyRate, wrote.Seconds(), shippedWhileWriting, rep, summarised.Load(), summaries.Load(),
		m.Sum("ferry_tail_lines_deferred_total"), m.Sum("ferry_tail_lines_dropped_total", `reason="rate_limit"`))
	switch policy {
	case "defer":
		if d := m.Sum("ferry_tail_lines_deferred_total"); d < float64(written/2) {
			t.Errorf("ferry_tail_lines_deferred_total = %v, want most of the %d noisy lines", d, written)
		}
	case "drop":
		if d := m.Sum("ferry_tail_lines_dropped_total", `reason="rate_limit"`); d != float64(summarised.Load()) || d < float64(written/2) {
			t.Errorf("ferry_tail_lines_dropped_total{rate_limit} = %v, the summaries say %d (of %d written)", d, summarised.Load(), written)
		}
		if s := m.Sum("ferry_tail_drop_summaries_total"); s != float64(summaries.Load()) {
			t.Errorf("ferry_tail_drop_summaries_total = %v, %d summary records consumed", s, summaries.Load())
		}
	}
	if g := m.Sum("ferry_tail_rate_limited_containers"); g > 1 {
		t.Errorf("ferry_tail_rate_limited_containers = %v: a quiet container was limited", g)
	}
	e.term(p)
}
