package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// outage is how long the broker scenarios keep the broker away:
// FERRY_CHAOS_OUTAGE (a Go duration), a minute by default, as the
// scenarios promise (FERRY_CHAOS_OUTAGE=15s for a quicker local run).
func outage(t *testing.T) time.Duration {
	t.Helper()
	d := time.Minute
	if s := os.Getenv("FERRY_CHAOS_OUTAGE"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			t.Fatalf("FERRY_CHAOS_OUTAGE=%q: want a positive duration like 60s", s)
		}
	}
	return d
}

// env is one scenario's world: a broker, a simulated node writing logs,
// the agent (restartable) and a consumer reading the topic back.
type env struct {
	t       *testing.T
	dir     string
	broker  *e2eharness.Broker
	node    *simnode.Node
	agent   *e2eharness.Agent
	cons    *e2eharness.Consumer
	started time.Time
	extra   []*simnode.Container // hand-written containers also checked
	hostile bool                 // input meant to be lost, cut or unparsable

	stopWriting context.CancelFunc
	writeDone   chan error
}

// newEnv lays out the node under dir/pods and writes the agent's config;
// mod adjusts the config (Root, StateDir and Broker are filled in).
func newEnv(t *testing.T, ncfg simnode.Config, mod func(*e2eharness.AgentConfig), opts ...kfake.Opt) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos suite: builds and runs the agent binary for minutes")
	}
	e2eharness.Ferry(t) // build first, outside the scenario's clock
	e := &env{t: t, dir: t.TempDir(), started: time.Now()}
	e.broker = e2eharness.NewBroker(t, opts...)
	ncfg.Root = filepath.Join(e.dir, "pods")
	if ncfg.Links != "" {
		ncfg.Links = filepath.Join(e.dir, ncfg.Links) // beside pods, as /var/log/containers is
	}
	var err error
	if e.node, err = simnode.New(ncfg); err != nil {
		t.Fatal(err)
	}
	acfg := e2eharness.AgentConfig{Root: ncfg.Root, StateDir: filepath.Join(e.dir, "state"), Broker: e.broker.Addr()}
	if mod != nil {
		mod(&acfg)
	}
	e.agent = e2eharness.NewAgent(t, e.dir, acfg)
	e.cons = e2eharness.NewConsumer(t, e.broker.Addr())
	return e
}

// write starts the node's writers.
func (e *env) write() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stopWriting, e.writeDone = cancel, make(chan error, 1)
	go func() { e.writeDone <- e.node.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		<-e.writeDone
	})
}

// stop stops the node's writers; every counted line is on disk after it.
func (e *env) stop() {
	e.t.Helper()
	e.stopWriting()
	if err := <-e.writeDone; err != nil {
		e.t.Fatal(err)
	}
	e.writeDone <- nil // for the cleanup
}

func (e *env) containers() []*simnode.Container {
	return append(append([]*simnode.Container(nil), e.node.Containers()...), e.extra...)
}

// drain waits until the consumer holds every written line and everything
// the agent read was stored and consumed (settle, then the consumer's
// sync markers), then checks zero loss, no corruption and the duplicate
// bound.
func (e *env) drain(name string, maxDup int64, timeout time.Duration) simnode.Report {
	e.t.Helper()
	rep := e.cons.Drain(e.containers(), timeout, e.settle)
	e.t.Logf("FIGURES %s: %s; rotations %d; %d records consumed; %.1fs", name, rep, e.node.Rotations(),
		e.cons.Records(), time.Since(e.started).Seconds())
	if bad := e.cons.Bad(); len(bad) > 0 {
		e.t.Errorf("%d records are not JSON, first: %s", len(bad), bad[0])
	}
	if rep.Written == 0 {
		e.t.Fatal("nothing was written")
	}
	if !rep.OK() {
		e.t.Errorf("lines lost or corrupted: %s", rep)
	}
	if rep.Duplicates > maxDup {
		e.t.Errorf("duplicates %d exceed the bound %d", rep.Duplicates, maxDup)
	}
	return rep
}

// shipping waits until n more of the node's records were consumed: the
// agent reads, ships and the broker stores (in place of letting it run for
// a while).
func (e *env) shipping(n int64) {
	e.t.Helper()
	from := e.cons.Records()
	waitFor(e.t, "more records consumed", 60*time.Second, func() bool { return e.cons.Records() >= from+n })
}

// lastsFor holds a fault in place until the node has written, since it
// had written from, what it writes in d at perSecond lines per container:
// the fault covers that many lines however loaded the machine is, not a
// span of wall time the writer may not have filled.
func (e *env) lastsFor(from int64, d time.Duration, perSecond int) {
	e.t.Helper()
	n := int64(len(e.node.Containers())) * int64(perSecond) * int64(d/time.Second)
	waitFor(e.t, "the fault's share of the node's lines written", 2*d+time.Minute, func() bool { return e.node.Written() >= from+n })
}

// settle waits, when an agent runs, until its counters balance: every
// line it read was sent (stored by the broker) or dropped.
func (e *env) settle() {
	e.t.Helper()
	if _, err := e.agent.Scrape(); err != nil {
		return // no agent runs: what one sent is stored
	}
	e.agent.WaitSettled(60 * time.Second)
}

// balanced waits for the running agent's counters to balance and returns
// the scrape: every line it read was sent or dropped.
func (e *env) balanced() e2eharness.Metrics {
	e.t.Helper()
	start := time.Now()
	m := e.agent.WaitBalanced(20 * time.Second)
	e.t.Logf("counters: %s (balanced after %.1fs); agent RSS %.1f MiB, CPU %.1fs", e2eharness.BalanceOf(m), time.Since(start).Seconds(),
		m.Sum("process_resident_memory_bytes")/(1<<20), m.Sum("process_cpu_seconds_total"))
	if !e.hostile {
		// Nothing was destroyed, cut or malformed: those counters say so.
		for _, name := range []string{"ferry_tail_lost_bytes_total", "ferry_tail_lines_truncated_total",
			"ferry_tail_parse_errors_total", "ferry_ship_dropped_records_total"} {
			if v := m.Sum(name); v != 0 {
				e.t.Errorf("%s = %v, want 0", name, v)
			}
		}
	}
	return m
}

// term stops the agent process gracefully; it must exit 0.
func (e *env) term(p *e2eharness.Proc) {
	e.t.Helper()
	start := time.Now()
	defer func() { e.t.Logf("SIGTERM to exit: %.1fs", time.Since(start).Seconds()) }()
	if err := p.Term(30 * time.Second); err != nil {
		e.t.Errorf("agent exit after SIGTERM: %v\n%s", err, tailOf(p.Output(), 2000))
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape reads the running agent's /metrics or fails the test.
func (e *env) scrape() e2eharness.Metrics {
	e.t.Helper()
	m, err := e.agent.Scrape()
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}
