package tail

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestThousandFiles follows 1,000 files found at startup plus 100 that
// appear while running, each growing while followed, with the default
// max_open_files (1,024): every line arrives, in order, once.
func TestThousandFiles(t *testing.T) {
	dir := t.TempDir()
	const files, extra, per = 1000, 100, 20
	paths := make([]string, 0, files+extra)
	for i := range files {
		p := mkContainer(t, dir, fmt.Sprintf("ns_pod%04d_uid", i))
		appendFile(t, p, lines(0, per/2))
		paths = append(paths, p)
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.RescanInterval = time.Second
	r := startRunner(t, cfg, Options{})
	for i := range extra {
		p := mkContainer(t, dir, fmt.Sprintf("ns_new%04d_uid", i))
		appendFile(t, p, lines(0, per/2))
		paths = append(paths, p)
	}
	for _, p := range paths {
		appendFile(t, p, lines(per/2, per))
	}
	total := (files + extra) * per
	waitFor(t, 60*time.Second, "every line of every file", func() bool { return len(r.snapshot()) >= total })
	// 1,100 files, 1,024 descriptors (the default max_open_files): the
	// rest take turns (between two turns, every descriptor is in use).
	waitFor(t, 10*time.Second, "max_open_files open, the rest waiting", func() bool {
		return testutil.ToFloat64(r.tl.m.openFiles) == float64(cfg.MaxOpenFiles) &&
			testutil.ToFloat64(r.tl.m.waiting) == float64(files+extra-cfg.MaxOpenFiles)
	})
	if peak := r.tl.m.openFiles.peak.Load(); peak > int64(cfg.MaxOpenFiles) {
		t.Errorf("up to %d files open at once, above max_open_files %d", peak, cfg.MaxOpenFiles)
	}
	r.settle()
	r.stop()
	byPath := make(map[string][]int)
	for _, x := range r.snapshot() {
		n, _ := seqOf(x.body)
		byPath[x.path] = append(byPath[x.path], n)
	}
	if len(byPath) != files+extra {
		t.Fatalf("lines from %d files, want %d", len(byPath), files+extra)
	}
	for _, p := range paths {
		if diff := cmp.Diff(upto(0, per), byPath[p]); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", p, diff)
		}
	}
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if st := readState(t, cfg.StateDir); len(st.Files) != files+extra {
		t.Fatalf("state holds %d files", len(st.Files))
	}
}

