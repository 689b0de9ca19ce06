// Package e2eharness runs the built ferry binary against a real
// Kafka-protocol broker (kfake, in the test process) and real files written
// by a simulated node (internal/simnode), and checks what reached the broker
// with an independent client (franz-go kgo). It is shared by the end-to-end
// tests (cmd/agent, test/e2e); it is internal and has no API promise.
package e2eharness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// Topic is the topic the agent ships logs to.
const Topic = "logs"

// binDir holds the agent binary built for this test binary run; Main
// removes it.
var binDir string

// buildFerry builds the agent binary once per test binary run, without
// -race (the agent's speed must not be the race detector's).
var buildFerry = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "ferry-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "ferry")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/ferry-dev/ferry/cmd/agent")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// Main runs a package's tests and then removes the agent binary they
// built (a test package using Ferry calls it from TestMain).
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// Ferry returns the path of the built agent binary. A package using it
// calls Main from its TestMain, so the binary does not outlive the run.
func Ferry(t testing.TB) string {
	t.Helper()
	bin, err := buildFerry()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// FreePort returns a loopback port the kernel just handed out and released.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Broker is a one-broker kfake cluster on a fixed loopback port that keeps
// its data in a directory, so that it can be stopped and started again
// (an outage) without losing what it had.
type Broker struct {
	t    testing.TB
	port int
	dir  string
	opts []kfake.Opt
	mu   sync.Mutex
	c    *kfake.Cluster
}

// NewBroker starts a broker with the topics logs and metrics (3 partitions).
func NewBroker(t testing.TB, opts ...kfake.Opt) *Broker {
	t.Helper()
	b := &Broker{t: t, port: FreePort(t), dir: t.TempDir(), opts: opts}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.port) }

// Cluster is the running cluster (nil while stopped).
func (b *Broker) Cluster() *kfake.Cluster {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.c
}

// Start starts the broker (again) on its port with its data.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		return
	}
	opts := append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(b.port), kfake.DataDir(b.dir),
		kfake.SeedTopics(3, Topic, "metrics")}, b.opts...)
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		b.c, err = kfake.NewCluster(opts...)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port may linger a moment
	}
	if err != nil {
		b.t.Fatalf("start broker on %d: %v", b.port, err)
	}
}

// Stop stops the broker: connections are closed, the port refuses.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// AgentConfig is what an agent's config file says.
type AgentConfig struct {
	Root       string // the directory playing /var/log/pods
	Include    string // logs.include's one glob; empty is Root/*/*/*.log
	StateDir   string
	Broker     string
	Listen     string
	QueueBytes int64 // memory.queue_bytes; 0 is the default
	// Logs holds extra keys of the logs section, e.g. "delete_wait: 1s".
	Logs []string
	// ShutdownTimeout; 0 is 15s.
	ShutdownTimeout time.Duration
	// LogLevel is the agent's log level; empty is info.
	LogLevel string
	// Processing is the processing section as a YAML flow mapping, e.g.
	// "{multiline: {rule: java}}"; empty leaves processing off.
	Processing string
}

