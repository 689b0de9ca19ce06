package ship

import (
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	fieldsOmitted prometheus.Counter
	replaced      *prometheus.CounterVec
	batchDuration prometheus.Histogram
	heldBytes     prometheus.Gauge
	heldLimit     prometheus.Gauge
	holdback      prometheus.Gauge
	readToAck     *runHistogram
	// By destination (a configured topic; see Shipper.label).
	destFailures *prometheus.CounterVec
	budgetFull   *prometheus.CounterVec
	dest         *destCollector
	// Kafka only.
	kafka             bool
	dials             *prometheus.CounterVec
	produceRequests   *prometheus.CounterVec
	requests          *prometheus.CounterVec
	metadataRefreshes *prometheus.CounterVec
}

// dropReasons are the values of ferry_ship_dropped_records_total's reason
// label; classify and the shutdown path use no others.
var dropReasons = []string{"too_large", "invalid_topic", "topic_authorization", "invalid_record", "corrupt_message", "policy_violation", "shutdown"}

func newMetrics() *metrics {
	m := &metrics{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_kafka_dials_total", Help: "TCP connections to brokers attempted, by result (ok, error).",
		}, []string{"result"}),
		produceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_kafka_produce_requests_total", Help: "Produce requests sent to partition leaders (one carries the batches of the partitions a broker leads), by result (ok, error).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_kafka_requests_total", Help: "Requests written to broker connections, by Kafka API (produce, metadata, api_versions, sasl_handshake, sasl_authenticate, other).",
		}, []string{"api"}),
		metadataRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_kafka_metadata_refreshes_total", Help: "Cluster metadata refreshed, by cause (age: older than kafka.metadata_max_age; stale: an answer said it was; topic: a topic came into use).",
		}, []string{"cause"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_records_sent_total", Help: "Records the sink confirmed, by record kind (log, metric).",
		}, []string{"record"}),
		sentBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_sent_bytes_total", Help: "Encoded bytes (key and value, before compression) of the records the sink confirmed.",
		}, []string{"record"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_batches_total", Help: "Requests of one destination confirmed by the sink and acknowledged.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_retries_total", Help: "Sends retried after a retryable failure.",
		}),
		sendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_send_failures_total", Help: "Sends that failed with a retryable error.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_dropped_records_total", Help: "Records not delivered, by record kind and reason (too_large, invalid_topic, topic_authorization, invalid_record, corrupt_message, policy_violation, shutdown).",
		}, []string{"record", "reason"}),
		fieldsOmitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_fields_omitted_total", Help: "Log records sent without their parsed fields (processing), which made them larger than kafka.max_message_bytes; the rest of the record is sent, with the parsed line as one JSON object for its message when the message was taken from a field and that line fits.",
		}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_ship_fallback_topic_records_total", Help: "Log records sent to the fallback topic because the topic template gave no valid name.",
		}),
		replaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_replaced_records_total", Help: "Records taken from a destination and placed again by the current metadata, by record kind and reason (partition_gone: the topic no longer has the partition).",
		}, []string{"record", "reason"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_ship_batch_duration_seconds", Help: "Round-trip time of one request to a destination of the sink (a shared request counts once per destination).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		heldBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_ship_held_bytes", Help: "Encoded bytes of records held by ship (batching or in flight).",
		}),
		heldLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_ship_held_bytes_limit", Help: "Upper bound of ferry_ship_held_bytes.",
		}),
		holdback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_ship_held_back_files", Help: "Files whose reading is held back because their destination fails and holds more than its share of the log budget.",
		}),
		readToAck: newRunHistogram("ferry_read_to_ack_seconds", "Time from reading a log line to acknowledging it after the sink confirmed (or dropped) it.",
			prometheus.ExponentialBuckets(0.005, 2.5, 12)),
		destFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_destination_failures_total", Help: "Failed attempts to send to a destination, by configured topic (\"templated\" for the topics of kafka.topic's template) and reason (timeout, unknown_topic, unknown_partition, topic_authorization, invalid_timestamp, corrupt_message, broker, network); its records are held and retried.",
		}, []string{"destination", "reason"}),
		budgetFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_ship_budget_full_total", Help: "Times ship stopped reading log records because it held its whole in-flight budget, by the destination holding the most.",
		}, []string{"destination"}),
	}
	for _, r := range []string{"ok", "error"} {
		m.dials.WithLabelValues(r)
		m.produceRequests.WithLabelValues(r)
	}
	for _, a := range apiNames {
		m.requests.WithLabelValues(a)
	}
	for _, c := range []string{"age", "stale", "topic"} {
		m.metadataRefreshes.WithLabelValues(c)
	}
	for _, r := range []string{"log", "metric"} {
		m.sent.WithLabelValues(r)
		m.sentBytes.WithLabelValues(r)
		// Every drop series exists from the start at 0, so that increase()
		// and alerts see the first drop of a reason too.
		for _, reason := range dropReasons {
			m.dropped.WithLabelValues(r, reason)
		}
		m.replaced.WithLabelValues(r, "partition_gone")
	}
	return m
}

