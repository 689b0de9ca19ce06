package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/tail"
)

// Reloading the config without restarting the process.
//
// A reload is triggered by SIGHUP or by a change in the config file's
// directory (fsnotify on the directory, not the file: Kubernetes updates a
// mounted ConfigMap by swapping its `..data` symlink, which a watch on the
// file itself never sees). The file is read and validated as at start:
//
//   - invalid: the agent keeps running on the config it has, logs every
//     problem, and counts ferry_config_reload_total{result="invalid"};
//     ferry_config_last_reload_success goes to 0;
//   - valid but equal to the running config: nothing happens
//     (result="unchanged");
//   - valid and different only in log.level: the level changes in place,
//     with no drain (result="applied");
//   - valid and different: the pipeline is drained exactly as at SIGTERM
//     (stop reading, flush the sink within shutdown_timeout, commit the
//     offsets, release state_dir) and started again on the new config,
//     resuming from the commit (result="applied"). Nothing is lost, and
//     nothing is read twice as long as the sink confirms everything within
//     shutdown_timeout (otherwise what it had not confirmed is read again,
//     as after a restart). A change of state_dir moves the checkpoint
//     (tail.MoveState) to the new directory after the drain, under its
//     lock; a reload to a directory that holds a checkpoint already, or
//     that another agent holds, is refused before the drain (counted as
//     invalid): restart the agent to resume from that checkpoint.
//
// The HTTP endpoint is restarted with the pipeline (a moment without an
// answer), and the counters of the rooms start again from zero (Prometheus
// treats that as a counter reset); the reload metrics carry over.

// Results of a reload, the values of ferry_config_reload_total's label.
const (
	reloadApplied   = "applied"
	reloadUnchanged = "unchanged"
	reloadInvalid   = "invalid"
)

// reloadDebounce coalesces the burst of events one config update makes
// (a ConfigMap swap is several creates, renames and removes).
const reloadDebounce = 200 * time.Millisecond

type reloadMetrics struct {
	total       *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newReloadMetrics() *reloadMetrics {
	m := &reloadMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_config_reload_total",
			Help: "Config reloads by result: applied, unchanged, invalid (the running config was kept).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_config_last_reload_success",
			Help: "1 when the last config reload (or the start) succeeded, 0 when the last one was refused as invalid.",
		}),
	}
	for _, r := range []string{reloadApplied, reloadUnchanged, reloadInvalid} {
		m.total.WithLabelValues(r)
	}
	m.lastSuccess.Set(1)
	return m
}

// runReloading runs the agent on cfg, loaded from path, until ctx is
// cancelled or a component fails, and applies a new config from path each
// time a trigger arrives. Each generation of the pipeline gets a fresh
// registry holding the reload metrics too.
func runReloading(ctx context.Context, path string, cfg Config, logw io.Writer, logger *slog.Logger, level *slog.LevelVar, triggers <-chan string) error {
	m := newReloadMetrics()
	for {
		reg := prometheus.NewRegistry()
		reg.MustRegister(m.total, m.lastSuccess)
		genCtx, stopGen := context.WithCancel(ctx)
		done := make(chan error, 1)
		run := cfg
		go func() { done <- runAgent(genCtx, run, logger, runHooks{Registry: reg}) }()

		next, err := waitReload(ctx, path, &cfg, logger, level, triggers, m, done, stopGen)
		stopGen()
		if next == nil {
			return err
		}
		if next.StateDir != cfg.StateDir {
			if err := moveStateDir(cfg.StateDir, next.StateDir); err != nil {
				m.total.WithLabelValues(reloadInvalid).Inc()
				m.lastSuccess.Set(0)
				logger.Error("config reload refused after the drain: the pipeline starts again on the config it had",
					"config", path, "state_dir", cfg.StateDir, "new_state_dir", next.StateDir, "err", err)
				continue
			}
			logger.Info("state_dir moved: the checkpoint was moved with it",
				"from", cfg.StateDir, "to", next.StateDir)
		}
		cfg = *next
		if l, err := newLevelLogger(cfg.Log, logw, level); err == nil {
			logger = l
		}
		m.total.WithLabelValues(reloadApplied).Inc()
		m.lastSuccess.Set(1)
		logger.Info("config reloaded: the pipeline resumes from the committed offsets", "config", path)
	}
}

