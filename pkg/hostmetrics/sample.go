package hostmetrics

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/ferry-dev/ferry/pkg/event"
)

// desc describes one metric family, named as node_exporter names it. A desc
// is immutable once built; both outlets read from it.
type desc struct {
	name   string
	help   string
	labels []string
	vt     prometheus.ValueType
	pd     *prometheus.Desc
}

func newDesc(name, help string, vt prometheus.ValueType, labels ...string) *desc {
	return &desc{
		name:   name,
		help:   help,
		labels: labels,
		vt:     vt,
		pd:     prometheus.NewDesc(name, help, labels, nil),
	}
}

// eventType is how the family is shipped: counters as counters, everything
// else (gauges and node_exporter's untyped vmstat fields) as gauges.
func (d *desc) eventType() event.MetricType {
	if d.vt == prometheus.CounterValue {
		return event.Counter
	}
	return event.Gauge
}

// sample is one value of one family: what a collection produces, before it
// becomes a prometheus.Metric or an event.Metric.
type sample struct {
	d  *desc
	lv []string
	v  float64
}

// descCache holds the families whose names come from the data (meminfo
// is fixed, but vmstat fields and sockstat protocols are not), so that one
// name always has one desc and one help text.
type descCache struct {
	m sync.Map // name -> *desc
}

func (c *descCache) get(name, help string, vt prometheus.ValueType, labels ...string) *desc {
	if d, ok := c.m.Load(name); ok {
		return d.(*desc)
	}
	d, _ := c.m.LoadOrStore(name, newDesc(name, help, vt, labels...))
	return d.(*desc)
}

// emitter collects the samples of one collector.
type emitter struct {
	dyn     *descCache
	samples []sample
	shared  *gatherShared // nil outside a gather
}

// gatherShared is what the collectors of one gather read once for all:
// <proc>/stat, which cpu and stat both parse in full (node_exporter reads
// it twice too, a few microseconds apart).
type gatherShared struct {
	statOnce sync.Once
	statFS   procfs.FS
	stat     procfs.Stat
	statErr  error
}

// procStat is <proc>/stat (readProcStat; fs is procfs at proc), parsed
// once per gather and FS. The result is shared: callers must not modify
// it.
func (e *emitter) procStat(proc string, fs procfs.FS) (procfs.Stat, error) {
	if e.shared == nil {
		return readProcStat(proc, fs)
	}
	g := e.shared
	g.statOnce.Do(func() { g.statFS = fs; g.stat, g.statErr = readProcStat(proc, fs) })
	if g.statFS != fs {
		return readProcStat(proc, fs)
	}
	return g.stat, g.statErr
}

// emit appends one sample. Label values that are not valid UTF-8 (a device
// name of odd bytes) are repaired, because Prometheus rejects them.
func (e *emitter) emit(d *desc, v float64, lv ...string) {
	for i, s := range lv {
		if !utf8.ValidString(s) {
			lv[i] = strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	e.samples = append(e.samples, sample{d: d, lv: lv, v: v})
}

// validMetricName reports whether s can follow a prefix in a metric name
// (letters, digits, underscores), so names built from file contents stay
// legal.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
