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

	"github.com/ferry-dev/ferry/internal/pipeline"
	"github.com/ferry-dev/ferry/pkg/enrich"
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
	// Kube, when set, is the API server enrichment asks instead of the
	// in-cluster or kubeconfig one (the demo's simulated node).
	Kube enrich.Client
}

const (
	readyWindow  = 30 * time.Second
	pingInterval = 10 * time.Second
)

// runAgent runs the pipeline (internal/pipeline) until ctx is cancelled
// (graceful shutdown) or a component fails (error), with the agent's
// surroundings: the state_dir lock, the registry with the process's own
// metrics, the HTTP endpoint and the sink ping. The pipeline shuts down in
// data-flow order (stop reading, flush within shutdown_timeout, commit
// offsets); the HTTP endpoint closes after the commit, the lock last.
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

	st := &status{loopBound: loopBound(cfg.Logs.PollInterval)}
	gc := newGCGoal(logger) // gcgoal.go
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ferry_gc_percent",
		Help: "The garbage collector's goal (GOGC) the agent set: 50 while it keeps up with its files, Go's default 100 while it catches up; 100 when GOGC is set, which it then leaves as set.",
	}, func() float64 { return float64(gc.percent.Load()) }))
	var shipper *ship.Shipper // set before Run starts Beside
	var tailer *tail.Tailer
	pipe, err := pipeline.New(cfg.pipeline(), pipeline.Options{
		Logger: logger, Registerer: reg,
		OnFailure: func() { st.failed.Store(true) },
		Extra:     hooks.Extra,
		Kube:      hooks.Kube,
		Beside: func(ctx context.Context) {
			done := make(chan struct{}, 2)
			go func() { defer func() { done <- struct{}{} }(); gc.run(ctx, tailer.Behind) }()
			go func() { defer func() { done <- struct{}{} }(); textPages(ctx, logger, dropTextPages) }() // textpages_linux.go
			pingLoop(ctx, shipper, logger)
			<-done
			<-done
		},
	})
	if err != nil {
		return err
	}
	shipper, tailer = pipe.Shipper(), pipe.Tailer()
	st.shipper, st.loop = shipper, tailer

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		_ = pipe.Close()
		return fmt.Errorf("http: listen on %s: %w", cfg.HTTP.Listen, err)
	}
	lim := defaultHTTPLimits(cfg.HTTP)
	ln = newLimitListener(ln, lim.MaxConns, newHTTPMetrics(reg))
	srv := newHTTPServer(newMuxGather(newSharedGatherer(reg, lim.MetricsTTL), reg, st, cfg.HTTP.Pprof), lim)
	if hooks.Listening != nil {
		hooks.Listening(ln.Addr().String())
	}
	logger.Info("serving", "addr", ln.Addr().String(), "paths", "/metrics /healthz /readyz")
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()

	st.started.Store(true)
	runErr := pipe.Run(ctx) // returns with the offsets committed

	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
		runErr = errors.Join(runErr, fmt.Errorf("http: %w", err))
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
