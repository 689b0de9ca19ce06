// Command bench is ferry's reproducible performance benchmark (issue 8).
//
//	go run ./bench                          # quick: 50 files, 256 MiB, then 15 s steady
//	go run ./bench -size 1GiB -steady 60s   # the reference run
//
// It generates a CRI-format corpus (plain lines, JSON lines, 16 KiB
// partials), measures the machine's ceiling on it (read + line split on one
// core), builds the ferry binary and runs `ferry run --config` from the
// beginning of the corpus to the file sink on /dev/null and to an
// in-process Kafka-protocol broker that discards what it receives (lz4,
// acks=all), and prints wall time, lines/s, MiB/s, CPU-seconds per GiB and
// peak RSS, each also as a ratio to the ceiling. Steady mode runs a writer
// at a fixed rate and prints the agent's CPU %, RSS and read-to-ack
// p50/p99 from its own histogram. Mode profile runs the same pipeline in
// process under pprof. With -enrich, the corpus and steady runs have
// enrichment on, against a real kube-apiserver started by
// hack/kube-apiserver.sh with one pod per log file. With -peers, the
// OpenTelemetry Collector (built once by hack/peers.sh) and Fluent Bit
// (FLUENT_BIT_BIN) run beside ferry on the same corpus and behind the same
// steady writer, interleaved, and the medians are printed with their
// ratios to ferry's. Mode smoke fails when ferry's CPU per GiB or steady
// CPU per line exceeds a bound as a ratio to the ceiling measured in the
// same run (.ci/run runs it). With -processing, the corpus runs are one
// per processing config (off, multiline, json, redact, default, ...),
// interleaved, each with its CPU per GiB and RSS as a ratio to off's; mode
// redaction runs a corpus with secrets through every built-in redaction
// rule and scans the whole output for them. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/ship"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		mode      = fs.String("mode", "all", "all | corpus | steady | profile | profile-steady | smoke | redaction | noisy (corpus: ceiling and both sinks; all: corpus then steady; profile*: the pipeline in process under pprof; smoke: fail when ferry's CPU per GiB or steady CPU per line exceeds its bound as a ratio to the ceiling; redaction: the redaction proof on a corpus with secret lines, e.g. -mix secrets; noisy: quiet containers next to a noisy one, with and without its rate limit, the quiet lines' latency and every noisy byte accounted for, -noisy-*)")
		work      = fs.String("dir", filepath.Join(os.TempDir(), "ferry-bench"), "work directory (the corpus is kept there and reused)")
		files     = fs.Int("files", 50, "corpus files (containers)")
		size      = fs.String("size", "256MiB", "corpus total size (the reference run uses 1GiB)")
		mixFlag   = fs.String("mix", defaultMix, "line mix by weight: short text lines, JSON lines, long lines split into 16 KiB partials, trace (lines of Java stack traces), secret (lines carrying a secret); or a preset: jsontrace (json=95,trace=5), secrets (short=60,json=25,long=0.1,trace=5,secret=9.9)")
		longBytes = fs.Int("long-bytes", 40<<10, "length of a long line (split into 16 KiB CRI partials)")
		seed      = fs.Uint64("seed", 1, "corpus seed")
		sinks     = fs.String("sinks", "file,kafka", "sinks of the corpus runs: file (NDJSON on /dev/null), kafka (kfake blackhole)")
		comp      = fs.String("compression", "lz4", "kafka compression of the corpus and steady runs")
		ceilRuns  = fs.Int("ceiling-runs", 3, "ceiling runs (best CPU kept; the first warms the page cache)")
		timeout   = fs.Duration("timeout", 15*time.Minute, "bound of one corpus run")
		poll      = fs.Duration("poll", 250*time.Millisecond, "how often /metrics is scraped to detect completion")
		rate      = fs.Int("rate", 10000, "steady: lines/s over all files (0: nothing written, the agent idles on quiet files)")
		sFiles    = fs.Int("steady-files", 50, "steady: files written to")
		steadyDur = fs.Duration("steady", 15*time.Second, "steady: measuring window (the reference run uses 60s)")
		warmup    = fs.Duration("warmup", 5*time.Second, "steady: time before the window starts")
		sSink     = fs.String("steady-sink", "kafka", "steady: file or kafka")
		cpuProf   = fs.String("cpuprofile", "cpu.pprof", "profile: CPU profile output")
		memProf   = fs.String("memprofile", "mem.pprof", "profile: allocation profile output")
		pSink     = fs.String("profile-sink", "file", "profile: file or kafka")
		queue     = fs.Int64("queue-bytes", 0, "agent memory.queue_bytes (0: the agent's default, 32 MiB)")
		agentProf = fs.String("agent-cpuprofile", "", "corpus runs of ferry (modes all, corpus, smoke, -processing): leave the agent's own CPU profile in this directory, one-second profiles taken one after the other through its /debug/pprof from start to completion (merge them: go tool pprof -top DIR/kafka-1-*.pprof); the profiler's cost is in the run's CPU")
		keep      = fs.Bool("keep", false, "keep each run's directory (the agent's config, log and state) under -dir")
		agentBin  = fs.String("agent", "", "run this agent binary instead of building ./cmd/agent (to compare two builds in one time window)")
		peersF    = fs.Bool("peers", false, "run the OpenTelemetry Collector (built once by hack/peers.sh otelcol) and, when FLUENT_BIT_BIN names a binary, Fluent Bit beside ferry: the same corpus and the same steady writer, interleaved, every agent's records into a pipe the benchmark counts; prints medians and ratios to ferry (modes all, corpus, steady)")
		peerN     = fs.Int("peer-runs", 3, "peers: runs of each agent, interleaved (corpus and steady)")
		otelcolF  = fs.String("otelcol", "", "peers: this OpenTelemetry Collector binary instead of hack/peers.sh's (it needs the filelog receiver and the file exporter); \"none\" leaves it out")
		smokeFile = fs.Float64("smoke-file", defaultSmokeBounds.File, "smoke: highest median ratio of ferry's CPU-s/GiB to the file sink to the ceiling's")
		smokeKafk = fs.Float64("smoke-kafka", defaultSmokeBounds.Kafka, "smoke: the same to Kafka")
		smokeStdy = fs.Float64("smoke-steady", defaultSmokeBounds.Steady, "smoke: highest median ratio of ferry's steady CPU per line read to the ceiling's CPU per line")
		smokeRnds = fs.Int("smoke-rounds", 3, "smoke: corpus rounds (file and Kafka each)")
		smokeStRn = fs.Int("smoke-steady-rounds", 2, "smoke: steady runs (file sink)")
		procF     = fs.String("processing", "", "modes all and corpus: instead of the two sink runs, run the corpus to -processing-sink once per named processing config per round, interleaved: off, multiline (java), json (parser), redact (email), redact-all (the six built-ins), default (multiline java + json + redact email), json-keep and default-keep (the same with parser.keep_original: true), proof; prints CPU-s/GiB and peak RSS with their ratios to off (e.g. off,multiline,json,redact,default)")
		procRnds  = fs.Int("processing-rounds", 3, "processing: runs of each config (medians printed)")
		procSink  = fs.String("processing-sink", "kafka", "processing: file or kafka")
		nzRate    = fs.Int("noisy-rate", 50000, "noisy: the noisy container's lines/s")
		nzLimit   = fs.Int("noisy-limit", 1000, "noisy: lines/s per container of the defer and drop runs (logs.rate_limit.default)")
		nzQuiet   = fs.Int("noisy-quiet", 50, "noisy: quiet containers")
		nzQRate   = fs.Int("noisy-quiet-rate", 10, "noisy: each quiet container's lines/s")
		nzRotate  = fs.String("noisy-rotate", "4MiB", "noisy: the noisy container's log is rotated at this size (rename; the older rotated files gzipped)")
		nzKeep    = fs.Int("noisy-keep", 4, "noisy: rotated files kept (kubelet's containerLogMaxFiles less one)")
		nzRuns    = fs.String("noisy-runs", strings.Join(noisyRuns, ","), "noisy: runs, each -noisy-rounds times, interleaved: baseline (the quiet containers alone), none (the noisy one too, no limit), defer and drop (its limit's policy)")
		nzRounds  = fs.Int("noisy-rounds", 1, "noisy: rounds of the runs (medians printed)")
		nzDrain   = fs.Duration("noisy-drain", 5*time.Minute, "noisy: longest wait after the writers stopped for every line to be received or counted")
		enrichF   = fs.Bool("enrich", false, "corpus and steady runs with enrichment on: start a real kube-apiserver + etcd (hack/kube-apiserver.sh, state in <dir>/kube), create one pod per log file on node bench, run the agent with kubernetes.enabled: true, and fail unless its lines were enriched")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fail := func(err error) int {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}

	bytes, err := parseSize(*size)
	if err != nil {
		return fail(fmt.Errorf("-size: %w", err))
	}
	mix, err := ParseMix(*mixFlag)
	if err != nil {
		return fail(fmt.Errorf("-mix: %w", err))
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "machine: %s\n", machine())

	root, err := moduleRoot()
	if err != nil {
		return fail(err)
	}
	if *peersF && *enrichF {
		return fail(fmt.Errorf("-peers: the peers run without enrichment (none of them is given a Kubernetes API); drop -enrich"))
	}
	if *peersF && *mode != "all" && *mode != "corpus" && *mode != "steady" {
		return fail(fmt.Errorf("-peers: use it with modes all, corpus or steady"))
	}
	if *enrichF && (*mode == "profile" || *mode == "profile-steady") {
		return fail(fmt.Errorf("-enrich: mode %s runs the pipeline in process with kubernetes disabled; use it with modes all, corpus or steady", *mode))
	}
	var procs []*procConfig
	if *procF != "" {
		if procs, err = parseProcessing(*procF); err != nil {
			return fail(fmt.Errorf("-processing: %w", err))
		}
		if *mode != "all" && *mode != "corpus" {
			return fail(fmt.Errorf("-processing: use it with modes all or corpus"))
		}
		if *peersF || *enrichF {
			return fail(fmt.Errorf("-processing: runs without -peers and -enrich"))
		}
	}
	if *enrichF && *mode == "redaction" {
		return fail(fmt.Errorf("-enrich: mode redaction runs without enrichment"))
	}
	if *enrichF && *mode == "smoke" {
		return fail(fmt.Errorf("-enrich: mode smoke runs without enrichment"))
	}
	needCorpus := *mode == "all" || *mode == "corpus" || *mode == "profile" || *mode == "smoke" || *mode == "redaction"
	var steadyProf *steadyProfile
	if *mode == "profile-steady" {
		root := filepath.Join(*work, "profile-steady")
		_ = os.RemoveAll(root)
		node, err := simnode.New(simnode.Config{Root: root, Pods: *sFiles, ContainersPerPod: 1, LinesPerSecond: *rate / *sFiles, Seed: 3})
		if err != nil {
			return fail(err)
		}
		defer os.RemoveAll(root)
		steadyProf = &steadyProfile{root: root, node: node, warmup: *warmup, d: *steadyDur}
	}
	var c *Corpus
	if needCorpus {
		cfg := CorpusConfig{Files: *files, Bytes: bytes, Mix: mix, LongBytes: *longBytes, Seed: *seed}
		t0 := time.Now()
		var reused bool
		c, reused, err = LoadOrGenerate(filepath.Join(*work, corpusDirName(mix)), cfg)
		if err != nil {
			return fail(err)
		}
		how := fmt.Sprintf("generated in %.1fs", time.Since(t0).Seconds())
		if reused {
			how = "reused"
		}
		fmt.Fprintf(stdout, "corpus: %s, %d files, %.1f MiB, %d lines (%d CRI lines), mix %s, long lines %d KiB; %s\n",
			c.Dir, len(c.Paths), c.MiB(), c.Lines, c.CRILines, mix, *longBytes>>10, how)
	}

	if *mode == "profile" || *mode == "profile-steady" {
		sc := ship.Config{File: &ship.FileConfig{Path: os.DevNull}}
		if *pSink == "kafka" {
			k, err := kafkaSink(*comp)
			if err != nil {
				return fail(err)
			}
			defer k.stop()
			kc := ship.DefaultKafkaConfig()
			kc.Brokers = []string{k.addr}
			kc.Compression = *comp
			sc = ship.Config{Kafka: &kc}
		}
		f, err := profileRun(ctx, c, sc, *work, *cpuProf, *memProf, steadyProf)
		if err != nil {
			return fail(err)
		}
		if steadyProf != nil {
			fmt.Fprintf(stdout, "%s: %s\n", f.Name, f.Comment)
		} else {
			printFigures(stdout, f, nil)
		}
		fmt.Fprintf(stdout, "profiles: %s %s (go tool pprof -top %s)\n", *cpuProf, *memProf, *cpuProf)
		return 0
	}

	binDir, err := os.MkdirTemp(*work, "bin-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(binDir)
	var bin string
	if *agentBin != "" {
		if bin, err = filepath.Abs(*agentBin); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "agent: %s\n", bin)
	} else if bin, err = buildFerry(root, binDir); err != nil {
		return fail(err)
	}
	agentQueueBytes, keepWork = *queue, *keep
	if *agentProf != "" {
		if agentProfiles, err = filepath.Abs(*agentProf); err != nil {
			return fail(fmt.Errorf("-agent-cpuprofile: %w", err))
		}
		if err := os.MkdirAll(agentProfiles, 0o755); err != nil {
			return fail(fmt.Errorf("-agent-cpuprofile: %w", err))
		}
	}
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		fmt.Fprintf(stdout, "agent environment: GOMEMLIMIT=%s\n", v)
	}
	// With -enrich, the API server starts after the ceiling runs and stops
	// when the benchmark returns, on an error or an interrupt too.
	var kube *kubeCluster
	defer func() {
		if kube != nil {
			if err := kube.stop(); err != nil {
				fmt.Fprintln(stderr, "bench:", err)
			}
		}
	}()
	startKubeOnce := func() error {
		if !*enrichF || kube != nil {
			return nil
		}
		t0 := time.Now()
		k, err := startKube(ctx, root, filepath.Join(*work, "kube"), stderr)
		if err != nil {
			return err
		}
		kube = k
		fmt.Fprintf(stdout, "enrichment on: kube-apiserver + etcd started in %.1fs (state in %s); the agent runs with kubernetes.enabled: true, node_name %s\n",
			time.Since(t0).Seconds(), k.dir, benchNode)
		return nil
	}
	if *enrichF {
		nameWidth = 64
	}

	if *mode == "noisy" {
		if *enrichF || *peersF || *procF != "" {
			return fail(fmt.Errorf("mode noisy: runs without -enrich, -peers and -processing"))
		}
		rotate, err := parseSize(*nzRotate)
		if err != nil {
			return fail(fmt.Errorf("-noisy-rotate: %w", err))
		}
		runs, err := parseNoisyRuns(*nzRuns)
		if err != nil {
			return fail(fmt.Errorf("-noisy-runs: %w", err))
		}
		o := noisyOptions{QuietFiles: *nzQuiet, QuietRate: *nzQRate, NoisyRate: *nzRate, Limit: *nzLimit,
			RotateBytes: rotate, Keep: *nzKeep, Warmup: *warmup, Window: *steadyDur, Drain: *nzDrain,
			Rounds: max(1, *nzRounds), Runs: runs}
		if err := noisyRounds(ctx, stdout, bin, *work, o); err != nil {
			return fail(err)
		}
		return 0
	}
	if *mode == "redaction" {
		res, err := redactionProof(ctx, bin, *work, c, *poll, *timeout)
		if err != nil {
			return fail(err)
		}
		printProof(stdout, c, res)
		return 0
	}
	if *mode == "smoke" {
		ceilBin, err := buildCeiling(root, binDir)
		if err != nil {
			return fail(err)
		}
		b := SmokeBounds{File: *smokeFile, Kafka: *smokeKafk, Steady: *smokeStdy}
		if err := runSmoke(ctx, stdout, bin, ceilBin, *work, c, *ceilRuns, *smokeRnds, *smokeStRn, *sFiles, *rate, *warmup, *steadyDur, *poll, *timeout, b); err != nil {
			return fail(err)
		}
		return 0
	}
	if *peersF {
		agents := []peerAgent{ferryPeer(bin)}
		switch *otelcolF {
		case "none":
		case "":
			b, err := buildOtelcol(root, stderr)
			if err != nil {
				return fail(err)
			}
			agents = append(agents, otelcolPeer(b))
		default:
			b, err := filepath.Abs(*otelcolF)
			if err != nil {
				return fail(err)
			}
			agents = append(agents, otelcolPeer(b))
		}
		if fb := os.Getenv("FLUENT_BIT_BIN"); fb != "" {
			agents = append(agents, fluentBitPeer(fb, fluentBitVersion(fb)))
		} else {
			fmt.Fprintln(stdout, "peers: FLUENT_BIT_BIN is not set, Fluent Bit is left out (bench/README.md says how to build one)")
		}
		for _, a := range agents {
			fmt.Fprintf(stdout, "peer: %s\n", a.name)
		}
		if needCorpus {
			ceilBin, err := buildCeiling(root, binDir)
			if err != nil {
				return fail(err)
			}
			ceil, err := runCeiling(ceilBin, c, *ceilRuns)
			if err != nil {
				return fail(err)
			}
			if err := peerRuns(ctx, stdout, agents, *work, c, ceil, *peerN, *poll, *timeout); err != nil {
				return fail(err)
			}
		}
		if *mode == "all" || *mode == "steady" {
			if err := peerSteadyRuns(ctx, stdout, agents, *work, *sFiles, *rate, *warmup, *steadyDur, *peerN); err != nil {
				return fail(err)
			}
		}
		return 0
	}

	if needCorpus {
		ceilBin, err := buildCeiling(root, binDir)
		if err != nil {
			return fail(err)
		}
		ceil, err := runCeiling(ceilBin, c, *ceilRuns)
		if err != nil {
			return fail(err)
		}
		if procs != nil {
			nameWidth = max(nameWidth, procNameWidth)
			printHeader(stdout)
			printFigures(stdout, ceil, nil)
			if err := processingRuns(ctx, stdout, bin, *work, c, procs, *procSink, *comp, *procRnds, *poll, *timeout); err != nil {
				return fail(err)
			}
		} else if err := startKubeOnce(); err != nil {
			return fail(err)
		} else if err := corpusRuns(ctx, stdout, bin, *work, c, ceil, strings.Split(*sinks, ","), *comp, kube, *poll, *timeout); err != nil {
			return fail(err)
		}
	}
	if *mode == "all" || *mode == "steady" {
		if err := startKubeOnce(); err != nil {
			return fail(err)
		}
		s, err := newSink(*sSink, *comp)
		if err != nil {
			return fail(err)
		}
		defer s.stop()
		f, err := runSteady(ctx, bin, *work, *sFiles, *rate, *warmup, *steadyDur, s, kube)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "steady: %d lines/s target over %d files -> %s, window %.0fs\n", *rate, f.Files, f.Sink, f.Window.Seconds())
		latency := fmt.Sprintf("read-to-ack p50 %.3fs p99 %.3fs over %.0f lines", f.P50, f.P99, f.Acked)
		if f.Acked == 0 {
			latency = "no line acknowledged"
		}
		fmt.Fprintf(stdout, "  written %.0f lines/s, read %.0f lines/s; agent CPU %.2f%% of one core, %.0f wakeups/s; RSS %.1f MiB (window mean %.1f, largest %.1f; peak %.1f MiB; at the end RssAnon %.1f MiB, RssFile %.1f MiB); %s; load1 %.2f\n",
			f.Rate, f.ReadRate, f.CPUPercent, f.Wakeups, mib(f.RSS), mib(f.RSSMean), mib(f.RSSMost), mib(f.MaxRSS), mib(f.Anon), mib(f.File), latency, f.Load1)
		fmt.Fprintf(stdout, "  Go runtime at the end: heap in use %.1f MiB, stacks %.1f MiB, held from the OS %.1f MiB; %.0f GC cycles in the window\n",
			mib(int64(f.HeapInuse)), mib(int64(f.StackInuse)), mib(int64(f.GoSys)), f.GCs)
		if f.Enrichment != "" {
			fmt.Fprintf(stdout, "  %s\n", f.Enrichment)
		}
	}
	return 0
}

