package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// restartWorld is one container log written by hand, the agent binary that
// is stopped and started around what kubelet does to the file, and a
// consumer that counts every "rr-seq=N" line that reached the broker.
type restartWorld struct {
	t     *testing.T
	dir   string
	path  string // <root>/ns_pod_uid/app/0.log
	agent *e2eharness.Agent
	cons  *e2eharness.Consumer

	mu    sync.Mutex
	seen  map[int]int // seq -> times received
	cut   int         // records flagged truncated
	heads map[int]int // seq of a record's first line -> lines in the record, last received
}

func newRestartWorld(t *testing.T, logs ...string) *restartWorld {
	t.Helper()
	return newRestartWorldWith(t, func(c *e2eharness.AgentConfig) { c.Logs = logs })
}

// newRestartWorldWith is newRestartWorld with the agent's config adjusted
// by mod.
func newRestartWorldWith(t *testing.T, mod func(*e2eharness.AgentConfig)) *restartWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the agent binary")
	}
	e2eharness.Ferry(t)
	w := &restartWorld{t: t, dir: t.TempDir(), seen: map[int]int{}, heads: map[int]int{}}
	root := filepath.Join(w.dir, "pods")
	w.path = filepath.Join(root, "ns_pod_uid", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(w.path), 0o755))
	broker := e2eharness.NewBroker(t)
	cfg := e2eharness.AgentConfig{Root: root, StateDir: filepath.Join(w.dir, "state"), Broker: broker.Addr()}
	mod(&cfg)
	w.agent = e2eharness.NewAgent(t, w.dir, cfg)
	w.cons = e2eharness.NewConsumer(t, broker.Addr())
	w.cons.Foreign = func(r e2eharness.Record) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if r.Truncated {
			w.cut++
		}
		// A record of several lines (multiline grouping) counts each.
		for i, line := range strings.Split(r.Message, "\n") {
			s, ok := strings.CutPrefix(strings.TrimPrefix(line, "\tat "), "rr-seq=")
			if !ok {
				continue
			}
			if i := strings.IndexByte(s, ' '); i >= 0 {
				s = s[:i]
			}
			if n, err := strconv.Atoi(s); err == nil {
				w.seen[n]++
				if i == 0 {
					w.heads[n] = max(r.Lines, 1)
				}
			}
		}
	}
	w.cons.Start()
	return w
}

// lines appends CRI lines rr-seq=from..to-1 to path.
func (w *restartWorld) lines(path string, from, to int) {
	w.t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "2026-11-26T03:55:09.123456789Z stdout F rr-seq=%d %s\n", i, strings.Repeat("x", i%90))
	}
	w.raw(path, b.String())
}

func (w *restartWorld) raw(path, s string) {
	w.t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(w.t, err)
	_, err = f.WriteString(s)
	must(w.t, err)
	must(w.t, f.Close())
}

// waitSeqs waits until every seq in [from, to) was received.
func (w *restartWorld) waitSeqs(from, to int, timeout time.Duration) {
	w.t.Helper()
	waitFor(w.t, fmt.Sprintf("rr-seq %d..%d", from, to-1), timeout, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for i := from; i < to; i++ {
			if w.seen[i] == 0 {
				return false
			}
		}
		return true
	})
}

// check compares what arrived with want: each of want exactly once (at
// least once if dupsOK), nothing else.
func (w *restartWorld) check(from, to int, dupsOK bool) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost, dup []int
	for i := from; i < to; i++ {
		switch n := w.seen[i]; {
		case n == 0:
			lost = append(lost, i)
		case n > 1 && !dupsOK:
			dup = append(dup, i)
		}
	}
	if len(lost) > 0 || len(dup) > 0 {
		w.t.Errorf("%d lines lost %v; %d duplicated %v", len(lost), head(lost), len(dup), head(dup))
	}
}

// checkpoint is the state file's entry for path, as the agent last wrote it.
func (w *restartWorld) checkpoint() (e struct {
	Path    string `json:"path"`
	Offset  int64  `json:"offset"`
	AckedTo int64  `json:"acked_to"`
}, ok bool) {
	data, err := os.ReadFile(filepath.Join(w.dir, "state", "tail.json"))
	if err != nil {
		return e, false
	}
	var st struct {
		Files []struct {
			Path    string `json:"path"`
			Offset  int64  `json:"offset"`
			AckedTo int64  `json:"acked_to"`
		} `json:"files"`
	}
	if json.Unmarshal(data, &st) != nil {
		return e, false
	}
	for _, f := range st.Files {
		if f.Path == w.path {
			e.Path, e.Offset, e.AckedTo = f.Path, f.Offset, f.AckedTo
			return e, true
		}
	}
	return e, false
}

// rotateTwice is what kubelet does to the file of a busy container while no
// agent runs: write(path, from, to) appends lines from..149 to it, it is
// renamed to 0.log.<ts1>; 150..199 go to a new 0.log, renamed to
// 0.log.<ts2>; <ts1> is gzipped; 200..249 go to a new 0.log.
func (w *restartWorld) rotateTwice(write func(path string, from, to int), from int) {
	w.t.Helper()
	ts1, ts2 := w.path+".20261126-035509", w.path+".20261126-035510"
	write(w.path, from, 150)
	must(w.t, os.Rename(w.path, ts1))
	write(w.path, 150, 200)
	must(w.t, os.Rename(w.path, ts2))
	must(w.t, simnode.GzipFile(ts1))
	write(w.path, 200, 250)
}

