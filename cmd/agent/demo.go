//go:build !nodemo

// The demo links an in-process Kafka-protocol broker (franz-go's kfake), a
// second Kafka client to read back (franz-go's kgo) and the simulated node
// (internal/simnode), which the agent itself never uses: the image's binary
// is built with -tags nodemo and gets demo_stub.go instead.

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// demoConfig is the embedded default the demo runs the real agent on. The
// ${DEMO_*} references are filled in by the demo itself.
const demoConfig = `
node_name: demo-node
state_dir: ${DEMO_DIR}/state
shutdown_timeout: 10s
log: {level: warn, format: text}
logs:
  include: ["${DEMO_DIR}/pods/*/*/*.log"]
kubernetes:
  enabled: true   # the demo serves the simulated node's pods itself (demokube.go)
hostmetrics:
  enabled: true
  interval: 2s
sink:
  kafka:
    brokers: ["${DEMO_BROKER}"]
    topic: logs
    metrics_topic: metrics
    compression: lz4
    encoding: ${DEMO_ENCODING}
processing:
  multiline: {rule: java}
  parser: {format: json}
  redact: {builtins: [email]}
http:
  listen: ${DEMO_LISTEN}
`

// demoCheckout is what one more container of the demo writes once: a JSON
// line holding an e-mail address, and an error logged with the Java stack
// trace that caused it, as a JVM prints it. With the demo's processing
// config the JSON line ships with its fields parsed (and the address
// masked), and the error line with its trace as one record of
// demoTraceLines lines.
var demoCheckout = []string{
	`{"level":"info","msg":"order placed","order_id":1042,"customer":"ada@example.com","total":"19.99"}`,
	`2026-12-05 03:00:00 ERROR payment failed for order 1042`,
	`java.lang.IllegalStateException: card declined`,
	"\tat com.example.shop.Payments.charge(Payments.java:42)",
	"\tat com.example.shop.Checkout.placeOrder(Checkout.java:17)",
	"\tat com.example.shop.Main.main(Main.java:8)",
	`Caused by: java.io.IOException: gateway timeout`,
	"\tat com.example.shop.Gateway.call(Gateway.java:88)",
	"\t... 2 more",
	`{"level":"warn","msg":"order retried","order_id":1042}`,
}

const demoTraceLines = 8 // demoCheckout[1:9]

// demoCheckoutPod is the pod whose container writes demoCheckout.
var demoCheckoutPod = demoPod{namespace: "shop", name: "checkout-5c7f9d8b4-q2w3e",
	uid: "0b1e2c3d-4e5f-4a6b-8c7d-c4ec0c4ec0c4", containers: []string{"app"}}

// writeCheckout writes demoCheckout as the CRI log of a container of its
// own pod under root, and returns the log's directory.
func writeCheckout(root string) (string, error) {
	p := demoCheckoutPod
	dir := filepath.Join(root, p.namespace+"_"+p.name+"_"+p.uid, p.containers[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b []byte
	for _, l := range demoCheckout {
		b = simnode.AppendCRI(b, time.Now(), "stdout", []byte(l))
	}
	return dir, os.WriteFile(filepath.Join(dir, "0.log"), b, 0o644)
}

// demoShown are the checkout records the demo shows: the trace as one
// record and the parsed JSON line.
type demoShown struct {
	mu                    sync.Mutex
	trace, json           []byte
	traceOwner, jsonOwner string // "<kind>/<name>" of their pod's workload
}

func (d *demoShown) offer(r demoRecord) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case r.lines == demoTraceLines && d.trace == nil:
		d.trace, d.traceOwner = append([]byte(nil), r.show...), r.owner
	case r.fields && d.json == nil:
		d.json, d.jsonOwner = append([]byte(nil), r.show...), r.owner
	}
}

