// Command ferry is the ferry node agent: it follows every container log file
// on a Kubernetes node, adds pod metadata, reads host metrics, and ships both
// to Kafka at least once.
//
//	ferry run --config /etc/ferry/config.yaml   the daemon (default subcommand)
//	ferry demo [--duration 15s]                 the whole pipeline on a simulated node
//	ferry validate --config FILE                check a config, print every problem
//	ferry logs [-n NS] (POD | -l SEL) [-c C] [-f] read a pod's logs back from Kafka
//	ferry version                               print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `ferry: a Kubernetes node agent that ships container logs and host metrics to Kafka.

Usage:
  ferry [run] --config FILE     Run the agent (the default subcommand). SIGTERM or SIGINT
                                stop reading, flush the sink within shutdown_timeout,
                                commit offsets and exit 0. SIGHUP, or a change of FILE,
                                reloads it (an invalid one is refused and logged).
                                One agent per state_dir (a flock on state_dir/lock).
  ferry demo [--duration 15s]   Run the whole pipeline on an embedded default: a simulated node
                                writing CRI logs with rotation, an in-process Kafka-protocol
                                broker, and the real agent; prints what reached the broker
                                and exits 1 if any line was lost. Not in the image's
                                binary (-tags nodemo): go run ./cmd/agent demo.
  ferry validate --config FILE  Check a config file; print every problem with its field path.
                                Exit 1 on any problem, 0 otherwise.
  ferry logs [-n NS] POD        Read a pod's log records back from the Kafka sink, like
                                'kubectl logs' (-c, --since, -f, --uid, --output json); the
                                pod and its node may be gone. -l SELECTOR instead of POD:
                                the pods whose records carry matching labels.
  ferry version                 Print the version.
  ferry help                    Print this help.

Run 'ferry SUBCOMMAND --help' for the flags of a subcommand.
`

// cli runs one subcommand and returns the process exit code.
func cli(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "demo":
		return cmdDemo(args, stdout, stderr)
	case "validate":
		return cmdValidate(args, stdout, stderr)
	case "logs":
		return cmdLogs(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ferry: unknown subcommand %q\n\n%s", cmd, usage)
		return 2
	}
}

func versionString() string {
	c := commit
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("ferry %s (commit %s, %s, %s/%s)", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ferry %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "Check a config file and print every problem with its field path.", stderr)
	path := fs.String("config", "/etc/ferry/config.yaml", "path of the config file")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if _, err := LoadConfig(*path); err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

func printProblems(w io.Writer, path string, err error) {
	fmt.Fprintf(w, "%s: invalid config:\n", path)
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range flatten(err) {
			fmt.Fprintf(w, "  - %v\n", e)
		}
		return
	}
	fmt.Fprintf(w, "  - %v\n", err)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := newFlagSet("run", "Run the agent until SIGTERM or SIGINT.", stderr)
	path := fs.String("config", "/etc/ferry/config.yaml", "path of the config file")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	level := new(slog.LevelVar)
	logger, err := newLevelLogger(cfg.Log, stderr, level)
	if err != nil {
		fmt.Fprintf(stderr, "ferry: %v\n", err)
		return 1
	}
	setMemoryLimit(logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads the config (its default action would end the process
	// at once, exit 129, with no flush and no commit); so does a change of
	// the file, seen by a watch on its directory.
	triggers := make(chan string, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case triggers <- "SIGHUP":
				default: // a reload is pending already
				}
			}
		}
	}()
	go watchConfig(ctx, *path, triggers, logger)
	logger.Info("starting", "version", version, "commit", commit, "config", *path)
	if err := runReloading(ctx, *path, cfg, stderr, logger, level, triggers); err != nil {
		if errors.Is(err, errStateDirInUse) {
			fmt.Fprintf(stderr, "ferry: %v\n", err)
		}
		logger.Error("agent stopped on error", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

// setMemoryLimit makes the Go runtime respect the container's memory limit.
// An explicit GOMEMLIMIT wins (the runtime reads it itself); otherwise, when
// FERRY_MEMORY_LIMIT holds the container limit in bytes (the chart sets it
// from a resourceFieldRef), the soft limit is set to 90 % of it, leaving
// headroom for what the Go heap does not count.
func setMemoryLimit(logger interface {
	Info(string, ...any)
	Warn(string, ...any)
}) {
	if os.Getenv("GOMEMLIMIT") != "" {
		logger.Info("memory limit from GOMEMLIMIT", "bytes", debug.SetMemoryLimit(-1))
		return
	}
	v := os.Getenv("FERRY_MEMORY_LIMIT")
	if v == "" {
		return
	}
	var limit int64
	if _, err := fmt.Sscan(v, &limit); err != nil || limit <= 0 {
		logger.Warn("ignoring FERRY_MEMORY_LIMIT: not a positive byte count", "value", v)
		return
	}
	soft := limit / 10 * 9
	debug.SetMemoryLimit(soft)
	logger.Info("memory limit set from FERRY_MEMORY_LIMIT", "limit_bytes", limit, "gomemlimit_bytes", soft)
}
