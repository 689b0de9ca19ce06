package hostmetrics

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	cpuCoreThrottleDesc = newDesc("node_cpu_core_throttles_total",
		"Number of times this CPU core has been throttled.", prometheus.CounterValue, "package", "core")
	cpuPackageThrottleDesc = newDesc("node_cpu_package_throttles_total",
		"Number of times this CPU package has been throttled.", prometheus.CounterValue, "package")
	cpuSecondsDesc = newDesc("node_cpu_seconds_total",
		"Seconds the CPUs spent in each mode.", prometheus.CounterValue, "cpu", "mode")
	cpuGuestDesc = newDesc("node_cpu_guest_seconds_total",
		"Seconds the CPUs spent in guests (VMs) for each mode.", prometheus.CounterValue, "cpu", "mode")
)

// cpuJumpBackSeconds is how far idle time may go backwards before a CPU's
// counters are taken as reset (a hotplug), as in node_exporter.
const cpuJumpBackSeconds = 3.0

// cpuCollector reports <proc>/stat per CPU and mode. Like node_exporter it
// keeps the last values so a counter that the kernel reports slightly
// lower (jiffies rounding across CPUs) never goes backwards.
//
// It also reports thermal throttling from <sys>/devices/system/cpu, as
// node_exporter does, on machines that have it (Intel, bare metal).
type cpuCollector struct {
	proc, sys string
	mu        sync.Mutex
	last      map[int64]procfs.CPUStat
}

func newCPUCollector(proc, sys string) *cpuCollector { return &cpuCollector{proc: proc, sys: sys} }

func (c *cpuCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	st, err := e.procStat(c.proc, fs)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.last = monotonicCPU(c.last, st.CPU)
	emitCPU(e, c.last)
	c.mu.Unlock()
	emitThrottles(e, readThrottles(filepath.Join(c.sys, "devices", "system", "cpu")))
	return nil
}

// cpuThrottle is what sysfs says of one CPU's thermal throttling.
type cpuThrottle struct {
	pkg, core           uint64
	coreCount, pkgCount *uint64
}

// readThrottles reads topology and thermal_throttle of every CPU; it reads
// nothing more when cpu0 has no thermal_throttle (virtual machines, non-x86).
func readThrottles(dir string) []cpuThrottle {
	if _, err := os.Stat(filepath.Join(dir, "cpu0", "thermal_throttle")); err != nil {
		return nil
	}
	cpus, _ := filepath.Glob(filepath.Join(dir, "cpu[0-9]*"))
	var out []cpuThrottle
	for _, cpu := range cpus {
		var t cpuThrottle
		var err error
		if t.pkg, err = readUint(filepath.Join(cpu, "topology", "physical_package_id")); err != nil {
			continue
		}
		if t.core, err = readUint(filepath.Join(cpu, "topology", "core_id")); err != nil {
			continue
		}
		if v, err := readUint(filepath.Join(cpu, "thermal_throttle", "core_throttle_count")); err == nil {
			t.coreCount = &v
		}
		if v, err := readUint(filepath.Join(cpu, "thermal_throttle", "package_throttle_count")); err == nil {
			t.pkgCount = &v
		}
		out = append(out, t)
	}
	return out
}

// emitThrottles reports each core once and each package once (the first
// CPU seen of it, as node_exporter does), in ascending order.
func emitThrottles(e *emitter, ts []cpuThrottle) {
	type coreKey struct{ pkg, core uint64 }
	cores := map[coreKey]uint64{}
	pkgs := map[uint64]uint64{}
	for _, t := range ts {
		k := coreKey{t.pkg, t.core}
		if _, seen := cores[k]; !seen && t.coreCount != nil {
			cores[k] = *t.coreCount
		}
		if _, seen := pkgs[t.pkg]; !seen && t.pkgCount != nil {
			pkgs[t.pkg] = *t.pkgCount
		}
	}
	for _, p := range slices.Sorted(maps.Keys(pkgs)) {
		e.emit(cpuPackageThrottleDesc, float64(pkgs[p]), strconv.FormatUint(p, 10))
	}
	keys := slices.SortedFunc(maps.Keys(cores), func(a, b coreKey) int {
		if a.pkg != b.pkg {
			return cmpUint(a.pkg, b.pkg)
		}
		return cmpUint(a.core, b.core)
	})
	for _, k := range keys {
		e.emit(cpuCoreThrottleDesc, float64(cores[k]), strconv.FormatUint(k.pkg, 10), strconv.FormatUint(k.core, 10))
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readUint reads a sysfs file holding one unsigned integer.
func readUint(path string) (uint64, error) {
	b, err := readFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// monotonicCPU merges a new reading into the previous one: each counter
// keeps the larger value, and a CPU whose idle time fell by more than
// cpuJumpBackSeconds starts afresh. CPUs that disappeared are dropped.
func monotonicCPU(prev, next map[int64]procfs.CPUStat) map[int64]procfs.CPUStat {
	out := make(map[int64]procfs.CPUStat, len(next))
	for id, n := range next {
		p, ok := prev[id]
		if !ok || p.Idle-n.Idle >= cpuJumpBackSeconds {
			out[id] = n
			continue
		}
		out[id] = procfs.CPUStat{
			User: max(p.User, n.User), Nice: max(p.Nice, n.Nice), System: max(p.System, n.System),
			Idle: max(p.Idle, n.Idle), Iowait: max(p.Iowait, n.Iowait), IRQ: max(p.IRQ, n.IRQ),
			SoftIRQ: max(p.SoftIRQ, n.SoftIRQ), Steal: max(p.Steal, n.Steal),
			Guest: max(p.Guest, n.Guest), GuestNice: max(p.GuestNice, n.GuestNice),
		}
	}
	return out
}

// emitCPU turns per-CPU counters into node_cpu_seconds_total and
// node_cpu_guest_seconds_total, CPUs in ascending order.
func emitCPU(e *emitter, cpus map[int64]procfs.CPUStat) {
	ids := make([]int64, 0, len(cpus))
	for id := range cpus {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := cpus[id]
		n := strconv.FormatInt(id, 10)
		e.emit(cpuSecondsDesc, s.User, n, "user")
		e.emit(cpuSecondsDesc, s.Nice, n, "nice")
		e.emit(cpuSecondsDesc, s.System, n, "system")
		e.emit(cpuSecondsDesc, s.Idle, n, "idle")
		e.emit(cpuSecondsDesc, s.Iowait, n, "iowait")
		e.emit(cpuSecondsDesc, s.IRQ, n, "irq")
		e.emit(cpuSecondsDesc, s.SoftIRQ, n, "softirq")
		e.emit(cpuSecondsDesc, s.Steal, n, "steal")
		// Guest time is also counted in user and nice; node_exporter
		// reports it separately and so do we.
		e.emit(cpuGuestDesc, s.Guest, n, "user")
		e.emit(cpuGuestDesc, s.GuestNice, n, "nice")
	}
}
