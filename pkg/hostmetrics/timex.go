package hostmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

func timexGauge(name, help string) *desc {
	return newDesc("node_timex_"+name, help, prometheus.GaugeValue)
}

func timexCounter(name, help string) *desc {
	return newDesc("node_timex_"+name, help, prometheus.CounterValue)
}

var (
	timexSyncDesc     = timexGauge("sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).")
	timexOffsetDesc   = timexGauge("offset_seconds", "Time offset in between local system and reference clock.")
	timexFreqDesc     = timexGauge("frequency_adjustment_ratio", "Local clock frequency adjustment.")
	timexMaxErrDesc   = timexGauge("maxerror_seconds", "Maximum error in seconds.")
	timexEstErrDesc   = timexGauge("estimated_error_seconds", "Estimated error in seconds.")
	timexStatusDesc   = timexGauge("status", "Value of the status array bits.")
	timexConstantDesc = timexGauge("loop_time_constant", "Phase-locked loop time constant.")
	timexTickDesc     = timexGauge("tick_seconds", "Seconds between clock ticks.")
	timexPPSFreqDesc  = timexGauge("pps_frequency_hertz", "Pulse per second frequency.")
	timexJitterDesc   = timexGauge("pps_jitter_seconds", "Pulse per second jitter.")
	timexShiftDesc    = timexGauge("pps_shift_seconds", "Pulse per second interval duration.")
	timexStabilDesc   = timexGauge("pps_stability_hertz", "Pulse per second stability, average of recent frequency changes.")
	timexJitCntDesc   = timexCounter("pps_jitter_total", "Pulse per second count of jitter limit exceeded events.")
	timexCalCntDesc   = timexCounter("pps_calibration_total", "Pulse per second count of calibration intervals.")
	timexErrCntDesc   = timexCounter("pps_error_total", "Pulse per second count of calibration errors.")
	timexStbCntDesc   = timexCounter("pps_stability_exceeded_total", "Pulse per second count of stability limit exceeded events.")
	timexTAIDesc      = timexGauge("tai_offset_seconds", "International Atomic Time (TAI) offset.")
)

// The kernel's adjtimex(2) constants node_exporter uses.
const (
	timexTimeError = 5      // TIME_ERROR: the clock is not synchronised
	timexStaNano   = 0x2000 // STA_NANO: offset and jitter are in nanoseconds
	ppm16frac      = 1000000.0 * 65536.0
)

// timexCollector reports the kernel's clock discipline from adjtimex(2)
// with no modes set (a read, allowed to everyone): whether NTP (chrony,
// systemd-timesyncd) keeps the clock synchronised, and its estimated
// error. The kernel is the host's, so these are the node's.
type timexCollector struct {
	adjtimex func() (int, timex, error)
}

// timex is what adjtimex(2) returns, in the kernel's units.
type timex struct {
	Offset, Freq, Maxerror, Esterror int64
	Status                           int32
	Constant, Tick, Ppsfreq, Jitter  int64
	Shift                            int32
	Stabil, Jitcnt, Calcnt, Errcnt   int64
	Stbcnt                           int64
	Tai                              int32
}

func (c *timexCollector) collect(e *emitter) error {
	state, tx, err := c.adjtimex()
	if err != nil {
		return err
	}
	emitTimex(e, state, &tx)
	return nil
}

func emitTimex(e *emitter, state int, tx *timex) {
	synced := 1.0
	if state == timexTimeError {
		synced = 0
	}
	div := 1e6
	if tx.Status&timexStaNano != 0 {
		div = 1e9
	}
	e.emit(timexSyncDesc, synced)
	e.emit(timexOffsetDesc, float64(tx.Offset)/div)
	e.emit(timexFreqDesc, 1+float64(tx.Freq)/ppm16frac)
	e.emit(timexMaxErrDesc, float64(tx.Maxerror)/1e6)
	e.emit(timexEstErrDesc, float64(tx.Esterror)/1e6)
	e.emit(timexStatusDesc, float64(tx.Status))
	e.emit(timexConstantDesc, float64(tx.Constant))
	e.emit(timexTickDesc, float64(tx.Tick)/1e6)
	e.emit(timexPPSFreqDesc, float64(tx.Ppsfreq)/ppm16frac)
	e.emit(timexJitterDesc, float64(tx.Jitter)/div)
	e.emit(timexShiftDesc, float64(tx.Shift))
	e.emit(timexStabilDesc, float64(tx.Stabil)/ppm16frac)
	e.emit(timexJitCntDesc, float64(tx.Jitcnt))
	e.emit(timexCalCntDesc, float64(tx.Calcnt))
	e.emit(timexErrCntDesc, float64(tx.Errcnt))
	e.emit(timexStbCntDesc, float64(tx.Stbcnt))
	e.emit(timexTAIDesc, float64(tx.Tai))
}
