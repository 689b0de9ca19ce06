package e2e

import (
	"errors"
	"fmt"
	"net"
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
// sent a SIGHUP: every valid change is applied in the same process behind
// a drain, the invalid one is refused and counted while the agent keeps
// running on the config it had, and the consumer receives every line
// exactly once. A sixth update changes only log.level: it is applied in
// place, without a drain.
func TestReloadUnderLoad(t *testing.T) {
	e := newEnv(t, simnode.Config{Pods: 3, ContainersPerPod: 2, LinesPerSecond: 200, LongEvery: 40, LongBytes: 20 << 10,
		RotateBytes: 512 << 10, Keep: 4, Compress: true, Seed: 15}, nil)
	base := e2eharness.AgentConfig{Root: filepath.Join(e.dir, "pods"), StateDir: filepath.Join(e.dir, "state"),
		Broker: e.broker.Addr(), Listen: e.agent.Addr}
	with := func(logs ...string) string { c := base; c.Logs = logs; return c.YAML() }
	debug := func(yaml string) string { return strings.Replace(yaml, "level: info", "level: debug", 1) }
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
	// Log level only: in place.
	flowing()
	cm.update(debug(with(changes[len(changes)-1].logs...)))
	applied++
	waitFor(t, "log level applied", 30*time.Second, func() bool {
		return metric("ferry_config_reload_total", `result="applied"`) == applied
	})
	waitOutput(t, p, `"msg":"config applied in place: log level"`, 10*time.Second)
	// The components' loggers follow: the next rotation is logged at debug.
	rot := e.node.Rotations()
	waitFor(t, "a rotation", 60*time.Second, func() bool { return e.node.Rotations() > rot })
	waitOutput(t, p, `"level":"DEBUG","msg":"following","component":"tail"`, 30*time.Second)
	flowing()
	e.stop()
	rep := e.drain("reload under load", 0, 90*time.Second)
	if rep.Duplicates != 0 {
		t.Errorf("%d duplicates across the reloads", rep.Duplicates)
	}
	if err := p.Cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the agent process did not survive the reloads: %v", err)
	}
	if n := strings.Count(p.Output(), `"msg":"config reloaded`); n != int(applied)-1 {
		t.Errorf("%d drained reloads logged, want %v", n, applied-1)
	}
	e.term(p)
}

// rssBytes is a process's resident set size.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestIdleConnectionFloodLowFDLimit: the agent runs with 256 descriptors
// (ulimit -n) while 4,000 idle connections are opened to its HTTP port.
// It holds at most http.max_connections of them at once, so it never runs
// out of descriptors: a pod that appears during the flood is discovered and
// every one of its lines arrives, /healthz answers, and memory stays flat.
func TestIdleConnectionFloodLowFDLimit(t *testing.T) {
	e := newEnv(t, simnode.Config{Pods: 2, ContainersPerPod: 1, LinesPerSecond: 50, Seed: 16}, nil)
	e.cons.Start()
	e.write()
	cmd := exec.Command("sh", "-c", `ulimit -n 256 && exec "$0" run --config "$1"`, e2eharness.Ferry(t), e.agent.Config)
	logf, err := os.Create(filepath.Join(e.dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	e.agent.WaitHTTP("/readyz", 200, 30*time.Second)
	pid := cmd.Process.Pid
	before := rssBytes(t, pid)

	const flood = 4000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	failed := 0
	for range flood {
		c, err := net.DialTimeout("tcp", e.agent.Addr, 2*time.Second)
		if err != nil {
			failed++ // reset at accept, or the backlog was full: the agent is fine either way
			continue
		}
		conns = append(conns, c)
	}
	// During the flood (the client holds every connection it got), a new
	// pod starts writing: the agent must open its file.
	w, err := simnode.NewWriter(filepath.Join(e.dir, "pods"), "flood", "newcomer", "0b1e2c3d-0000-4a6b-8c7d-000000000016", "app")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e.extra = append(e.extra, w.Container())
	if err := w.Lines(500, 100); err != nil {
		t.Fatal(err)
	}
	// A probe may meet a full house for at most the header timeout (5 s),
	// after which the idle connections are closed and their slots freed.
	start := time.Now()
	e.agent.WaitHTTP("/healthz", 200, 15*time.Second)
	probe := time.Since(start)
	after := rssBytes(t, pid)
	m, _ := e.agent.Scrape()
	t.Logf("FIGURES idle flood: %d connections dialled (%d failed), agent RSS %.1f MiB before, %.1f MiB during; "+
		"evicted for a newer one %v, rejected at accept %v, served now %v; /healthz answered 200 after %.1fs",
		flood, failed, float64(before)/(1<<20), float64(after)/(1<<20),
		m.Sum("ferry_http_evicted_connections_total"), m.Sum("ferry_http_rejected_connections_total"),
		m.Sum("ferry_http_connections"), probe.Seconds())
	if after-before > 32<<20 {
		t.Errorf("RSS grew by %.1f MiB during the flood", float64(after-before)/(1<<20))
	}
	e.stop()
	e.drain("idle flood", 0, 60*time.Second)
	if out, _ := os.ReadFile(logf.Name()); strings.Contains(string(out), "too many open files") {
		t.Errorf("the agent ran out of descriptors:\n%s", tailOf(string(out), 2000))
	}
}
