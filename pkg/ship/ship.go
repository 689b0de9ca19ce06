package ship

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Acker receives the cursors of log records that were delivered, or dropped
// and counted. pkg/tail's *Tailer satisfies it. Ship calls it from a single
// goroutine and never reuses the slice it passed.
//
// Ack must not wait for a send on Options.Logs to complete (for example by
// taking a lock the sending goroutine holds while it sends): ship may be
// waiting for Ack to return before it reads Logs again.
type Acker interface{ Ack(cursors []event.Cursor) }

// Options are the Shipper's inputs and dependencies.
type Options struct {
	// Logs is closed by the upstream when it has nothing more.
	Logs <-chan []event.Log
	// Metrics may be nil; it is closed by its producer when done.
	Metrics <-chan event.Snapshot
	// Acker receives cursors of delivered or dropped-and-counted log records.
	Acker Acker
	// Registerer receives ship's metrics; nil means no registration.
	Registerer prometheus.Registerer
	// Stdout is where the stdout sink writes; nil means os.Stdout.
	Stdout io.Writer
	// Holdback, if set, receives the files (Cursor.Source) whose records
	// go to a failing destination holding more than its share of the log
	// budget, so that the reader stops reading them and the other files
	// go on (see "Bounded memory" in the package documentation).
	Holdback *event.Holdback
}