// corpusRuns prints the header and the ceiling, then runs the agent over
// the corpus to each sink and prints its figures. With kube set the runs
// have enrichment on: a pod per corpus file is created first and the
// corpus linked under <work>/enrich-pods with their UIDs; both are removed
// at the end.
func corpusRuns(ctx context.Context, w io.Writer, bin, work string, c *Corpus, ceil Figures, sinks []string, comp string, kube *kubeCluster, poll, timeout time.Duration) error {
	var en *enrichOn
	if kube != nil {
		t0 := time.Now()
		dst := filepath.Join(work, "enrich-pods")
		var refs []podRef
		var err error
		en, refs, err = enrichCorpus(ctx, kube, c, dst)
		// The steady run's agent is to cache only its own pods.
		defer kube.deletePodsAfter(ctx, refs)
		defer os.RemoveAll(dst)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "enrichment on: %d pods created in %.1fs, the corpus linked under %s with their UIDs\n",
			en.pods, time.Since(t0).Seconds(), dst)
	}
	printHeader(w)
	printFigures(w, ceil, nil)
	for _, name := range sinks {
		s, err := newSink(strings.TrimSpace(name), comp)
		if err != nil {
			return err
		}
		f, err := runCorpus(ctx, bin, work, c, s, en, nil, poll, timeout)
		s.stop()
		if err != nil {
			return err
		}
		printFigures(w, f, &ceil)
	}
	return nil
}

