package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/internal/pipeline"
	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// steadyProfile is the writer of a steady profile.
type steadyProfile struct {
	root      string
	node      *simnode.Node
	warmup, d time.Duration
}

// ackCounter counts the lines the pipeline acknowledged and signals when
// want were.
type ackCounter struct {
	n     atomic.Int64
	want  int64
	reach chan struct{}
}

func (a *ackCounter) add(lines int) {
	if a.n.Add(int64(lines)) >= a.want {
		select {
		case a.reach <- struct{}{}:
		default:
		}
	}
}

// profileRun runs the agent's pipeline in this process (internal/pipeline,
// the wiring cmd/agent runs: tail, enrich with kubernetes disabled, the
// limits stage, ship), with the rooms' defaults and the agent's
// memory.queue_bytes, over the corpus, under the CPU profiler. It returns
// when the sink confirmed every line.
//
// With c nil it profiles the steady mode instead: the pipeline follows
// files under root that a writer fills at rate lines/s, for the duration
// d (after a warmup outside the profile).
func profileRun(ctx context.Context, c *Corpus, sinkCfg ship.Config, work, cpuOut, memOut string, steady *steadyProfile) (Figures, error) {
	state, err := os.MkdirTemp(work, "profile-state-")
	if err != nil {
		return Figures{}, err
	}
	defer os.RemoveAll(state)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()

	tcfg := tail.DefaultConfig()
	want := int64(math.MaxInt64)
	if c != nil {
		tcfg.Include = []string{c.Glob()}
		want = c.Lines
	} else {
		tcfg.Include = []string{filepath.Join(steady.root, "*", "*", "*.log")}
	}
	tcfg.StartAt = "beginning"
	tcfg.StateDir = state
	tcfg.MaxInflightBytes = 32 << 20 // memory.queue_bytes default
	ecfg := enrich.DefaultConfig()
	ecfg.Enabled = false
	ecfg.NodeName = "bench"

	// The agent's own wiring (internal/pipeline), with kubernetes, host
	// metrics and processing off.
	acker := &ackCounter{want: want, reach: make(chan struct{}, 1)}
	pipe, err := pipeline.New(pipeline.Config{
		Logs: tcfg, Kubernetes: ecfg, Sink: sinkCfg, NodeName: "bench", ShutdownTimeout: 20 * time.Second,
	}, pipeline.Options{Logger: logger, Registerer: reg, Acked: acker.add})
	if err != nil {
		return Figures{}, err
	}
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- pipe.Run(runCtx) }()
	// Stop the pipeline and wait for Run, which commits and closes the
	// rooms: on every return (an early one must not close them under it).
	finish := sync.OnceValue(func() error { stopRun(); return <-runDone })
	defer finish()
	if steady != nil {
		wctx, stopWriter := context.WithCancel(ctx)
		defer stopWriter()
		go func() { _ = steady.node.Run(wctx) }()
		select {
		case <-time.After(steady.warmup):
		case <-ctx.Done():
		}
	}

	if memOut != "" {
		runtime.MemProfileRate = 64 << 10
	}
	var cpuFile *os.File
	if cpuOut != "" {
		if cpuFile, err = os.Create(cpuOut); err != nil {
			return Figures{}, err
		}
		defer cpuFile.Close()
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			return Figures{}, err
		}
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	n0 := acker.n.Load()

	var runErr error
	var until <-chan time.Time
	if steady != nil {
		until = time.After(steady.d)
	}
	select {
	case <-acker.reach:
	case <-until:
	case <-ctx.Done():
		runErr = ctx.Err()
	}
	wall := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if cpuOut != "" {
		pprof.StopCPUProfile()
	}
	if err := finish(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if memOut != "" {
		f, err := os.Create(memOut)
		if err != nil {
			return Figures{}, err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return Figures{}, err
		}
	}
	if runErr != nil {
		return Figures{}, runErr
	}
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()) - time.Duration(ru0.Utime.Nano()+ru0.Stime.Nano())
	if steady != nil {
		return Figures{Name: "in-process pipeline, steady (profile)", Wall: wall, CPU: cpu, Lines: acker.n.Load() - n0, Bytes: 1, Load1: load1(),
			Comment: fmt.Sprintf("acked %d lines in %.1fs; CPU %.1f%% of one core (whole bench process, writer included)",
				acker.n.Load()-n0, wall.Seconds(), 100*cpu.Seconds()/wall.Seconds())}, nil
	}
	return Figures{Name: "in-process pipeline (profile)", Wall: wall, CPU: cpu, MaxRSS: ru1.Maxrss << 10,
		Lines: acker.n.Load(), Bytes: c.Bytes, Load1: load1(),
		Comment: fmt.Sprintf("acked %d of %d lines", acker.n.Load(), c.Lines)}, nil
}