type demoOptions struct {
	duration       time.Duration
	pods           int
	rate           int
	listen         string
	rotateBytes    int64
	drainTimeout   time.Duration
	keepDir        bool
	encoding       string // sink.kafka.encoding: json, otlp_json or otlp_proto
	progressPeriod time.Duration
	// hold, with keepDir, is called after the summary while the broker
	// still serves; the broker stops when it returns.
	hold func()
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "Run the whole pipeline on a simulated node and an in-process Kafka-protocol broker.", stderr)
	var o demoOptions
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "how long the simulated containers write")
	fs.IntVar(&o.pods, "pods", 4, "simulated pods (two containers each)")
	fs.IntVar(&o.rate, "rate", 200, "lines per second per container")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the agent's /metrics, /healthz and /readyz")
	fs.Int64Var(&o.rotateBytes, "rotate-bytes", 256<<10, "rotate a container's log at this size, the kubelet way")
	fs.StringVar(&o.encoding, "encoding", "json", "sink.kafka.encoding: json (ferry's records), otlp_json or otlp_proto (OTLP requests, shown as OTLP JSON)")
	fs.BoolVar(&o.keepDir, "keep", false, "keep the simulated node's directory instead of removing it, and the broker serving after the run until interrupted")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	o.hold = func() {
		// The run's signal context may be spent (an interrupt ended the
		// run): wait for a new interrupt.
		hold, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		<-hold.Done()
	}
	o.drainTimeout = 20 * time.Second
	o.progressPeriod = time.Second
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ok, err := runDemo(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

// runDemo runs the demo and reports whether every line written reached the
// broker.
func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) (bool, error) {
	dir, err := os.MkdirTemp("", "ferry-demo-")
	if err != nil {
		return false, err
	}
	if o.keepDir {
		fmt.Fprintf(stdout, "simulated node directory: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs", "metrics"))
	if err != nil {
		return false, fmt.Errorf("start broker: %w", err)
	}
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]

	if o.encoding == "" {
		o.encoding = "json"
	}
	env := map[string]string{"DEMO_DIR": dir, "DEMO_BROKER": broker, "DEMO_LISTEN": o.listen, "DEMO_ENCODING": o.encoding}
	cfg, err := ParseConfig([]byte(demoConfig), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return false, fmt.Errorf("embedded config: %w", err)
	}
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return false, err
	}

	node, err := simnode.New(simnode.Config{
		Root: filepath.Join(dir, "pods"), Pods: o.pods, ContainersPerPod: 2,
		LinesPerSecond: o.rate, LongEvery: 50, LongBytes: 40 << 10,
		RotateBytes: o.rotateBytes, Keep: 4, Compress: true, Seed: 1,
		TraceEvery: 40, TraceLines: 5,
	})
	if err != nil {
		return false, err
	}

	kube := newDemoKube(cfg.NodeName, node.Containers(), demoCheckoutPod)

	fmt.Fprintf(stdout, "ferry demo: %d containers writing %d lines/s each (1 in 50 lines 40 KiB long, split into 16 KiB CRI partials),\n",
		len(node.Containers()), o.rate)
	fmt.Fprintf(stdout, "rotated the kubelet way every %d KiB; Kafka-protocol broker on %s; for %s.\n", o.rotateBytes>>10, broker, o.duration)
	fmt.Fprintf(stdout, "Processing: Java stack traces grouped into one record (1 in 40 lines begins a 5-line trace), JSON messages parsed,\n")
	fmt.Fprintf(stdout, "e-mail addresses masked; a checkout pod logs one JSON line and one error with its trace.\n")

	// The independent reader: a second Kafka client consuming what the agent shipped.
	chk := simnode.NewChecker()
	var metricsRecords atomic.Int64
	var samples sampleSet
	var shown demoShown
	consumer, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("logs", "metrics"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return false, err
	}
	defer consumer.Close()
	consumeCtx, stopConsuming := context.WithCancel(context.Background())
	defer stopConsuming()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for consumeCtx.Err() == nil {
			fetches := consumer.PollFetches(consumeCtx)
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Topic == "metrics" {
					metricsRecords.Add(1)
					if samples.wantMetric() {
						samples.offer("metric", showDemoMetric(r.Value))
					}
					return
				}
				rec, err := decodeDemoLog(r.Value)
				if err != nil {
					chk.Observe(r.Value)
					return
				}
				if strings.Contains(rec.file, "/shop_checkout-") {
					shown.offer(rec)
					return
				}
				chk.Observe([]byte(rec.message))
				samples.offer("log", rec.show)
			})
		}
	}()

	// The agent, exactly as `ferry run` runs it.
	addrCh := make(chan string, 1)
	agentCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	agentDone := make(chan error, 1)
	go func() {
		agentDone <- runAgent(agentCtx, cfg, logger, runHooks{Listening: func(a string) { addrCh <- a }, Kube: kube})
	}()
	var addr string
	select {
	case addr = <-addrCh:
		fmt.Fprintf(stdout, "agent serving http://%s/metrics, /healthz, /readyz\n", addr)
		fmt.Fprintf(stdout, "follow one pod's logs while it runs: %s -f\n\n", demoLogsCommand(broker, node.Containers()[0]))
	case err := <-agentDone:
		return false, fmt.Errorf("agent: %w", err)
	}

	if _, err := writeCheckout(filepath.Join(dir, "pods")); err != nil {
		stopAgent()
		<-agentDone
		return false, err
	}
	writeCtx, stopWriting := context.WithCancel(ctx)
	writeDone := make(chan error, 1)
	go func() { writeDone <- node.Run(writeCtx) }()

	start := time.Now()
	tick := time.NewTicker(o.progressPeriod)
	progress := func() {
		rep := chk.Report(node.Containers())
		fmt.Fprintf(stdout, "%5.1fs  written %7d  in Kafka %7d  rotations %4d  metric records %5d\n",
			time.Since(start).Seconds(), rep.Written, rep.Received, node.Rotations(), metricsRecords.Load())
	}
	timer := time.NewTimer(o.duration)
