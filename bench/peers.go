package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// peerAgent is an agent that -peers runs on the same files as ferry, with
// its records going to an output the benchmark counts.
type peerAgent struct {
	name string
	// record occurs exactly once per log record in the agent's output.
	record string
	// command is the agent following include (a glob) from the beginning
	// of each file, its state and config under dir, its records written
	// to the named pipe out.
	command func(dir, include, out string) (*exec.Cmd, error)
}

// ferryPeer is ferry to its file sink (NDJSON, one record a line).
func ferryPeer(bin string) peerAgent {
	return peerAgent{name: "ferry", record: "\n", command: func(dir, include, out string) (*exec.Cmd, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s := &sink{yaml: fmt.Sprintf("  file: {path: %q}\n", out)}
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(agentConfig(dir, include, "beginning", s, nil, addr)), 0o644); err != nil {
			return nil, err
		}
		return exec.Command(bin, "run", "--config", path), nil
	}}
}

// otelcolPeer is the OpenTelemetry Collector (contrib components) as a
// Kubernetes node agent of logs is configured: the filelog receiver with
// the container parser (CRI lines, partials merged, pod metadata from the
// path), into the file exporter (OTLP JSON, one line per batch: counted by
// the "body" of each record). Everything else is the Collector's default;
// its own telemetry is off (it would listen on a fixed port).
func otelcolPeer(bin string) peerAgent {
	return peerAgent{name: "otelcol " + strings.TrimPrefix(filepath.Base(bin), "otelcol-bench-"), record: `"body":`, command: func(dir, include, out string) (*exec.Cmd, error) {
		cfg := fmt.Sprintf(`receivers:
  filelog:
    include: [%q]
    start_at: beginning
    include_file_path: true
    operators:
      - type: container
exporters:
  file:
    path: %q
service:
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [file]
`, include, out)
		path := filepath.Join(dir, "otelcol.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		return exec.Command(bin, "--config", path), nil
	}}
}

// fluentBitPeer is Fluent Bit as its Kubernetes guide configures the
// input: tail with the built-in cri multiline parser (partials merged),
// into the stdout output as JSON lines (one record a line), whose standard
// output is the pipe; its own log goes to a file. Like the Collector's here
// (no storage extension), its offsets stay in memory (no DB): only ferry
// writes checkpoints.
func fluentBitPeer(bin, version string) peerAgent {
	return peerAgent{name: "fluent-bit " + version, record: "\n", command: func(dir, include, out string) (*exec.Cmd, error) {
		cfg := fmt.Sprintf(`[SERVICE]
    Flush        1
    Log_Level    warn
    Log_File     %s
    HTTP_Server  Off

[INPUT]
    Name              tail
    Path              %s
    Read_from_Head    On
    multiline.parser  cri

[OUTPUT]
    Name    stdout
    Match   *
    Format  json_lines
`, filepath.Join(dir, "fluent-bit.log"), include)
		path := filepath.Join(dir, "fluent-bit.conf")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(out, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-c", path)
		cmd.Stdout = f // the child keeps its own copy; ours is closed once it started
		return cmd, nil
	}}
}

// fluentBitVersion is the first line of `fluent-bit --version`.
func fluentBitVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	for _, w := range strings.Fields(string(out)) {
		if strings.HasPrefix(w, "v") && strings.Count(w, ".") >= 1 {
			return w
		}
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// buildOtelcol runs hack/peers.sh otelcol (which builds the Collector once
// and caches it) and returns the binary's path.
func buildOtelcol(root string, stderr io.Writer) (string, error) {
	cmd := exec.Command("bash", filepath.Join(root, "hack", "peers.sh"), "otelcol")
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/peers.sh otelcol: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// startPeer starts p on include with its output counted.
func startPeer(p peerAgent, dir, include string) (*agentRun, *output, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	out, err := openOutput(filepath.Join(dir, "out.pipe"), p.record)
	if err != nil {
		return nil, nil, err
	}
	cmd, err := p.command(dir, include, out.path)
	if err != nil {
		out.close()
		return nil, nil, err
	}
	r, err := startProcess(cmd, dir)
	if f, ok := cmd.Stdout.(*os.File); ok && f.Name() == out.path {
		f.Close()
	}
	if err != nil {
		out.close()
		return nil, nil, err
	}
	return r, out, nil
}

// runPeerCorpus runs p from the beginning of the corpus until its output
// holds every line of it. CPU and RSS are taken then, from /proc (CPU: all
// the process's threads since it started; the shutdown is not in it).
func runPeerCorpus(ctx context.Context, p peerAgent, work string, c *Corpus, poll, timeout time.Duration) (Figures, error) {
	dir, err := os.MkdirTemp(work, "peer-")
	if err != nil {
		return Figures{}, err
	}
	if !keepWork {
		defer os.RemoveAll(dir)
	}
	r, out, err := startPeer(p, dir, c.Glob())
	if err != nil {
		return Figures{}, err
	}
	defer out.close()
	defer r.kill()
	deadline := time.Now().Add(timeout)
	for out.counter.Count() < c.Lines {
		select {
		case <-r.exited:
			return Figures{}, fmt.Errorf("%s exited: %v\n%s", p.name, r.waitErr, r.logTail())
		case <-ctx.Done():
			return Figures{}, ctx.Err()
		case <-time.After(poll):
		}
		if time.Now().After(deadline) {
			return Figures{}, fmt.Errorf("%s: timeout after %s: %d of %d lines out", p.name, timeout, out.counter.Count(), c.Lines)
		}
	}
	wall := time.Since(r.started)
	pid := r.cmd.Process.Pid
	cpu, err := procCPU(pid)
	if err != nil {
		return Figures{}, err
	}
	rss, anon := peakRSS(strconv.Itoa(pid)), procStatus(strconv.Itoa(pid), "RssAnon")
	load := load1()
	if err := r.stop(30 * time.Second); err != nil {
		return Figures{}, fmt.Errorf("%s: %w", p.name, err)
	}
	if n := out.counter.Count(); n != c.Lines {
		return Figures{}, fmt.Errorf("%s: %d records out, the corpus has %d lines", p.name, n, c.Lines)
	}
	return Figures{Name: p.name, Wall: wall, CPU: cpu, MaxRSS: rss, Anon: anon, Lines: c.Lines, Bytes: c.Bytes, Load1: load,
		Comment: fmt.Sprintf("CPU with shutdown %.2f s", cpuTime(r.cmd.ProcessState).Seconds())}, nil
}

// PeerSteady is one agent's steady run.
type PeerSteady struct {
	Name            string
	CPUPercent      float64 // of one core, over the window
	Written, Out    float64 // lines/s the writer wrote and the agent delivered in the window
	RSS, MaxRSS     int64   // VmRSS over the window (the mean of a sample a second), VmHWM
	Anon            int64
	CaughtUp        time.Duration // from the writer's stop until every line written was out (-1: not within the bound)
	Window          time.Duration
	Load1           float64
	Lines, Delivers int64
}

// runPeerSteady starts p on an empty node whose files exist (empty), then
// the writer; after warmup it measures p over window; then it stops the
// writer and waits (a bounded time) until every line written is out.
func runPeerSteady(ctx context.Context, p peerAgent, work string, files, rate int, warmup, window time.Duration) (PeerSteady, error) {
	dir, err := os.MkdirTemp(work, "peer-steady-")
	if err != nil {
		return PeerSteady{}, err
	}
	if !keepWork {
		defer os.RemoveAll(dir)
	}
	root := filepath.Join(dir, "pods")
	perFile := rate / files
	if perFile <= 0 {
		return PeerSteady{}, fmt.Errorf("rate: %d lines/s over %d files is less than 1 line/s each", rate, files)
	}
	node, err := simnode.New(simnode.Config{Root: root, Pods: files, ContainersPerPod: 1, LinesPerSecond: perFile, Seed: 3})
	if err != nil {
		return PeerSteady{}, err
	}
	// The files exist before the agent starts, so that no agent waits for
	// its next look for new files (Fluent Bit's is a minute by default).
	for _, c := range node.Containers() {
		if err := os.WriteFile(filepath.Join(c.Dir, "0.log"), nil, 0o644); err != nil {
			return PeerSteady{}, err
		}
	}
	r, out, err := startPeer(p, filepath.Join(dir, "agent"), filepath.Join(root, "*", "*", "*.log"))
	if err != nil {
		return PeerSteady{}, err
	}
	defer out.close()
	defer r.kill()
	wctx, stopWriter := context.WithCancel(ctx)
	defer stopWriter()
	werr := make(chan error, 1)
	go func() { werr <- node.Run(wctx) }()
	sleep := func(d time.Duration) error { return r.sleep(ctx, d, p.name) }
	if err := sleep(warmup); err != nil {
		return PeerSteady{}, err
	}
	pid := r.cmd.Process.Pid
	c0, err := procCPU(pid)
	if err != nil {
		return PeerSteady{}, err
	}
	t0, w0, n0 := time.Now(), node.Written(), out.counter.Count()
	stopRSS := rssWindow(strconv.Itoa(pid))
	if err := sleep(window); err != nil {
		stopRSS()
		return PeerSteady{}, err
	}
	rssMean, _ := stopRSS()
	c1, err := procCPU(pid)
	if err != nil {
		return PeerSteady{}, err
	}
	t1, w1, n1 := time.Now(), node.Written(), out.counter.Count()
	spid := strconv.Itoa(pid)
	f := PeerSteady{Name: p.name, RSS: rssMean, MaxRSS: peakRSS(spid), Anon: procStatus(spid, "RssAnon"), Load1: load1(), Window: t1.Sub(t0)}
	dt := f.Window.Seconds()
	f.CPUPercent = 100 * (c1 - c0).Seconds() / dt
	f.Written, f.Out = float64(w1-w0)/dt, float64(n1-n0)/dt
	stopWriter()
	if err := <-werr; err != nil {
		return f, fmt.Errorf("writer: %w", err)
	}
	stopped := time.Now()
	f.Lines = node.Written()
	f.CaughtUp = -1
	for bound := stopped.Add(15 * time.Second); time.Now().Before(bound); {
		if out.counter.Count() >= f.Lines {
			f.CaughtUp = time.Since(stopped)
			break
		}
		if err := sleep(50 * time.Millisecond); err != nil {
			return f, err
		}
	}
	f.Delivers = out.counter.Count()
	if err := r.stop(30 * time.Second); err != nil {
		return f, fmt.Errorf("%s: %w", p.name, err)
	}
	return f, nil
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "min-max" of xs with the given format.
func spread(format string, xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf(format+"-"+format, lo, hi)
}

// peerRuns runs every agent over the corpus runs times, interleaved (each
// round starts with the next agent, so none always runs first), then
// prints each agent's medians and their ratios to ferry's.
func peerRuns(ctx context.Context, w io.Writer, agents []peerAgent, work string, c *Corpus, ceil Figures, runs int, poll, timeout time.Duration) error {
	figs := make([][]Figures, len(agents))
	for round := range runs {
		for i := range agents {
			a := (round + i) % len(agents)
			f, err := runPeerCorpus(ctx, agents[a], work, c, poll, timeout)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  round %d: %-34s %7.2f CPU-s/GiB, %6.1f MiB peak RSS, %6.1f s, load1 %.2f (%s)\n", round+1, f.Name, f.CPUPerGiB(), mib(f.MaxRSS), f.Wall.Seconds(), f.Load1, f.Comment)
			figs[a] = append(figs[a], f)
		}
	}
	fmt.Fprintf(w, "\ncorpus, %d interleaved runs each, medians (CPU: the process's, from start until its output held every line; ratios: to ferry's median):\n", runs)
	fmt.Fprintf(w, "%-42s %11s %13s %9s %11s %9s %8s %9s\n", "agent", "CPU-s/GiB", "(min-max)", "x ferry", "x ceiling", "RSS MiB", "x ferry", "MiB/s")
	fmt.Fprintf(w, "%-42s %11.2f %13s %9s %11s %9.1f %8s %9.0f\n", ceil.Name, ceil.CPUPerGiB(), "", "", "1.0", mib(ceil.MaxRSS), "", ceil.MiBPerSec())
	var ferryCPU, ferryRSS float64
	for a, fs := range figs {
		var cpu, rss, rate []float64
		for _, f := range fs {
			cpu, rss, rate = append(cpu, f.CPUPerGiB()), append(rss, mib(f.MaxRSS)), append(rate, f.MiBPerSec())
		}
		mc, mr := median(cpu), median(rss)
		if a == 0 {
			ferryCPU, ferryRSS = mc, mr
		}
		fmt.Fprintf(w, "%-42s %11.2f %13s %8.1fx %10.1fx %9.1f %7.2fx %9.0f\n", agents[a].name, mc, spread("%.2f", cpu), mc/ferryCPU, mc/ceil.CPUPerGiB(), mr, mr/ferryRSS, median(rate))
	}
	return nil
}

// peerSteadyRuns runs every agent behind the same steady writer runs
// times, interleaved, and prints medians and ratios to ferry's.
func peerSteadyRuns(ctx context.Context, w io.Writer, agents []peerAgent, work string, files, rate int, warmup, window time.Duration, runs int) error {
	figs := make([][]PeerSteady, len(agents))
	for round := range runs {
		for i := range agents {
			a := (round + i) % len(agents)
			f, err := runPeerSteady(ctx, agents[a], work, files, rate, warmup, window)
			if err != nil {
				return err
			}
			caught := fmt.Sprintf("only %d of %d lines out 15 s after the writer stopped", f.Delivers, f.Lines)
			if f.CaughtUp >= 0 {
				caught = fmt.Sprintf("all %d lines out %.1f s after the writer stopped", f.Lines, f.CaughtUp.Seconds())
			}
			fmt.Fprintf(w, "  round %d: %-34s %6.2f%% of a core, RSS %5.1f MiB (window mean; peak %5.1f), wrote %.0f/s, out %.0f/s; %s; load1 %.2f\n",
				round+1, f.Name, f.CPUPercent, mib(f.RSS), mib(f.MaxRSS), f.Written, f.Out, caught, f.Load1)
			figs[a] = append(figs[a], f)
		}
	}
	fmt.Fprintf(w, "\nsteady, %d lines/s over %d files, %.0f s window after %.0f s, %d interleaved runs each, medians (ratios: to ferry's median):\n", rate, files, window.Seconds(), warmup.Seconds(), runs)
	fmt.Fprintf(w, "%-42s %12s %13s %9s %9s %10s %8s\n", "agent", "CPU % core", "(min-max)", "x ferry", "RSS MiB", "peak MiB", "x ferry")
	var ferryCPU, ferryRSS float64
	for a, fs := range figs {
		var cpu, rss, peak []float64
		for _, f := range fs {
			cpu, rss, peak = append(cpu, f.CPUPercent), append(rss, mib(f.RSS)), append(peak, mib(f.MaxRSS))
		}
		mc, mr := median(cpu), median(rss)
		if a == 0 {
			ferryCPU, ferryRSS = mc, mr
		}
		fmt.Fprintf(w, "%-42s %12.2f %13s %8.1fx %9.1f %10.1f %7.2fx\n", agents[a].name, mc, spread("%.2f", cpu), mc/ferryCPU, mr, median(peak), mr/ferryRSS)
	}
	return nil
}