// Shipper encodes records, batches them, sends the batches to the sink and
// acknowledges what the sink confirmed. See the package documentation for
// its guarantees.
type Shipper struct {
	log  *slog.Logger
	opts Options
	m    *metrics

	prod       producer
	transport  kafka.RoundTripper // Kafka only
	fresh      *freshTransport    // Kafka only
	ping       func(ctx context.Context) error
	autoCreate bool
	closer     io.Closer
	sasl       bool
	sink       string // "kafka", "file", "stdout"

	route      *router // nil for the debug sinks
	keyPodUID  bool
	metricsTop string
	encoding   string // kafka.encoding; "" (json) for the debug sinks

	linger       time.Duration
	maxBytes     int
	maxRecords   int
	maxMsg       int
	backoffMin   time.Duration
	backoffMax   time.Duration
	writeTimeout time.Duration
	dropUnauth   bool
	// logBudget and metricBudget bound the encoded bytes ship holds of each
	// kind; reading that kind's input stops while its budget is full.
	logBudget, metricBudget int
	notReadyAfter           time.Duration

	dropLog struct {
		sync.Mutex
		window     time.Time
		lines      int
		suppressed int
	}

	// wall is the wall clock (time.Now; tests step it). Only a record's
	// read time (event.Log.ReadAt, the tailer's wall clock) is compared
	// with it, once, when ship takes the record (see mono).
	wall func() time.Time
	// epoch is the origin of ship's monotonic stamps (mono).
	epoch       time.Time
	health      health
	lastSuccess atomic.Int64
	ran         atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

// New builds a Shipper for cfg. It validates cfg, opens the file of the file
// sink and prepares the Kafka producer, but starts no goroutine and makes no
// connection.
func New(cfg Config, logger *slog.Logger, opts Options) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	if opts.Logs == nil {
		return nil, errors.New("Options.Logs must not be nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Shipper{log: logger.With("component", "ship"), opts: opts, m: newMetrics(), wall: time.Now, epoch: time.Now()}
	s.notReadyAfter = defaultNotReadyAfter
	if cfg.Kafka != nil {
		s.notReadyAfter = time.Duration(cfg.Kafka.NotReadyAfter)
	}
	switch {
	case cfg.Kafka != nil:
		s.sink = "kafka"
		s.log = s.log.With("sink", "kafka")
		if err := s.setupKafka(*cfg.Kafka); err != nil {
			return nil, err
		}
	case cfg.File != nil:
		s.sink = "file"
		s.log = s.log.With("sink", "file")
		f, err := os.OpenFile(cfg.File.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open file sink: %w", err)
		}
		nd := &ndjson{w: f}
		// Only a regular file can be synced: fsync of a device such as
		// /dev/null fails (EINVAL), which would fail every send forever.
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			nd.sync, nd.file = f.Sync, f
		}
		s.prod, s.closer = nd, f
		s.setupDebug(cfg.File.Linger)
	case cfg.Stdout != nil:
		s.sink = "stdout"
		s.log = s.log.With("sink", "stdout")
		w := opts.Stdout
		if w == nil {
			w = os.Stdout
		}
		s.prod = &ndjson{w: w}
		s.setupDebug(cfg.Stdout.Linger)
	}
	// Kafka's logs may hold four requests' worth and one largest record,
	// so that other destinations go on while one is failing; the debug
	// sinks, which have one destination, two requests' worth (a longer
	// queue only makes its records cold in the CPU's caches when the sink
	// is saturated: BenchmarkPipelineStdout took 31% more CPU with 20 MiB).
	// Metric records may hold one request's worth.
	s.logBudget = 4*s.maxBytes + s.maxMsg
	if s.route == nil {
		s.logBudget = 2 * s.maxBytes
	}
	s.metricBudget = s.maxBytes
	s.m.heldLimit.Set(float64(s.logBudget + s.metricBudget + s.maxBytes + s.maxMsg))
	s.health.oldestBy, s.health.recordsBy = map[string]int64{}, map[string]int{}
	s.m.init(&s.health, s.labels(), s.mono)
	s.m.kafka = s.transport != nil
	if opts.Registerer != nil {
		if err := s.m.register(opts.Registerer); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return s, nil
}

func (s *Shipper) setupDebug(linger time.Duration) {
	s.linger = defaultDebugLinger
	if linger > 0 {
		s.linger = time.Duration(linger)
	}
	s.maxBytes, s.maxRecords, s.maxMsg = 1<<20, 4096, 16<<20
	s.backoffMin, s.backoffMax = 100*time.Millisecond, 10*time.Second
	s.writeTimeout = time.Minute
	s.ping = func(context.Context) error { return nil }
}

// LastSuccess is when the sink last accepted a batch or answered a ping
// (the zero time if never).
func (s *Shipper) LastSuccess() time.Time {
	n := s.lastSuccess.Load()
	if n == 0 {
		return time.Time{}
	}
	// epoch's monotonic reading comes with it: time.Since(LastSuccess())
	// is measured by the monotonic clock, whatever steps the wall clock
	// made meanwhile.
	return s.epoch.Add(time.Duration(n - 1))
}

func (s *Shipper) markSuccess() { s.lastSuccess.Store(s.mono()) }

// mono is ship's monotonic clock: nanoseconds since epoch, plus one (0
// means none). Every age ship reports (Ready, the unconfirmed age gauge,
// read_to_ack, LastSuccess) is a difference of mono stamps: an NTP step
// of the wall clock (an hour back, a day forward) moves none of them, where
// wall-clock stamps would hide a stuck sink for the size of a backward
// step and report a forward step's size as a delay.
func (s *Shipper) mono() int64 { return int64(time.Since(s.epoch)) + 1 }

// Ping asks the sink for an answer (Kafka: an ApiVersions request on the
// bootstrap connection, not answered from any cache) and records success.
// The debug sinks always succeed.
func (s *Shipper) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("ship: ping: %s: %w", s.hint(err), err)
	}
	s.markSuccess()
	return nil
}

