package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// Noisy neighbours in real time (mode noisy).
//
// Quiet containers write a few lines a second each, one noisy container
// writes tens of thousands, and kubelet-style rotation (rename, gzip of
// the older files, a bounded number kept) runs on the noisy one. The agent
// ships to its file sink, a named pipe the benchmark reads: every record
// is looked at when it arrives. Each run is one of:
//
//   - baseline: the quiet containers alone;
//   - none: the noisy one too, no rate limit (fair reading alone);
//   - defer: logs.rate_limit.default lines_per_second = limit, policy defer;
//   - drop: the same with policy drop.
//
// Measured in the window: the quiet lines' write-to-receipt latency (the
// CRI timestamp the writer put on the line to the moment its record came
// out of the pipe: reading, batching and writing together), the noisy
// container's lines written and shipped per second, and the agent's CPU.
// After the window the writers stop and the run waits until every byte
// the noisy container wrote is accounted for: received, counted as lost
// (ferry_tail_lost_bytes_total: kubelet rotated it away unread), or
// dropped by the limit (the bytes the summary records name). It fails when
// the accounts differ, when a quiet line is missing, or when a line
// arrived twice.

// noisyOptions are the mode's parameters.
type noisyOptions struct {
	QuietFiles, QuietRate int   // quiet containers and each one's lines/s
	NoisyRate             int   // the noisy container's lines/s
	Limit                 int   // lines/s per container under defer and drop
	RotateBytes           int64 // the noisy container's log is rotated at this size
	Keep                  int   // rotated files kept (the older ones gzipped)
	Warmup, Window, Drain time.Duration
	Rounds                int
	Runs                  []string
	// Logs is more of the agent's logs section (lines indented by two
	// spaces), for every run.
	Logs string
}

// noisyRuns are the runs the mode knows.
var noisyRuns = []string{"baseline", "none", "defer", "drop"}

// parseNoisyRuns checks a comma-separated list of runs.
func parseNoisyRuns(s string) ([]string, error) {
	var runs []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains(noisyRuns, r) {
			return nil, fmt.Errorf("unknown run %q (known: %s)", r, strings.Join(noisyRuns, ", "))
		}
		runs = append(runs, r)
	}
	if !slices.Contains(runs, "baseline") {
		return nil, fmt.Errorf("the runs need baseline: the latencies are compared with it")
	}
	return runs, nil
}

// NoisyFigures are one run's measurements.
type NoisyFigures struct {
	Run string
	// The quiet lines received in the window: their count and
	// write-to-receipt latencies.
	QuietLines                   int
	QuietP50, QuietP99, QuietMax float64 // seconds
	// The noisy container in the window, lines/s.
	NoisyWritten, NoisyShipped float64
	CPUPercent                 float64 // of one core, in the window
	// Over the whole run, after the drain.
	Written, WrittenBytes   int64   // the noisy container's lines and bytes
	Received, ReceivedBytes int64   // its lines that arrived (bytes as written)
	Deferred                float64 // ferry_tail_lines_deferred_total
	Dropped                 float64 // ferry_tail_lines_dropped_total{reason="rate_limit"}
	Summarised              int64   // lines the summary records say were dropped
	SummarisedBytes         int64   // and their bytes
	LostBytes               float64 // ferry_tail_lost_bytes_total (all reasons)
	RotatedUnread           float64 // of it, reason="rotated_unread"
	Drained                 time.Duration
	Load1                   float64
}

