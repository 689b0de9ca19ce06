package hostmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	intrDesc       = newDesc("node_intr_total", "Total number of interrupts serviced.", prometheus.CounterValue)
	ctxtDesc       = newDesc("node_context_switches_total", "Total number of context switches.", prometheus.CounterValue)
	forksDesc      = newDesc("node_forks_total", "Total number of forks.", prometheus.CounterValue)
	bootTimeDesc   = newDesc("node_boot_time_seconds", "Node boot time, in unixtime.", prometheus.GaugeValue)
	procsRunDesc   = newDesc("node_procs_running", "Number of processes in runnable state.", prometheus.GaugeValue)
	procsBlockDesc = newDesc("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", prometheus.GaugeValue)
)

// statCollector reports the system-wide lines of <proc>/stat.
type statCollector struct{ proc string }

func (c *statCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	st, err := e.procStat(c.proc, fs)
	if err != nil {
		return err
	}
	emitStat(e, &st)
	return nil
}

func emitStat(e *emitter, st *procfs.Stat) {
	e.emit(intrDesc, float64(st.IRQTotal))
	e.emit(ctxtDesc, float64(st.ContextSwitches))
	e.emit(forksDesc, float64(st.ProcessCreated))
	e.emit(bootTimeDesc, float64(st.BootTime))
	e.emit(procsRunDesc, float64(st.ProcessesRunning))
	e.emit(procsBlockDesc, float64(st.ProcessesBlocked))
}
