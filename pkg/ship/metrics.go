package ship

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// metrics are ship's self metrics (prefix ferry_ship_, plus the pipeline's
// ferry_read_to_ack_seconds).
type metrics struct {
	sent          *prometheus.CounterVec
	sentBytes     *prometheus.CounterVec
	batches       prometheus.Counter
	retries       prometheus.Counter
	sendFailures  prometheus.Counter
	dropped       *prometheus.CounterVec
	fallback      prometheus.Counter
	batchDuration prometheus.Histogram
	heldBytes     prometheus.Gauge
	heldLimit     prometheus.Gauge
	readToAck     prometheus.Histogram
	dials         *prometheus.CounterVec
	writer        *writerCollector // nil for the debug sinks
}

// dropReasons are the values of ferry_ship_dropped_records_total's reason
// label; classify and the shutdown path use no others.
var dropReasons = []string{"too_large", "invalid_topic", "topic_authorization", "invalid_record", "policy_violation", "shutdown"}

func newMetrics() *metrics {
	m := &metrics{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_kafka_dials_total", Help: "TCP connections to brokers attempted, by result (ok, error).",
		}, []string{"result"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_records_sent_total", Help: "Records the sink confirmed, by record kind (log, metric).",
		}, []string{"record"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_sent_bytes_total", Help: "Encoded bytes (key and value, before compression) of the records the sink confirmed.",
		}, []string{"record"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_batches_total", Help: "Batches fully confirmed (or resolved by drops) and acknowledged.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_retries_total", Help: "Sends retried after a retryable failure.",
		}),
		sendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_send_failures_total", Help: "Sends that failed with a retryable error.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_dropped_records_total", Help: "Records not delivered, by record kind and reason (too_large, invalid_topic, topic_authorization, invalid_record, policy_violation, shutdown).",
		}, []string{"record", "reason"}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_fallback_topic_records_total", Help: "Log records sent to the fallback topic because the topic template gave no valid name.",
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_ship_batch_duration_seconds", Help: "Round-trip time of one send of a batch to the sink.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		heldBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_ship_held_bytes", Help: "Encoded bytes of records held by ship (batching or in flight).",
		}),
		heldLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_ship_held_bytes_limit", Help: "Upper bound of ferry_ship_held_bytes.",
		}),
		readToAck: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_read_to_ack_seconds", Help: "Time from reading a log line to acknowledging it after the sink confirmed (or dropped) it.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}),
	}
	for _, r := range []string{"log", "metric"} {
		m.sent.WithLabelValues(r)
		m.sentBytes.WithLabelValues(r)
		// Every drop series exists from the start at 0, so that increase()
		// and alerts see the first drop of a reason too.
		for _, reason := range dropReasons {
			m.dropped.WithLabelValues(r, reason)
		}
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	cs := []prometheus.Collector{m.sent, m.sentBytes, m.batches, m.retries, m.sendFailures, m.dropped, m.fallback,
		m.batchDuration, m.heldBytes, m.heldLimit, m.readToAck}
	if m.writer != nil {
		cs = append(cs, m.writer, m.dials)
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

// writerCollector exposes kafka-go's Writer.Stats(). Stats returns what
// happened since its previous call, so the collector is its only caller and
// keeps the running totals.
type writerCollector struct {
	w     *kafka.Writer
	mu    sync.Mutex
	total struct {
		writes, messages, bytes, errors, retries int64
		writeSec, waitSec, queueSec              float64
	}
	descs map[string]*prometheus.Desc
}

// Dials and DialTime are left out: kafka-go counts them only for writers
// built by the deprecated NewWriter (ship counts dials itself through its
// Transport's Dial).
var writerMetrics = []struct{ name, help string }{
	{"writes_total", "Produce requests kafka-go sent."},
	{"messages_total", "Messages kafka-go sent in produce requests (retried ones count again)."},
	{"bytes_total", "Bytes kafka-go counted in produce requests."},
	{"errors_total", "Produce requests kafka-go saw fail."},
	{"retries_total", "Retries inside kafka-go (0: ship retries itself)."},
	{"write_seconds_total", "Time spent in produce requests."},
	{"wait_seconds_total", "Time the brokers throttled the writer for."},
	{"batch_queue_seconds_total", "Time batches waited inside kafka-go before being written."},
}

func newWriterCollector(w *kafka.Writer) *writerCollector {
	c := &writerCollector{w: w, descs: map[string]*prometheus.Desc{}}
	for _, m := range writerMetrics {
		c.descs[m.name] = prometheus.NewDesc("ferry_ship_kafka_writer_"+m.name, m.help+" From kafka-go Writer.Stats().", nil, nil)
	}
	return c
}

func (c *writerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *writerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.w.Stats()
	t := &c.total
	t.writes += s.Writes
	t.messages += s.Messages
	t.bytes += s.Bytes
	t.errors += s.Errors
	t.retries += s.Retries
	// Duration summaries give Avg and Count: their product is the sum.
	t.writeSec += s.WriteTime.Avg.Seconds() * float64(s.WriteTime.Count)
	t.waitSec += s.WaitTime.Avg.Seconds() * float64(s.WaitTime.Count)
	t.queueSec += s.BatchQueueTime.Avg.Seconds() * float64(s.BatchQueueTime.Count)
	for name, v := range map[string]float64{
		"writes_total": float64(t.writes), "messages_total": float64(t.messages),
		"bytes_total": float64(t.bytes), "errors_total": float64(t.errors), "retries_total": float64(t.retries),
		"write_seconds_total": t.writeSec, "wait_seconds_total": t.waitSec,
		"batch_queue_seconds_total": t.queueSec,
	} {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v)
	}
}