// runNoisy runs the agent once as run says.
func runNoisy(ctx context.Context, bin, work, run string, o noisyOptions) (NoisyFigures, error) {
	f := NoisyFigures{Run: run}
	dir, err := os.MkdirTemp(work, "noisy-")
	if err != nil {
		return f, err
	}
	if !keepWork {
		defer os.RemoveAll(dir)
	}
	root := filepath.Join(dir, "pods")
	quiet, err := simnode.New(simnode.Config{Root: root, Pods: o.QuietFiles, ContainersPerPod: 1, LinesPerSecond: o.QuietRate, Seed: 3})
	if err != nil {
		return f, err
	}
	var noisy *simnode.Node
	if run != "baseline" {
		noisy, err = simnode.New(simnode.Config{Root: root, Pods: 1, FirstPod: 1000, ContainersPerPod: 1,
			LinesPerSecond: o.NoisyRate, RotateBytes: o.RotateBytes, Keep: o.Keep, Compress: true, Seed: 99})
		if err != nil {
			return f, err
		}
	}
	// The noisy pod's directory names it (pod number 1000).
	recv := newNoisyReceiver("_web-1000-")
	agentDir := filepath.Join(dir, "agent")
	if err := os.MkdirAll(agentDir, 0o755); err != nil {
		return f, err
	}
	out, err := openOutputTee(filepath.Join(agentDir, "out.pipe"), "\n", recv)
	if err != nil {
		return f, err
	}
	defer out.close()
	addr, err := freeAddr()
	if err != nil {
		return f, err
	}
	var limit string
	switch run {
	case "defer", "drop":
		limit = fmt.Sprintf("  rate_limit: {default: {lines_per_second: %d, policy: %s}}\n", o.Limit, run)
	}
	s := &sink{yaml: fmt.Sprintf("  file: {path: %q}\n", out.path)}
	cfg := agentConfigLogs(agentDir, filepath.Join(root, "*", "*", "*.log"), "beginning", s, nil, addr, limit+o.Logs)
	path := filepath.Join(agentDir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return f, err
	}
	r, err := startProcess(exec.Command(bin, "run", "--config", path), agentDir)
	if err != nil {
		return f, err
	}
	r.addr = addr
	defer r.kill()
	if err := r.waitReady(ctx, 20*time.Second); err != nil {
		return f, err
	}

	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	werr := make(chan error, 2)
	writers := 1
	go func() { werr <- quiet.Run(wctx) }()
	if noisy != nil {
		writers++
		go func() { werr <- noisy.Run(wctx) }()
	}
	sleep := func(d time.Duration) error { return r.sleep(ctx, d, "agent") }
	noisyWritten := func() int64 {
		if noisy == nil {
			return 0
		}
		return noisy.Written()
	}
	if err := sleep(o.Warmup); err != nil {
		return f, err
	}
	m0, err := scrapeMetrics(ctx, r.addr)
	if err != nil {
		return f, err
	}
	w0 := noisyWritten()
	s0 := recv.window(true)
	if err := sleep(o.Window); err != nil {
		return f, err
	}
	m1, err := scrapeMetrics(ctx, r.addr)
	if err != nil {
		return f, err
	}
	w1 := noisyWritten()
	s1 := recv.window(false)
	f.Load1 = load1()
	stopWriters()
	for range writers {
		if err := <-werr; err != nil {
			return f, fmt.Errorf("writer: %w", err)
		}
	}
	dt := m1.at.Sub(m0.at).Seconds()
	f.CPUPercent = 100 * (m1.sum("process_cpu_seconds_total") - m0.sum("process_cpu_seconds_total")) / dt
	f.NoisyWritten = float64(w1-w0) / dt
	f.NoisyShipped = float64(s1-s0) / dt
	lat := recv.latencies()
	f.QuietLines = len(lat)
	if len(lat) == 0 {
		return f, fmt.Errorf("%s: no quiet line arrived in the window", run)
	}
	f.QuietP50, f.QuietP99, f.QuietMax = pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1]

	// The drain: every quiet line arrived, and every byte the noisy
	// container wrote is received, counted lost, or summarised dropped.
	quietWritten := quiet.Written()
	if noisy != nil {
		c := noisy.Containers()[0]
		f.Written, f.WrittenBytes = c.Written(), c.WrittenBytes()
	}
	t0 := time.Now()
	var m scrape
	err = r.poll(ctx, o.Drain, 250*time.Millisecond, func() (bool, error) {
		var err error
		if m, err = scrapeMetrics(ctx, r.addr); err != nil {
			return false, err
		}
		st := recv.state()
		f.Received, f.ReceivedBytes, f.Summarised, f.SummarisedBytes = st.noisy, st.noisyBytes, st.summarised, st.summarisedBytes
		f.LostBytes = m.sum("ferry_tail_lost_bytes_total")
		f.Dropped = m.sum("ferry_tail_lines_dropped_total", `reason="rate_limit"`)
		accounted := f.ReceivedBytes + int64(f.LostBytes) + f.SummarisedBytes
		if st.quiet == quietWritten && accounted == f.WrittenBytes && float64(f.Summarised) == f.Dropped {
			return true, nil
		}
		return false, fmt.Errorf("%s: not accounted for after %s of drain: quiet %d of %d lines; noisy %d bytes written, %d received + %.0f counted lost + %d summarised dropped = %d; dropped counter %.0f lines, summaries %d",
			run, o.Drain, st.quiet, quietWritten, f.WrittenBytes, f.ReceivedBytes, f.LostBytes, f.SummarisedBytes, accounted, f.Dropped, f.Summarised)
	})
	f.Drained = time.Since(t0)
	if err != nil {
		return f, err
	}
	f.Deferred = m.sum("ferry_tail_lines_deferred_total")
	f.RotatedUnread = m.sum("ferry_tail_lost_bytes_total", `reason="rotated_unread"`)
	if err := r.stop(30 * time.Second); err != nil {
		return f, err
	}
	if err := out.close(); err != nil {
		return f, err
	}
	return f, recv.err()
}

