package tail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
)

// testConfig is a configuration with short intervals for tests.
func testConfig(dir, state string) Config {
	c := DefaultConfig()
	c.Include = []string{filepath.Join(dir, "*", "*", "*.log")}
	c.StateDir = state
	c.ReadInterval = 10 * time.Millisecond
	c.PollInterval = 50 * time.Millisecond
	c.RescanInterval = 200 * time.Millisecond
	c.CommitInterval = 50 * time.Millisecond
	c.MaxLineBytes = 64 << 10
	return c
}

// rec is one received line, copied out of the batch.
type rec struct {
	path      string
	body      string
	stream    event.Stream
	cursor    event.Cursor
	truncated bool
	parseErr  bool
	end       bool      // an end marker (Options.EndMarkers), not a line
	at        time.Time // when the consumer received it
}

// runner runs a tailer with a consumer that records and acknowledges lines.
type runner struct {
	t      *testing.T
	tl     *Tailer
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	cdone  chan struct{}

	mu   sync.Mutex
	recs []rec
	hold bool // do not acknowledge while set
	held []event.Cursor

	maxBatch, maxBatchBody int // the most lines, and body bytes, in one batch
}

func startRunner(t *testing.T, cfg Config, opts Options) *runner {
	t.Helper()
	return startRunnerLog(t, cfg, opts, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel})))
}

func startRunnerLog(t *testing.T, cfg Config, opts Options, logger *slog.Logger) *runner {
	t.Helper()
	return startRunnerTuned(t, cfg, opts, logger, nil)
}

// startRunnerTuned is startRunnerLog with tune applied to the tailer before
// Run, for settings Validate refuses.
func startRunnerTuned(t *testing.T, cfg Config, opts Options, logger *slog.Logger, tune func(*Tailer)) *runner {
	t.Helper()
	r := &runner{t: t, reg: prometheus.NewRegistry(), done: make(chan error, 1), cdone: make(chan struct{})}
	opts.Registerer = r.reg
	out := make(chan []event.Log, 4)
	tl, err := New(cfg, logger, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.tl = tl
	if tune != nil {
		tune(tl)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- tl.Run(ctx) }()
	go r.consume(out)
	t.Cleanup(func() { r.stop(); _ = tl.Close() })
	return r
}

// consume records every line and acknowledges batches in reverse order of
// arrival, two at a time, to exercise out-of-order acknowledgement.
func (r *runner) consume(out <-chan []event.Log) {
	defer close(r.cdone)
	var prev []event.Cursor
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	ack := func(cs []event.Cursor) {
		r.mu.Lock()
		hold := r.hold
		if hold {
			r.held = append(r.held, cs...)
		}
		r.mu.Unlock()
		if !hold {
			for i, j := 0, len(cs)-1; i < j; i, j = i+1, j-1 {
				cs[i], cs[j] = cs[j], cs[i]
			}
			r.tl.Ack(cs)
		}
	}
	for {
		select {
		case b, ok := <-out:
			if !ok {
				if prev != nil {
					ack(prev)
				}
				return
			}
			cs := make([]event.Cursor, 0, len(b))
			r.mu.Lock()
			body := 0
			for _, l := range b {
				body += len(l.Body)
			}
			r.maxBatch, r.maxBatchBody = max(r.maxBatch, len(b)), max(r.maxBatchBody, body)
			for _, l := range b {
				r.recs = append(r.recs, rec{path: l.Path, body: string(l.Body), stream: l.Stream, cursor: l.Cursor, truncated: l.Truncated, parseErr: l.ParseError, end: l.End, at: time.Now()})
				if !l.End { // a marker is never acknowledged
					cs = append(cs, l.Cursor)
				}
			}
			r.mu.Unlock()
			if prev != nil {
				ack(cs)
				ack(prev)
				prev = nil
			} else {
				prev = cs
			}
		case <-tick.C:
			if prev != nil {
				ack(prev)
				prev = nil
			}
		}
	}
}

func (r *runner) setHold(h bool) {
	r.mu.Lock()
	r.hold = h
	held := r.held
	r.held = nil
	r.mu.Unlock()
	if !h && len(held) > 0 {
		r.tl.Ack(held)
	}
}

// stop cancels Run and waits for it and the consumer.
func (r *runner) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run: %v", err)
		}
		r.done <- nil
	case <-time.After(10 * time.Second):
		r.t.Fatal("Run did not return")
	}
	<-r.cdone
}

