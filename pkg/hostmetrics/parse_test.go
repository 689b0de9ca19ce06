package hostmetrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

func TestParseVMStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []keyValue
		wantErr bool
	}{
		{"real lines", "nr_free_pages 123\npgfault 456\noom_kill 0\n", []keyValue{{"nr_free_pages", 123}, {"pgfault", 456}, {"oom_kill", 0}}, false},
		{"blank lines and no final newline", "\n\npgmajfault 7", []keyValue{{"pgmajfault", 7}}, false},
		{"odd name skipped", "pg-fault 1\npgfault 2\n", []keyValue{{"pgfault", 2}}, false},
		{"three fields", "pgfault 1 2\n", nil, true},
		{"not a number", "pgfault many\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVMStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(keyValue{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseFileNR(t *testing.T) {
	tests := []struct {
		in         string
		alloc, max float64
		wantErr    bool
	}{
		{"1024\t0\t9223372036854775807\n", 1024, 9223372036854775807, false},
		{"5 0 100", 5, 100, false},
		{"5 0", 0, 0, true},
		{"x 0 100", 0, 0, true},
		{"5 0 y", 0, 0, true},
	}
	for _, tt := range tests {
		a, m, err := parseFileNR([]byte(tt.in))
		if (err != nil) != tt.wantErr || a != tt.alloc || m != tt.max {
			t.Errorf("parseFileNR(%q) = %v, %v, %v; want %v, %v, err %v", tt.in, a, m, err, tt.alloc, tt.max, tt.wantErr)
		}
	}
}

func TestParseUdev(t *testing.T) {
	got := parseUdev([]byte("S:disk/by-id/x\nE:ID_MODEL=ACME SSD\r\nE:ID_WWN=eui.1=2\nE:NOVALUE\nG:systemd\n"))
	want := map[string]string{"ID_MODEL": "ACME SSD", "ID_WWN": "eui.1=2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if parseUdev(nil) != nil {
		t.Error("no data should give no map")
	}
}

func TestMonotonicCPU(t *testing.T) {
	prev := map[int64]procfs.CPUStat{0: {User: 10, Idle: 100}, 1: {User: 5, Idle: 50}, 2: {Idle: 1}}
	next := map[int64]procfs.CPUStat{
		0: {User: 9.99, Idle: 100.5}, // user read a hair low: keep 10
		1: {User: 1, Idle: 10},       // idle fell by 40s: hotplug, start afresh
		3: {User: 1},                 // new CPU
	}
	want := map[int64]procfs.CPUStat{0: {User: 10, Idle: 100.5}, 1: {User: 1, Idle: 10}, 3: {User: 1}}
	if diff := cmp.Diff(want, monotonicCPU(prev, next)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEmitRepairsLabels(t *testing.T) {
	e := emitter{dyn: &descCache{}}
	e.emit(netRxBytes, 1, "bad\xffname")
	if got := e.samples[0].lv[0]; got != "bad\uFFFDname" {
		t.Errorf("label = %q", got)
	}
}

// TestProcStatOncePerGather: within a gather, cpu and stat share one parse
// of <proc>/stat; another /proc, or no gather, parses on its own.
func TestProcStatOncePerGather(t *testing.T) {
	dir := t.TempDir()
	write := func(ctxt string) {
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  1 2 3 4 5 6 7 8 9 10\nctxt "+ctxt+"\nbtime 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("5")
	fs, err := newProcFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := emitter{dyn: &descCache{}, shared: new(gatherShared)}
	first, err := e.procStat(dir, fs)
	if err != nil {
		t.Fatal(err)
	}
	write("6")
	if again, _ := e.procStat(dir, fs); again.ContextSwitches != first.ContextSwitches || first.ContextSwitches != 5 {
		t.Errorf("second read in the gather: ctxt %d, first %d (want 5 both)", again.ContextSwitches, first.ContextSwitches)
	}
	if alone, _ := (&emitter{}).procStat(dir, fs); alone.ContextSwitches != 6 {
		t.Errorf("outside a gather: ctxt %d, want 6", alone.ContextSwitches)
	}
	other, err := newProcFS("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := e.procStat("testdata/proc", other); st.ContextSwitches == 5 {
		t.Error("another /proc got the shared parse")
	}
}
