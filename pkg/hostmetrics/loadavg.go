package hostmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
)

var (
	load1Desc  = newDesc("node_load1", "1m load average.", prometheus.GaugeValue)
	load5Desc  = newDesc("node_load5", "5m load average.", prometheus.GaugeValue)
	load15Desc = newDesc("node_load15", "15m load average.", prometheus.GaugeValue)
)

// loadavgCollector reports <proc>/loadavg.
type loadavgCollector struct{ proc string }

func (c *loadavgCollector) collect(e *emitter) error {
	fs, err := newProcFS(c.proc)
	if err != nil {
		return err
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return err
	}
	emitLoadavg(e, l)
	return nil
}

func emitLoadavg(e *emitter, l *procfs.LoadAvg) {
	e.emit(load1Desc, l.Load1)
	e.emit(load5Desc, l.Load5)
	e.emit(load15Desc, l.Load15)
}
