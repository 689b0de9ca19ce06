package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// buildFerry builds cmd/agent of the module at root into dir as the
// image's Dockerfile does: static (no cgo: no C library mapped), without
// the demo's embedded broker (-tags nodemo), stripped. The binary's mapped
// pages are about half of the agent's RSS at a steady rate, so a plain
// `go build` (dynamic, with the demo) measured 4 MiB more RSS than users
// run.
func buildFerry(root, dir string) (string, error) {
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-tags", "nodemo", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agent: %v\n%s", err, out)
	}
	return bin, nil
}

// buildCeiling builds bench/ceiling into dir.
func buildCeiling(root, dir string) (string, error) {
	bin := filepath.Join(dir, "ceiling")
	cmd := exec.Command("go", "build", "-o", bin, "./bench/ceiling")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./bench/ceiling: %v\n%s", err, out)
	}
	return bin, nil
}

// agentQueueBytes is memory.queue_bytes of the agent's config; 0 leaves
// the agent's default.
var agentQueueBytes int64

// keepWork keeps each run's directory (config, agent log, state).
var keepWork bool

// agentProfiles, when set, is where each corpus run of ferry leaves the
// agent's own CPU profile (-agent-cpuprofile): one-second profiles taken
// one after the other through its /debug/pprof/profile (http.pprof: true)
// from the moment it serves until its output holds every line. The
// in-process profile (-mode profile) has the broker in the same process
// and neither the agent's GC settings nor enrichment; this is the agent
// as it runs.
var agentProfiles string

// moduleRoot is the directory of the ferry module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the ferry module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// sink is where a run ships to.
type sink struct {
	name string
	addr string // kafka: the broker
	yaml string
	stop func()
	// caughtUp, when set, says whether the sink's output holds the records
	// the agent counted as sent (a pipe the benchmark reads is behind).
	caughtUp func(sent int64) bool
}

// fileSink is the NDJSON file sink on /dev/null.
func fileSink() (*sink, error) {
	return &sink{name: "file sink (/dev/null)", yaml: "  file: {path: /dev/null}\n", stop: func() {}}, nil
}

// kafkaSink starts an in-process kfake broker that accepts and discards
// every produce request, and returns the sink section for it (lz4, acks
// all: what production runs, except for zstd).
func kafkaSink(compression string) (*sink, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics"), kfake.BlackholeProduce())
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	y := fmt.Sprintf("  kafka:\n    brokers: [%q]\n    topic: logs\n    compression: %s\n    required_acks: all\n", c.ListenAddrs()[0], compression)
	return &sink{name: fmt.Sprintf("kafka (kfake blackhole, %s, acks=all)", compression), addr: c.ListenAddrs()[0], yaml: y, stop: c.Close}, nil
}

