package process

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	parsed, failed   *prometheus.CounterVec
	parsedC, failedC map[string]prometheus.Counter
	lastParser       string
	groups, merged   prometheus.Counter
	cuts             *prometheus.CounterVec
	timeoutFlushes   prometheus.Counter
	endFlushes       prometheus.Counter
	held             prometheus.Gauge
	dropped          *prometheus.CounterVec
	dropC            []prometheus.Counter
	dropDefault      prometheus.Counter
	dropAnnotation   prometheus.Counter
	redactions       *prometheus.CounterVec
	redactC          []prometheus.Counter
	annotationErrors prometheus.Counter
	pendingRecords   prometheus.GaugeFunc

	// counts of the current batch, by parser
	nParsed, nFailed map[string]int
}

func newMetrics(p *Processor, reg prometheus.Registerer) *metrics {
	m := &metrics{
		parsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_process_parsed_total",
			Help: "Records whose message was parsed into fields, by parser.",
		}, []string{"parser"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_process_parse_failures_total",
			Help: "Records whose message was not in their parser's format (shipped as they are), by parser.",
		}, []string{"parser"}),
		groups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_process_multiline_records_total",
			Help: "Records made of two or more lines by multiline grouping.",
		}),
		merged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_process_multiline_merged_lines_total",
			Help: "Lines merged into the record of an earlier line (a record of n lines counts n-1).",
		}),
		cuts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_process_multiline_cut_total",
			Help: "Groups cut at a cap (flagged truncated; the next line starts a new record), by the cap reached.",
		}, []string{"reason"}),
		endFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_process_multiline_end_flushes_total",
			Help: "Records sent because their file ended (truncated, read to its end after rotation, or closed) while their group waited for a next line.",
		}),
		timeoutFlushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_process_multiline_timeout_flushes_total",
			Help: "Records sent because no further line came within multiline.flush_timeout.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_process_multiline_held_lines",
			Help: "Lines held in groups waiting for their next line.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_process_dropped_total",
			Help: "Records dropped by a filter, by rule name (default: no rule matched and filter_default is drop; annotation: an exclude-<stream> pod annotation).",
		}, []string{"rule"}),
		redactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_process_redactions_total",
			Help: "Secrets masked, by redaction rule.",
		}, []string{"rule"}),
		annotationErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_process_annotation_errors_total",
			Help: "Pod annotations ignored because their value is unknown (counted once per pod version and container).",
		}),
		parsedC: map[string]prometheus.Counter{}, failedC: map[string]prometheus.Counter{},
		nParsed: map[string]int{}, nFailed: map[string]int{},
	}
	m.pendingRecords = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ferry_process_unacked_grouped_records",
		Help: "Grouped records sent and not yet acknowledged by the sink.",
	}, func() float64 { return float64(p.npend.Load()) })
	for _, n := range []string{"json", "logfmt", "regex"} {
		m.parsedC[n] = m.parsed.WithLabelValues(n)
		m.failedC[n] = m.failed.WithLabelValues(n)
	}
	for _, r := range []string{cutLines, cutBytes} {
		m.cuts.WithLabelValues(r)
	}
	for _, f := range p.filters {
		m.dropC = append(m.dropC, m.dropped.WithLabelValues(f.name))
	}
	m.dropDefault = m.dropped.WithLabelValues("default")
	m.dropAnnotation = m.dropped.WithLabelValues("annotation")
	for _, r := range p.redactions {
		m.redactC = append(m.redactC, m.redactions.WithLabelValues(r.name))
	}
	if reg != nil {
		reg.MustRegister(m.parsed, m.failed, m.groups, m.merged, m.cuts, m.timeoutFlushes, m.endFlushes, m.held,
			m.dropped, m.redactions, m.annotationErrors, m.pendingRecords)
	}
	return m
}

func (m *metrics) parsedBy(name string) { m.nParsed[name]++ }
func (m *metrics) failedBy(name string) { m.nFailed[name]++ }

// flush adds the counts gathered while handling a batch.
func (m *metrics) flush(p *Processor) {
	for n, c := range m.nParsed {
		if c > 0 {
			m.parsedC[n].Add(float64(c))
			m.nParsed[n] = 0
		}
	}
	for n, c := range m.nFailed {
		if c > 0 {
			m.failedC[n].Add(float64(c))
			m.nFailed[n] = 0
		}
	}
	if p.groups > 0 {
		m.groups.Add(float64(p.groups))
		m.merged.Add(float64(p.merged))
		p.groups, p.merged = 0, 0
	}
	for r, c := range p.cuts {
		if c > 0 {
			m.cuts.WithLabelValues(r).Add(float64(c))
			p.cuts[r] = 0
		}
	}
	for i, f := range p.filters {
		if f.n > 0 {
			m.dropC[i].Add(float64(f.n))
			f.n = 0
		}
	}
	if p.dropDefault > 0 {
		m.dropDefault.Add(float64(p.dropDefault))
		p.dropDefault = 0
	}
	if p.dropAn > 0 {
		m.dropAnnotation.Add(float64(p.dropAn))
		p.dropAn = 0
	}
	for i, r := range p.redactions {
		if r.n > 0 {
			m.redactC[i].Add(float64(r.n))
			r.n = 0
		}
	}
	m.held.Set(float64(p.heldN))
}