// looked waits until the tailer has polled every file and rescanned its
// globs n times since the call: what it was to find of the files as they
// were then, it has looked at.
func (r *runner) looked(n int64) {
	r.t.Helper()
	p, s := r.tl.polls.Load(), r.tl.rescans.Load()
	waitFor(r.t, 30*time.Second, "polls and rescans", func() bool {
		return r.tl.polls.Load() >= p+n && r.tl.rescans.Load() >= s+n
	})
}

// settle waits until the tailer has emitted everything it is to read of
// the files as they are: two polls and two rescans with nothing more
// emitted, every line emitted acknowledged (so received: the consumer
// acknowledges what it recorded), and nothing left behind at the last
// poll. Tests wait on it, not on time passing, before they look for lines
// that should not have come (duplicates, excluded files).
func (r *runner) settle() {
	r.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		n := len(r.snapshot())
		r.looked(2)
		if len(r.snapshot()) == n && r.tl.inflight.Load() == 0 && r.tl.behind.Load() == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the tailer did not settle: %d lines, %d bytes in flight, %d behind", n, r.tl.inflight.Load(), r.tl.behind.Load())
		}
	}
}

func (r *runner) snapshot() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.recs...)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seqOf reads the sequence number that test lines start with ("seq=123 ...").
func seqOf(body string) (int, bool) {
	if !strings.HasPrefix(body, "seq=") {
		return 0, false
	}
	end := strings.IndexByte(body, ' ')
	if end < 0 {
		end = len(body)
	}
	n, err := strconv.Atoi(body[4:end])
	return n, err == nil
}

// criLine frames msg as one CRI line.
func criLine(stream, tag, msg string) string {
	return fmt.Sprintf("2026-11-26T03:55:09.123456789Z %s %s %s\n", stream, tag, msg)
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var testLogLevel = func() slog.Level {
	if os.Getenv("TAIL_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError
}()

// newIdleTailer builds a tailer on dir (testConfig, a state directory of
// its own) that is never run: the test calls its steps itself. Its files
// are closed when the test ends.
func newIdleTailer(t *testing.T, dir string) *Tailer {
	t.Helper()
	return newIdleTailerIn(t, dir, t.TempDir())
}

// newIdleTailerIn is newIdleTailer with the state directory state.
func newIdleTailerIn(t *testing.T, dir, state string) *Tailer {
	t.Helper()
	tl, err := New(testConfig(dir, state), nil, make(chan []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	return tl
}

// startSteps is an agent's start, step by step, on the checkpoint in
// state: a tailer on dir that loads it and makes its first scan. The test
// then calls resumeRotated(now, saved) itself, doing what it wants done
// in between. TAIL_DEBUG=1 logs the tailer's steps.
func startSteps(t *testing.T, dir, state string) (tl *Tailer, saved []stateEntry, now time.Time) {
	t.Helper()
	tl = newIdleTailerIn(t, dir, state)
	if testLogLevel == slog.LevelDebug {
		tl.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	now = time.Now()
	tl.loadState(now)
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	tl.rescan(now, true)
	return tl, saved, now
}

// dataEntry is a checkpoint entry of path for the file at p, which holds
// data: read to its end, known by its first bytes.
func dataEntry(t *testing.T, path, p, data string, done bool) stateEntry {
	t.Helper()
	k := statKeyT(t, p)
	n := int64(len(data))
	fp := data[:min(len(data), fpSize)]
	return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: len(fp), Fingerprint: fpHash([]byte(fp)), Path: path, Offset: n, AckedTo: n, Done: done}
}

// statKeyT is the identity of the file at p.
func statKeyT(t *testing.T, p string) fileKey {
	t.Helper()
	k, err := statKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startBlindRunner runs a tailer that, after its first scan, sees nothing
// by itself: no notifications, and polls and rescans an hour apart. What
// it learns of the files after that comes from the test's own steps (or
// from its stop).
func startBlindRunner(t *testing.T, cfg Config) *runner {
	t.Helper()
	return startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) {
		tl.pollOnly = true
		tl.cfg.PollInterval, tl.cfg.RescanInterval = time.Hour, time.Hour
	})
}
