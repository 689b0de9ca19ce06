// Package pipeline assembles ferry's rooms (pkg/tail, pkg/enrich,
// pkg/process, pkg/ship, pkg/hostmetrics) into the one pipeline that the
// agent, its demo and the benchmark run, and shuts it down in data-flow
// order: stop reading, let the rooms downstream drain and flush, then
// commit the offsets the sink confirmed.
//
// The rooms never import each other; this package is where they meet. One
// batch of lines goes
//
//	tail → enrich → limits → [process] → ship → acknowledgements → tail
//
// over channels of stageQueue batches each; host metrics snapshots go
// straight to ship. The limits stage watches enriched batches for the
// ferry.dev/rate-limit annotation and the pod labels the tailer's limits
// are chosen by; the processing stage is there only when the processing
// section configures something. docs/architecture.md follows one line
// through it.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/hostmetrics"
	"github.com/ferry-dev/ferry/pkg/process"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// Channel capacities between rooms, in batches. Memory is bounded by the
// tailer's in-flight byte budget (memory.queue_bytes), which counts every
// line until the sink acknowledges it, wherever it waits: these only set
// how much slack each hand-off has. A batch holds up to 1024 lines, so a
// few per hand-off keep every room busy; at 16 the queued batches (their
// arrays and the read buffers their lines point into) doubled the live
// heap at full speed without making the pipeline faster.
const (
	stageQueue       = 4
	metricsSnapshots = 4
)

// Config is each room's section, as the agent's configuration decoded,
// defaulted and validated them (Logs.StateDir, Logs.MaxInflightBytes and
// Kubernetes.NodeName already filled in from the top-level keys, and
// Kubernetes.Annotations extended by Annotations).
type Config struct {
	Logs        tail.Config
	Kubernetes  enrich.Config
	Processing  process.Config
	HostMetrics hostmetrics.Config
	Sink        ship.Config
	// NodeName names the node in host metrics.
	NodeName string
	// ShutdownTimeout bounds the drain at a graceful shutdown; what the
	// sink has not confirmed by then stays uncommitted.
	ShutdownTimeout time.Duration
}

// Options are the pipeline's surroundings.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Kube, when set, is the Kubernetes client enrichment uses instead of
	// the in-cluster or kubeconfig one (tests, the benchmark).
	Kube enrich.Client
	// Acked, when set, is told how many lines each acknowledgement
	// covered, after the tailer took it (the benchmark counts them).
	Acked func(lines int)
	// OnFailure, when set, is called once when a component fails (the
	// agent's /healthz reports it).
	OnFailure func()
	// Extra, when set, runs as one more reader: its error fails the
	// pipeline like a room's (tests show what that does).
	Extra func(context.Context) error
	// Beside, when set, runs while the pipeline reads and is waited for
	// before offsets are committed; its end is not a failure (the agent's
	// sink ping).
	Beside func(context.Context)
}

// Pipeline is the rooms wired together. New builds it; Run runs it once.
type Pipeline struct {
	cfg      Config
	opts     Options
	tailer   *tail.Tailer
	enricher *enrich.Enricher
	shipper  *ship.Shipper
	host     *hostmetrics.Collector
	limits   *annotationLimits
	process  func(context.Context) error

	enriched, observed chan []event.Log
	closeOnce          sync.Once
	closeErr           error
}

