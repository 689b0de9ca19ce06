package hostmetrics

import (
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
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
type cpuCollector struct {
	proc string
	mu   sync.Mutex
	last map[int64]procfs.CPUStat
}

func newCPUCollector(proc string) *cpuCollector { return &cpuCollector{proc: proc} }

func (c *cpuCollector) collect(e *emitter) error {
	fs, err := procfs.NewFS(c.proc)
	if err != nil {
		return err
	}
	st, err := fs.Stat()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = monotonicCPU(c.last, st.CPU)
	emitCPU(e, c.last)
	return nil
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
