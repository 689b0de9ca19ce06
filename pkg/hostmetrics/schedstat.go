package hostmetrics

import (
	"errors"
	iofs "io/fs"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	schedRunningDesc = newDesc("node_schedstat_running_seconds_total",
		"Number of seconds CPU spent running a process.", prometheus.CounterValue, "cpu")
	schedWaitingDesc = newDesc("node_schedstat_waiting_seconds_total",
		"Number of seconds spent by processing waiting for this CPU.", prometheus.CounterValue, "cpu")
	schedTimeslicesDesc = newDesc("node_schedstat_timeslices_total",
		"Number of timeslices executed by CPU.", prometheus.CounterValue, "cpu")
)

// schedstatCollector reports <proc>/schedstat: per CPU, time spent running
// tasks and time tasks spent waiting for it (run-queue latency). Kernels
// built without CONFIG_SCHEDSTATS have no such file; the collector then
// fails.
type schedstatCollector struct{ proc string }

func (c *schedstatCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	st, err := fs.Schedstat()
	if errors.Is(err, iofs.ErrNotExist) {
		return noData("this kernel has no schedstat (CONFIG_SCHEDSTATS off)")
	}
	if err != nil {
		return err
	}
	for _, cpu := range st.CPUs {
		e.emit(schedRunningDesc, float64(cpu.RunningNanoseconds)/1e9, cpu.CPUNum)
		e.emit(schedWaitingDesc, float64(cpu.WaitingNanoseconds)/1e9, cpu.CPUNum)
		e.emit(schedTimeslicesDesc, float64(cpu.RunTimeslices), cpu.CPUNum)
	}
	return nil
}