// New builds every room of the pipeline and wires them; nothing runs
// until Run. On error, what was built is closed.
func New(cfg Config, opts Options) (_ *Pipeline, err error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = logger
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	p := &Pipeline{cfg: cfg, opts: opts, limits: newAnnotationLimits()}
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	raw := make(chan []event.Log, stageQueue)
	p.enriched = make(chan []event.Log, stageQueue)
	p.observed = make(chan []event.Log, stageQueue)
	var snapshots chan event.Snapshot
	if cfg.HostMetrics.Enabled {
		snapshots = make(chan event.Snapshot, metricsSnapshots)
	}

	p.enricher, err = enrich.New(cfg.Kubernetes, logger, enrich.Options{
		In: raw, Out: p.enriched, Client: opts.Kube, Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("enrich: %w", err)
	}
	// A failing destination holding its share of ship's budget holds back
	// the files whose records it holds; the others go on being read.
	holdback := &event.Holdback{}
	p.tailer, err = tail.New(cfg.Logs, logger, raw, tail.Options{
		Excluder: p.enricher, Limits: p.limits, Registerer: reg, Holdback: holdback,
		EndMarkers: cfg.Processing.Enabled(), // processing sends a file's held group when the file ends
	})
	if err != nil {
		return nil, fmt.Errorf("tail: %w", err)
	}
	var first acker = p.tailer
	if opts.Acked != nil {
		first = countingAcker{next: p.tailer, count: opts.Acked}
	}
	toShip, shipAcker, runProcess, err := processStage(cfg.Processing, logger, p.observed, first, reg)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	p.process = runProcess
	p.shipper, err = ship.New(cfg.Sink, logger, ship.Options{
		Logs: toShip, Metrics: snapshots, Acker: shipAcker, Registerer: reg, Holdback: holdback,
	})
	if err != nil {
		return nil, fmt.Errorf("ship: %w", err)
	}
	if cfg.HostMetrics.Enabled {
		p.host, err = hostmetrics.New(cfg.HostMetrics, logger, hostmetrics.Options{
			Node: cfg.NodeName, Out: snapshots, Registerer: reg,
		})
		if err != nil {
			return nil, fmt.Errorf("hostmetrics: %w", err)
		}
	}
	return p, nil
}

// Tailer is the pipeline's tailer (its liveness is the agent's /healthz).
func (p *Pipeline) Tailer() *tail.Tailer { return p.tailer }

// Shipper is the pipeline's sink (its readiness is the agent's /readyz).
func (p *Pipeline) Shipper() *ship.Shipper { return p.shipper }

// Run runs the pipeline until ctx is cancelled (a graceful shutdown) or a
// component fails, and returns once the offsets are committed.
//
// Shutdown goes in data-flow order. The readers (the tailer, host metrics,
// Extra and Beside) stop first. Graceful: enrichment, the limits stage,
// processing and the sink go on until each has drained what reached it
// (each ends when its input closes), within ShutdownTimeout; at the
// timeout they stop, and what the sink has not confirmed stays
// uncommitted, to be read again after a restart. On a failure (before the
// stop or during the drain) they stop at once. Then the tailer commits
// every offset the sink confirmed, and the sink is closed. The error is
// the failed components' (each prefixed with its room), joined with the
// commit's.
func (p *Pipeline) Run(ctx context.Context) error {
	logger := p.opts.Logger
	// readCtx stops the readers; hardCtx is the flush deadline of the
	// rooms downstream of them.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	hardCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()

	g, gctx := errgroup.WithContext(context.Background())
	var failOnce sync.Once
	component := func(name string, run func(context.Context) error, ctx context.Context) {
		g.Go(func() error {
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				if p.opts.OnFailure != nil {
					failOnce.Do(p.opts.OnFailure)
				}
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	component("tail", p.tailer.Run, readCtx)
	component("enrich", p.enricher.Run, hardCtx)
	component("limits", func(ctx context.Context) error { return p.limits.run(ctx, p.enriched, p.observed) }, hardCtx)
	if p.process != nil {
		component("process", p.process, hardCtx)
	}
	component("ship", p.shipper.Run, hardCtx)
	if p.host != nil {
		component("hostmetrics", p.host.Run, readCtx)
	}
	if p.opts.Extra != nil {
		component("extra", p.opts.Extra, readCtx)
	}
	besideDone := make(chan struct{})
	go func() {
		defer close(besideDone)
		if p.opts.Beside != nil {
			p.opts.Beside(readCtx)
		}
	}()

	// Wait for the end of ctx or a dead component, then shut down in order.
	var failed bool
	select {
	case <-ctx.Done():
		logger.Info("shutting down: stop reading, flush, commit", "timeout", p.cfg.ShutdownTimeout)
	case <-gctx.Done():
		failed = true
		logger.Error("a component stopped; shutting down")
	}
	stopReading()
	var deadline *time.Timer
	if failed {
		hardStop()
	} else {
		deadline = time.AfterFunc(p.cfg.ShutdownTimeout, func() {
			logger.Warn("shutdown timeout reached: what the sink has not confirmed stays uncommitted and is read again after restart")
			hardStop()
		})
		// A component failing during the drain stops the rest at once, as
		// a failure before it does: the drain cannot complete without it.
		// (gctx also ends when g.Wait returns, once everything stopped.)
		stopWatch := context.AfterFunc(gctx, hardStop)
		defer stopWatch()
	}
	runErr := g.Wait()
	if deadline != nil {
		deadline.Stop()
	}
	<-besideDone

	// Offsets last: everything the sink confirmed is acknowledged by now.
	if err := p.Close(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	return runErr
}

// Close commits the offsets the sink confirmed and releases the rooms'
// resources. Run calls it; call it only for a pipeline never run.
// Idempotent.
func (p *Pipeline) Close() error {
	p.closeOnce.Do(func() {
		if p.tailer != nil {
			if err := p.tailer.Close(); err != nil {
				p.closeErr = fmt.Errorf("commit offsets: %w", err)
			}
		}
		if p.shipper != nil {
			if err := p.shipper.Close(); err != nil {
				p.opts.Logger.Warn("closing the sink", "err", err)
			}
		}
	})
	return p.closeErr
}

// Annotations returns the pod annotation patterns enrichment must put on
// the records: those configured, plus what processing honours and the
// rate-limit annotation the tailer reads (idempotent).
func Annotations(configured []string, processing process.Config) []string {
	return rateLimitAnnotations(processingAnnotations(configured, processing))
}

// countingAcker forwards acknowledgements to the tailer, then counts them.
type countingAcker struct {
	next  acker
	count func(lines int)
}

func (a countingAcker) Ack(c []event.Cursor) {
	a.next.Ack(c)
	a.count(len(c))
}
