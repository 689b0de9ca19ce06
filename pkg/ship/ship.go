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
}

// producer is what ship needs from a sink: the Kafka producer and the
// NDJSON debug sinks. A call returns nil when every message was confirmed,
// or kafka.WriteErrors with one entry per message, or one error for all.
type producer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
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
	ping       func(ctx context.Context) error
	client     *kafka.Client // metadata requests (Kafka only)
	autoCreate bool
	closer     io.Closer
	sasl       bool

	route      *router // nil for the debug sinks
	keyPodUID  bool
	metricsTop string

	linger     time.Duration
	maxBytes   int
	maxRecords int
	maxMsg     int
	backoffMin time.Duration
	backoffMax time.Duration

	dropLog struct {
		sync.Mutex
		window     time.Time
		lines      int
		suppressed int
	}

	lastSuccess atomic.Int64
	heldLogs    atomic.Int64
	heldMetrics atomic.Int64
	ran         atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

// New builds a Shipper for cfg. It validates cfg, opens the file of the file
// sink and prepares the Kafka writer, but starts no goroutine and makes no
// connection.
func New(cfg Config, logger *slog.Logger, opts Options) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ship: invalid config: %w", err)
	}
	if opts.Logs == nil {
		return nil, errors.New("ship: Options.Logs must not be nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Shipper{log: logger.With("component", "ship"), opts: opts, m: newMetrics()}
	switch {
	case cfg.Kafka != nil:
		s.log = s.log.With("sink", "kafka")
		if err := s.setupKafka(*cfg.Kafka); err != nil {
			return nil, err
		}
	case cfg.File != nil:
		s.log = s.log.With("sink", "file")
		f, err := os.OpenFile(cfg.File.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ship: open file sink: %w", err)
		}
		nd := &ndjson{w: f}
		// Only a regular file can be synced: fsync of a device such as
		// /dev/null fails (EINVAL), which would fail every send forever.
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			nd.sync = f.Sync
		}
		s.prod, s.closer = nd, f
		s.setupDebug(cfg.File.Linger)
	case cfg.Stdout != nil:
		s.log = s.log.With("sink", "stdout")
		w := opts.Stdout
		if w == nil {
			w = os.Stdout
		}
		s.prod = &ndjson{w: w}
		s.setupDebug(cfg.Stdout.Linger)
	}
	s.m.heldLimit.Set(float64(2 * (s.maxBytes + s.maxMsg)))
	s.m.kafka = s.transport != nil
	if opts.Registerer != nil {
		if err := s.m.register(opts.Registerer); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("ship: register metrics: %w", err)
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
	s.ping = func(context.Context) error { return nil }
}

// LastSuccess is when the sink last accepted a batch or answered a metadata
// request (the zero time if never).
func (s *Shipper) LastSuccess() time.Time {
	n := s.lastSuccess.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func (s *Shipper) markSuccess() { s.lastSuccess.Store(time.Now().UnixNano()) }

// Ping asks the sink for metadata (Kafka: a metadata request) and records
// success. The debug sinks always succeed.
func (s *Shipper) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("ship: ping: %s: %w", s.hint(err), err)
	}
	s.markSuccess()
	return nil
}

// Close releases the sink (the Kafka writer and its connections, or the
// file). It waits for a produce request still running after a hard stop,
// at most the write timeout. It is idempotent.
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

// item is one record in a batch: its encoded bytes are buf[start:end] and
// its key buf[keyStart:keyEnd].
type item struct {
	cursor           event.Cursor
	readAt           int64
	topic            string
	path             string // file of a log record (shared string: no copy)
	start, end       int
	keyStart, keyEnd int
	isLog            bool
	done             bool   // delivered or dropped
	dropped          string // reason, when dropped
}

func (it *item) size() int { return it.end - it.start + it.keyEnd - it.keyStart }

func (it *item) kind() string {
	if it.isLog {
		return "log"
	}
	return "metric"
}

// batch is what is sent in one go. Batches are recycled, so that their
// buffers stop growing and nothing is allocated per record.
type batch struct {
	buf     []byte
	items   []item
	bytes   int // encoded bytes of the records not dropped
	wire    int // bytes plus Kafka's per-record overhead
	msgs    []kafka.Message
	call    []kafka.Message
	pending []int
}

func (b *batch) reset() {
	b.buf, b.items, b.bytes, b.wire = b.buf[:0], b.items[:0], 0, 0
	clear(b.msgs)
	clear(b.call)
}