func head(s []int) []int { return s[:min(len(s), 10)] }

// TestRestartAcrossRotation is the rolling update of a busy node: while the
// agent is down, kubelet rotates the log twice and gzips the file the agent
// was reading. The next agent continues inside the .gz from its checkpoint,
// then reads the newer rotated file and the new 0.log: nothing is lost,
// and after a graceful stop nothing is repeated. After SIGKILL the repeats
// are only what was acknowledged after the last checkpoint.
func TestRestartAcrossRotation(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "sigterm"
		if kill {
			name = "sigkill"
		}
		t.Run(name, func(t *testing.T) {
			w := newRestartWorld(t)
			w.lines(w.path, 0, 100)
			p := w.agent.Start()
			w.waitSeqs(0, 100, 30*time.Second)
			if kill {
				// The periodic checkpoint (1 s) holds all of it.
				fi, err := os.Stat(w.path)
				must(t, err)
				waitFor(t, "a checkpoint after the lines", 10*time.Second, func() bool {
					e, ok := w.checkpoint()
					return ok && e.Offset == fi.Size()
				})
				p.Kill()
			} else if err := p.Term(30 * time.Second); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}
			w.rotateTwice(w.lines, 100)

			p = w.agent.Start()
			w.waitSeqs(0, 250, 30*time.Second)
			w.lines(w.path, 250, 251) // the sentinel: anything repeated came before it
			w.waitSeqs(250, 251, 30*time.Second)
			w.check(0, 251, kill)
			m := w.agent.WaitBalanced(20 * time.Second)
			for _, name := range []string{"ferry_tail_lost_bytes_total", "ferry_tail_lost_files_total", "ferry_tail_parse_errors_total"} {
				if v := m.Sum(name); v != 0 {
					t.Errorf("%s = %v, want 0", name, v)
				}
			}
			if err := p.Term(30 * time.Second); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
		})
	}
}

// TestRestartPodGoneWhileStopped: a pod directory deleted while the agent
// was down is a counted loss (ferry_tail_lost_files_total{reason="vanished"}),
// not only a warning.
func TestRestartPodGoneWhileStopped(t *testing.T) {
	w := newRestartWorld(t)
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	must(t, p.Term(30*time.Second))
	must(t, os.RemoveAll(filepath.Dir(filepath.Dir(w.path))))
	other := filepath.Join(w.dir, "pods", "ns_other_uid", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(other), 0o755))
	w.lines(other, 10, 20)
	p = w.agent.Start()
	w.waitSeqs(10, 20, 30*time.Second)
	m, err := w.agent.Scrape()
	must(t, err)
	if v := m.Sum("ferry_tail_lost_files_total", `reason="vanished"`); v != 1 {
		t.Errorf(`ferry_tail_lost_files_total{reason="vanished"} = %v, want 1`, v)
	}
	if err := p.Term(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
}

// TestRestartInsideLongLine: the agent is stopped while a line longer than
// the raw limit (2*max_line_bytes+64KiB) is half written and was already
// shipped cut. The next agent resumes at the start of that line: the cut
// line is not shipped again and the rest of it is not shipped as a garbage
// record; the lines after it arrive once.
func TestRestartInsideLongLine(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "sigterm"
		if kill {
			name = "sigkill"
		}
		t.Run(name, func(t *testing.T) {
			w := newRestartWorld(t, "max_line_bytes: 65536")
			w.lines(w.path, 0, 10)
			w.raw(w.path, "2026-11-26T03:55:09.123456789Z stdout F rr-seq=10 "+strings.Repeat("x", 250<<10))
			p := w.agent.Start()
			w.waitSeqs(0, 11, 30*time.Second)
			if kill {
				// The checkpoint holds the start of the line and, as
				// acknowledged, its cut.
				waitFor(t, "a checkpoint after the cut line", 10*time.Second, func() bool {
					e, ok := w.checkpoint()
					return ok && e.AckedTo > e.Offset
				})
				p.Kill()
			} else if err := p.Term(30 * time.Second); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}
			w.raw(w.path, strings.Repeat("y", 20<<10)+"\n")
			w.lines(w.path, 11, 20)
			p = w.agent.Start()
			w.waitSeqs(11, 20, 30*time.Second)
			w.check(0, 20, kill)
			m := w.agent.WaitBalanced(20 * time.Second)
			if v := m.Sum("ferry_tail_parse_errors_total"); v != 0 {
				t.Errorf("ferry_tail_parse_errors_total = %v, want 0 (the rest of the line shipped as garbage)", v)
			}
			w.mu.Lock()
			if w.seen[10] != 1 || w.cut != 1 {
				t.Errorf("the long line arrived %d times (%d records flagged truncated), want once", w.seen[10], w.cut)
			}
			w.mu.Unlock()
			if err := p.Term(30 * time.Second); err != nil {
				t.Errorf("SIGTERM: %v", err)
			}
		})
	}
}