// init creates the per-destination series of labels at 0.
func (m *metrics) init(h *health, labels []string, now func() int64) {
	m.dest = &destCollector{h: h, labels: labels, now: now,
		age: prometheus.NewDesc("ferry_ship_destination_unconfirmed_age_seconds",
			"Age of the oldest record held for a destination and not yet confirmed by the sink (0 when none), by configured topic.",
			[]string{"destination"}, nil),
		held: prometheus.NewDesc("ferry_ship_destination_held_records",
			"Records held for a destination (placed in its lane, not yet confirmed), by configured topic.",
			[]string{"destination"}, nil),
	}
	for _, d := range labels {
		m.budgetFull.WithLabelValues(d)
		for _, r := range failureReasons {
			m.destFailures.WithLabelValues(d, r)
		}
	}
}

// destCollector reports the per-destination gauges from what the loop
// last published, ages computed at scrape time.
type destCollector struct {
	h         *health
	now       func() int64 // the Shipper's mono clock
	labels    []string
	age, held *prometheus.Desc
}

func (c *destCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.age; ch <- c.held }

func (c *destCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	c.h.mu.Lock()
	defer c.h.mu.Unlock()
	for _, d := range c.labels {
		age := 0.0
		if o := c.h.oldestBy[d]; o != 0 {
			age = time.Duration(now - o).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, d)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(c.h.recordsBy[d]), d)
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	cs := []prometheus.Collector{m.sent, m.sentBytes, m.batches, m.retries, m.sendFailures, m.dropped, m.fallback, m.fieldsOmitted, m.replaced,
		m.batchDuration, m.heldBytes, m.heldLimit, m.holdback, m.readToAck, m.destFailures, m.budgetFull, m.dest}
	if m.kafka {
		cs = append(cs, m.dials, m.produceRequests, m.requests, m.metadataRefreshes)
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

// runHistogram is a Prometheus histogram that takes a value observed n
// times in one call. ship acknowledges the lines of a request together,
// and the lines of one read share their read time (event.Log.ReadAt), so
// their read-to-ack latencies are runs of one value: one bucket search and
// one lock per run, where prometheus.Histogram takes one observation (a
// search and three atomic updates) per line, 1.8 % of the pipeline's CPU
// to Kafka at full speed.
type runHistogram struct {
	desc   *prometheus.Desc
	upper  []float64 // bucket bounds, ascending (le)
	mu     sync.Mutex
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	count  uint64
	sum    float64
}

func newRunHistogram(name, help string, buckets []float64) *runHistogram {
	return &runHistogram{
		desc:   prometheus.NewDesc(name, help, nil, nil),
		upper:  buckets,
		counts: make([]uint64, len(buckets)+1),
	}
}

// Observe observes v once.
func (h *runHistogram) Observe(v float64) { h.observeN(v, 1) }

// observeN observes v n times.
func (h *runHistogram) observeN(v float64, n uint64) {
	if n == 0 || math.IsNaN(v) {
		return
	}
	i := sort.SearchFloat64s(h.upper, v) // the first bound >= v: its bucket
	h.mu.Lock()
	h.counts[i] += n
	h.count += n
	h.sum += v * float64(n)
	h.mu.Unlock()
}

func (h *runHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *runHistogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.upper))
	h.mu.Lock()
	var cum uint64
	for i, le := range h.upper {
		cum += h.counts[i]
		buckets[le] = cum
	}
	count, sum := h.count, h.sum
	h.mu.Unlock()
	ch <- prometheus.MustNewConstHistogram(h.desc, count, sum, buckets)
}