// Run ships until Logs is closed (and Metrics closed or nil) and everything
// held was confirmed and acknowledged, then returns nil.
//
// Cancelling ctx is the hard stop: Run returns promptly and what was not
// confirmed is not acknowledged (it will be read again after a restart);
// metric records still held are dropped and counted (reason "shutdown").
// Run then returns an error wrapping the context's error if log records were
// left unconfirmed, and nil otherwise. Run may be called once.
func (s *Shipper) Run(ctx context.Context) error {
	if !s.ran.CompareAndSwap(false, true) {
		return errors.New("ship: Run called twice")
	}
	const nbatch = 2 // one filling, one in flight: bounds memory
	free := make(chan *batch, nbatch)
	for range nbatch {
		free <- &batch{}
	}
	full := make(chan *batch, 1)
	var wg sync.WaitGroup
	wg.Go(func() { s.batcher(ctx, full, free) })
	wg.Go(func() { s.sender(ctx, full, free) })
	wg.Wait()
	if ctx.Err() == nil {
		return nil
	}
	if n := s.heldMetrics.Swap(0); n > 0 {
		s.m.dropped.WithLabelValues("metric", "shutdown").Add(float64(n))
		s.log.Warn("hard stop: dropped metric records not confirmed", "records", n)
	}
	if n := s.heldLogs.Load(); n > 0 {
		s.log.Warn("hard stop: log records not confirmed are not acknowledged; they will be read again", "records", n)
		return fmt.Errorf("ship: stopped with %d log records unconfirmed: %w", n, context.Cause(ctx))
	}
	return nil
}