func newSink(name, comp string) (*sink, error) {
	switch name {
	case "file":
		return fileSink()
	case "kafka":
		return kafkaSink(comp)
	}
	return nil, fmt.Errorf("sink %q: want file or kafka", name)
}

// defaultMix is -mix's default.
const defaultMix = "short=70,json=29.9,long=0.1"

// corpusDirName is the corpus's directory under -dir: "corpus" for the
// default mix, one per other mix, so that runs on two mixes reuse theirs.
func corpusDirName(m Mix) string {
	if d, _ := ParseMix(defaultMix); m == d {
		return "corpus"
	}
	return "corpus-" + strings.NewReplacer("=", "", ",", "_").Replace(m.String())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// nameWidth is the width of the run column (wider with -enrich, whose run
// names say so).
var nameWidth = 48

func printHeader(w io.Writer) {
	fmt.Fprintf(w, "%-*s %8s %11s %8s %9s %8s %6s\n", nameWidth, "run", "wall s", "lines/s", "MiB/s", "CPU-s/GiB", "RSS MiB", "load1")
}

// printFigures prints one run; with a ceiling, a second line gives each
// figure as a ratio to it (wall, CPU and RSS: times the ceiling's;
// throughput: fraction of the ceiling's).
func printFigures(w io.Writer, f Figures, ceil *Figures) {
	fmt.Fprintf(w, "%-*s %8.2f %11.0f %8.1f %9.2f %8.1f %6.2f\n", nameWidth, f.Name, f.Wall.Seconds(), f.LinesPerSec(), f.MiBPerSec(), f.CPUPerGiB(), mib(f.MaxRSS), f.Load1)
	if ceil != nil {
		fmt.Fprintf(w, "%-*s %7.1fx %10.3fx %7.3fx %8.1fx %7.1fx\n", nameWidth, "  ratio to ceiling", f.Wall.Seconds()/ceil.Wall.Seconds(),
			f.LinesPerSec()/ceil.LinesPerSec(), f.MiBPerSec()/ceil.MiBPerSec(), f.CPUPerGiB()/ceil.CPUPerGiB(), float64(f.MaxRSS)/float64(ceil.MaxRSS))
	}
	if f.Comment != "" {
		fmt.Fprintf(w, "  (%s)\n", f.Comment)
	}
}

// machine describes where the figures were taken.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	la := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		la = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs (%s), %s %s/%s, load average %s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, la)
}
