package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// edgeAgent is a running agent on an empty node with a broker, for the
// tests of signals and state.
func edgeAgent(t *testing.T) (*e2eharness.Agent, *e2eharness.Proc) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the agent binary")
	}
	dir := t.TempDir()
	broker := e2eharness.NewBroker(t)
	a := e2eharness.NewAgent(t, dir, e2eharness.AgentConfig{
		Root: filepath.Join(dir, "pods"), StateDir: filepath.Join(dir, "state"), Broker: broker.Addr(),
	})
	return a, a.Start()
}

// waitOutput polls a process's output for want, or fails at timeout.
func waitOutput(t *testing.T, p *e2eharness.Proc, want string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !strings.Contains(p.Output(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the agent's output within %s:\n%s", want, timeout, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGHUPDoesNotKill: SIGHUP used to end the agent at once (exit 129, no
// flush, no commit). It is now logged, the agent keeps serving, and
// SIGTERM still ends it cleanly.
func TestSIGHUPDoesNotKill(t *testing.T) {
	a, p := edgeAgent(t)
	for range 3 {
		if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitOutput(t, p, "SIGHUP received and ignored", 10*time.Second)
	a.WaitHTTP("/healthz", 200, 5*time.Second)
	if err := p.Term(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGHUP then SIGTERM: %v\n%s", err, p.Output())
	}
}

// TestSecondAgentOnStateDir: a second agent on the same state_dir exits 1
// with a clear error naming the holder, and the first one keeps running.
func TestSecondAgentOnStateDir(t *testing.T) {
	a, p := edgeAgent(t)
	second := exec.Command(e2eharness.Ferry(t), "run", "--config", a.Config)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = second.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		second.Process.Kill()
		<-done
		t.Fatalf("the second agent did not exit:\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("second agent: %v, want exit status 1", err)
	}
	want := "state_dir is in use by another ferry agent (pid " + strconv.Itoa(p.Cmd.Process.Pid) + " holds "
	if !strings.Contains(string(out), want) {
		t.Errorf("second agent's output lacks %q:\n%s", want, out)
	}
	a.WaitHTTP("/healthz", 200, 5*time.Second)
	if err := p.Term(20 * time.Second); err != nil {
		t.Fatalf("first agent: %v", err)
	}
	// The lock goes with its holder: the next agent starts.
	p2 := a.Start()
	if err := p2.Term(20 * time.Second); err != nil {
		t.Fatalf("agent after the first stopped: %v\n%s", err, p2.Output())
	}
}