wait:
	for {
		select {
		case <-tick.C:
			progress()
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		case err := <-agentDone:
			stopWriting()
			<-writeDone
			return false, fmt.Errorf("agent stopped early: %v", err)
		}
	}
	stopWriting()
	if err := <-writeDone; err != nil {
		stopAgent()
		<-agentDone
		return false, err
	}
	fmt.Fprintf(stdout, "writers stopped at %d lines; waiting for the agent to ship the rest...\n", node.Written())

	// Let the agent catch up, then stop it the way SIGTERM does.
	deadline := time.Now().Add(o.drainTimeout)
	for time.Now().Before(deadline) {
		if rep := chk.Report(node.Containers()); rep.Received >= rep.Written && shown.done() {
			break
		}
		select {
		case <-tick.C:
			progress()
		case <-time.After(100 * time.Millisecond):
		}
	}
	tick.Stop()
	stopAgent()
	agentErr := <-agentDone
	time.Sleep(500 * time.Millisecond) // the reader's last fetch
	stopConsuming()
	<-consumed

	rep := chk.Report(node.Containers())
	fmt.Fprintf(stdout, "\n== summary\n")
	fmt.Fprintf(stdout, "lines written by containers:   %d (%d rotations)\n", rep.Written, node.Rotations())
	fmt.Fprintf(stdout, "lines consumed from Kafka:     %d distinct, %d duplicates, %d reordered\n", rep.Received, rep.Duplicates, rep.Reordered)
	fmt.Fprintf(stdout, "lines lost:                    %d\n", rep.Lost)
	fmt.Fprintf(stdout, "corrupted lines:               %d\n", rep.Corrupt)
	fmt.Fprintf(stdout, "host metric records:           %d\n", metricsRecords.Load())
	fmt.Fprintf(stdout, "metrics were served at:        http://%s/metrics\n", addr)
	samples.print(stdout)
	shownOK := shown.print(stdout)
	if agentErr != nil {
		fmt.Fprintf(stdout, "\nagent exited with an error: %v\n", agentErr)
		return false, nil
	}
	if !rep.OK() {
		fmt.Fprintf(stdout, "\nFAIL: %s\n", rep)
		return false, nil
	}
	if !shownOK {
		fmt.Fprintf(stdout, "\nFAIL: the checkout pod's trace or JSON line did not arrive processed\n")
		return false, nil
	}
	fmt.Fprintf(stdout, "\nOK: every line written reached the broker.\n")
	if !o.keepDir || o.hold == nil {
		fmt.Fprintf(stdout, "(with --keep the broker keeps serving after the run, to read the records back with ferry logs)\n")
		return true, nil
	}
	fmt.Fprintf(stdout, "\nthe broker serves on %s until interrupted; read one demo pod's logs back with:\n  %s\n",
		broker, demoLogsCommand(broker, node.Containers()[0]))
	o.hold()
	return true, nil
}

// demoLogsCommand is the ferry logs command line that reads c's records
// back from the demo's broker (only the partition of its pod's UID).
func demoLogsCommand(broker string, c *simnode.Container) string {
	return fmt.Sprintf("ferry logs --brokers %s --topic logs -n %s %s -c %s --uid %s", broker, c.Namespace, c.Pod, c.Name, c.UID)
}

func (d *demoShown) done() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.trace != nil && d.json != nil
}

// print shows the checkout records and reports whether both arrived as
// processing makes them, enriched with the pod's owner.
func (d *demoShown) print(w io.Writer) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(w, "\nprocessing (the checkout pod):\n")
	ok := true
	for _, r := range []struct {
		what  string
		v     []byte
		owner string
	}{{fmt.Sprintf("an error and its Java stack trace, %d lines, as one record", demoTraceLines), d.trace, d.traceOwner},
		{"a JSON line, its fields parsed and the e-mail address masked", d.json, d.jsonOwner}} {
		if r.v == nil {
			fmt.Fprintf(w, "  %s: MISSING\n", r.what)
			ok = false
			continue
		}
		fmt.Fprintf(w, "  %s:\n    %s\n", r.what, r.v)
		if r.owner != "Deployment/checkout" {
			fmt.Fprintf(w, "    its pod's metadata: MISSING (want the owner Deployment checkout)\n")
			ok = false
		}
	}
	return ok
}

// sampleSet keeps a few records to show.
type sampleSet struct {
	mu   sync.Mutex
	logs [][]byte
	mets [][]byte
}

// wantMetric says whether a metric record would still be kept.
func (s *sampleSet) wantMetric() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mets) < 1
}

func (s *sampleSet) offer(kind string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case kind == "log" && len(s.logs) < 2 && len(v) < 3072: // not a 40 KiB line
		s.logs = append(s.logs, append([]byte(nil), v...))
	case kind == "metric" && len(s.mets) < 1:
		s.mets = append(s.mets, append([]byte(nil), v...))
	}
}

func (s *sampleSet) print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(w, "\nsample records:")
	for _, v := range append(append([][]byte(nil), s.logs...), s.mets...) {
		fmt.Fprintf(w, "  %s\n", v)
	}
}
