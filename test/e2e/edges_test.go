package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
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
// flush, no commit). It now reloads the config (here unchanged), the agent
// keeps serving, and SIGTERM still ends it cleanly.
func TestSIGHUPDoesNotKill(t *testing.T) {
	a, p := edgeAgent(t)
	for range 3 {
		if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitOutput(t, p, `"msg":"config reload: nothing changed","trigger":"SIGHUP"`, 10*time.Second)
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

// configMap lays out a config the way the kubelet mounts a ConfigMap:
// dir/config.yaml -> ..data/config.yaml, ..data -> ..<version>; an update
// writes a new version directory and swaps ..data atomically (rename of a
// new symlink over it), which a watch on config.yaml itself never sees.
type configMap struct {
	t   *testing.T
	dir string
	gen int
}

func newConfigMap(t *testing.T, dir, content string) *configMap {
	t.Helper()
	c := &configMap{t: t, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.update(content)
	if err := os.Symlink(filepath.Join("..data", "config.yaml"), c.path()); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMap) path() string { return filepath.Join(c.dir, "config.yaml") }

func (c *configMap) update(content string) {
	c.t.Helper()
	c.gen++
	ver := fmt.Sprintf("..2026_12_04_00_00_%02d.%d", c.gen, c.gen)
	if err := os.Mkdir(filepath.Join(c.dir, ver), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ver, "config.yaml"), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(c.dir, "..data"))
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ver, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
	if old != "" {
		os.RemoveAll(filepath.Join(c.dir, old))
	}
}

// TestReloadUnderLoad: while pods write and rotate, the mounted config is
// updated five times (four valid changes, one invalid) and the agent is
// sent a SIGHUP: every valid change is applied in the same process, the
// invalid one is refused and counted while the agent keeps running on the
// config it had, and the consumer receives every line exactly once.
func TestReloadUnderLoad(t *testing.T) {
	e := newEnv(t, simnode.Config{Pods: 3, ContainersPerPod: 2, LinesPerSecond: 200, LongEvery: 40, LongBytes: 20 << 10,
		RotateBytes: 512 << 10, Keep: 4, Compress: true, Seed: 15}, nil)
	base := e2eharness.AgentConfig{Root: filepath.Join(e.dir, "pods"), StateDir: filepath.Join(e.dir, "state"),
		Broker: e.broker.Addr(), Listen: e.agent.Addr}
	with := func(logs ...string) string { c := base; c.Logs = logs; return c.YAML() }
	cm := newConfigMap(t, filepath.Join(e.dir, "configmap"), with())
	e.agent.Config = cm.path()

	e.cons.Start()
	e.write()
	p := e.agent.Start()
	metric := func(name string, labels ...string) float64 {
		m, err := e.agent.Scrape()
		if err != nil {
			return -1 // between two generations of the pipeline
		}
		return m.Sum(name, labels...)
	}
	// Some traffic before each change, so that every reload drains a
	// pipeline with lines in flight.
	flowing := func() {
		n := e.cons.Records()
		waitFor(t, "records flowing", 30*time.Second, func() bool { return e.cons.Records() > n+300 })
	}
	changes := []struct {
		logs  []string
		valid bool
	}{
		{[]string{"read_interval: 300ms"}, true},
		{[]string{"read_interval: 150ms", "commit_interval: 500ms"}, true},
		{[]string{"read_interval: 1ns"}, false},
		{[]string{"rescan_interval: 2s"}, true},
		{[]string{"read_interval: 250ms", "poll_interval: 2s"}, true},
	}
	applied, invalid := 0.0, 0.0
	for i, c := range changes {
		flowing()
		cm.update(with(c.logs...))
		if c.valid {
			applied++
			waitFor(t, fmt.Sprintf("change %d applied", i), 60*time.Second, func() bool {
				return metric("ferry_config_reload_total", `result="applied"`) == applied &&
					metric("ferry_config_last_reload_success") == 1
			})
		} else {
			invalid++
			waitFor(t, fmt.Sprintf("change %d refused", i), 60*time.Second, func() bool {
				return metric("ferry_config_reload_total", `result="invalid"`) == invalid &&
					metric("ferry_config_last_reload_success") == 0
			})
			waitOutput(t, p, "logs.read_interval: must be from 10ms to 1m0s, got 1ns", 10*time.Second)
		}
	}
	// SIGHUP with nothing changed on disk.
	flowing()
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "SIGHUP reload", 30*time.Second, func() bool {
		return metric("ferry_config_reload_total", `result="unchanged"`) >= 1
	})
	flowing()
	e.stop()
	rep := e.drain("reload under load", 0, 90*time.Second)
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates across the reloads", rep.Duplicates)
	}
	if err := p.Cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the agent process did not survive the reloads: %v", err)
	}
	if n := strings.Count(p.Output(), `"msg":"config reloaded`); n != int(applied) {
		t.Errorf("%d reloads logged, want %v", n, applied)
	}
	e.term(p)
}
