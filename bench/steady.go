package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// SteadyFigures are the measurements of a steady run.
type SteadyFigures struct {
	Sink              string
	Rate              float64 // lines/s the writer achieved
	ReadRate          float64 // lines/s the agent read
	CPUPercent        float64 // of one core
	Wakeups           float64 // per second: voluntary context switches of the agent's threads
	RSS               int64   // resident at the end of the window
	RSSMean, RSSMost  int64   // VmRSS over the window, sampled every second: mean and largest
	Anon, File        int64   // RssAnon and RssFile at the end
	MaxRSS            int64   // peak (rusage)
	P50, P99          float64 // read-to-ack seconds over the window
	Window            time.Duration
	Acked             float64 // observations in the window
	Load1             float64
	Files, Containers int
	// Go runtime figures at the end of the window: heap in use, goroutine
	// stacks, what the runtime holds from the OS, GC cycles in the window.
	HeapInuse, StackInuse, GoSys float64
	GCs                          float64
	// Enrichment says how many lines were enriched, with enrichment on.
	Enrichment string
}

// runSteady starts the agent on an empty directory, then a writer that
// emulates containers writing rate lines/s over files log files; after
// warmup it measures the agent over window. With rate 0 nothing is written:
// the agent follows files log files that stay quiet (an idle node). With kube set, each container's
// pod is created in that API server first (and deleted at the end), the
// agent runs with enrichment on, and the run fails unless its lines were
// enriched.
func runSteady(ctx context.Context, bin, work string, files, rate int, warmup, window time.Duration, s *sink, kube *kubeCluster) (SteadyFigures, error) {
	dir, err := os.MkdirTemp(work, "steady-")
	if err != nil {
		return SteadyFigures{}, err
	}
	if !keepWork {
		defer os.RemoveAll(dir)
	}
	root := filepath.Join(dir, "pods")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return SteadyFigures{}, err
	}
	perFile := rate / files
	if rate != 0 && perFile <= 0 {
		return SteadyFigures{}, fmt.Errorf("rate: %d lines/s over %d files is less than 1 line/s each", rate, files)
	}
	ncfg := simnode.Config{Root: root, Pods: files, ContainersPerPod: 1, LinesPerSecond: perFile, Seed: 3}
	var (
		en   *enrichOn
		refs []podRef
	)
	if kube != nil {
		made := map[string]bool{} // namespaces
		ncfg.PodUID = func(ns, pod string, containers []string) (string, error) {
			ref := podRef{Namespace: ns, Pod: pod, Container: containers[0]}
			if !made[ns] {
				if err := ensureNamespace(ctx, kube.client, ns); err != nil {
					return "", err
				}
				made[ns] = true
			}
			refs = append(refs, ref)
			return createPod(ctx, kube.client, ref)
		}
		defer func() { kube.deletePodsAfter(ctx, refs) }() // refs is filled by simnode.New below
	}
	node, err := simnode.New(ncfg)
	if err != nil {
		return SteadyFigures{}, err
	}
	include := filepath.Join(root, "*", "*", "*.log")
	if kube != nil {
		en = &enrichOn{kubeconfig: kube.kubeconfig, include: include, pods: len(refs)}
	}
	r, err := startAgent(bin, filepath.Join(dir, "agent"), include, "beginning", s, en, nil)
	if err != nil {
		return SteadyFigures{}, err
	}
	defer r.kill()
	if err := r.waitReady(ctx, 20*time.Second); err != nil {
		return SteadyFigures{}, err
	}
	if en != nil {
		if err := r.waitEnrichSynced(ctx, en.pods, 30*time.Second); err != nil {
			return SteadyFigures{}, err
		}
	}
	wctx, stopWriter := context.WithCancel(ctx)
	defer stopWriter()
	werr := make(chan error, 1)
	if rate > 0 {
		go func() { werr <- node.Run(wctx) }()
	} else {
		werr <- nil // idle: nothing is written (simnode's rate 0 means as fast as it can)
	}

	sleep := func(d time.Duration) error { return r.sleep(ctx, d, "agent") }
	if err := sleep(warmup); err != nil {
		return SteadyFigures{}, err
	}
	pid := strconv.Itoa(r.cmd.Process.Pid)
	w0 := node.Written()
	m0, err := scrapeMetrics(ctx, r.addr)
	if err != nil {
		return SteadyFigures{}, err
	}
	s0 := threadSwitches(pid)
	stopRSS := rssWindow(pid)
	if err := sleep(window); err != nil {
		stopRSS()
		return SteadyFigures{}, err
	}
	rssMean, rssMost := stopRSS()
	m1, err := scrapeMetrics(ctx, r.addr)
	if err != nil {
		return SteadyFigures{}, err
	}
	s1 := threadSwitches(pid)
	w1 := node.Written()
	stopWriter()
	if err := <-werr; err != nil {
		return SteadyFigures{}, fmt.Errorf("writer: %w", err)
	}
	load := load1()
	maxRSS, anon, file := peakRSS(pid), procStatus(pid, "RssAnon"), procStatus(pid, "RssFile")
	if err := r.stop(30 * time.Second); err != nil {
		return SteadyFigures{}, err
	}
	dt := m1.at.Sub(m0.at).Seconds()
	lat := delta(m1.histogram("ferry_read_to_ack_seconds"), m0.histogram("ferry_read_to_ack_seconds"))
	f := SteadyFigures{
		Sink:       en.label(s.name),
		Rate:       float64(w1-w0) / dt,
		ReadRate:   (m1.sum("ferry_tail_lines_read_total") - m0.sum("ferry_tail_lines_read_total")) / dt,
		CPUPercent: 100 * (m1.sum("process_cpu_seconds_total") - m0.sum("process_cpu_seconds_total")) / dt,
		Wakeups:    float64(s1-s0) / dt,
		RSS:        int64(m1.sum("process_resident_memory_bytes")),
		RSSMean:    rssMean,
		RSSMost:    rssMost,
		MaxRSS:     maxRSS,
		Anon:       anon,
		File:       file,
		P50:        quantile(0.5, lat),
		P99:        quantile(0.99, lat),
		Window:     m1.at.Sub(m0.at),
		Load1:      load,
		Files:      files,
		HeapInuse:  m1.sum("go_memstats_heap_inuse_bytes"),
		StackInuse: m1.sum("go_memstats_stack_inuse_bytes"),
		GoSys:      m1.sum("go_memstats_sys_bytes"),
		GCs:        m1.sum("go_gc_duration_seconds") - m0.sum("go_gc_duration_seconds"),
	}
	if len(lat) > 0 {
		f.Acked = lat[len(lat)-1].count
	}
	if math.IsNaN(f.P99) && rate > 0 {
		return f, fmt.Errorf("no read-to-ack observation in the window")
	}
	if en != nil {
		e := enrichmentOf(m1)
		if err := e.check(en.pods); err != nil {
			return f, fmt.Errorf("steady -> %s: %w", f.Sink, err)
		}
		f.Enrichment = e.String()
	}
	return f, nil
}
