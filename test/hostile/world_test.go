package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// guarded skips a test unless FERRY_HOSTILE=1: it exposes a known bug or
// runs long.
func guarded(t *testing.T) {
	t.Helper()
	if os.Getenv("FERRY_HOSTILE") != "1" {
		t.Skip("set FERRY_HOSTILE=1 to run")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !eventually(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// eventually polls cond every 50 ms until it holds (true) or timeout
// passed (false), for a test that says itself what was missing.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// rec is one consumed log record.
type rec struct {
	Message   string `json:"message"`
	Time      string `json:"time"`
	Stream    string `json:"stream"`
	File      string `json:"file"`
	Offset    int64  `json:"offset"`
	Truncated bool   `json:"truncated"`
}

// world is one pod directory written by hand, an agent binary, a broker and
// an independent consumer that counts every "h-seq=N" message.
type world struct {
	t      *testing.T
	dir    string
	root   string
	path   string // <root>/ns_pod_uid/app/0.log
	broker *e2eharness.Broker
	agent  *e2eharness.Agent
	cfg    e2eharness.AgentConfig

	mu   sync.Mutex
	seen map[int]int // seq -> times received
	recs []rec       // every record
	bad  []string    // records that were not JSON
}

type worldOpt struct {
	logs   []string    // extra keys of the logs section
	sink   []string    // extra keys of sink.kafka (4-space indented lines)
	top    string      // YAML replacing "hostmetrics: {enabled: false}\n"
	broker []kfake.Opt // broker options
	edit   func(yaml string) string
	// record, when set, also gets every record's value, from the same
	// consumer (so it holds every record before a sentinel that was seen).
	record func(value []byte)
}

func newWorld(t *testing.T, o worldOpt) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the agent binary")
	}
	e2eharness.Ferry(t)
	w := &world{t: t, dir: t.TempDir(), seen: map[int]int{}}
	w.root = filepath.Join(w.dir, "pods")
	w.path = filepath.Join(w.root, "ns_pod_uid", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(w.path), 0o755))
	w.broker = e2eharness.NewBroker(t, o.broker...)
	w.cfg = e2eharness.AgentConfig{Root: w.root, StateDir: filepath.Join(w.dir, "state"), Broker: w.broker.Addr(), Logs: o.logs}
	w.agent = e2eharness.NewAgent(t, w.dir, w.cfg)
	y, err := os.ReadFile(w.agent.Config)
	must(t, err)
	s := string(y)
	if len(o.sink) > 0 {
		s = strings.Replace(s, "    compression: lz4\n", "    compression: lz4\n    "+strings.Join(o.sink, "\n    ")+"\n", 1)
	}
	if o.top != "" {
		s = strings.Replace(s, "hostmetrics: {enabled: false}\n", o.top, 1)
	}
	if o.edit != nil {
		s = o.edit(s)
	}
	must(t, os.WriteFile(w.agent.Config, []byte(s), 0o644))
	w.consume(o.record)
	return w
}

// consume reads the logs topic from its start with franz-go until cleanup,
// handing each record's value to also, if set, before it is counted.
func (w *world) consume(also func([]byte)) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.broker.Addr()), kgo.ConsumeTopics(e2eharness.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.FetchMaxPartitionBytes(8<<20), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	must(w.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				if also != nil {
					also(r.Value)
				}
				var x rec
				w.mu.Lock()
				defer w.mu.Unlock()
				if err := json.Unmarshal(r.Value, &x); err != nil {
					w.bad = append(w.bad, fmt.Sprintf("%v: %.200s", err, r.Value))
					return
				}
				w.recs = append(w.recs, x)
				if s, ok := strings.CutPrefix(x.Message, "h-seq="); ok {
					if i := strings.IndexByte(s, ' '); i >= 0 {
						s = s[:i]
					}
					if n, err := strconv.Atoi(s); err == nil {
						w.seen[n]++
					}
				}
			})
		}
	}()
	w.t.Cleanup(func() { cancel(); <-done })
}

// line is the CRI line of seq with the given timestamp ("" = a fixed one).
func line(seq int, ts string) string {
	if ts == "" {
		ts = "2026-11-26T03:55:09.123456789Z"
	}
	return fmt.Sprintf("%s stdout F h-seq=%d %s\n", ts, seq, strings.Repeat("x", seq%90))
}

// lines appends h-seq=from..to-1 to path.
func (w *world) lines(path string, from, to int) {
	w.t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(line(i, ""))
	}
	w.raw(path, b.String())
}