// pct is the q quantile of sorted xs (nearest rank).
func pct(xs []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// noisyRuns runs each of o.Runs o.Rounds times, interleaved, prints each
// run and then the medians with the quiet p99's ratio to the baseline's.
func noisyRounds(ctx context.Context, w io.Writer, bin, work string, o noisyOptions) error {
	fmt.Fprintf(w, "noisy: %d quiet containers at %d lines/s each; one noisy container at %d lines/s (rotated at %d KiB, %d kept, older ones gzipped); limit %d lines/s per container under defer and drop; file sink into a pipe the benchmark reads; window %s after %s\n",
		o.QuietFiles, o.QuietRate, o.NoisyRate, o.RotateBytes>>10, o.Keep, o.Limit, o.Window, o.Warmup)
	fmt.Fprintf(w, "%-8s | %-30s | %-20s | %6s | %s\n", "run", "quiet write-to-receipt", "noisy lines/s", "CPU", "noisy container's lines, after the drain")
	all := map[string][]NoisyFigures{}
	for round := 0; round < o.Rounds; round++ {
		for _, run := range o.Runs {
			f, err := runNoisy(ctx, bin, work, run, o)
			if err != nil {
				return err
			}
			all[run] = append(all[run], f)
			printNoisy(w, f)
		}
	}
	base := medianOf(all["baseline"], func(f NoisyFigures) float64 { return f.QuietP99 })
	baseCPU := medianOf(all["baseline"], func(f NoisyFigures) float64 { return f.CPUPercent })
	fmt.Fprintf(w, "medians over %d round(s):\n", o.Rounds)
	for _, run := range o.Runs {
		fs := all[run]
		p99 := medianOf(fs, func(f NoisyFigures) float64 { return f.QuietP99 })
		cpu := medianOf(fs, func(f NoisyFigures) float64 { return f.CPUPercent })
		ship := medianOf(fs, func(f NoisyFigures) float64 { return f.NoisyShipped })
		fmt.Fprintf(w, "  %-8s quiet p99 %.3fs = %.2fx the baseline's; agent CPU %.1f%% (+%.1f points over the baseline); noisy shipped %.0f lines/s\n",
			run, p99, p99/base, cpu, cpu-baseCPU, ship)
	}
	return nil
}

func medianOf(fs []NoisyFigures, v func(NoisyFigures) float64) float64 {
	xs := make([]float64, len(fs))
	for i, f := range fs {
		xs[i] = v(f)
	}
	return median(xs)
}

func printNoisy(w io.Writer, f NoisyFigures) {
	quiet := fmt.Sprintf("p50 %.3fs p99 %.3fs max %.3fs", f.QuietP50, f.QuietP99, f.QuietMax)
	noisy, acct := "-", fmt.Sprintf("(%d quiet lines in the window)", f.QuietLines)
	if f.Run != "baseline" {
		noisy = fmt.Sprintf("%.0f written, %.0f shipped", f.NoisyWritten, f.NoisyShipped)
		acct = fmt.Sprintf("%d written (%.1f MiB): %d received; %.0f lost bytes counted (rotated_unread %.0f), %d never received = %d bytes",
			f.Written, float64(f.WrittenBytes)/(1<<20), f.Received, f.LostBytes, f.RotatedUnread,
			f.Written-f.Received-f.Summarised, f.WrittenBytes-f.ReceivedBytes-f.SummarisedBytes)
		if f.Deferred > 0 {
			acct += fmt.Sprintf("; %.0f deferred", f.Deferred)
		}
		if f.Dropped > 0 || f.Summarised > 0 {
			acct += fmt.Sprintf("; %.0f dropped by the limit = %d in the summary records", f.Dropped, f.Summarised)
		}
		acct += fmt.Sprintf("; drained in %.1fs", f.Drained.Seconds())
	}
	fmt.Fprintf(w, "%-8s | %-30s | %-20s | %5.1f%% | %s; load1 %.1f\n", f.Run, quiet, noisy, f.CPUPercent, acct, f.Load1)
}

// noisyReceiver reads the agent's NDJSON records as they come out of the
// pipe: the quiet lines' latencies (in the window), the noisy container's
// lines and their bytes as written, the summary records of its drops, and
// every line received twice.
type noisyReceiver struct {
	noisyMark string // in the noisy container's file path

	mu              sync.Mutex
	carry           []byte
	inWindow        bool
	lat             []float64
	noisyInWindow   int64
	quiet, noisy    int64 // distinct lines received
	noisyBytes      int64
	summarised      int64
	summarisedBytes int64
	seen            map[string]*bitset // by file
	dups            int
	bad             []string
}

type bitset []uint64

// add sets i and says whether it was already set.
func (b *bitset) add(i int64) bool {
	w := int(i >> 6)
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	m := uint64(1) << (i & 63)
	had := (*b)[w]&m != 0
	(*b)[w] |= m
	return had
}

func newNoisyReceiver(noisyMark string) *noisyReceiver {
	return &noisyReceiver{noisyMark: noisyMark, seen: map[string]*bitset{}}
}

// Write takes what the pipe gave; records are split at newlines.
func (n *noisyReceiver) Write(p []byte) (int, error) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.carry = append(n.carry, p...)
	rest := n.carry
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		n.record(rest[:i], now)
		rest = rest[i+1:]
	}
	n.carry = append(n.carry[:0], rest...)
	return len(p), nil
}