// agentRun is one ferry process.
type agentRun struct {
	cmd     *exec.Cmd
	addr    string
	dir     string
	logPath string
	started time.Time
	exited  chan struct{}
	waitErr error
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// enrichOn is how a run enriches its lines from a real kube-apiserver; a
// nil *enrichOn runs the agent with kubernetes disabled.
type enrichOn struct {
	kubeconfig string // the agent's kubernetes.kubeconfig
	include    string // the log files, under directories named with the pods' real UIDs
	pods       int    // pods created for them, all on node bench
}

// kubernetesYAML is the kubernetes section of the agent's config.
func (e *enrichOn) kubernetesYAML() string {
	if e == nil {
		return "kubernetes: {enabled: false}\n"
	}
	return fmt.Sprintf("kubernetes: {enabled: true, kubeconfig: %q}\n", e.kubeconfig)
}

// label is a run's sink name with ", enrichment on" inside its parentheses
// when e is set.
func (e *enrichOn) label(name string) string {
	if e == nil {
		return name
	}
	if strings.HasSuffix(name, ")") {
		return name[:len(name)-1] + ", enrichment on)"
	}
	return name + " (enrichment on)"
}

// startAgent writes a config and starts `ferry run --config` on it.
func startAgent(bin, dir, include, startAt string, s *sink, en *enrichOn, proc *procConfig) (*agentRun, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := agentConfig(dir, include, startAt, s, en, addr) + proc.yamlSection()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	r, err := startProcess(exec.Command(bin, "run", "--config", path), dir)
	if err != nil {
		return nil, err
	}
	r.addr = addr
	return r, nil
}

// agentConfig is ferry's config for a benchmark run: state under dir,
// include followed from startAt, shipping to s, enrichment as en says, the
// HTTP server on addr.
func agentConfig(dir, include, startAt string, s *sink, en *enrichOn, addr string) string {
	return agentConfigLogs(dir, include, startAt, s, en, addr, "")
}

// agentConfigLogs is agentConfig with more keys of the logs section (each
// line indented by two spaces, newline-terminated).
func agentConfigLogs(dir, include, startAt string, s *sink, en *enrichOn, addr, logs string) string {
	memory := ""
	if agentQueueBytes > 0 {
		memory = fmt.Sprintf("memory: {queue_bytes: %d}\n", agentQueueBytes)
	}
	return fmt.Sprintf(`node_name: bench
state_dir: %q
shutdown_timeout: 20s
log: {level: warn, format: json}
%slogs:
  include: [%q]
  start_at: %s
%s%shostmetrics: {enabled: false}
sink:
%shttp: {listen: %q%s}
`, filepath.Join(dir, "state"), memory, include, startAt, logs, en.kubernetesYAML(), s.yaml, addr, pprofYAML())
}

// pprofYAML turns the agent's /debug/pprof on when agentProfiles is set.
func pprofYAML() string {
	if agentProfiles == "" {
		return ""
	}
	return ", pprof: true"
}

// profileAgent takes one-second CPU profiles of the agent at addr, one
// after the other, into dir/<name>-<n>.pprof until ctx ends, and returns
// how many it wrote on done.
func profileAgent(ctx context.Context, addr, dir, name string, done chan<- int) {
	n := 0
	defer func() { done <- n }()
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/profile?seconds=1", nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the agent stopped, or ctx ended
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return
		}
		if os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%03d.pprof", name, n)), b, 0o644) == nil {
			n++
		}
	}
}

// startProcess starts cmd with its output (what cmd does not send elsewhere
// already) in <dir>/agent.log.
func startProcess(cmd *exec.Cmd, dir string) (*agentRun, error) {
	r := &agentRun{cmd: cmd, dir: dir, logPath: filepath.Join(dir, "agent.log"), exited: make(chan struct{})}
	logf, err := os.Create(r.logPath)
	if err != nil {
		return nil, err
	}
	if r.cmd.Stdout == nil {
		r.cmd.Stdout = logf
	}
	if r.cmd.Stderr == nil {
		r.cmd.Stderr = logf
	}
	r.started = time.Now()
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		logf.Close()
		close(r.exited)
	}()
	return r, nil
}

// stop sends SIGTERM (graceful: flush, commit) and waits for the exit.
func (r *agentRun) stop(timeout time.Duration) error {
	select {
	case <-r.exited:
		return fmt.Errorf("agent exited early: %v\n%s", r.waitErr, r.logTail())
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return fmt.Errorf("agent did not stop within %s after SIGTERM", timeout)
	}
	if r.waitErr != nil {
		return fmt.Errorf("agent: %v\n%s", r.waitErr, r.logTail())
	}
	return nil
}

// sleep waits d (a measuring window: the time is the measurement, not a
// synchronisation), failing when ctx ends or the process named name exits.
func (r *agentRun) sleep(ctx context.Context, d time.Duration, name string) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.exited:
		return fmt.Errorf("%s exited: %v\n%s", name, r.waitErr, r.logTail())
	}
}

