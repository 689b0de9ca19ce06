package hostmetrics

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-dev/ferry/pkg/event"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// fixtureConfig reads the fixture trees under testdata.
func fixtureConfig(t testing.TB) Config {
	t.Helper()
	cfg := DefaultConfig()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cfg.Proc = abs("testdata/proc")
	cfg.Sys = abs("testdata/sys")
	cfg.RootFS = abs("testdata/rootfs")
	return cfg
}

// fakeStatfs answers statfs from a table keyed by the mount point (relative
// to rootfs); /mnt/denied fails as a mount without permission does.
func fakeStatfs(rootfs string) statfsFunc {
	return func(path string) (fsStat, error) {
		mp := strings.TrimPrefix(path, strings.TrimRight(rootfs, "/"))
		if mp == "/mnt/denied" {
			return fsStat{}, syscall.EACCES
		}
		// Sizes derived from the path (root included), so every mount differs.
		n := uint64(len(mp) + 1)
		return fsStat{Blocks: 1000 * n, Bfree: 400 * n, Bavail: 300 * n, Files: 64 * n, Ffree: 32 * n, Bsize: 4096}, nil
	}
}

func fixedMachine() (string, error) { return "x86_64", nil }

// fixtureNow is the fixture's clock: 2026-11-26T03:55:09.5Z, in a zone an
// hour east of UTC.
func fixtureNow() time.Time {
	return time.Date(2026, 11, 26, 3, 55, 9, 5e8, time.UTC).In(time.FixedZone("CET", 3600))
}

// fixtureTimex is what adjtimex(2) says on an NTP-synchronised machine
// (STA_PLL|STA_NANO set, as chrony leaves it).
func fixtureTimex() (int, timex, error) {
	return 0, timex{Offset: -125000, Freq: -1310720, Maxerror: 4000, Esterror: 250, Status: 0x2001,
		Constant: 7, Tick: 10000, Tai: 37}, nil
}

// fixtureHooks answer from the fixture, not from the machine.
func fixtureHooks(sf statfsFunc) hooks {
	return hooks{statfs: sf, machine: fixedMachine, pageSize: 4096, now: fixtureNow, adjtimex: fixtureTimex}
}

func newFixture(t testing.TB, cfg Config, sf statfsFunc, opts Options) *Collector {
	t.Helper()
	if sf == nil {
		sf = fakeStatfs(cfg.RootFS)
	}
	c, err := newCollector(cfg, testLogger(t), opts, fixtureHooks(sf))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// recordHandler keeps the records logged, to count warnings.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.recs {
		if r.Level == level {
			n++
		}
	}
	return n
}

// gatherText gathers reg and renders it in the text format, without the
// families named in skip (scrape durations vary from run to run).
func gatherText(t testing.TB, g prometheus.Gatherer, skip ...string) []byte {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if slices.Contains(skip, mf.GetName()) {
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// golden compares got with testdata/golden/<name>, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test -update and review the diff.\ngot:\n%s", path, got)
	}
}

// familyNames lists the families in an exposition.
func familyNames(t testing.TB, r io.Reader) []string {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(mfs))
	for n := range mfs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// value finds one sample in gathered families: the family name and label
// pairs (name, value, name, value...).
func value(mfs []*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Untyped != nil:
				return m.Untyped.GetValue(), true
			}
		}
	}
	return 0, false
}

// copyTree copies the fixture tree src to a fresh temp dir.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

type dtoMetricFamily = dto.MetricFamily

func labelPairs(m *dto.Metric) []string {
	var out []string
	for _, lp := range m.GetLabel() {
		out = append(out, lp.GetName(), lp.GetValue())
	}
	return out
}

func fmtSscanf(s, format string, args ...any) (int, error) { return fmt.Sscanf(s, format, args...) }

type eventSnapshot = event.Snapshot