var summaryRecordRE = regexp.MustCompile(`^ferry: (\d+) lines \((\d+) bytes\) of this container dropped by its rate limit`)

// noisyRecord is what the receiver reads of a record.
type noisyRecord struct {
	Time    string `json:"time"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
	File    string `json:"file"`
}

func (n *noisyReceiver) record(b []byte, now time.Time) {
	r, ok := fastRecord(b)
	if !ok {
		if err := json.Unmarshal(b, &r); err != nil {
			n.badf("undecodable record %.200q: %v", b, err)
			return
		}
	}
	noisy := strings.Contains(r.File, n.noisyMark)
	if m := summaryRecordRE.FindStringSubmatch(r.Message); m != nil {
		lines, _ := strconv.ParseInt(m[1], 10, 64)
		nb, _ := strconv.ParseInt(m[2], 10, 64)
		if !noisy {
			n.badf("a quiet container's lines were dropped: %q", r.Message)
		}
		n.summarised += lines
		n.summarisedBytes += nb
		return
	}
	seq, ok := seqOf(r.Message)
	if !ok {
		n.badf("no seq in %q", r.Message)
		return
	}
	set := n.seen[r.File]
	if set == nil {
		set = &bitset{}
		n.seen[r.File] = set
	}
	if set.add(seq) {
		n.dups++
		return
	}
	if noisy {
		n.noisy++
		n.noisyBytes += int64(criBytes(r.Time, r.Stream, r.Message))
		if n.inWindow {
			n.noisyInWindow++
		}
		return
	}
	n.quiet++
	if n.inWindow {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			n.badf("time %q: %v", r.Time, err)
			return
		}
		n.lat = append(n.lat, now.Sub(t).Seconds())
	}
}

func (n *noisyReceiver) badf(format string, args ...any) {
	if len(n.bad) < 5 {
		n.bad = append(n.bad, fmt.Sprintf(format, args...))
	}
}

// fastRecord reads a record the way pkg/ship's encoder lays it out
// ({"time":"…","stream":"…","message":"…",…,"file":"…",…}) when none of
// the strings it takes holds an escape; otherwise ok is false and the
// record is decoded as JSON (a record of 50,000 a second costs the
// benchmark a few times less this way).
func fastRecord(b []byte) (r noisyRecord, ok bool) {
	str := func(key string, last bool) (string, bool) {
		var i int
		if last {
			i = bytes.LastIndex(b, []byte(key))
		} else {
			i = bytes.Index(b, []byte(key))
		}
		if i < 0 {
			return "", false
		}
		rest := b[i+len(key):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
			return "", false
		}
		return string(rest[:j]), true
	}
	if !bytes.HasPrefix(b, []byte(`{"time":"`)) {
		return r, false
	}
	var oks [4]bool
	r.Time, oks[0] = str(`{"time":"`, false)
	r.Stream, oks[1] = str(`","stream":"`, false)
	r.Message, oks[2] = str(`","message":"`, false)
	r.File, oks[3] = str(`,"file":"`, true)
	return r, oks == [4]bool{true, true, true, true}
}

