package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/pkg/enrich"
	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/hostmetrics"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// runHooks lets the demo and tests observe a running agent.
type runHooks struct {
	// Listening is called with the HTTP server's address once it listens.
	Listening func(addr string)
	// Registry, when set, is used instead of a fresh one.
	Registry *prometheus.Registry
	// Extra, when set, runs as one more component (tests use it to show
	// what a component failing does to the agent).
	Extra func(context.Context) error
}

// Channel capacities between rooms, in batches. Memory is bounded by the
// tailer's in-flight byte budget (memory.queue_bytes), which counts every
// line until the sink acknowledges it, wherever it waits: these only set
// how much slack each hand-off has. A batch holds up to 4096 lines, so a
// few per hand-off keep every room busy; at 16 the queued batches (their
// arrays and the read buffers their lines point into) doubled the live
// heap at full speed without making the pipeline faster.
const (
	stageQueue       = 4
	metricsSnapshots = 4
	readyWindow      = 30 * time.Second
	pingInterval     = 10 * time.Second
)

// runAgent runs the pipeline until ctx is cancelled (graceful shutdown) or a
// component fails (error). Shutdown goes in data-flow order: stop reading,
// let enrichment and the sink drain and flush within shutdown_timeout, then
// commit offsets.
func runAgent(ctx context.Context, cfg Config, logger *slog.Logger, hooks runHooks) error {
	cfg.apply()
	// First of all: one agent per state_dir. Released last, after the
	// offsets are committed.
	unlock, lockErr := lockStateDir(cfg.StateDir)
	if lockErr != nil {
		return lockErr
	}
	defer unlock()
	reg := hooks.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "ferry_build_info",
			Help:        "Always 1; labels say which build of ferry runs.",
			ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)

	raw := make(chan []event.Log, stageQueue)
	enriched := make(chan []event.Log, stageQueue)
	observed := make(chan []event.Log, stageQueue)
	limits := newAnnotationLimits()
	var snapshots chan event.Snapshot
	if cfg.HostMetrics.Enabled {
		snapshots = make(chan event.Snapshot, metricsSnapshots)
	}

	enricher, err := enrich.New(cfg.Kubernetes, logger, enrich.Options{
		In: raw, Out: enriched, Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("enrich: %w", err)
	}
	// A failing destination holding its share of ship's budget holds back
	// the files whose records it holds; the others go on being read.
	holdback := &event.Holdback{}
	tailer, err := tail.New(cfg.Logs, logger, raw, tail.Options{
		Excluder: enricher, Limits: limits, Registerer: reg, Holdback: holdback,
		EndMarkers: cfg.Processing.Enabled(), // processing sends a file's held group when the file ends
	})
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	defer tailer.Close()
	toShip, shipAcker, runProcess, err := processStage(cfg.Processing, logger, observed, tailer, reg)
	if err != nil {
		return fmt.Errorf("process: %w", err)
	}
	shipper, err := ship.New(cfg.Sink, logger, ship.Options{
		Logs: toShip, Metrics: snapshots, Acker: shipAcker, Registerer: reg, Holdback: holdback,
	})
	if err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	defer shipper.Close()
	var host *hostmetrics.Collector
	if cfg.HostMetrics.Enabled {
		host, err = hostmetrics.New(cfg.HostMetrics, logger, hostmetrics.Options{
			Node: cfg.NodeName, Out: snapshots, Registerer: reg,
		})
		if err != nil {
			return fmt.Errorf("hostmetrics: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: listen on %s: %w", cfg.HTTP.Listen, err)
	}
	st := &status{shipper: shipper, loop: tailer, loopBound: loopBound(cfg.Logs.PollInterval)}
	lim := defaultHTTPLimits(cfg.HTTP)
	ln = newLimitListener(ln, lim.MaxConns, newHTTPMetrics(reg))
	srv := newHTTPServer(newMuxGather(newSharedGatherer(reg, lim.MetricsTTL), reg, st, cfg.HTTP.Pprof), lim)
	if hooks.Listening != nil {
		hooks.Listening(ln.Addr().String())
	}
	logger.Info("serving", "addr", ln.Addr().String(), "paths", "/metrics /healthz /readyz")

	// readCtx stops the readers (the tailer, host metrics); hardCtx is the
	// flush deadline of the rooms downstream of them.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	hardCtx, hardStop := context.WithCancel(context.Background())
	defer hardStop()

	g, gctx := errgroup.WithContext(context.Background())
	component := func(name string, run func(context.Context) error, ctx context.Context) {
		g.Go(func() error {
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				st.failed.Store(true)
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	st.started.Store(true)
	component("tail", tailer.Run, readCtx)
	component("enrich", enricher.Run, hardCtx)
	component("limits", func(ctx context.Context) error { return limits.run(ctx, enriched, observed) }, hardCtx)
	if runProcess != nil {
		component("process", runProcess, hardCtx)
	}
	component("ship", shipper.Run, hardCtx)
	if host != nil {
		component("hostmetrics", host.Run, readCtx)
	}
	if hooks.Extra != nil {
		component("extra", hooks.Extra, readCtx)
	}
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		pingLoop(readCtx, shipper, logger)
	}()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()

	// Wait for a signal or a dead component, then shut down in order.
	var failed bool
	select {
	case <-ctx.Done():
		logger.Info("shutting down: stop reading, flush, commit", "timeout", cfg.ShutdownTimeout)
	case <-gctx.Done():
		failed = true
		logger.Error("a component stopped; shutting down")
	}
	stopReading()
	var deadline *time.Timer
	if failed {
		hardStop()
	} else {
		deadline = time.AfterFunc(cfg.ShutdownTimeout, func() {
			logger.Warn("shutdown timeout reached: what the sink has not confirmed stays uncommitted and is read again after restart")
			hardStop()
		})
	}
	runErr := g.Wait()
	if deadline != nil {
		deadline.Stop()
	}
	<-pingDone

	// Offsets last: everything the sink confirmed is acknowledged by now.
	closeErr := tailer.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("http: %w", err))
	}
	if closeErr != nil {
		runErr = errors.Join(runErr, fmt.Errorf("commit offsets: %w", closeErr))
	}
	return runErr
}

// pingLoop asks the sink for metadata when it has been quiet, so that
// /readyz reflects whether the sink is reachable even without traffic.
func pingLoop(ctx context.Context, s *ship.Shipper, logger *slog.Logger) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	ping := func() {
		if time.Since(s.LastSuccess()) < pingInterval {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.Ping(pctx); err != nil && ctx.Err() == nil {
			logger.Debug("sink ping failed", "err", err)
		}
	}
	ping()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ping()
		}
	}
}

// status is what /healthz and /readyz report.
type status struct {
	shipper *ship.Shipper
	started atomic.Bool // every component was started (config and state loaded)
	failed  atomic.Bool // a component returned an error
	// loop is the tailer's liveness: its loop's last round, which must be
	// within loopBound. nil: not checked.
	loop      interface{ LastLoop() time.Time }
	loopBound time.Duration
}

// loopBound is how long the tailer's loop may go without a round before
// /healthz fails: three poll intervals (it goes round at least once per
// poll), and never less than minLoopBound, so that one long round of
// reading on a loaded node is not taken for a stuck loop.
func loopBound(poll time.Duration) time.Duration {
	return max(3*poll, minLoopBound)
}

const minLoopBound = 10 * time.Second

// unhealthy returns why /healthz fails, or "" when it passes.
func (s *status) unhealthy(now time.Time) string {
	if s.failed.Load() {
		return "a component has failed"
	}
	if s.loop != nil {
		if last := s.loop.LastLoop(); !last.IsZero() {
			if age := now.Sub(last); age > s.loopBound {
				return fmt.Sprintf("tail loop stuck: no round for %s (bound %s)", age.Round(time.Millisecond), s.loopBound)
			}
		}
	}
	return ""
}