// TestNoNewlineForMegabytes: a writer that never ends its line costs bounded
// memory; the line is cut, flagged, and the next lines are intact.
func TestNoNewlineForMegabytes(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxLineBytes = 1000
	r := startRunner(t, cfg, Options{})
	appendFile(t, path, lines(0, 1))
	appendFile(t, path, "2026-11-26T03:55:09Z stdout F seq=1 ")
	chunk := strings.Repeat("z", 1<<20)
	for range 5 {
		appendFile(t, path, chunk)
	}
	appendFile(t, path, "\n"+lines(2, 4))
	waitFor(t, 10*time.Second, "lines", func() bool { return len(r.snapshot()) >= 4 })
	r.settle()
	r.stop()
	got := r.snapshot()
	if diff := cmp.Diff([]int{0, 1, 2, 3}, seqs(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if !got[1].truncated || len(got[1].body) != cfg.MaxLineBytes {
		t.Fatalf("long line: truncated %v, %d bytes", got[1].truncated, len(got[1].body))
	}
	if got[2].truncated || got[2].parseErr {
		t.Fatalf("line after the long one damaged: %+v", got[2])
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	if _, err := New(cfg, nil, make(chan<- []event.Log), Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{
		"ferry_tail_backpressure_seconds_total", "ferry_tail_behind_bytes", "ferry_tail_behind_max_bytes",
		"ferry_tail_checkpoint_entries_invalid_total", "ferry_tail_checkpoint_errors_total", "ferry_tail_checkpoints_total",
		"ferry_tail_descriptor_waits_total", "ferry_tail_drop_summaries_total", "ferry_tail_file_inflight_max_bytes",
		"ferry_tail_inflight_bytes", "ferry_tail_inflight_limit_bytes", "ferry_tail_lines_deferred_total",
		"ferry_tail_lines_dropped_total", "ferry_tail_lines_read_total", "ferry_tail_lines_truncated_total",
		"ferry_tail_lost_bytes_total", "ferry_tail_lost_files_total", "ferry_tail_open_errors_total",
		"ferry_tail_open_files", "ferry_tail_open_files_limit", "ferry_tail_parse_errors_total",
		"ferry_tail_partial_lines_cut_total", "ferry_tail_polled_dirs", "ferry_tail_rate_limited_containers", "ferry_tail_read_bytes_total",
		"ferry_tail_reads_total",
		"ferry_tail_rotations_total", "ferry_tail_skipped_files_total", "ferry_tail_truncations_total",
		"ferry_tail_unfinished_bytes", "ferry_tail_unfinished_spills_total", "ferry_tail_waiting_files",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("metric names (-want +got):\n%s", diff)
	}
	// A second tailer on the same registry is refused, not a panic.
	if _, err := New(cfg, nil, make(chan<- []event.Log), Options{Registerer: reg}); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no include", func(c *Config) { c.Include = nil }, "include: must list at least one glob"},
		{"bad glob", func(c *Config) { c.Include = []string{"/var/[log"} }, `include[0]: invalid glob "/var/[log"`},
		{"relative", func(c *Config) { c.Include = []string{"pods/*.log"} }, `include[0]: must be an absolute path, got "pods/*.log"`},
		{"bad exclude", func(c *Config) { c.Exclude = []string{"["} }, `exclude[0]: invalid glob "["`},
		{"start_at", func(c *Config) { c.StartAt = "middle" }, `start_at: must be "beginning" or "end", got "middle"`},
		{"max_line_bytes", func(c *Config) { c.MaxLineBytes = 0 }, "max_line_bytes: must be > 0"},
		{"huge line", func(c *Config) { c.MaxLineBytes = 1 << 30 }, "max_line_bytes: must be <= 64 MiB"},
		{"read_interval", func(c *Config) { c.ReadInterval = 0 }, "read_interval: must be > 0"},
		{"poll_interval", func(c *Config) { c.PollInterval = -time.Second }, "poll_interval: must be > 0"},
		{"rescan_interval", func(c *Config) { c.RescanInterval = 0 }, "rescan_interval: must be > 0"},
		{"commit_interval", func(c *Config) { c.CommitInterval = 0 }, "commit_interval: must be > 0"},
		{"delete_wait", func(c *Config) { c.DeleteWait = 0 }, "delete_wait: must be > 0"},
		{"read_bytes_per_turn", func(c *Config) { c.ReadBytesPerTurn = 10 }, "read_bytes_per_turn: must be >= 4096"},
		{"inflight", func(c *Config) { c.MaxInflightBytes = 0 }, "max_inflight_bytes: must be > 0"},
		{"no descriptors", func(c *Config) { c.MaxOpenFiles = 0 }, "max_open_files: must be from 1 to 1048576, got 0"},
		{"descriptors above nr_open", func(c *Config) { c.MaxOpenFiles = 1<<20 + 1 }, "max_open_files: must be from 1 to 1048576, got 1048577"},
		{"line above the budget", func(c *Config) { c.MaxLineBytes, c.MaxInflightBytes = 1<<20, 512<<10 },
			"max_line_bytes: must not exceed max_inflight_bytes (524288): one line must fit in memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			if _, nerr := New(c, nil, make(chan<- []event.Log), Options{}); nerr == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	c := DefaultConfig()
	c.StartAt, c.MaxLineBytes = "x", -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "start_at") || !strings.Contains(err.Error(), "max_line_bytes") {
		t.Fatalf("not every problem reported: %v", err)
	}
}

// TestCoalescedReads: a container writing one line per write call costs one
// read per read_interval, not one per line.
func TestCoalescedReads(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 1))
	cfg := testConfig(dir, t.TempDir())
	cfg.ReadInterval = 100 * time.Millisecond
	cfg.PollInterval = time.Second
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "first line", func() bool { return len(r.snapshot()) == 1 })
	reads0 := testutil.ToFloat64(r.tl.m.reads)
	start := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := 1; i <= n; i++ {
		if _, err := f.WriteString(lines(i, i+1)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	_ = f.Close()
	waitFor(t, 10*time.Second, "every line", func() bool { return len(r.snapshot()) == n+1 })
	elapsed := time.Since(start)
	reads := testutil.ToFloat64(r.tl.m.reads) - reads0
	r.stop()
	limit := float64(elapsed/cfg.ReadInterval) + 3
	t.Logf("%d lines written one per call in %v: %v reads", n, elapsed.Round(time.Millisecond), reads)
	if reads > limit || reads >= n/10 {
		t.Fatalf("%v reads for %d single-line writes in %v (limit %v)", reads, n, elapsed, limit)
	}
	if diff := cmp.Diff(upto(0, n+1), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestConfigYAML decodes the logs section the way the agent does (strict,
// over the defaults).
func TestConfigYAML(t *testing.T) {
	src := `
include: ["/var/log/pods/*/*/*.log", "/var/log/containers/*.log"]
exclude: ["/var/log/pods/kube-system_*/*/*.log"]
start_at: end
max_line_bytes: 1048576
read_interval: 250ms
poll_interval: 2s
rescan_interval: 10s
read_bytes_per_turn: 65536
commit_interval: 500ms
delete_wait: 1m
`
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Include = []string{"/var/log/pods/*/*/*.log", "/var/log/containers/*.log"}
	want.Exclude = []string{"/var/log/pods/kube-system_*/*/*.log"}
	want.StartAt, want.MaxLineBytes = "end", 1<<20
	want.ReadInterval, want.PollInterval, want.RescanInterval = 250*time.Millisecond, 2*time.Second, 10*time.Second
	want.ReadBytesPerTurn, want.CommitInterval, want.DeleteWait = 65536, 500*time.Millisecond, time.Minute
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := yaml.NewDecoder(strings.NewReader("max_inflight_bytes: 5\n"))
	bad.KnownFields(true)
	if err := bad.Decode(&cfg); err == nil {
		t.Fatal("a field set by the agent was accepted from YAML")
	}
}

// TestHeldBatchDoesNotGrow: while the consumer does not take the next
// batch, acknowledgements of the previous one free budget but must not make
// the tailer read more into the batch it holds (it grew by a file's turn per
// acknowledgement, up to the whole in-flight budget, before).
func TestHeldBatchDoesNotGrow(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		appendFile(t, mkContainer(t, dir, fmt.Sprintf("ns_pod%d_uid%d", i, i)), lines(0, 4000))
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxInflightBytes = 64 << 20 // not the bound here
	out := make(chan []event.Log)
	tl, err := New(cfg, nil, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	first := <-out
	// Hold the next batch back while acknowledging the first one line by
	// line, each acknowledgement a chance for a read turn.
	acks := 0
	for i := 0; i < len(first); i += 8 {
		var cs []event.Cursor
		for _, l := range first[i:min(i+8, len(first))] {
			cs = append(cs, l.Cursor)
		}
		tl.Ack(cs)
		acks++
		time.Sleep(100 * time.Microsecond)
	}
	second := <-out
	// A batch is sent once it holds maxBatchLines; one file's turn
	// (read_bytes_per_turn, lines of at least 60 bytes here) may come on top.
	limit := maxBatchLines + cfg.ReadBytesPerTurn/60
	t.Logf("first batch %d lines, the held one %d after %d acknowledgements", len(first), len(second), acks)
	if len(second) > limit {
		t.Fatalf("the held batch grew to %d lines (limit %d) while %d acknowledgements came", len(second), limit, acks)
	}
}
