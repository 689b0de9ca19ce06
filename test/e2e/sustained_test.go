package e2e

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestSustainedRateWithRotation: 120 containers at 50 lines/s each, every
// file rotated every few seconds (rename, gzip of older copies, 4 kept),
// 16 KiB partials mixed in, until the writers made 5 rotations per
// container (about 16 s here; longer on a loaded machine, which writes slower).
// Nothing is lost and, with no restart and a healthy broker, nothing is
// duplicated.
func TestSustainedRateWithRotation(t *testing.T) {
	const containers, rate = 120, 50
	e := newEnv(t, simnode.Config{Pods: containers / 2, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 200, LongBytes: 20 << 10, RotateBytes: 32 << 10, Keep: 4, Compress: true, Seed: 1}, nil)
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	waitFor(t, "5 rotations per container by the writers", 120*time.Second,
		func() bool { return e.node.Rotations() >= 5*containers })
	e.stop()
	e.drain("sustained", 0, 60*time.Second)
	m := e.balanced()
	if got := m.Sum("ferry_tail_rotations_total"); got < float64(e.node.Rotations()) {
		t.Errorf("ferry_tail_rotations_total %v < rotations made %d", got, e.node.Rotations())
	}
	e.term(p)
}

// TestSustainedCopyTruncate: 40 containers at 50 lines/s for 12 s, each
// file rotated the copytruncate way (copied aside, truncated in place)
// every few seconds. Nothing is lost and nothing duplicated: the tailer
// finishes the copy from where it was before reading the truncated file
// again.
func TestSustainedCopyTruncate(t *testing.T) {
	const containers, rate, run = 40, 50, 12 * time.Second
	e := newEnv(t, simnode.Config{Pods: containers / 2, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 200, LongBytes: 20 << 10, RotateBytes: 32 << 10, Keep: 4, Compress: true, CopyTruncate: true, Seed: 11}, nil)
	e.cons.Start()
	p := e.agent.Start()
	e.write()
	time.Sleep(run)
	e.stop()
	e.drain("copytruncate", 0, 60*time.Second)
	m := e.balanced()
	if got := m.Sum("ferry_tail_truncations_total"); got < float64(e.node.Rotations()) {
		t.Errorf("ferry_tail_truncations_total %v < copytruncate rotations made %d", got, e.node.Rotations())
	}
	e.term(p)
}

// TestKillAtRandomMoments: the agent is SIGKILLed at seeded random moments
// (FERRY_CHAOS_SEED, FERRY_CHAOS_KILLS) while containers write and rotate,
// and restarted each time. Nothing is lost; each kill may repeat what was
// acknowledged after the last checkpoint (commit_interval 1s).
func TestKillAtRandomMoments(t *testing.T) {
	killAtRandomMoments(t, simnode.Config{}, "")
}

// TestKillAtRandomMomentsMultiline is the same with multiline grouping on
// (the java rule) and one line in ten beginning a trace of six lines, so
// that about half the lines are merged into records of several lines. A
// kill in the middle of a group leaves its lines unacknowledged: the next
// agent reads the group again whole, and nothing is lost.
func TestKillAtRandomMomentsMultiline(t *testing.T) {
	m := killAtRandomMoments(t, simnode.Config{TraceEvery: 10, TraceLines: 6}, "{multiline: {rule: java}}")
	if got := m.Sum("ferry_process_multiline_records_total"); got == 0 {
		t.Error("ferry_process_multiline_records_total = 0: no trace was grouped, the scenario tested nothing")
	}
	if got := m.Sum("ferry_process_multiline_cut_total"); got != 0 {
		t.Errorf("ferry_process_multiline_cut_total = %v: traces of six lines were cut", got)
	}
}

// killAtRandomMoments runs the scenario with traces (TraceEvery and
// TraceLines of traces) and the processing section given, and returns the
// last agent's balanced scrape.
func killAtRandomMoments(t *testing.T, traces simnode.Config, processing string) e2eharness.Metrics {
	const containers, rate = 20, 100
	kills, seed := 8, uint64(8)
	if s := os.Getenv("FERRY_CHAOS_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("FERRY_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	e := newEnv(t, simnode.Config{Pods: containers / 2, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 100, LongBytes: 20 << 10, RotateBytes: 96 << 10, Keep: 4, Compress: true, Seed: 2,
		TraceEvery: traces.TraceEvery, TraceLines: traces.TraceLines},
		func(c *e2eharness.AgentConfig) { c.Processing = processing })
	e.cons.Start()
	e.write()
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	var killedAfter []time.Duration
	var procs []*e2eharness.Proc
	for i := 0; i < kills; i++ {
		p := e.agent.Start()
		procs = append(procs, p)
		d := time.Duration(200+rng.IntN(2800)) * time.Millisecond
		killedAfter = append(killedAfter, d)
		time.Sleep(d)
		p.Kill()
	}
	t.Logf("seed %d: killed after %v", seed, killedAfter)
	e.stop()
	p := e.agent.Start()
	// Each kill repeats at most what was acknowledged since the last
	// checkpoint: commit_interval (1s) plus the time to write it, at the
	// rate the agent ships. Catching up after a restart ships faster than
	// containers write, so allow 3 s of the whole node's writing per kill.
	bound := int64(kills * 3 * rate * containers)
	rep := e.drain("kill", bound, 60*time.Second)
	m := e.balanced()
	if rep.Duplicates == 0 {
		t.Logf("no duplicate at all: every kill fell right after a checkpoint")
	}
	e.term(p)
	// A kill in the middle of a checkpoint write must not leave a state
	// file the next process cannot use (it is replaced atomically).
	for i, p := range append(procs, p) {
		if out := p.Output(); strings.Contains(out, "state file unusable") {
			t.Errorf("agent %d found the state file unusable:\n%s", i, tailOf(out, 2000))
		}
	}
	return m
}
