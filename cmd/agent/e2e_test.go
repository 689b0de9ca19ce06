package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// e2e is one end-to-end setup: a kfake broker, a simulated node, and the
// agent binary run as a process on a config pointing at both (the harness
// the chaos suite in test/e2e uses too).
type e2e struct {
	t     *testing.T
	node  *simnode.Node
	agent *e2eharness.Agent
	cons  *e2eharness.Consumer
}

func newE2E(t *testing.T, rate int) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	dir := t.TempDir()
	node, err := simnode.New(simnode.Config{
		Root: filepath.Join(dir, "pods"), Pods: 3, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 40, LongBytes: 40 << 10, RotateBytes: 1 << 20, Keep: 4, Compress: true, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	broker := e2eharness.NewBroker(t)
	agent := e2eharness.NewAgent(t, dir, e2eharness.AgentConfig{
		Root: filepath.Join(dir, "pods"), StateDir: filepath.Join(dir, "state"), Broker: broker.Addr(),
	})
	cons := e2eharness.NewConsumer(t, broker.Addr())
	cons.Start()
	return &e2e{t: t, node: node, agent: agent, cons: cons}
}

// write runs the simulated node until the returned stop is called.
func (e *e2e) write() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.node.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestAgentGracefulRestartExactlyOnce: SIGTERM in the middle of a stream,
// restart, and every line arrives exactly once.
func TestAgentGracefulRestartExactlyOnce(t *testing.T) {
	e := newE2E(t, 300)
	stopWriting := e.write()
	for i := 0; i < 3; i++ {
		p := e.agent.Start()
		time.Sleep(1500 * time.Millisecond)
		if i == 0 {
			e.checkEndpoints()
		}
		if err := p.Term(20 * time.Second); err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", err, p.Output())
		}
	}
	stopWriting()
	p := e.agent.Start()
	rep := e.cons.Drain(e.node.Containers(), 30*time.Second, func() { e.agent.WaitSettled(30 * time.Second) })
	if err := p.Term(20 * time.Second); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	t.Logf("%s, rotations %d", rep, e.node.Rotations())
	if !rep.OK() || rep.Duplicates != 0 || rep.Written == 0 {
		t.Fatalf("graceful restarts must lose and duplicate nothing: %s", rep)
	}
	if e.node.Rotations() == 0 {
		t.Fatal("the test did not rotate any file")
	}
}

// TestAgentKillRestartAtLeastOnce: SIGKILL in the middle of a stream, restart:
// nothing lost, duplicates bounded by what the commit interval lets through.
func TestAgentKillRestartAtLeastOnce(t *testing.T) {
	const rate, kills = 300, 3
	e := newE2E(t, rate)
	stopWriting := e.write()
	for i := 0; i < kills; i++ {
		p := e.agent.Start()
		time.Sleep(1500 * time.Millisecond)
		p.Kill()
	}
	stopWriting()
	p := e.agent.Start()
	rep := e.cons.Drain(e.node.Containers(), 30*time.Second, func() { e.agent.WaitSettled(30 * time.Second) })
	m, err := e.agent.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Term(20 * time.Second); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	t.Logf("%s; last agent: %s", rep, e2eharness.BalanceOf(m))
	if !rep.OK() {
		t.Fatalf("a SIGKILL must lose nothing: %s", rep)
	}
	// Offsets are committed about once a second: each kill may repeat what
	// was acknowledged since the last commit. Allow 3 s of writing per kill.
	bound := int64(kills * 3 * rate * len(e.node.Containers()))
	if rep.Duplicates > bound {
		t.Fatalf("duplicates %d exceed the bound %d", rep.Duplicates, bound)
	}
}

// checkEndpoints: the documented semantics of /healthz, /readyz, /metrics.
func (e *e2e) checkEndpoints() {
	e.t.Helper()
	e.agent.WaitHTTP("/readyz", 200, 15*time.Second)
	body := e.agent.WaitHTTP("/metrics", 200, 5*time.Second)
	for _, name := range []string{"ferry_build_info", "ferry_tail_lines_read_total", "ferry_read_to_ack_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(body, name) {
			e.t.Errorf("/metrics lacks %s", name)
		}
	}
	if c, _ := e.agent.Get("/nope"); c != 404 {
		e.t.Errorf("/nope: %d, want 404", c)
	}
}