// waitReload waits for the generation to end (it returns nil and the
// generation's error) or for a valid, different config (it drains the
// generation and returns the config). A change of log.level alone is
// applied in place to cfg and level.
func waitReload(ctx context.Context, path string, cfg *Config, logger *slog.Logger, level *slog.LevelVar, triggers <-chan string,
	m *reloadMetrics, done <-chan error, stopGen context.CancelFunc) (*Config, error) {
	for {
		select {
		case err := <-done:
			return nil, err
		case why := <-triggers:
			next, err := LoadConfig(path)
			if err != nil {
				m.total.WithLabelValues(reloadInvalid).Inc()
				m.lastSuccess.Set(0)
				logger.Error("config reload refused: the agent keeps running on the config it has",
					"trigger", why, "config", path, "problems", err.Error())
				continue
			}
			if reflect.DeepEqual(next, *cfg) {
				m.total.WithLabelValues(reloadUnchanged).Inc()
				m.lastSuccess.Set(1)
				logger.Info("config reload: nothing changed", "trigger", why, "config", path)
				continue
			}
			levelOnly := *cfg
			levelOnly.Log.Level = next.Log.Level
			if reflect.DeepEqual(next, levelOnly) {
				l, _ := parseLevel(next.Log.Level) // validated
				level.Set(l)
				*cfg = levelOnly
				m.total.WithLabelValues(reloadApplied).Inc()
				m.lastSuccess.Set(1)
				logger.Info("config applied in place: log level", "trigger", why, "config", path, "level", next.Log.Level)
				continue
			}
			if next.StateDir != cfg.StateDir {
				if err := checkStateDirMove(next.StateDir); err != nil {
					m.total.WithLabelValues(reloadInvalid).Inc()
					m.lastSuccess.Set(0)
					logger.Error("config reload refused: the agent keeps running on the config it has",
						"trigger", why, "config", path, "state_dir", cfg.StateDir, "new_state_dir", next.StateDir, "problems", err.Error())
					continue
				}
			}
			logger.Info("config changed: draining the pipeline (stop reading, flush, commit) to apply it",
				"trigger", why, "config", path)
			stopGen()
			if err := <-done; err != nil {
				return nil, err
			}
			if ctx.Err() != nil {
				return nil, nil // SIGTERM during the drain: stop here
			}
			return &next, nil
		}
	}
}

// checkStateDirMove says why a reload may not move state_dir to dir: dir
// holds a checkpoint of its own (which of the two is right is for the
// operator to say: restart the agent on it, or remove it), or another agent
// holds it.
func checkStateDirMove(dir string) error {
	if tail.HasState(dir) {
		return fmt.Errorf("state_dir: %s already holds a checkpoint; a reload moves the running checkpoint only to a directory without one: remove it, or restart the agent to resume from it", dir)
	}
	release, err := lockStateDir(dir)
	if err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	return release()
}

// moveStateDir carries the checkpoint from the drained pipeline's state_dir
// to the new one, under the new one's lock, so that the pipeline started
// on it resumes from the commit instead of reading every file again.
func moveStateDir(from, to string) error {
	release, err := lockStateDir(to)
	if err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	defer release()
	if err := tail.MoveState(from, to); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	return nil
}

// watchConfig sends a trigger when the config file's directory changes in
// a way that can change the file: an event on the file's name or on
// `..data` (a ConfigMap update), coalesced over reloadDebounce. It returns
// when ctx is done.
func watchConfig(ctx context.Context, path string, triggers chan<- string, logger *slog.Logger) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		logger.Warn("cannot watch the config file; reload with SIGHUP", "err", err)
		return
	}
	defer w.Close()
	dir, base := filepath.Dir(path), filepath.Base(path)
	if err := w.Add(dir); err != nil {
		logger.Warn("cannot watch the config file's directory; reload with SIGHUP", "dir", dir, "err", err)
		return
	}
	var debounce *time.Timer
	fire := make(chan struct{}, 1)
	defer func() {
		if debounce != nil {
			debounce.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if name := filepath.Base(ev.Name); name != base && name != "..data" {
				continue
			}
			if debounce == nil {
				debounce = time.AfterFunc(reloadDebounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			} else {
				debounce.Reset(reloadDebounce)
			}
		case <-fire:
			select {
			case triggers <- "file changed":
			default: // a reload is pending already
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			logger.Warn("config watch error", "err", err)
		}
	}
}