// YAML renders the config file.
func (c AgentConfig) YAML() string {
	var b strings.Builder
	st := c.ShutdownTimeout
	if st == 0 {
		st = 15 * time.Second
	}
	level := c.LogLevel
	if level == "" {
		level = "info"
	}
	fmt.Fprintf(&b, "node_name: e2e-node\nstate_dir: %q\nshutdown_timeout: %s\nlog: {level: %s, format: json}\n", c.StateDir, st, level)
	if c.QueueBytes > 0 {
		fmt.Fprintf(&b, "memory: {queue_bytes: %d}\n", c.QueueBytes)
	}
	include := c.Include
	if include == "" {
		include = c.Root + "/*/*/*.log"
	}
	fmt.Fprintf(&b, "logs:\n  include: [%q]\n", include)
	for _, l := range c.Logs {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	if c.Processing != "" {
		fmt.Fprintf(&b, "processing: %s\n", c.Processing)
	}
	fmt.Fprintf(&b, "kubernetes: {enabled: false}\nhostmetrics: {enabled: false}\n")
	fmt.Fprintf(&b, "sink:\n  kafka:\n    brokers: [%q]\n    topic: %s\n    compression: lz4\n", c.Broker, Topic)
	fmt.Fprintf(&b, "http: {listen: %q}\n", c.Listen)
	return b.String()
}

// Agent runs the ferry binary on one config, as many processes in a row as
// a scenario needs (restarts).
type Agent struct {
	t      testing.TB
	bin    string
	dir    string
	Config string // path of the config file
	Addr   string // HTTP address
	// Env is added to the agent's environment (as a pod spec's env is).
	Env []string
	n   int
	cur *Proc
	// cfg is the config written; picked says its Listen port was picked
	// here (FreePort), so another may be picked if it is taken.
	cfg    AgentConfig
	picked bool
}

// NewAgent writes cfg (Listen is filled in when empty) into dir.
func NewAgent(t testing.TB, dir string, cfg AgentConfig) *Agent {
	t.Helper()
	picked := cfg.Listen == ""
	if picked {
		cfg.Listen = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	}
	a := &Agent{t: t, bin: Ferry(t), dir: dir, Config: filepath.Join(dir, "config.yaml"), Addr: cfg.Listen, cfg: cfg, picked: picked}
	if err := os.WriteFile(a.Config, []byte(cfg.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

// repick writes the config again with another picked HTTP port: the one
// picked was taken, between two starts, by another process (a port the
// kernel hands out for port 0 is also one it hands out for an outgoing
// connection's end, and soaks run test processes side by side).
func (a *Agent) repick() {
	a.t.Helper()
	a.cfg.Listen = "127.0.0.1:" + strconv.Itoa(FreePort(a.t))
	a.Addr = a.cfg.Listen
	if err := os.WriteFile(a.Config, []byte(a.cfg.YAML()), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// Proc is one agent process.
type Proc struct {
	Cmd  *exec.Cmd
	Log  string // path of its output
	done chan struct{}
	err  error
}

// Start runs a new agent process and waits until /healthz answers 200. An
// agent that could not listen on its picked HTTP port (taken since it was
// picked) is started again on another, at most three times.
func (a *Agent) Start() *Proc {
	a.t.Helper()
	for range 3 {
		p := a.start()
		if !a.picked || !p.exitedUnbound(20*time.Second, a) {
			a.cur = p
			a.WaitHTTP("/healthz", 200, 20*time.Second)
			return p
		}
		a.t.Logf("agent's HTTP port %s was taken; starting it on another", a.Addr)
		a.repick()
	}
	a.t.Fatalf("agent could not listen on three picked ports")
	return nil
}

// exitedUnbound waits until the agent answers /healthz or exits, and says
// whether it exited because its HTTP address was in use.
func (p *Proc) exitedUnbound(timeout time.Duration, a *Agent) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	unbound := func() bool { return strings.Contains(p.Output(), "address already in use") }
	for {
		// An exit is looked at before each probe: a port taken by a
		// listener that never answers holds a probe for its whole timeout.
		select {
		case <-p.done:
			return unbound()
		default:
		}
		// A 200 is this agent's only when its log says it serves on that
		// address: another agent (of a soak beside this one) that holds
		// the port answers too, while this one fails to bind and exits.
		if c, _ := a.probe("/healthz", time.Second); c == 200 && p.serves(a.Addr) {
			return false
		}
		select {
		case <-p.done:
			return unbound()
		case <-deadline:
			select { // an exit seen together with the deadline wins
			case <-p.done:
				return unbound()
			default:
			}
			return false
		case <-tick.C:
		}
	}
}

func (a *Agent) start() *Proc {
	a.t.Helper()
	p := &Proc{Log: filepath.Join(a.dir, fmt.Sprintf("agent-%d.log", a.n)), done: make(chan struct{})}
	a.n++
	logf, err := os.Create(p.Log)
	if err != nil {
		a.t.Fatal(err)
	}
	p.Cmd = agentCommand(a.bin, "run", "--config", a.Config)
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	if len(a.Env) > 0 {
		p.Cmd.Env = append(os.Environ(), a.Env...)
	}
	if err := p.Cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	a.t.Cleanup(func() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	})
	return p
}

// agentCommand is the command of an agent process. On Linux the process
// is killed when the test process ends, however it ends: a test binary
// killed (a soak stopped early, a timeout) runs no Cleanup, and an agent
// it left running retried its broker's port for as long as it lived. A
// broker started later by another test process could be given that port,
// and the agent then delivered its held lines there (test/model README,
// seed 102508).
func agentCommand(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = dieWithParent()
	return cmd
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to timeout for the exit; the error is
// the exit status (nil for 0).
func (p *Proc) Term(timeout time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("agent did not exit within %s after SIGTERM", timeout)
	}
}

// serves says whether the process logged that it serves HTTP on addr.
func (p *Proc) serves(addr string) bool {
	out := p.Output()
	return strings.Contains(out, "serving") && strings.Contains(out, addr)
}

// Output returns what the process logged so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Get fetches path from the agent's HTTP endpoint.
func (a *Agent) Get(path string) (int, string) {
	return a.probe(path, 5*time.Second)
}

// probe is Get with a timeout of its own.
func (a *Agent) probe(path string, timeout time.Duration) (int, string) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + a.Addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WaitHTTP polls path until it answers code, or fails the test at timeout.
func (a *Agent) WaitHTTP(path string, code int, timeout time.Duration) string {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, body := a.Get(path)
		if c == code {
			return body
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: got %d %.300q, want %d within %s", path, c, body, code, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Metrics is one scrape of /metrics: series (name plus labels, as
// exposed) to value.
type Metrics map[string]float64

// Scrape reads /metrics; an unreachable agent gives an error.
func (a *Agent) Scrape() (Metrics, error) {
	code, body := a.Get("/metrics")
	if code != 200 {
		return nil, fmt.Errorf("/metrics: %d %.200s", code, body)
	}
	return ParseMetrics(body), nil
}

// ParseMetrics reads the Prometheus text exposition (comments skipped).
func ParseMetrics(body string) Metrics {
	m := Metrics{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			continue
		}
		m[l[:i]] = v
	}
	return m
}

// Sum adds every series of the metric name whose labels contain each of
// the given `key="value"` pairs.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var s float64
	for k, v := range m {
		base, lbl := k, ""
		if i := strings.IndexByte(k, '{'); i >= 0 {
			base, lbl = k[:i], k[i:]
		}
		if base != name {
			continue
		}
		ok := true
		for _, want := range labels {
			if !strings.Contains(lbl, want) {
				ok = false
				break
			}
		}
		if ok {
			s += v
		}
	}
	return s
}

// Balance is the accounting every scenario checks: lines the tailer read
// against log records the sink confirmed plus those it dropped (by any
// reason).
type Balance struct {
	Read, Sent, Dropped, Inflight float64
	// Merged is the lines multiline grouping merged into the record of an
	// earlier line (ferry_process_multiline_merged_lines_total).
	Merged float64
	// Summaries is the records the tailer made itself, to say how many
	// lines a rate limit dropped (ferry_tail_drop_summaries_total): sent,
	// never read. The lines they count are in neither side.
	Summaries float64
}

func (b Balance) String() string {
	return fmt.Sprintf("read %.0f + summaries %.0f = sent %.0f + dropped %.0f + merged %.0f? (inflight bytes %.0f)",
		b.Read, b.Summaries, b.Sent, b.Dropped, b.Merged, b.Inflight)
}

// Balanced is true when every line read, and every summary record, was
// sent, dropped or merged into a sent record.
func (b Balance) Balanced() bool {
	return b.Read+b.Summaries == b.Sent+b.Dropped+b.Merged && b.Inflight == 0
}

// BalanceOf extracts the accounting from a scrape.
func BalanceOf(m Metrics) Balance {
	return Balance{
		Read:      m.Sum("ferry_tail_lines_read_total"),
		Sent:      m.Sum("ferry_ship_records_sent_total", `record="log"`),
		Dropped:   m.Sum("ferry_ship_dropped_records_total", `record="log"`) + m.Sum("ferry_process_dropped_total"),
		Merged:    m.Sum("ferry_process_multiline_merged_lines_total"),
		Inflight:  m.Sum("ferry_tail_inflight_bytes"),
		Summaries: m.Sum("ferry_tail_drop_summaries_total"),
	}
}

// WaitBalanced polls /metrics until read == sent + dropped with nothing in
// flight (the pipeline is quiet), and returns the last scrape. It fails the
// test if that does not happen within timeout.
func (a *Agent) WaitBalanced(timeout time.Duration) Metrics {
	a.t.Helper()
	return a.waitBalanced(timeout, true)
}

// WaitSettled is WaitBalanced for an agent that may have read nothing
// (one started after everything was shipped): counters that balance at
// zero do too.
func (a *Agent) WaitSettled(timeout time.Duration) Metrics {
	a.t.Helper()
	return a.waitBalanced(timeout, false)
}

func (a *Agent) waitBalanced(timeout time.Duration, read bool) Metrics {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last Balance
	for {
		m, err := a.Scrape()
		if err == nil {
			last = BalanceOf(m)
			if last.Balanced() && (last.Read > 0 || !read) {
				return m
			}
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the counters do not balance within %s: %s (err %v)", timeout, last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Record is the part of a shipped log record the checks read.
type Record struct {
	Message   string `json:"message"`
	Stream    string `json:"stream"`
	File      string `json:"file"`
	Offset    int64  `json:"offset"`
	Truncated bool   `json:"truncated"`
	Lines     int    `json:"lines"` // lines of a multiline record; 0 for one
}

// Consumer reads the logs topic from its start with an independent client
// (franz-go), in the background, into a simnode.Checker. Records that are
// not simnode lines are handed to Foreign, if set, before Start.
type Consumer struct {
	Checker *simnode.Checker
	Foreign func(Record)
	t       testing.TB
	broker  string
	mu      sync.Mutex
	records int64
	bad     []string
	marks   map[string]bool // sync markers read (Sync)
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewConsumer makes a consumer of broker's logs topic; Start starts it.
func NewConsumer(t testing.TB, broker string) *Consumer {
	return &Consumer{Checker: simnode.NewChecker(), t: t, broker: broker}
}

// Start begins consuming; it stops at test cleanup.
func (c *Consumer) Start() {
	c.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.broker), kgo.ConsumeTopics(Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxPartitionBytes(8<<20), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done, c.marks = cancel, make(chan struct{}), make(map[string]bool)
	go func() {
		defer close(c.done)
		defer cl.Close()
		for ctx.Err() == nil {
			fetches := cl.PollFetches(ctx)
			n := int64(0)
			fetches.EachRecord(func(r *kgo.Record) {
				if m, ok := SyncMarkOf(r.Value); ok {
					c.mu.Lock()
					c.marks[m] = true
					c.mu.Unlock()
					return
				}
				n++
				var rec Record
				if err := json.Unmarshal(r.Value, &rec); err != nil {
					c.mu.Lock()
					c.bad = append(c.bad, fmt.Sprintf("%v: %.200s", err, r.Value))
					c.mu.Unlock()
					return
				}
				if simnode.IsLine(rec.Message) {
					c.Checker.Observe([]byte(rec.Message))
				} else if c.Foreign != nil {
					c.Foreign(rec)
				}
			})
			if n > 0 {
				c.mu.Lock()
				c.records += n
				c.mu.Unlock()
			}
		}
	}()
	c.t.Cleanup(c.Stop)
}

// Stop stops consuming and waits for the reader to end.
func (c *Consumer) Stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
}

// Records is how many records were consumed.
func (c *Consumer) Records() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records
}

// Bad lists records that were not JSON.
func (c *Consumer) Bad() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

// SyncMark starts the records Sync and ProduceMarks produce; consumers
// count them apart from the agent's.
const SyncMark = "e2e-sync "

// SyncMarkOf is the suffix of a marker record's value (ProduceMarks), and
// false for any other record, which it neither copies nor converts.
func SyncMarkOf(v []byte) (string, bool) {
	if len(v) < len(SyncMark) || string(v[:len(SyncMark)]) != SyncMark {
		return "", false
	}
	return string(v[len(SyncMark):]), true
}

// Drain waits until every line written by containers was received, then
// runs settle (if not nil: for example the agent's WaitBalanced, so that
// every line it read was stored), then Syncs, so duplicates stored by
// then are counted too; it returns the report, also when timeout passed
// first.
func (c *Consumer) Drain(containers []*simnode.Container, timeout time.Duration, settle func()) simnode.Report {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for c.Checker.Report(containers).Lost != 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if settle != nil {
		settle()
	}
	c.Sync(max(time.Until(deadline), 30*time.Second))
	return c.Checker.Report(containers)
}

// Sync produces a marker to every partition of the logs topic and waits
// until the consumer has read them all: every record the broker stored
// before them is then consumed (a sentinel, not a quiet moment).
func (c *Consumer) Sync(timeout time.Duration) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.broker), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	topic := kmsg.NewMetadataRequestTopic()
	topic.Topic = kmsg.StringPtr(Topic)
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		c.t.Fatalf("the partitions of %s: %v", Topic, err)
	}
	want, _, err := ProduceMarks(ctx, cl, int32(len(resp.Topics[0].Partitions)))
	if err != nil {
		c.t.Fatal(err)
	}
	WaitMarks(c.t, want, timeout, func(m string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.marks[m]
	})
}

// ProduceMarks produces, with cl (a manual partitioner), a marker record
// to each of the logs topic's first partitions: SyncMark and a suffix of
// its own. It returns the suffixes and the markers' offsets, by
// partition. A consumer that has read a partition's marker has read every
// record stored in it before.
func ProduceMarks(ctx context.Context, cl *kgo.Client, partitions int32) (marks []string, offs []int64, err error) {
	for p := range partitions {
		m := strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(int(p))
		r := &kgo.Record{Topic: Topic, Partition: p, Value: []byte(SyncMark + m)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return nil, nil, fmt.Errorf("produce a sync marker to partition %d: %w", p, err)
		}
		marks, offs = append(marks, m), append(offs, r.Offset)
	}
	return marks, offs, nil
}

// WaitMarks waits until seen says every marker in want was read, or fails
// the test at timeout.
func WaitMarks(t testing.TB, want []string, timeout time.Duration, seen func(string) bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; {
		all := true
		for _, m := range want {
			all = all && seen(m)
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not read the sync markers within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond) // polls a bounded condition
	}
}