func (w *world) raw(path, s string) {
	w.t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(w.t, err)
	_, err = f.WriteString(s)
	must(w.t, err)
	must(w.t, f.Close())
}

// waitSeqs waits until every seq in [from, to) was received.
func (w *world) waitSeqs(from, to int, timeout time.Duration) {
	w.t.Helper()
	waitFor(w.t, fmt.Sprintf("h-seq %d..%d (%s)", from, to-1, w.missing(from, to)), timeout, func() bool {
		return w.missing(from, to) == ""
	})
}

// missing describes the seqs of [from, to) not received ("" if none).
func (w *world) missing(from, to int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost []int
	for i := from; i < to; i++ {
		if w.seen[i] == 0 {
			lost = append(lost, i)
		}
	}
	if len(lost) == 0 {
		return ""
	}
	return fmt.Sprintf("%d missing, first %v", len(lost), lost[:min(len(lost), 10)])
}

// count returns (lost, duplicated) seqs of [from, to).
func (w *world) count(from, to int) (lost, dup int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := from; i < to; i++ {
		switch n := w.seen[i]; {
		case n == 0:
			lost++
		case n > 1:
			dup += n - 1
		}
	}
	return lost, dup
}

// check fails the test on any loss, and on duplicates unless dupsOK.
func (w *world) check(from, to int, dupsOK bool) {
	w.t.Helper()
	lost, dup := w.count(from, to)
	if lost > 0 || (dup > 0 && !dupsOK) {
		w.t.Errorf("h-seq %d..%d: %d lost (%s), %d duplicates", from, to-1, lost, w.missing(from, to), dup)
	}
	if b := w.badRecords(); len(b) > 0 {
		w.t.Errorf("%d records are not JSON, first: %s", len(b), b[0])
	}
}

func (w *world) badRecords() []string { return lockedCopy(&w.mu, &w.bad) }

// records returns a copy of every record consumed so far.
func (w *world) records() []rec { return lockedCopy(&w.mu, &w.recs) }

// lockedCopy copies *s while holding mu (a consumer appends to it).
func lockedCopy[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return append([]T(nil), (*s)...)
}

// stop sends SIGTERM and fails the test unless the agent exits 0 in time.
func stop(t *testing.T, p *e2eharness.Proc) {
	t.Helper()
	if err := p.Term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, tailOf(p.Output(), 2000))
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// settled waits until the agent's counters balance with at least minRead
// lines read. /metrics is cached for up to a second, so balance alone may
// be an old scrape: the lower bound on lines read makes it a fresh one.
func (w *world) settled(minRead float64, timeout time.Duration) e2eharness.Metrics {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var last e2eharness.Balance
	for {
		m, err := w.agent.Scrape()
		if err == nil {
			last = e2eharness.BalanceOf(m)
			if last.Balanced() && last.Read >= minRead {
				return m
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("counters not settled at >= %v lines read within %s: %s (err %v)", minRead, timeout, last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mkdirFor(t *testing.T, path string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
}

func itoa(n int) string { return strconv.Itoa(n) }

// checkpoint is the committed offset of path in the state file.
func (w *world) checkpoint(path string) (int64, bool) {
	data, err := os.ReadFile(filepath.Join(w.cfg.StateDir, "tail.json"))
	if err != nil {
		return 0, false
	}
	var st struct {
		Files []struct {
			Path   string `json:"path"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if json.Unmarshal(data, &st) != nil {
		return 0, false
	}
	for _, f := range st.Files {
		if f.Path == path {
			return f.Offset, true
		}
	}
	return 0, false
}

// consumeFresh reads the logs topic from its start with a client of its
// own (one that sees partitions added or a topic recreated after the
// world's consumer started) until the test ends. The function returns how
// often each h-seq came and the partition it last came in.
func consumeFresh(t *testing.T, addr string) func() (counts map[int]int, parts map[int]int32) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(e2eharness.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond))
	must(t, err)
	var mu sync.Mutex
	counts, parts := map[int]int{}, map[int]int32{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				i := strings.Index(v, `"message":"h-seq=`)
				if i < 0 {
					return
				}
				v = v[i+len(`"message":"h-seq=`):]
				if j := strings.IndexAny(v, ` "`); j >= 0 {
					v = v[:j]
				}
				if n, err := strconv.Atoi(v); err == nil {
					mu.Lock()
					counts[n]++
					parts[n] = r.Partition
					mu.Unlock()
				}
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() (map[int]int, map[int]int32) {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts), maps.Clone(parts)
	}
}