// Close releases the sink (the Kafka Transport's idle connections, or the
// file). It is idempotent.
func (s *Shipper) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.transport != nil {
			closeIdle(s.transport)
		}
		if s.closer != nil {
			errs = append(errs, s.closer.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// maxDropLines is how many drop lines per second are logged; the others
// are counted and reported with the next line (the metric counts all).
const maxDropLines = 10

func (s *Shipper) logDrop(msg string, args ...any) {
	d := &s.dropLog
	d.Lock()
	now := time.Now()
	if now.Sub(d.window) >= time.Second {
		d.window, d.lines = now, 0
		if d.suppressed > 0 {
			args = append(args, "suppressed_before", d.suppressed)
			d.suppressed = 0
		}
	}
	if d.lines >= maxDropLines {
		d.suppressed++
		d.Unlock()
		return
	}
	d.lines++
	d.Unlock()
	s.log.Warn(msg, args...)
}

// hint explains an error to an operator.
func (s *Shipper) hint(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if s.sasl {
			return "the broker closed the connection: with SASL, authentication likely failed (check kafka.sasl.mechanism, username and password)"
		}
		return "the broker closed the connection"
	case errors.Is(err, context.DeadlineExceeded):
		return "the broker did not answer within kafka.write_timeout or kafka.dial_timeout"
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) || strings.Contains(err.Error(), "tls: ") {
		return "the TLS handshake failed (check kafka.tls: ca_file, cert_file, key_file, server_name)"
	}
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.SASLAuthenticationFailed:
			return "authentication failed (check kafka.sasl)"
		case kafka.UnknownTopicOrPartition:
			return "the topic does not exist: create it (or allow kafka.allow_auto_topic_creation); its records wait"
		case kafka.TopicAuthorizationFailed:
			return "the brokers' ACLs do not let this client write the topic; its records wait (kafka.drop_unauthorized drops them)"
		case kafka.InvalidTimestamp:
			return "the brokers refuse this node's clock (message.timestamp.*.max.ms): check the node's time"
		}
		if ke.Temporary() {
			return "temporary broker condition"
		}
	}
	return "retrying until the sink accepts the records"
}

// health is what the loop publishes for Ready and the per-destination
// metrics (see loop.publish).
type health struct {
	mu        sync.Mutex
	oldest    int64 // when ship took its oldest unconfirmed record (a mono stamp; 0: none)
	where     string
	err       error
	oldestBy  map[string]int64 // by destination label
	recordsBy map[string]int   // by destination label
}

// Ready returns nil unless the oldest record not yet confirmed by the sink
// has waited longer than not_ready_after; its error then names the
// destination holding it and the destination's last error. A sink that
// has nothing to send is ready: readiness reflects delivery.
func (s *Shipper) Ready() error { return s.ready(s.mono()) }

// ready is Ready at now, a mono stamp.
func (s *Shipper) ready(now int64) error {
	h := &s.health
	h.mu.Lock()
	oldest, where, lastErr := h.oldest, h.where, h.err
	h.mu.Unlock()
	if oldest == 0 {
		return nil
	}
	age := time.Duration(now - oldest)
	if age <= s.notReadyAfter {
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("ship: %s has held records unconfirmed for %s (not_ready_after %s): %s: %w",
			where, age.Round(time.Second), s.notReadyAfter, s.hint(lastErr), lastErr)
	}
	return fmt.Errorf("ship: %s has held records unconfirmed for %s (not_ready_after %s)",
		where, age.Round(time.Second), s.notReadyAfter)
}

// label is the ferry_ship_destination_* label of topic: the configured
// name it comes from (kafka.topic when fixed, kafka.fallback_topic,
// kafka.metrics_topic), "templated" for the topics a template made (never
// their names: they are unbounded), or the debug sink's name.
func (s *Shipper) label(topic string) string {
	switch {
	case s.route == nil:
		return s.sink
	case topic == s.metricsTop:
		return topic
	case s.route.tmpl == nil:
		return topic
	case topic == s.route.fallback:
		return topic
	}
	return "templated"
}

// labels are every value label can return.
func (s *Shipper) labels() []string {
	if s.route == nil {
		return []string{s.sink}
	}
	ls := []string{"templated", s.route.fallback, s.metricsTop}
	if s.route.tmpl == nil {
		ls = []string{s.route.fixed, s.metricsTop}
	}
	slices.Sort(ls)
	return slices.Compact(ls)
}

func randN(n int) int { return rand.N(n) }
