package hostmetrics

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHostile6FailingNoDataFailing: a collector's three states (failing,
// no data, working) are each logged once per transition, whatever the
// number of scrapes in between. Failing, then no data (the file gone),
// then failing again is a new failure, warned about again: the no-data
// path left the failing flag set, so the second failure was logged at
// debug only ("still failing"), and the end of the first was never said.
func TestHostile6FailingNoDataFailing(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Proc, cfg.Sys, cfg.RootFS = filepath.Join(dir, "proc"), filepath.Join(dir, "sys"), dir
	cfg.Collectors = Collectors{KernelHung: true}
	file := filepath.Join(cfg.Proc, "sys", "kernel", "hung_task_detect_count")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	h := &recordHandler{}
	c, err := newCollector(cfg, slog.New(h), Options{}, fixtureHooks(nil))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	set := func(content string, gone bool) {
		t.Helper()
		if gone {
			if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			return
		}
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func(wantSuccess float64) {
		t.Helper()
		for range 3 {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := value(mfs, "node_scrape_collector_success", "collector", "kernel_hung"); v != wantSuccess {
				t.Fatalf("success %v, want %v", v, wantSuccess)
			}
		}
	}
	for _, step := range []struct {
		name         string
		content      string
		gone         bool
		success      float64
		warns, infos int // cumulated
	}{
		{"failing", "not a number\n", false, 0, 1, 0},
		{"no data", "", true, 0, 1, 1},
		{"failing again", "\x00\x00", false, 0, 2, 1},
		{"working", "7\n", false, 1, 2, 2},
		{"no data again", "", true, 0, 2, 2},
		{"working again", "8\n", false, 1, 2, 2},
	} {
		set(step.content, step.gone)
		scrape(step.success)
		if n := h.count(slog.LevelWarn); n != step.warns {
			t.Errorf("after %q: %d warnings, want %d", step.name, n, step.warns)
		}
		if n := h.count(slog.LevelInfo); n != step.infos {
			t.Errorf("after %q: %d info lines, want %d", step.name, n, step.infos)
		}
	}
}

// TestHostile6KernelHungOddContents: what node_exporter's procfs parses
// (an unsigned decimal, white space around it) is reported; anything else
// (empty, white space, negative, beyond uint64, NUL bytes, a directory)
// fails the collector with one warning over several scrapes, not "no
// data": the file is there (holds).
func TestHostile6KernelHungOddContents(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		dir           bool
		want          float64 // -1: fails
	}{
		{"plain", "3\n", false, 3},
		{"padded", "  42 \n\n", false, 42},
		{"max", "18446744073709551615", false, 18446744073709551615},
		{"empty", "", false, -1},
		{"white space", " \n\t", false, -1},
		{"negative", "-1\n", false, -1},
		{"beyond uint64", "18446744073709551616\n", false, -1},
		{"NUL bytes", "\x00\x00\x00", false, -1},
		{"number and NUL", "5\x00", false, -1},
		{"a directory", "", true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.Proc, cfg.Sys, cfg.RootFS = filepath.Join(dir, "proc"), filepath.Join(dir, "sys"), dir
			cfg.Collectors = Collectors{KernelHung: true}
			file := filepath.Join(cfg.Proc, "sys", "kernel", "hung_task_detect_count")
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			var err error
			if tc.dir {
				err = os.Mkdir(file, 0o755)
			} else {
				err = os.WriteFile(file, []byte(tc.content), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			h := &recordHandler{}
			c, err := newCollector(cfg, slog.New(h), Options{}, fixtureHooks(nil))
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			for range 3 {
				mfs, err := reg.Gather()
				if err != nil {
					t.Fatal(err)
				}
				got, ok := value(mfs, "node_kernel_hung_tasks_total")
				success, _ := value(mfs, "node_scrape_collector_success", "collector", "kernel_hung")
				if tc.want >= 0 && (!ok || got != tc.want || success != 1) {
					t.Fatalf("%q: %v (present %v, success %v), want %v", tc.content, got, ok, success, tc.want)
				}
				if tc.want < 0 && (ok || success != 0) {
					t.Fatalf("%q: %v (present %v, success %v), want a failure", tc.content, got, ok, success)
				}
			}
			wantWarn := 0
			if tc.want < 0 {
				wantWarn = 1
			}
			if n := h.count(slog.LevelWarn); n != wantWarn {
				t.Errorf("%d warnings over 3 scrapes, want %d", n, wantWarn)
			}
		})
	}
}