// batcher encodes records into batches and hands them to the sender when
// full or when their oldest record lingered long enough.
func (s *Shipper) batcher(ctx context.Context, full chan<- *batch, free <-chan *batch) {
	defer close(full)
	enc := newEncoder()
	var cur *batch
	get := func() bool {
		select {
		case cur = <-free:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !get() {
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		timer.Stop()
		if len(cur.items) == 0 {
			return true
		}
		select {
		case full <- cur:
		case <-ctx.Done():
			s.forget(cur)
			return false
		}
		cur = nil
		return get()
	}
	var scratch []byte
	put := func(it item) bool {
		if !s.place(cur, it, scratch) {
			if !flush() {
				return false
			}
			s.place(cur, it, scratch)
		}
		if len(cur.items) == 1 {
			timer.Reset(s.linger)
		}
		if cur.wire >= s.maxBytes-batchHeader || len(cur.items) >= s.maxRecords {
			return flush()
		}
		return true
	}
	logs, snaps := s.opts.Logs, s.opts.Metrics
	for logs != nil || snaps != nil {
		select {
		case ls, ok := <-logs:
			if !ok {
				logs = nil
				continue
			}
			for i := range ls {
				var it item
				it, scratch = s.encodeLog(enc, scratch, &ls[i])
				if !put(it) {
					return
				}
			}
			// Every line is encoded into the batch buffer: ship is the
			// last holder of the slice and of the bodies it refers to.
			event.Recycle(ls)
		case snap, ok := <-snaps:
			if !ok {
				snaps = nil
				continue
			}
			for i := range snap.Metrics {
				var it item
				it, scratch = s.encodeMetric(scratch, &snap.Metrics[i], snap.Time, snap.Node)
				if !put(it) {
					return
				}
			}
		case <-timer.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			s.forget(cur)
			return
		}
	}
	flush()
}

// forget accounts for a batch abandoned at hard stop.
func (s *Shipper) forget(b *batch) {
	if b != nil {
		s.m.heldBytes.Sub(float64(b.bytes))
	}
}

// recordOverhead bounds what Kafka's record format adds to a record's key
// and value (length, attributes, timestamp and offset deltas, key and value
// lengths, header count), so that a batch's produce request stays within
// batch.max_bytes.
const recordOverhead = 32

// batchHeader is the size of a Kafka record batch header, with a margin.
const batchHeader = 128

// encodeLog encodes l into buf (reset), followed by its key; it returns the
// item (start..end is the value, end..keyEnd the key, within buf).
func (s *Shipper) encodeLog(enc *encoder, buf []byte, l *event.Log) (item, []byte) {
	it := item{cursor: l.Cursor, readAt: l.ReadAt, isLog: true, path: l.Path}
	buf = enc.appendLog(buf[:0], l)
	it.end, it.keyStart, it.keyEnd = len(buf), len(buf), len(buf)
	if s.route != nil {
		var fallback bool
		it.topic, fallback = s.route.topic(l.Meta)
		if fallback {
			s.m.fallback.Inc()
		}
		if s.keyPodUID && l.Meta != nil && l.Meta.PodUID != "" {
			buf = append(buf, l.Meta.PodUID...)
			it.keyEnd = len(buf)
		}
	}
	return it, buf
}

func (s *Shipper) encodeMetric(buf []byte, m *event.Metric, t time.Time, node string) (item, []byte) {
	it := item{topic: s.metricsTop}
	buf = appendMetric(buf[:0], m, t, node)
	it.end, it.keyStart, it.keyEnd = len(buf), len(buf), len(buf)
	if s.route != nil && s.keyPodUID && node != "" {
		buf = append(buf, node...)
		it.keyEnd = len(buf)
	}
	return it, buf
}

// place copies an encoded record (it over enc) into the batch b. It returns
// false, placing nothing, when b holds records and this one would take it
// over the size bound: the caller flushes b and places it in the next one.
func (s *Shipper) place(b *batch, it item, enc []byte) bool {
	n := it.size()
	if n > s.maxMsg {
		it.start, it.end, it.keyStart, it.keyEnd = 0, 0, 0, 0
		it.done, it.dropped = true, "too_large"
		s.m.dropped.WithLabelValues(it.kind(), it.dropped).Inc()
		s.logDrop("record dropped: larger than the largest record the sink takes (kafka.max_message_bytes)", "record", it.kind(),
			"bytes", n, "limit", s.maxMsg, "file", it.path, "offset", it.cursor.Offset)
	} else {
		if len(b.items) > 0 && b.wire+n+recordOverhead > s.maxBytes-batchHeader {
			return false
		}
		base := len(b.buf)
		b.buf = append(b.buf, enc...)
		it.start, it.end, it.keyStart, it.keyEnd = base, base+it.end, base+it.keyStart, base+it.keyEnd
		b.bytes += n
		b.wire += n + recordOverhead
		s.m.heldBytes.Add(float64(n))
	}
	if it.isLog {
		s.heldLogs.Add(1)
	} else {
		s.heldMetrics.Add(1)
	}
	b.items = append(b.items, it)
	return true
}

// sender delivers batches one after the other, then acknowledges them and
// gives them back to the batcher.
func (s *Shipper) sender(ctx context.Context, full <-chan *batch, free chan<- *batch) {
	for b := range full {
		if !s.deliver(ctx, b) {
			s.forget(b)
			// Let the batcher see the hard stop; it closes full.
			for b := range full {
				s.forget(b)
			}
			return
		}
		s.complete(b)
		b.reset()
		free <- b
	}
}

// complete acknowledges a batch whose records were all delivered or dropped.
func (s *Shipper) complete(b *batch) {
	now := time.Now()
	n := 0
	for i := range b.items {
		if b.items[i].isLog {
			n++
		}
	}
	cursors := make([]event.Cursor, 0, n) // the Acker may keep it
	var logs, metrics, logBytes, metricBytes int
	for i := range b.items {
		it := &b.items[i]
		if it.isLog {
			cursors = append(cursors, it.cursor)
			if it.readAt != 0 {
				s.m.readToAck.Observe(now.Sub(time.Unix(0, it.readAt)).Seconds())
			}
		}
		if it.dropped != "" {
			continue
		}
		if it.isLog {
			logs++
			logBytes += it.size()
		} else {
			metrics++
			metricBytes += it.size()
		}
	}
	s.m.sent.WithLabelValues("log").Add(float64(logs))
	s.m.sent.WithLabelValues("metric").Add(float64(metrics))
	s.m.sentBytes.WithLabelValues("log").Add(float64(logBytes))
	s.m.sentBytes.WithLabelValues("metric").Add(float64(metricBytes))
	s.m.batches.Inc()
	s.m.heldBytes.Sub(float64(b.bytes))
	s.heldMetrics.Add(-int64(len(b.items) - len(cursors)))
	s.heldLogs.Add(-int64(len(cursors)))
	if len(cursors) > 0 && s.opts.Acker != nil {
		s.opts.Acker.Ack(cursors)
	}
}

// deliver sends the records of b until each is confirmed by the sink or
// dropped for a non-retryable reason. It returns false on hard stop.
//
// Order: one WriteMessages call is in flight at a time, and a call carries
// at most one kafka-go batch per partition (see the package documentation),
// so a partition's records succeed or fail together and the failed ones are
// sent again before anything that came after them.
func (s *Shipper) deliver(ctx context.Context, b *batch) bool {
	now := time.Now()
	b.msgs = b.msgs[:0]
	b.pending = b.pending[:0]
	for i := range b.items {
		it := &b.items[i]
		if it.done {
			b.msgs = append(b.msgs, kafka.Message{})
			continue
		}
		msg := kafka.Message{Topic: it.topic, Value: b.buf[it.start:it.end], Time: now}
		if it.keyEnd > it.keyStart {
			msg.Key = b.buf[it.keyStart:it.keyEnd]
		}
		b.msgs = append(b.msgs, msg)
		b.pending = append(b.pending, i)
	}
	// limit is how many pending records go in one call. When the sink
	// refuses several records for a reason about a record, it is halved
	// until the refused record is alone, and only that one is dropped.
	limit := len(b.pending)
	attempt := 0
	var firstFailure time.Time
	for len(b.pending) > 0 {
		n := min(limit, len(b.pending))
		b.call = b.call[:0]
		for _, i := range b.pending[:n] {
			b.call = append(b.call, b.msgs[i])
		}
		start := time.Now()
		err := s.prod.WriteMessages(ctx, b.call...)
		s.m.batchDuration.Observe(time.Since(start).Seconds())
		if ctx.Err() != nil {
			return false
		}
		var we kafka.WriteErrors
		perMessage := errors.As(err, &we) && len(we) == n
		keep := b.pending[:0]
		var retryErr error
		delivered := 0
		for j, i := range b.pending[:n] {
			e := err
			if perMessage {
				e = we[j]
			}
			it := &b.items[i]
			if e == nil {
				it.done = true
				delivered++
				continue
			}
			reason, retry := classify(e)
			switch {
			case retry:
				retryErr = e
				keep = append(keep, i)
			case n > 1:
				// The broker refused several records: find the culprit.
				limit = max(1, n/2)
				keep = append(keep, i)
			default:
				it.done, it.dropped = true, reason
				s.m.dropped.WithLabelValues(it.kind(), reason).Inc()
				s.m.heldBytes.Sub(float64(it.size()))
				b.bytes -= it.size()
				s.logDrop("record dropped: refused by the sink", "record", it.kind(), "reason", reason,
					"topic", it.topic, "bytes", it.size(), "file", it.path, "offset", it.cursor.Offset, "error", e)
			}
		}
		keep = append(keep, b.pending[n:]...)
		b.pending = keep
		if delivered > 0 {
			s.markSuccess()
		}
		if retryErr == nil {
			if attempt > 0 {
				s.log.Info("sink accepts records again", "after", time.Since(firstFailure).Round(time.Millisecond), "attempts", attempt)
			}
			attempt = 0
			continue
		}
		s.m.sendFailures.Inc()
		if errors.Is(retryErr, kafka.UnknownTopicOrPartition) {
			s.rerouteMissing(ctx, b)
		}
		if attempt == 0 {
			firstFailure = time.Now()
		}
		d := s.backoff(attempt)
		attempt++
		lvl := slog.LevelDebug
		if attempt == 1 || attempt%10 == 0 {
			lvl = slog.LevelWarn
		}
		s.log.Log(ctx, lvl, "send failed, retrying", "error", retryErr, "hint", s.hint(retryErr),
			"records", len(b.pending), "attempt", attempt, "backoff", d.Round(time.Millisecond))
		s.m.retries.Inc()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	return true
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

// backoff returns the wait before retry attempt n (from 0): a random time
// in [bound/2, bound] where bound = min(backoff_max, backoff_min * 2^n).
func (s *Shipper) backoff(n int) time.Duration {
	bound := s.backoffMax
	if n < 30 {
		bound = min(s.backoffMax, s.backoffMin<<n)
	}
	return bound/2 + rand.N(bound/2+1)
}

// classify says whether err is worth retrying, and if not, the reason under
// which the record is dropped. Only errors that are about the record itself
// drop it; everything else (network, leadership, authentication, unknown)
// is retried, because dropping would lose data that a fixed broker or
// config would accept.
func classify(err error) (reason string, retry bool) {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge:
			return "too_large", false
		case kafka.InvalidTopic:
			return "invalid_topic", false
		case kafka.TopicAuthorizationFailed:
			return "topic_authorization", false
		case kafka.InvalidRecord:
			return "invalid_record", false
		case kafka.PolicyViolation:
			return "policy_violation", false
		}
	}
	var mtl kafka.MessageTooLargeError
	if errors.As(err, &mtl) {
		return "too_large", false
	}
	return "", true
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
		if ke == kafka.SASLAuthenticationFailed {
			return "authentication failed (check kafka.sasl)"
		}
		if ke.Temporary() {
			return "temporary broker condition"
		}
	}
	return "retrying until the sink accepts the records"
}
