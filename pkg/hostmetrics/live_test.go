package hostmetrics

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// liveAbsent says why a collector may legitimately fail on this machine:
// its source does not exist here.
func liveAbsent(collector string) (string, bool) {
	var path string
	switch collector {
	case "pressure":
		path = "/proc/pressure"
	case "sockstat":
		path = "/proc/1/net/sockstat"
	case "conntrack":
		path = "/proc/1/net/stat/nf_conntrack"
	case "schedstat":
		path = "/proc/schedstat"
	case "hwmon":
		path = "/sys/class/hwmon"
	case "kernel_hung":
		path = "/proc/sys/kernel/hung_task_detect_count"
	default:
		return "", false
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return path + " does not exist here", true
	}
	return "", false
}

// TestLive collects this machine's own /proc and /sys with the default
// configuration: every collector succeeds (or its source is absent here),
// values are sane, CPU seconds never go backwards, and the exposition
// passes promtool's lint rules.
func TestLive(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this machine")
	}
	reg := prometheus.NewPedanticRegistry()
	c, err := New(DefaultConfig(), testLogger(t), Options{Node: "live", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	first, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range first {
		if mf.GetName() != "node_scrape_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			col := m.GetLabel()[0].GetValue()
			if m.GetGauge().GetValue() == 1 {
				continue
			}
			if why, ok := liveAbsent(col); ok {
				t.Logf("collector %s failed, legitimately: %s", col, why)
				continue
			}
			t.Errorf("collector %s failed on this machine", col)
		}
	}

	total, ok1 := value(first, "node_memory_MemTotal_bytes")
	avail, ok2 := value(first, "node_memory_MemAvailable_bytes")
	if !ok1 || !ok2 || total <= 0 || avail < 0 || avail > total {
		t.Errorf("MemAvailable %v (present %v) MemTotal %v (present %v): want 0 <= available <= total > 0", avail, ok2, total, ok1)
	}
	if l1, ok := value(first, "node_load1"); !ok || l1 < 0 {
		t.Errorf("node_load1 = %v (present %v)", l1, ok)
	}
	if bt, ok := value(first, "node_boot_time_seconds"); !ok || bt < 1e9 {
		t.Errorf("node_boot_time_seconds = %v (present %v)", bt, ok)
	}
	if fdAlloc, ok := value(first, "node_filefd_allocated"); !ok || fdAlloc <= 0 {
		t.Errorf("node_filefd_allocated = %v (present %v)", fdAlloc, ok)
	}
	if rootAvail, ok := value(first, "node_filesystem_avail_bytes", "mountpoint", "/"); ok && rootAvail <= 0 {
		t.Errorf("root filesystem avail = %v", rootAvail)
	}
	// The host's own interfaces through PID 1: loopback is always there.
	if _, ok := value(first, "node_network_receive_bytes_total", "device", "lo"); !ok {
		t.Error("no node_network_receive_bytes_total for lo")
	}
	ncpu := 0
	for _, mf := range first {
		if mf.GetName() == "node_cpu_seconds_total" {
			ncpu = len(mf.GetMetric()) / 8
		}
	}
	if ents, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*"); ncpu == 0 || (len(ents) > 0 && ncpu > len(ents)) {
		t.Errorf("%d CPUs in node_cpu_seconds_total, %d in sysfs", ncpu, len(ents))
	}

	sum := func(mfs []*dto.MetricFamily) (s float64) {
		for _, mf := range mfs {
			if mf.GetName() == "node_cpu_seconds_total" {
				for _, m := range mf.GetMetric() {
					s += m.GetCounter().GetValue()
				}
			}
		}
		return s
	}
	// The kernel accounts CPU time in ticks, and lazily on an idle tickless
	// CPU: read again until the total moves, for at most 10 s.
	var second []*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(20 * time.Millisecond)
		if second, err = reg.Gather(); err != nil {
			t.Fatal(err)
		}
		if sum(second) > sum(first) || time.Now().After(deadline) {
			break
		}
	}
	before := map[string]float64{}
	for _, mf := range first {
		if mf.GetName() == "node_cpu_seconds_total" {
			for _, m := range mf.GetMetric() {
				before[m.GetLabel()[0].GetValue()+"/"+m.GetLabel()[1].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	for _, mf := range second {
		if mf.GetName() == "node_cpu_seconds_total" {
			for _, m := range mf.GetMetric() {
				k := m.GetLabel()[0].GetValue() + "/" + m.GetLabel()[1].GetValue()
				if v := m.GetCounter().GetValue(); v < before[k] {
					t.Errorf("node_cpu_seconds_total{%s} went back from %v to %v", k, before[k], v)
				}
			}
		}
	}
	if s1, s2 := sum(first), sum(second); s2 <= s1 {
		t.Errorf("total CPU seconds did not increase: %v then %v", s1, s2)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	checkLint(t, problems)
	_ = c
}

// TestFixtureLint lints the fixture exposition, including the ferry_*
// self metrics, with promtool's rules.
func TestFixtureLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	newFixture(t, fixtureConfig(t), nil, Options{Registerer: reg, Out: make(chan eventSnapshot, 1)})
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	checkLint(t, problems)
	n, err := testutil.GatherAndCount(reg, "ferry_hostmetrics_snapshots_dropped_total", "ferry_hostmetrics_snapshots_total")
	if err != nil || n != 2 {
		t.Errorf("self metrics registered: %d, %v; want 2", n, err)
	}
}

// checkLint fails on every lint problem but two kinds, both node_exporter's
// names: the meminfo and netstat families keep the kernel's field names
// (node_memory_MemAvailable_bytes, node_netstat_TcpExt_ListenDrops), which
// promtool calls camelCase, and the entropy families count bits, not bytes.
// Renaming them would break every dashboard and alert that uses them, which
// is what this package exists to avoid.
func checkLint(t *testing.T, problems []promlint.Problem) {
	t.Helper()
	kernelNames := map[string]bool{}
	for _, f := range meminfoFields {
		kernelNames[f.d.name] = true
	}
	allowed := 0
	for _, p := range problems {
		camel := strings.Contains(p.Text, "camelCase")
		switch {
		case camel && (kernelNames[p.Metric] || strings.HasPrefix(p.Metric, "node_netstat_")),
			strings.HasPrefix(p.Metric, "node_entropy_") && strings.Contains(p.Text, `"bits"`):
			allowed++
			continue
		}
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	t.Logf("%d notes on node_exporter's kernel-field and bit-counting names, kept on purpose", allowed)
}