func (r *agentRun) kill() {
	select {
	case <-r.exited:
	default:
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

func (r *agentRun) logTail() string {
	b, _ := os.ReadFile(r.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitReady waits until /metrics answers.
func (r *agentRun) waitReady(ctx context.Context, timeout time.Duration) error {
	return r.poll(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
		if _, err := scrapeMetrics(ctx, r.addr); err != nil {
			return false, fmt.Errorf("agent not serving /metrics after %s: %v\n%s", timeout, err, r.logTail())
		}
		return true, nil
	})
}

// poll calls check every interval until it is done. It fails when the
// agent exits, ctx ends, or timeout passes (with check's last error).
func (r *agentRun) poll(ctx context.Context, timeout, interval time.Duration, check func() (done bool, err error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := check()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-r.exited:
			return fmt.Errorf("agent exited: %v\n%s", r.waitErr, r.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// profileName names the profiles of a corpus run: its sink, enrichment and
// processing, and a count so that rounds do not overwrite each other.
func profileName(s *sink, en *enrichOn, proc *procConfig) string {
	name := strings.Fields(s.name)[0]
	if en != nil {
		name += "-enrich"
	}
	if proc != nil && proc.name != "" {
		name += "-" + proc.name
	}
	profileRuns[name]++
	return fmt.Sprintf("%s-%d", name, profileRuns[name])
}

var profileRuns = map[string]int{}

// runCorpus runs the agent from the beginning of the corpus to s, waits
// until every line was read and confirmed by the sink, stops it, and
// returns its figures. With en set, the agent reads the corpus through
// en.include with enrichment on, and the run fails unless its lines were
// enriched. With proc set, the agent processes its lines as proc says; it
// is done when it sent every record: lines read less the lines multiline
// merged into an earlier line's record and the records filters dropped.
func runCorpus(ctx context.Context, bin, work string, c *Corpus, s *sink, en *enrichOn, proc *procConfig, poll, timeout time.Duration) (Figures, error) {
	dir, err := os.MkdirTemp(work, "run-")
	if err != nil {
		return Figures{}, err
	}
	if !keepWork {
		defer os.RemoveAll(dir)
	}
	include := c.Glob()
	if en != nil {
		include = en.include
	}
	r, err := startAgent(bin, dir, include, "beginning", s, en, proc)
	if err != nil {
		return Figures{}, err
	}
	defer r.kill()
	profiled := make(chan int, 1)
	stopProfile := func() string { return "" }
	if agentProfiles != "" {
		if err := r.waitReady(ctx, 20*time.Second); err != nil {
			return Figures{}, err
		}
		pctx, cancel := context.WithCancel(ctx)
		name := profileName(s, en, proc)
		go profileAgent(pctx, r.addr, agentProfiles, name, profiled)
		stopProfile = func() string {
			cancel()
			return fmt.Sprintf("; agent CPU profile: %d one-second profiles (go tool pprof -top %s/%s-*.pprof)", <-profiled, agentProfiles, name)
		}
	}
	var done scrape
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-r.exited:
			return Figures{}, fmt.Errorf("agent exited: %v\n%s", r.waitErr, r.logTail())
		case <-ctx.Done():
			return Figures{}, ctx.Err()
		case <-time.After(poll):
		}
		sc, err := scrapeMetrics(ctx, r.addr)
		if err != nil {
			if time.Since(r.started) > 20*time.Second {
				return Figures{}, err
			}
			continue
		}
		read := int64(sc.sum("ferry_tail_lines_read_total"))
		sent := int64(sc.sum("ferry_ship_records_sent_total", "record", "log"))
		records := read - int64(sc.sum("ferry_process_multiline_merged_lines_total")) - int64(sc.sum("ferry_process_dropped_total"))
		if read > c.Lines {
			return Figures{}, fmt.Errorf("agent read %d lines, the corpus has %d", read, c.Lines)
		}
		if read == c.Lines && sent >= records && (s.caughtUp == nil || s.caughtUp(sent)) {
			done = sc
			break
		}
		if time.Now().After(deadline) {
			return Figures{}, fmt.Errorf("timeout after %s: read %d of %d lines, sent %d of %d records", timeout, read, c.Lines, sent, records)
		}
	}
	profiles := stopProfile()
	wall := done.at.Sub(r.started)
	load := load1()
	pid := strconv.Itoa(r.cmd.Process.Pid)
	rss, anon := peakRSS(pid), procStatus(pid, "RssAnon")
	if err := r.stop(30 * time.Second); err != nil {
		return Figures{}, err
	}
	cpu := cpuTime(r.cmd.ProcessState)
	f := Figures{Name: "ferry -> " + en.label(s.name) + proc.label(), Wall: wall, CPU: cpu, MaxRSS: rss, Anon: anon, Lines: c.Lines, Bytes: c.Bytes, Load1: load, Metrics: done}
	f.Comment = fmt.Sprintf("CPU at completion %.2f s (process_cpu_seconds_total), the rest is start and shutdown; RssAnon at completion %.1f MiB (the rest of RSS is the binary's mapped pages); dropped %.0f",
		done.sum("process_cpu_seconds_total"), mib(anon), done.sum("ferry_ship_dropped_records_total"))
	f.Comment += profiles
	if proc != nil && proc.yaml != "" {
		f.Comment += "; " + processedOf(done)
	}
	if en != nil {
		e := enrichmentOf(done)
		if err := e.check(en.pods); err != nil {
			return Figures{}, fmt.Errorf("%s: %w", f.Name, err)
		}
		f.Comment += "; " + e.String()
	}
	return f, nil
}
