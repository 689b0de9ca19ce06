//go:build linux

package hostmetrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs/sysfs"
)

func cpufreqDesc(name, help string) *desc {
	return newDesc("node_cpu_"+name, help, prometheus.GaugeValue, "cpu")
}

var (
	cpuFreqDesc           = cpufreqDesc("frequency_hertz", "Current CPU thread frequency in hertz.")
	cpuFreqAvgDesc        = cpufreqDesc("frequency_avg_hertz", "Average CPU thread frequency in hertz.")
	cpuFreqMinDesc        = cpufreqDesc("frequency_min_hertz", "Minimum CPU thread frequency in hertz.")
	cpuFreqMaxDesc        = cpufreqDesc("frequency_max_hertz", "Maximum CPU thread frequency in hertz.")
	cpuScalingFreqDesc    = cpufreqDesc("scaling_frequency_hertz", "Current scaled CPU thread frequency in hertz.")
	cpuScalingFreqMinDesc = cpufreqDesc("scaling_frequency_min_hertz", "Minimum scaled CPU thread frequency in hertz.")
	cpuScalingFreqMaxDesc = cpufreqDesc("scaling_frequency_max_hertz", "Maximum scaled CPU thread frequency in hertz.")
	cpuScalingGovDesc     = newDesc("node_cpu_scaling_governor", "Current enabled CPU frequency governor.",
		prometheus.GaugeValue, "cpu", "governor")
)

// cpufreqCollector reports <sys>/devices/system/cpu/cpu*/cpufreq of the
// online CPUs: current, minimum and maximum frequencies and the governor.
// Virtual machines usually have no cpufreq; the collector then reports
// nothing and succeeds.
type cpufreqCollector struct{ sys string }

func (c *cpufreqCollector) collect(e *emitter) error {
	if noCpufreq(c.sys) {
		return nil
	}
	fs, err := newSysFS(c.sys)
	if err != nil {
		return err
	}
	st, err := fs.SystemCpufreq()
	if err != nil {
		return err
	}
	emitCpufreq(e, st)
	return nil
}

func emitCpufreq(e *emitter, st []sysfs.SystemCPUCpufreqStats) {
	khz := func(d *desc, v *uint64, cpu string) {
		if v != nil {
			e.emit(d, float64(*v)*1000, cpu)
		}
	}
	for _, s := range st {
		if s.Name == "" { // a CPU without cpufreq
			continue
		}
		khz(cpuFreqDesc, s.CpuinfoCurrentFrequency, s.Name)
		khz(cpuFreqAvgDesc, s.CpuinfoAverageFrequency, s.Name)
		khz(cpuFreqMinDesc, s.CpuinfoMinimumFrequency, s.Name)
		khz(cpuFreqMaxDesc, s.CpuinfoMaximumFrequency, s.Name)
		khz(cpuScalingFreqDesc, s.ScalingCurrentFrequency, s.Name)
		khz(cpuScalingFreqMinDesc, s.ScalingMinimumFrequency, s.Name)
		khz(cpuScalingFreqMaxDesc, s.ScalingMaximumFrequency, s.Name)
		if s.Governor != "" {
			for g := range strings.SplitSeq(s.AvailableGovernors, " ") {
				on := 0.0
				if g == s.Governor {
					on = 1
				}
				e.emit(cpuScalingGovDesc, on, s.Name, g)
			}
		}
	}
}
