package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// The garbage collector's goal follows what the agent is doing.
//
// Go's default (GOGC=100) lets the heap grow to twice what is live before
// a collection. At a steady rate that headroom is most of the agent's own
// memory: with the image's build, 10,000 lines/s over 50 files to Kafka,
// RSS was 42 MiB at GOGC=100 and 37.2 MiB with this goal, for about 0.5 %
// of a core more (3.1 → 3.6 % on average of four pairs of 30 s runs on a
// loaded machine; bench/README.md). Memory is what a node agent's requests
// reserve on every node; half a percent of a core is not. While catching
// up (after a start, a burst, or a sink that was away) the agent reads as
// fast as it can, and GOGC=50 cost about 7 % more CPU per GiB to Kafka.
// So the goal is GOGC=50 while the files are read to within gcLow bytes
// of their ends, and Go's default while more than gcHigh bytes wait.
//
// An explicit GOGC wins: the goal is then left as the user set it.
const (
	gcKeepingUp  = 50
	gcCatchingUp = 100
	// behind_bytes bounds: at a steady 10,000 lines/s a poll finds a few
	// hundred KiB not read yet (read_interval's worth).
	gcLow  = 2 << 20
	gcHigh = 8 << 20
	// gcEvery is how often the backlog is looked at.
	gcEvery = 2 * time.Second
)

// gcGoal sets the GC percent from the tailer's backlog.
type gcGoal struct {
	set     func(int) int // debug.SetGCPercent
	percent atomic.Int64  // the goal set last (ferry_gc_percent)
	log     *slog.Logger
}

func newGCGoal(log *slog.Logger) *gcGoal {
	g := &gcGoal{set: debug.SetGCPercent, log: log}
	g.percent.Store(gcCatchingUp)
	return g
}

// update moves the goal for a backlog of behind bytes; between gcLow and
// gcHigh it stays where it is, so that a backlog near one bound does not
// flip it at every look.
func (g *gcGoal) update(behind int64) {
	want := g.percent.Load()
	switch {
	case behind < gcLow:
		want = gcKeepingUp
	case behind > gcHigh:
		want = gcCatchingUp
	}
	if want == g.percent.Load() {
		return
	}
	g.set(int(want))
	g.percent.Store(want)
	g.log.Debug("GC goal", "gogc", want, "behind_bytes", behind)
}

// run looks at behind every gcEvery until ctx ends, then gives Go its
// default goal back. It returns at once when GOGC is set.
func (g *gcGoal) run(ctx context.Context, behind func() int64) {
	if os.Getenv("GOGC") != "" {
		return
	}
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	defer func() {
		if g.percent.Load() != gcCatchingUp {
			g.set(gcCatchingUp)
			g.percent.Store(gcCatchingUp)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.update(behind())
		}
	}
}