// seqOf reads simnode's "seq=N " at the start of a message.
func seqOf(msg string) (int64, bool) {
	rest, ok := strings.CutPrefix(msg, "seq=")
	if !ok {
		return 0, false
	}
	i := strings.IndexByte(rest, ' ')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(rest[:i], 10, 64)
	return v, err == nil
}

// criBytes is the length of the CRI line a record came from: its
// timestamp as the writer formatted it (RFC 3339 with the trailing zeros
// of the fraction trimmed; the record has all nine digits), the stream,
// the full-line tag, the message and the newline.
func criBytes(ts, stream, msg string) int {
	t, err := time.Parse(time.RFC3339Nano, ts)
	n := len(ts)
	if err == nil {
		n = len(t.UTC().Format(time.RFC3339Nano))
	}
	return n + 1 + len(stream) + 3 + len(msg) + 1
}

// window starts (on) or ends the measuring window, and returns the noisy
// lines received so far in it.
func (n *noisyReceiver) window(on bool) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.inWindow = on
	return n.noisyInWindow
}

// latencies returns the window's quiet latencies, sorted.
func (n *noisyReceiver) latencies() []float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := slices.Clone(n.lat)
	slices.Sort(l)
	return l
}

type receiverState struct {
	quiet, noisy, noisyBytes, summarised, summarisedBytes int64
}

func (n *noisyReceiver) state() receiverState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return receiverState{n.quiet, n.noisy, n.noisyBytes, n.summarised, n.summarisedBytes}
}

// err reports lines received twice and records that could not be read.
func (n *noisyReceiver) err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []string
	if n.dups > 0 {
		errs = append(errs, fmt.Sprintf("%d lines received twice", n.dups))
	}
	errs = append(errs, n.bad...)
	if len(n.carry) > 0 {
		errs = append(errs, fmt.Sprintf("a partial record at the end: %.200q", n.carry))
	}
	if errs == nil {
		return nil
	}
	return fmt.Errorf("noisy receiver: %s", strings.Join(errs, "; "))
}
