package main

import (
	"bytes"
	"context"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-dev/ferry/bench/internal/linescan"
	"github.com/ferry-dev/ferry/internal/simnode"
	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/ship"
	"github.com/ferry-dev/ferry/pkg/tail"
)

// TestCorpusDecodes generates a small corpus with every kind of line and
// reads it with the real tailer: it must emit exactly the manifest's line
// count, none of them a parse error or truncated, and every message must
// be what the generator wrote (long lines merged back from their partials).
func TestCorpusDecodes(t *testing.T) {
	dir := t.TempDir()
	cfg := CorpusConfig{Files: 3, Bytes: 600 << 10, Mix: Mix{Short: 60, JSON: 35, Long: 5}, LongBytes: 40 << 10, Seed: 9}
	c, err := Generate(filepath.Join(dir, "corpus"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lines == 0 || c.CRILines <= c.Lines {
		t.Fatalf("corpus has %d lines in %d CRI lines: want some partials", c.Lines, c.CRILines)
	}
	var onDisk int64
	for _, p := range c.Paths {
		fi, err := os.Stat(filepath.Join(c.Dir, p))
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if onDisk != c.Bytes || c.Bytes < cfg.Bytes {
		t.Errorf("bytes: manifest %d, on disk %d, asked %d", c.Bytes, onDisk, cfg.Bytes)
	}
	// The ceiling scan counts the physical lines.
	abs := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		abs[i] = filepath.Join(c.Dir, p)
	}
	r, err := linescan.Scan(abs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(linescan.Result{Lines: c.CRILines, Bytes: c.Bytes}, r); diff != "" {
		t.Errorf("ceiling scan (-want +got):\n%s", diff)
	}

	// Reuse: same config, same corpus; another config regenerates.
	if _, reused, err := LoadOrGenerate(c.Dir, cfg); err != nil || !reused {
		t.Errorf("LoadOrGenerate same config: reused=%v err=%v", reused, err)
	}

	out := make(chan []event.Log, 16)
	tcfg := tail.DefaultConfig()
	tcfg.Include = []string{c.Glob()}
	reg := prometheus.NewRegistry()
	tc, err := tail.New(tcfg, nil, out, tail.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tc.Run(ctx) }()

	var got, long, jsonLines int64
	deadline := time.After(60 * time.Second)
	for got < c.Lines {
		select {
		case batch := <-out:
			cursors := make([]event.Cursor, 0, len(batch))
			for _, l := range batch {
				got++
				cursors = append(cursors, l.Cursor)
				if l.ParseError || l.Truncated {
					t.Fatalf("line %q: parse error %v, truncated %v", l.Body[:min(80, len(l.Body))], l.ParseError, l.Truncated)
				}
				switch {
				case bytes.HasPrefix(l.Body, []byte(`{"ts":"`)):
					jsonLines++
					if !bytes.HasSuffix(l.Body, []byte(`"}`)) {
						t.Fatalf("JSON line cut: %q", l.Body)
					}
				default:
					if _, _, ok := simnode.ParseLine(l.Body); !ok {
						t.Fatalf("line %q: length does not match its header", l.Body[:min(80, len(l.Body))])
					}
					if len(l.Body) == cfg.LongBytes {
						long++
					}
				}
			}
			tc.Ack(cursors)
		case <-deadline:
			t.Fatalf("tailer emitted %d of %d lines in 60s", got, c.Lines)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range out { // nothing more may come
		got++
	}
	if got != c.Lines {
		t.Errorf("tailer emitted %d lines, manifest says %d", got, c.Lines)
	}
	if long == 0 || jsonLines == 0 {
		t.Errorf("mix not exercised: %d long lines, %d JSON lines", long, jsonLines)
	}
	// Completion is detected on this counter, as the exposition spells it.
	sc := scrapeRegistry(t, reg)
	if got := int64(sc.sum("ferry_tail_lines_read_total")); got != c.Lines {
		t.Errorf("scraped ferry_tail_lines_read_total = %d, want %d", got, c.Lines)
	}
}

func scrapeRegistry(t *testing.T, reg *prometheus.Registry) scrape {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	sc, err := scrapeMetrics(context.Background(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestScrapeShipMetrics runs the real shipper to the file sink on /dev/null
// and reads back, through /metrics, the counters and the histogram the
// benchmark relies on.
func TestScrapeShipMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := make(chan []event.Log, 1)
	s, err := ship.New(ship.Config{File: &ship.FileConfig{Path: os.DevNull, Linger: time.Millisecond}}, nil,
		ship.Options{Logs: logs, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := make([]event.Log, 10)
	for i := range batch {
		batch[i] = event.Log{Time: time.Now(), ReadAt: time.Now().UnixNano(), Body: []byte("hello"), Cursor: event.Cursor{Source: 1, Offset: int64(i + 1)}}
	}
	logs <- batch
	close(logs)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc := scrapeRegistry(t, reg)
	if got := sc.sum("ferry_ship_records_sent_total", "record", "log"); got != 10 {
		t.Errorf("ferry_ship_records_sent_total{record=log} = %v, want 10", got)
	}
	h := sc.histogram("ferry_read_to_ack_seconds")
	if len(h) < 2 || h[len(h)-1].count != 10 {
		t.Fatalf("ferry_read_to_ack_seconds buckets %v: want 10 observations", h)
	}
	if q := quantile(0.99, h); math.IsNaN(q) || q < 0 || q > 10 {
		t.Errorf("p99 read-to-ack = %v", q)
	}
}

func TestParseMixAndSize(t *testing.T) {
	m, err := ParseMix("short=70,json=29.9,long=0.1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Mix{Short: 70, JSON: 29.9, Long: 0.1}, m); diff != "" {
		t.Errorf("mix (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"short", "short=x", "tiny=3", "short=0,json=0,long=0", "short=-1", "short=NaN", "json=+Inf", "short=1e308,json=1e308"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q): no error", bad)
		}
	}
	for in, want := range map[string]int64{"256MiB": 256 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1.5GiB": 3 << 29} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("lots"); err == nil {
		t.Error(`parseSize("lots"): no error`)
	}
	err = CorpusConfig{Files: 0, Bytes: 0, LongBytes: 100}.Validate()
	for _, field := range []string{"files:", "size:", "long-bytes:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate: %v, want a problem naming %s", err, field)
		}
	}
}

// TestQuantile checks histogram_quantile's arithmetic on known buckets.
func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []bucket{{0.1, 50}, {0.5, 90}, {1, 100}, {inf, 100}}
	for _, tc := range []struct {
		q, want float64
	}{
		{0.5, 0.1},         // rank 50: top of the first bucket
		{0.25, 0.05},       // rank 25 in [0, 0.1]
		{0.7, 0.1 + 0.2},   // rank 70: half way through (0.1, 0.5]
		{0.95, 0.5 + 0.25}, // rank 95: half way through (0.5, 1]
	} {
		if got := quantile(tc.q, bs); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// A rank in the +Inf bucket gives the highest finite bound.
	if got := quantile(0.99, []bucket{{1, 10}, {inf, 20}}); got != 1 {
		t.Errorf("quantile in +Inf bucket = %v, want 1", got)
	}
	if got := quantile(0.5, []bucket{{1, 0}, {inf, 0}}); !math.IsNaN(got) {
		t.Errorf("quantile without observations = %v, want NaN", got)
	}
	// delta subtracts an earlier scrape bucket by bucket.
	d := delta([]bucket{{1, 30}, {inf, 40}}, []bucket{{1, 10}, {inf, 15}})
	if diff := cmp.Diff([]bucket{{1, 20}, {inf, 25}}, d, cmp.AllowUnexported(bucket{})); diff != "" {
		t.Errorf("delta (-want +got):\n%s", diff)
	}
}

// FuzzParseMix: any accepted mix prints back to itself and has a positive,
// finite total weight.
func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"short=70,json=29.9,long=0.1", "long=1", "short=1e300,json=1e300", "json=0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		total := m.Short + m.JSON + m.Long
		if !(total > 0) || math.IsInf(total, 0) {
			t.Fatalf("ParseMix(%q) = %+v: total weight %v", s, m, total)
		}
		m2, err := ParseMix(m.String())
		if err != nil || m2 != m {
			t.Fatalf("ParseMix(%q) = %+v, printed %q, parsed back %+v, %v", s, m, m.String(), m2, err)
		}
	})
}
