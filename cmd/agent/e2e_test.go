package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// buildFerry builds the agent binary once per test binary run.
var buildFerry = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ferry-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// e2e is one end-to-end setup: a kfake broker, a simulated node, and the
// agent binary run as a process on a config pointing at both.
type e2e struct {
	t       *testing.T
	bin     string
	dir     string
	broker  string
	config  string
	node    *simnode.Node
	chk     *simnode.Checker
	records int
	addr    string
}

func newE2E(t *testing.T, rate int) *e2e {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	bin, err := buildFerry()
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	node, err := simnode.New(simnode.Config{
		Root: filepath.Join(dir, "pods"), Pods: 3, ContainersPerPod: 2, LinesPerSecond: rate,
		LongEvery: 40, LongBytes: 40 << 10, RotateBytes: 1 << 20, Keep: 4, Compress: true, Seed: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, bin: bin, dir: dir, broker: cluster.ListenAddrs()[0], node: node, chk: simnode.NewChecker(),
		addr: freeAddr(t)}
	e.config = filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`
node_name: e2e-node
state_dir: %s/state
shutdown_timeout: 15s
log: {level: info, format: json}
logs:
  include: ["%s/pods/*/*/*.log"]
kubernetes: {enabled: false}
hostmetrics: {enabled: false}
sink:
  kafka:
    brokers: ["%s"]
    topic: logs
    compression: lz4
http: {listen: "%s"}
`, dir, dir, e.broker, e.addr)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func freeAddr(t *testing.T) string {
	// A port the kernel just handed out and released: good enough on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the agent binary; its output goes to a file in the test dir.
func (e *e2e) start(n int) *exec.Cmd {
	e.t.Helper()
	logf, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("agent-%d.log", n)))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(e.bin, "run", "--config", e.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		logf.Close()
	})
	e.waitHTTP("/healthz", 200, 20*time.Second)
	return cmd
}

func (e *e2e) get(path string) (int, string) {
	resp, err := http.Get("http://" + e.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *e2e) waitHTTP(path string, code int, timeout time.Duration) string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, body := e.get(path)
		if c == code {
			return body
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: got %d %q, want %d within %s", path, c, body, code, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends sig and waits for the exit; SIGTERM must exit 0.
func (e *e2e) stop(cmd *exec.Cmd, sig syscall.Signal) {
	e.t.Helper()
	cmd.Process.Signal(sig)
	err := cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		e.t.Fatalf("agent exit after SIGTERM: %v", err)
	}
}

// consume reads everything in the logs topic with an independent client.
func (e *e2e) consume() simnode.Report {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker), kgo.ConsumeTopics("logs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	chk := simnode.NewChecker()
	idle := 0
	for idle < 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			var rec struct {
				Message    string `json:"message"`
				Kubernetes struct {
					Namespace, Pod, Container string
				} `json:"kubernetes"`
			}
			if err := json.Unmarshal(r.Value, &rec); err != nil {
				e.t.Errorf("record is not JSON: %v: %.200s", err, r.Value)
				return
			}
			chk.Observe([]byte(rec.Message))
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	e.chk = chk
	return chk.Report(e.node.Containers())
}

// drain waits until the broker holds every written line, or the timeout.
func (e *e2e) drain(timeout time.Duration) simnode.Report {
	deadline := time.Now().Add(timeout)
	for {
		rep := e.consume()
		if rep.Received >= rep.Written || time.Now().After(deadline) {
			return rep
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestAgentGracefulRestartExactlyOnce: SIGTERM in the middle of a stream,
// restart, and every line arrives exactly once.
func TestAgentGracefulRestartExactlyOnce(t *testing.T) {
	e := newE2E(t, 300)
	writeCtx, stopWriting := context.WithCancel(context.Background())
	defer stopWriting()
	writeDone := make(chan error, 1)
	go func() { writeDone <- e.node.Run(writeCtx) }()

	for i := 0; i < 3; i++ {
		cmd := e.start(i)
		time.Sleep(1500 * time.Millisecond)
		if i == 0 {
			e.checkEndpoints()
		}
		e.stop(cmd, syscall.SIGTERM)
	}
	stopWriting()
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	cmd := e.start(3)
	rep := e.drain(30 * time.Second)
	e.stop(cmd, syscall.SIGTERM)
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
	const rate = 300
	e := newE2E(t, rate)
	writeCtx, stopWriting := context.WithCancel(context.Background())
	defer stopWriting()
	writeDone := make(chan error, 1)
	go func() { writeDone <- e.node.Run(writeCtx) }()

	const kills = 3
	for i := 0; i < kills; i++ {
		cmd := e.start(i)
		time.Sleep(1500 * time.Millisecond)
		e.stop(cmd, syscall.SIGKILL)
	}
	stopWriting()
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	cmd := e.start(kills)
	rep := e.drain(30 * time.Second)
	t.Logf("last agent's counters:\n%s", e.counters())
	e.stop(cmd, syscall.SIGTERM)
	t.Logf("%s", rep)
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

// counters returns the agent's loss and error counters from /metrics.
func (e *e2e) counters() string {
	_, body := e.get("/metrics")
	var out []string
	for _, l := range strings.Split(body, "\n") {
		for _, p := range []string{"ferry_tail_lost", "ferry_ship_dropped", "ferry_tail_truncations", "ferry_tail_parse_errors", "ferry_tail_lines_read", "ferry_ship_records_sent"} {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// checkEndpoints: the documented semantics of /healthz, /readyz, /metrics.
func (e *e2e) checkEndpoints() {
	e.t.Helper()
	e.waitHTTP("/readyz", 200, 15*time.Second)
	body := e.waitHTTP("/metrics", 200, 5*time.Second)
	for _, name := range []string{"ferry_build_info", "go_goroutines"} {
		if !strings.Contains(body, name) {
			e.t.Errorf("/metrics lacks %s", name)
		}
	}
	if c, _ := e.get("/nope"); c != 404 {
		e.t.Errorf("/nope: %d, want 404", c)
	}
}
