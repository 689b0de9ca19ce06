package ship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/ferry-dev/ferry/pkg/event"
)

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
		return errors.New("Run called twice")
	}
	return newLoop(s).run(ctx)
}

func newLoop(s *Shipper) *loop {
	l := &loop{s: s, lanes: make(map[dest]*lane), results: make(chan result), enc: newEncoder()}
	if s.encoding == encodingOTLPProto || s.encoding == encodingOTLPJSON {
		l.otlp = newOTLPEncoder(s.encoding)
	}
	l.arena.max = (s.logBudget+s.metricBudget)/chunkSize + 2
	return l
}

// loop is Run's state, owned by its goroutine. Records are encoded as they
// arrive, wait at most the linger in pending, and are then placed in the
// lane of their destination; each lane sends its front records, one
// request at a time, from a goroutine of its own that reports on results.
type loop struct {
	s       *Shipper
	lanes   map[dest]*lane
	order   []*lane // the lanes, oldest first
	pending []rec
	// pendingWire is pending's size with Kafka's per-record overhead.
	pendingWire int
	// held bytes and records by kind, pending and in lanes.
	logBytes, metricBytes int
	logRecs, metricRecs   int
	results               chan result
	inflight              int
	enc                   *encoder
	otlp                  *otlpEncoder // kafka.encoding otlp_proto or otlp_json; nil for json
	scratch               []byte
	arena                 arena
	linger                *time.Timer
	lingering             bool      // linger runs for pending's first record
	drainAt               time.Time // when the inputs were closed (zero before)
	// drainRefresh is when the drain refreshed the metadata before giving
	// up on unknown topics or partitions (zero before; see onlyRefused).
	drainRefresh   time.Time
	paused         bool // log input stopped because the budget is full
	budgetWarnedAt time.Time
	publishedAt    time.Time
	// counts is each topic's partition count as last placed by (see
	// moveGone); shrunk holds the former count of the topics that lost
	// partitions while a lane of one that is gone has a request in
	// flight.
	counts, shrunk map[string]int
}

// result is the answer to one lane's request; more are the answers of
// the other lanes of a shared request (see startGroup).
type result struct {
	l    *lane
	err  error
	took time.Duration
	more []result
}

func (l *loop) run(ctx context.Context) error {
	s := l.s
	logs, snaps := s.opts.Logs, s.opts.Metrics
	l.linger = time.NewTimer(time.Hour)
	l.linger.Stop()
	defer l.linger.Stop()
	wake := time.NewTimer(time.Hour)
	wake.Stop()
	defer wake.Stop()
	// trimWake wakes an idle loop for the arena's next trim while it keeps
	// free chunks: a catch-up followed by silence (no lines, no metrics)
	// must not keep the chunks it needed until the next line comes.
	trimWake := time.NewTimer(time.Hour)
	trimWake.Stop()
	defer trimWake.Stop()
	trimArmed := false
	defer func() {
		s.m.heldBytes.Set(float64(l.logBytes + l.metricBytes))
		l.publish(time.Now(), true)
	}()
	for {
		if logs == nil && snaps == nil {
			if l.drainAt.IsZero() {
				l.startDrain(time.Now())
			}
			if len(l.pending) > 0 {
				l.flush(ctx)
			}
			if l.inflight == 0 && l.logRecs+l.metricRecs == 0 {
				return nil
			}
			if l.inflight == 0 && l.onlyRefused(time.Now()) {
				return l.giveUp()
			}
		}
		now := time.Now()
		l.dispatch(ctx, now)
		l.publish(now, false)
		if next := l.arena.maybeTrim(now); !trimArmed && !next.IsZero() {
			trimWake.Reset(max(0, next.Sub(now)))
			trimArmed = true
		}
		s.m.heldBytes.Set(float64(l.logBytes + l.metricBytes))
		if next, ok := l.nextRetry(); ok {
			wake.Reset(max(0, next.Sub(now)))
		}
		logIn, snapIn := logs, snaps
		if l.logBytes >= s.logBudget {
			logIn = nil
		}
		if l.metricBytes >= s.metricBudget {
			snapIn = nil
		}
		l.budget(now, logIn == nil && logs != nil)
		select {
		case ls, ok := <-logIn:
			if !ok {
				logs = nil
				continue
			}
			now, wall := s.mono(), s.wall().UnixNano()
			for i := range ls {
				if ls[i].End {
					continue // a marker of the tailer's, not a record
				}
				r := l.encodeLog(&ls[i])
				if r.readAt != 0 {
					// The read time on the monotonic clock: the tailer
					// stamps it by the wall clock, compared here once
					// (a step back since the read counts as no time).
					r.readAt = now - max(0, wall-r.readAt)
				}
				l.add(r, now)
			}
			// Every line is encoded into a record of its own: ship is the
			// last holder of the slice and of the bodies it refers to.
			event.Recycle(ls)
			l.lingerOrFlush(ctx)
		case snap, ok := <-snapIn:
			if !ok {
				snaps = nil
				continue
			}
			now := s.mono()
			if l.otlp != nil {
				l.otlp.snapshot(&snap)
			}
			for i := range snap.Metrics {
				l.add(l.encodeMetric(&snap.Metrics[i], snap.Time, snap.Node), now)
			}
			l.lingerOrFlush(ctx)
		case <-l.linger.C:
			l.lingering = false
			l.flush(ctx)
		case <-wake.C:
		case <-trimWake.C:
			trimArmed = false
		case r := <-l.results:
			l.settle(ctx, r)
			// A shared request's answers are applied together, before
			// the lanes send again: together again.
			for _, m := range r.more {
				l.settle(ctx, m)
			}
		case <-ctx.Done():
			return l.hardStop(ctx)
		}
	}
}

// encodeLog encodes a log record with its key (into l.scratch) and topic.
func (l *loop) encodeLog(e *event.Log) rec {
	s := l.s
	r := rec{cursor: e.Cursor, readAt: e.ReadAt, isLog: true, path: e.Path}
	l.scratch = l.appendLog(l.scratch[:0], e)
	keyLen := 0
	if s.route != nil && s.keyPodUID && e.Meta != nil {
		keyLen = len(e.Meta.PodUID) // appended below
	}
	if len(e.Fields) > 0 && len(l.scratch)+keyLen > s.maxMsg {
		// The parsed fields (with keep_original, the message a second
		// time) made it too large: without them, as without a parser.
		// A message taken from a field is then the whole parsed line
		// again, as a JSON object (masked: it is made of the masked
		// message and fields), not that field alone; when that line is
		// too large too (always so in the json encoding, which writes
		// the fields as parsed), the message alone is sent, as a record
		// parsed with keep_original false was before.
		short := *e
		short.Fields, short.MessageKey = nil, ""
		if e.MessageKey != "" {
			short.Body = appendLineObject(nil, e)
		}
		l.scratch = l.appendLog(l.scratch[:0], &short)
		if e.MessageKey != "" && len(l.scratch)+keyLen > s.maxMsg {
			short.Body = e.Body
			l.scratch = l.appendLog(l.scratch[:0], &short)
		}
		if len(l.scratch)+keyLen <= s.maxMsg { // else too large anyway: add drops it
			s.m.fieldsOmitted.Inc()
			s.logDrop("record sent without its parsed fields: with them it is larger than the largest record the sink takes (kafka.max_message_bytes)",
				"record", r.kind(), "limit", s.maxMsg, "file", r.path, "offset", r.cursor.Offset)
		}
	}
	r.valueEnd = len(l.scratch)
	if s.route != nil {
		var fallback bool
		r.topic, fallback = s.route.topic(e.Meta)
		if fallback {
			s.m.fallback.Inc()
		}
		if s.keyPodUID && e.Meta != nil && e.Meta.PodUID != "" {
			l.scratch = append(l.scratch, e.Meta.PodUID...)
		}
	}
	return r
}

// appendLog appends the record of e in the sink's encoding.
func (l *loop) appendLog(dst []byte, e *event.Log) []byte {
	if l.otlp != nil {
		return l.otlp.appendLog(dst, e)
	}
	return l.enc.appendLog(dst, e)
}

// encodeMetric encodes a metric record (into l.scratch; keyed by node
// name).
func (l *loop) encodeMetric(m *event.Metric, t time.Time, node string) rec {
	s := l.s
	r := rec{topic: s.metricsTop}
	if l.otlp != nil {
		l.scratch = l.otlp.appendMetric(l.scratch[:0], m, t)
	} else {
		l.scratch = appendMetric(l.scratch[:0], m, t, node)
	}
	r.valueEnd = len(l.scratch)
	if s.route != nil && s.keyPodUID && node != "" {
		l.scratch = append(l.scratch, node...)
	}
	return r
}

// recordOverhead bounds what Kafka's record format adds to a record's key
// and value (length, attributes, timestamp and offset deltas, key and value
// lengths, header count), so that a request stays within batch.max_bytes.
const recordOverhead = 32

// batchHeader is the size of a Kafka record batch header, with a margin.
const batchHeader = 128

// add takes the record encoded in l.scratch into pending, or drops it when
// it is larger than the largest record the sink takes.
func (l *loop) add(r rec, now int64) {
	s := l.s
	r.heldAt = now
	if n := len(l.scratch); n > s.maxMsg {
		s.m.dropped.WithLabelValues(r.kind(), "too_large").Inc()
		s.logDrop("record dropped: larger than the largest record the sink takes (kafka.max_message_bytes)", "record", r.kind(),
			"bytes", n, "limit", s.maxMsg, "file", r.path, "offset", r.cursor.Offset)
		if r.isLog && r.readAt != 0 {
			// Acknowledged now: counted with the lines the sink
			// confirmed or dropped (resolve).
			s.m.readToAck.Observe(time.Duration(now - r.readAt).Seconds())
		}
		if r.isLog && s.opts.Acker != nil {
			s.opts.Acker.Ack([]event.Cursor{r.cursor})
		}
		return
	}
	r.data, r.chunk = l.arena.alloc(l.scratch)
	l.hold(&r, 1)
	l.pending = append(l.pending, r)
	l.pendingWire += r.size() + recordOverhead
}

// hold counts r as held (sign 1) or no longer held (sign -1). The
// ferry_ship_held_bytes gauge follows once per turn of the loop.
func (l *loop) hold(r *rec, sign int) {
	n := r.size()
	if r.isLog {
		l.logBytes += sign * n
		l.logRecs += sign
	} else {
		l.metricBytes += sign * n
		l.metricRecs += sign
	}
}

// lingerOrFlush flushes pending when it makes a full request, and
// otherwise starts the linger of its first record.
func (l *loop) lingerOrFlush(ctx context.Context) {
	switch {
	case len(l.pending) == 0:
	case l.pendingWire >= l.s.maxBytes-batchHeader || len(l.pending) >= l.s.maxRecords:
		l.flush(ctx)
	case !l.lingering:
		l.lingering = true
		l.linger.Reset(l.s.linger)
	}
}

// flush places the pending records in their lanes, in order.
func (l *loop) flush(ctx context.Context) {
	if l.lingering {
		l.linger.Stop()
		l.lingering = false
	}
	l.declareTopics()
	pc := placeCache{topics: map[string]topicParts{}}
	for i := range l.pending {
		l.place(ctx, &pc, l.pending[i])
	}
	clear(l.pending)
	l.pending, l.pendingWire = l.pending[:0], 0
}

// declareTopics tells the metadata the templated topics of the pending
// records before their partitions are looked up, so that topics coming
// into use together cost one metadata refresh.
func (l *loop) declareTopics() {
	s := l.s
	if s.fresh == nil || s.route == nil || s.route.tmpl == nil {
		return
	}
	var topics []string
	for i := range l.pending {
		if t := l.pending[i].topic; !slices.Contains(topics, t) && len(topics) < maxTopicsInUse {
			topics = append(topics, t)
		}
	}
	s.fresh.use(topics)
}

// placeCache remembers, within one flush, each topic's partitions and the
// lane of the last record's topic and key (records come in runs of one
// file's lines).
type placeCache struct {
	topics   map[string]topicParts
	lastLane *lane
	lastTop  string
	lastKey  []byte
	lastSrc  uint64 // file of the last record (unkeyed log records)
	// failing is failingBytes while failingKnown: computed once per
	// placement, kept up by the pushes into failing lanes, and forgotten
	// when a lane fails, is taken or is removed meanwhile (holdCheck on
	// every record pushed into a failing lane scanned every lane).
	failing      int
	failingKnown bool
}

type topicParts struct {
	parts  []int
	err    error
	sticky int // partition of the unkeyed metric records; -1 until chosen
}

// place puts r at the end of its destination's lane. A log record bound
// for a templated topic the brokers do not know goes to the fallback
// topic; a record whose topic's partitions are unknown waits in the
// topic's unresolved lane, behind the topic's earlier records.
func (l *loop) place(ctx context.Context, pc *placeCache, r rec) {
	s := l.s
	// Records come in runs of one file's lines: one topic, one key (one
	// file for unkeyed log records).
	if ln := pc.lastLane; ln != nil && r.topic == pc.lastTop && string(r.key()) == string(pc.lastKey) &&
		(pc.lastKey != nil || r.cursor.Source == pc.lastSrc) && ln.attempts == 0 {
		ln.push(r)
		return
	}
	pc.lastLane = nil
	if r.isLog && l.templated(r.topic) && s.route.isMissing(r.topic) {
		r.topic = s.route.fallback
		s.m.fallback.Inc()
	}
	if ul := l.lanes[dest{r.topic, unresolved}]; ul != nil {
		l.arena.own(&r)
		ul.push(r)
		pc.pushedFailing(ul, &r)
		l.holdCheck(ul, pc)
		return
	}
	tp, ok := pc.topics[r.topic]
	if !ok {
		tp.parts, tp.err = s.prod.partitions(ctx, r.topic)
		tp.sticky = -1
		if tp.err == nil {
			pc.topics[r.topic] = tp
			l.moveGone(ctx, pc, r.topic, tp.parts)
			tp = pc.topics[r.topic]
		}
	}
	if tp.err != nil {
		pc.topics[r.topic] = tp
		if r.isLog && l.templated(r.topic) && failureReason(tp.err) == "unknown_topic" {
			l.markMissing(r.topic)
			r.topic = s.route.fallback
			s.m.fallback.Inc()
			l.place(ctx, pc, r)
			return
		}
		ul := l.lane(dest{r.topic, unresolved})
		l.arena.own(&r)
		ul.push(r)
		now := time.Now()
		ul.sentAt = now // the lookup was an attempt (see onlyRefused)
		v := verdict{act: retry, reason: failureReason(tp.err)}
		ul.inflight = 0
		first := ul.settle(v, tp.err, now, s.backoffMin, l.backoffMax())
		l.failed(ul, v, tp.err, first, now)
		pc.failingKnown = false
		return
	}
	var part int
	key := r.key()
	switch {
	case key != nil:
		part = murmur2.Balance(kafka.Message{Key: key}, tp.parts...)
	case r.isLog:
		part = fileStick(r.cursor.Source, tp.parts)
	default:
		if tp.sticky < 0 {
			tp.sticky = tp.parts[randN(len(tp.parts))]
		}
		part = tp.sticky
	}
	if old, ok := l.shrunk[r.topic]; ok && (key != nil || r.isLog) {
		// The topic has fewer partitions than when its lanes were
		// filled, and a lane of a partition that is gone still has a
		// request in flight (see moveGone): a record of its key or file
		// joins it, so as to move with it, behind its older records.
		parts := make([]int, old)
		for i := range parts {
			parts[i] = i
		}
		op := fileStick(r.cursor.Source, parts)
		if key != nil {
			op = murmur2.Balance(kafka.Message{Key: key}, parts...)
		}
		if l.lanes[dest{r.topic, op}] != nil && !slices.Contains(tp.parts, op) {
			part = op
		}
	}
	pc.topics[r.topic] = tp
	ln := l.lane(dest{r.topic, part})
	if ln.attempts > 0 {
		l.arena.own(&r)
	}
	ln.push(r)
	if ln.attempts > 0 {
		pc.pushedFailing(ln, &r)
		l.holdCheck(ln, pc)
	}
	// The topic resolved and its lane found: the run's next records
	// (same topic, same key, or both unkeyed) go to the same lane, unless
	// it fails meanwhile (checked above).
	pc.lastLane, pc.lastTop, pc.lastKey, pc.lastSrc = ln, r.topic, key, r.cursor.Source
}

// fileStick is the partition of the unkeyed log records of the file
// source among parts: every line of a file goes to one partition, so that
// a file's records are confirmed in the order they were read and the
// file's acknowledged prefix (what the tailer commits) lags only behind
// that one partition's backlog. Files spread over the partitions by a
// hash of their source identity.
func fileStick(source uint64, parts []int) int {
	// splitmix64's finalizer: sources are small consecutive numbers.
	z := source + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return parts[z%uint64(len(parts))]
}

// murmur2 is Java's and librdkafka's default partitioner for keyed
// records, so that other producers of the same keys agree on partitions.
var murmur2 kafka.Murmur2Balancer

// templated says whether topic came from the topic template and may be
// rerouted to the fallback topic when the brokers do not know it.
func (l *loop) templated(topic string) bool {
	s := l.s
	return s.route != nil && s.route.tmpl != nil && !s.autoCreate && topic != s.route.fallback && topic != s.metricsTop
}

func (l *loop) markMissing(topic string) {
	s := l.s
	s.route.markMissing(topic)
	s.log.Warn("topic does not exist: sending its records to kafka.fallback_topic",
		"topic", topic, "fallback_topic", s.route.fallback, "recheck_after", missingTopicRecheck)
}

// lane returns the lane of d, made if needed.
func (l *loop) lane(d dest) *lane {
	if ln := l.lanes[d]; ln != nil {
		return ln
	}
	if len(l.order) >= maxLanes {
		l.sweep()
	}
	ln := &lane{dest: d, label: l.s.label(d.topic)}
	l.lanes[d] = ln
	l.order = append(l.order, ln)
	return ln
}

// maxLanes is how many lanes are kept before the empty ones are forgotten.
const maxLanes = 256

// sweep forgets the lanes that hold nothing and are not failing.
func (l *loop) sweep() {
	l.order = slices.DeleteFunc(l.order, func(ln *lane) bool {
		gone := len(ln.queue) == 0 && ln.state == idle && ln.attempts == 0
		if gone {
			delete(l.lanes, ln.dest)
		}
		return gone
	})
}

// remove forgets ln (empty, not sending).
func (l *loop) remove(ln *lane) {
	delete(l.lanes, ln.dest)
	l.order = slices.DeleteFunc(l.order, func(x *lane) bool { return x == ln })
	l.holdCheck(ln, nil) // what it held back is released
}

// dispatch starts a request for every lane that may send now, and asks
// again for the partitions of the topics whose lanes wait for them.
func (l *loop) dispatch(ctx context.Context, now time.Time) {
	// Unresolved lanes first: the records of those resolved now go out in
	// this round.
	var again []*lane
	for _, ln := range l.order {
		if ln.partition == unresolved && ln.ready(now) {
			again = append(again, ln)
		}
	}
	for _, ln := range again {
		l.resolveLane(ctx, ln)
	}
	gp, grouping := l.s.prod.(groupProducer)
	var groups map[int32][]*lane
	var leaders []int32 // groups' keys in the order of their first lane
	for _, ln := range l.order {
		if ln.partition == unresolved || !ln.ready(now) {
			continue
		}
		// A lane retrying or searching for a refused record sends alone:
		// a destination that cannot take records holds only its own, and
		// a bisection's requests are the lane's own.
		if grouping && ln.attempts == 0 && ln.limit == 0 {
			if b := gp.leader(ln.dest); b >= 0 {
				if groups == nil {
					groups = map[int32][]*lane{}
				}
				if _, ok := groups[b]; !ok {
					leaders = append(leaders, b)
				}
				groups[b] = append(groups[b], ln)
				continue
			}
		}
		l.start(ctx, ln, now)
	}
	for _, b := range leaders {
		l.startGroups(ctx, gp, groups[b], now)
	}
}

// startGroups sends the front records of lanes whose partitions one
// broker leads in as few requests as fit batch.max_bytes each (a lane's
// own front is at most that): at low rates, all of them in one request.
func (l *loop) startGroups(ctx context.Context, gp groupProducer, lanes []*lane, now time.Time) {
	s := l.s
	for len(lanes) > 0 {
		n, size := 0, 0
		for n < len(lanes) {
			b := wireSize(lanes[n].front(s.maxBytes))
			if n > 0 && size+b > s.maxBytes {
				break
			}
			size += b
			n++
		}
		if n == 1 {
			l.start(ctx, lanes[0], now)
		} else {
			l.startGroup(ctx, gp, lanes[:n], now)
		}
		lanes = lanes[n:]
	}
}

// wireSize bounds the size of rs in a request.
func wireSize(rs []rec) int {
	n := batchHeader
	for i := range rs {
		n += rs[i].size() + recordOverhead
	}
	return n
}

// startGroup sends the front records of lanes (partitions led by one
// broker, none failing) in one request from a goroutine of its own; each
// lane gets its own partition's answer, as if it had sent alone.
func (l *loop) startGroup(ctx context.Context, gp groupProducer, lanes []*lane, now time.Time) {
	s := l.s
	parts := make([]part, len(lanes))
	timeout := time.Duration(0)
	for i, ln := range lanes {
		parts[i] = part{d: ln.dest, msgs: l.prepare(ln, now)}
		timeout = max(timeout, attemptTimeout(ln.timeouts, s.writeTimeout))
	}
	l.inflight += len(lanes)
	go func() {
		actx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		errs := gp.produceGroup(actx, parts)
		cancel()
		took := time.Since(start)
		r := result{l: lanes[0], err: errs[0], took: took, more: make([]result, 0, len(lanes)-1)}
		for i, ln := range lanes[1:] {
			r.more = append(r.more, result{l: ln, err: errs[i+1], took: took})
		}
		l.results <- r
	}()
}

// start sends ln's front records from a goroutine of their own. Every
// attempt stamps its records with its own time: a record retried through
// a long outage is not refused for an old timestamp
// (message.timestamp.difference.max.ms), and the time the line was read
// stays in the record's JSON.
func (l *loop) start(ctx context.Context, ln *lane, now time.Time) {
	s := l.s
	msgs, d := l.prepare(ln, now), ln.dest
	l.inflight++
	timeout := attemptTimeout(ln.timeouts, s.writeTimeout)
	go func() {
		actx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := s.prod.produce(actx, d, msgs)
		cancel()
		l.results <- result{l: ln, err: err, took: time.Since(start)}
	}()
}

// prepare marks ln's front records in flight and returns them as the
// messages of a request.
func (l *loop) prepare(ln *lane, now time.Time) []message {
	rs := ln.front(l.s.maxBytes)
	if ln.attempts > 0 {
		// A fresh slice for the retry. The messages are encoded into the
		// request's own buffer before it is sent (produce.go
		// appendBatch), and a failed request's buffer is not reused:
		// kafka-go's connection goroutine may still be writing a request
		// whose caller gave up. Nothing reads the failed attempt's
		// messages after produce returned; a new slice keeps it so if
		// that ever changes. The records' bytes stay until resolved.
		ln.msgs = nil
	}
	ln.msgs = ln.msgs[:0]
	ln.sentAt = now
	for i := range rs {
		ln.msgs = append(ln.msgs, message{Key: rs[i].key(), Value: rs[i].value(), Time: now})
	}
	ln.send(len(rs))
	return ln.msgs
}

// settle applies the answer to a lane's request.
func (l *loop) settle(ctx context.Context, r result) {
	s := l.s
	l.inflight--
	ln := r.l
	s.m.batchDuration.Observe(r.took.Seconds())
	if ctx.Err() != nil {
		ln.state, ln.inflight = idle, 0
		return
	}
	n := ln.inflight
	v := decide(r.err, n, policy{templated: l.templated(ln.topic), dropUnauthorized: s.dropUnauth, corrupt: ln.corrupt})
	if v.act == retry && v.reason == "corrupt_message" {
		ln.corrupt++
	} else {
		ln.corrupt = 0
	}
	wasFailing, attempts, since := ln.attempts > 0, ln.attempts, ln.failingSince
	now := time.Now()
	first := ln.settle(v, r.err, now, s.backoffMin, l.backoffMax())
	if r.err == nil && ln.timeouts > 0 && r.took < attemptTimeout(ln.timeouts-1, s.writeTimeout)/2 {
		ln.timeouts--
	}
	switch v.act {
	case delivered:
		s.markSuccess()
		l.resolve(ln, n, "", nil)
		s.m.batches.Inc()
		if wasFailing {
			s.log.Info("destination accepts records again", "topic", ln.topic, "partition", ln.partition,
				"after", now.Sub(since).Round(time.Millisecond), "attempts", attempts)
		}
	case dropOne, dropAll:
		l.resolve(ln, n, v.reason, r.err)
	case retry:
		l.failed(ln, v, r.err, first, now)
		if v.reason == "unknown_topic" || v.reason == "unknown_partition" {
			l.partitionGone(ctx, ln)
		}
	case reroute:
		l.markMissing(ln.topic)
		l.reroute(ctx, ln)
	}
	l.holdCheck(ln, nil)
}

// holdCheck holds back the files of a failing lane (ln.attempts > 0) once
// it holds more than a quarter of the log budget, or once the failing
// lanes together hold more than half of it (then the files of every
// failing lane are held back), so that stuck destinations, one or
// several, do not fill the whole budget and stop reading for every file:
// their files stop being read (their lines wait on disk) while the others
// go on. A lane's files are released when it takes records again, or when
// it holds less than an eighth of the budget and the failing lanes
// together less than a quarter. The files whose records were already read
// go on arriving (a batch or two): the shares are thresholds, not caps.
//
// pc, when holdCheck follows a record's placement, keeps the failing
// lanes' bytes from one call to the next.
func (l *loop) holdCheck(ln *lane, pc *placeCache) {
	if l.s.opts.Holdback == nil {
		return
	}
	budget := l.s.logBudget
	current := l.lanes[ln.dest] == ln
	switch {
	case ln.held != nil && (ln.attempts == 0 || !current || (ln.logBytes <= budget/8 && l.failingBytes(pc) <= budget/4)):
		l.releaseLane(ln)
	case ln.held == nil && ln.attempts > 0 && current && ln.logBytes > budget/4:
		l.holdLane(ln)
		l.s.log.Warn("failing destination holds a quarter of the log budget: its files are no longer read until it takes records again; the others go on",
			"topic", ln.topic, "partition", ln.partition, "files", len(ln.held), "held_bytes", ln.logBytes, "budget_bytes", budget)
	case ln.held == nil && ln.attempts > 0 && current && ln.logBytes > 0:
		if f := l.failingBytes(pc); f > budget/2 {
			lanes := 0
			for _, o := range l.order {
				if o.held == nil && o.attempts > 0 && o.logBytes > 0 && l.lanes[o.dest] == o {
					l.holdLane(o)
					lanes++
				}
			}
			l.s.log.Warn("failing destinations together hold half the log budget: their files are no longer read until they take records again; the others go on",
				"destinations", lanes, "held_bytes", f, "budget_bytes", budget)
		}
	case ln.held != nil:
		if n := len(ln.queue); n > 0 {
			l.holdSource(ln, &ln.queue[n-1])
			l.s.m.holdback.Set(float64(l.s.opts.Holdback.Len()))
		}
	}
}

// failingBytes is what the failing lanes hold together of log records:
// metric records have a budget of their own and no files to hold back.
func (l *loop) failingBytes(pc *placeCache) int {
	if pc != nil && pc.failingKnown && !verifyFailingMemo {
		return pc.failing
	}
	n := 0
	for _, ln := range l.order {
		if ln.attempts > 0 {
			n += ln.logBytes
		}
	}
	if pc != nil {
		if verifyFailingMemo && pc.failingKnown && pc.failing != n {
			panic(fmt.Sprintf("ship: failing bytes kept up to %d, %d by a scan", pc.failing, n))
		}
		pc.failing, pc.failingKnown = n, true
	}
	return n
}

// verifyFailingMemo makes failingBytes scan every time and check the kept
// figure against the scan (the package's tests set it).
var verifyFailingMemo = false

// pushedFailing accounts r, just pushed into the failing lane ln, in the
// failing bytes pc knows.
func (pc *placeCache) pushedFailing(ln *lane, r *rec) {
	if pc.failingKnown && ln.attempts > 0 && r.isLog {
		pc.failing += r.size()
	}
}

// holdLane holds back the files of ln's records.
func (l *loop) holdLane(ln *lane) {
	ln.held = make(map[uint64]struct{})
	for i := range ln.queue {
		l.holdSource(ln, &ln.queue[i])
	}
	l.s.m.holdback.Set(float64(l.s.opts.Holdback.Len()))
}

// releaseLane releases the files ln holds back.
func (l *loop) releaseLane(ln *lane) {
	hb := l.s.opts.Holdback
	for src := range ln.held {
		hb.Release(src)
	}
	ln.held = nil
	l.s.m.holdback.Set(float64(hb.Len()))
	l.s.log.Info("destination no longer holds back its files", "topic", ln.topic, "partition", ln.partition)
}

// holdSource holds back the file of r (a log record) for ln, once.
func (l *loop) holdSource(ln *lane, r *rec) {
	if !r.isLog {
		return
	}
	if _, ok := ln.held[r.cursor.Source]; !ok {
		ln.held[r.cursor.Source] = struct{}{}
		l.s.opts.Holdback.Hold(r.cursor.Source)
	}
}

// failed counts and reports a failed attempt of ln: a warning at the
// first failure of a series and then at most once a minute per lane, so
// that a destination failing for hours does not flood the node's logs.
func (l *loop) failed(ln *lane, v verdict, err error, first bool, now time.Time) {
	s := l.s
	if first {
		for i := range ln.queue {
			l.arena.own(&ln.queue[i])
		}
	}
	s.m.sendFailures.Inc()
	s.m.retries.Inc()
	s.m.destFailures.WithLabelValues(ln.label, v.reason).Inc()
	lvl := slog.LevelDebug
	if first || now.Sub(ln.warnedAt) >= time.Minute {
		lvl, ln.warnedAt = slog.LevelWarn, now
	}
	part := any(ln.partition)
	if ln.partition == unresolved {
		part = "unknown"
	}
	s.log.Log(context.Background(), lvl, "send failed: the destination holds its records and retries",
		"topic", ln.topic, "partition", part, "reason", v.reason, "error", err, "hint", s.hint(err),
		"records", len(ln.queue), "attempt", ln.attempts, "failing_for", now.Sub(ln.failingSince).Round(time.Millisecond),
		"retry_in", ln.retryAt.Sub(now).Round(time.Millisecond))
}

// resolve ends the n front records of ln: delivered (reason "") or
// dropped for reason, and acknowledges the log records among them.
func (l *loop) resolve(ln *lane, n int, reason string, err error) {
	s := l.s
	now := s.mono()
	var cursors []event.Cursor
	var logs, metrics, logBytes, metricBytes int
	// The lines of one read share their read time: their latencies are
	// observed once per run.
	var runAt int64
	var run uint64
	observe := func() {
		if run > 0 {
			s.m.readToAck.observeN(time.Duration(now-runAt).Seconds(), run)
		}
	}
	for i := range n {
		r := &ln.queue[i]
		if r.isLog {
			if cursors == nil {
				cursors = make([]event.Cursor, 0, n) // the Acker may keep it
			}
			cursors = append(cursors, r.cursor)
			if r.readAt != 0 {
				if r.readAt != runAt {
					observe()
					runAt, run = r.readAt, 0
				}
				run++
			}
		}
		l.hold(r, -1)
		l.arena.release(r.chunk)
		switch {
		case reason != "":
			s.m.dropped.WithLabelValues(r.kind(), reason).Inc()
			s.logDrop("record dropped: refused by the sink", "record", r.kind(), "reason", reason,
				"topic", ln.topic, "bytes", r.size(), "file", r.path, "offset", r.cursor.Offset, "error", err)
		case r.isLog:
			logs++
			logBytes += r.size()
		default:
			metrics++
			metricBytes += r.size()
		}
	}
	observe()
	ln.pop(n)
	s.m.sent.WithLabelValues("log").Add(float64(logs))
	s.m.sent.WithLabelValues("metric").Add(float64(metrics))
	s.m.sentBytes.WithLabelValues("log").Add(float64(logBytes))
	s.m.sentBytes.WithLabelValues("metric").Add(float64(metricBytes))
	if len(cursors) > 0 && s.opts.Acker != nil {
		s.opts.Acker.Ack(cursors)
	}
}

// reroute sends the records of ln (a templated topic the brokers do not
// know) to the fallback topic, in order, and forgets ln.
func (l *loop) reroute(ctx context.Context, ln *lane) {
	s := l.s
	rs := ln.take()
	l.remove(ln)
	pc := placeCache{topics: map[string]topicParts{}}
	for _, r := range rs {
		if r.isLog {
			r.topic = s.route.fallback
			s.m.fallback.Inc()
		}
		l.place(ctx, &pc, r)
	}
}

// partitionGone is called when ln's last attempt said its topic or
// partition is unknown: when the metadata now says the topic exists
// without ln's partition, ln's records (and those of every other lane of
// a partition that is gone) are placed again (see moveGone). A topic the
// metadata does not know (deleted, not yet created again) keeps its lanes
// retrying. The check repeats at every such failure: the metadata may lag
// the first ones (it is refreshed at most once a second on stale answers).
func (l *loop) partitionGone(ctx context.Context, ln *lane) {
	parts, err := l.s.prod.partitions(ctx, ln.topic)
	if err != nil || len(parts) == 0 {
		return
	}
	pc := placeCache{topics: map[string]topicParts{ln.topic: {parts: parts}}}
	l.moveGone(ctx, &pc, ln.topic, parts)
}

// moveGone places again, by the topic's current partitions parts, the
// records of every lane of topic whose partition is not among them: the
// topic was deleted and created again with fewer partitions (Kafka cannot
// shrink one). Such a lane is forgotten; its records are counted in
// ferry_ship_replaced_records_total (reason partition_gone) and go, in
// their order, to the end of their new lanes. place calls it when it
// first looks a topic up in a flush, before it places any new record by
// the new count, so a key's held records stay ahead of its new ones. A
// lane with a request in flight is moved after its answer (partitionGone).
// Until such a lane is moved, records of its keys or files join it (see
// shrunk). pc must already hold topic's parts.
func (l *loop) moveGone(ctx context.Context, pc *placeCache, topic string, parts []int) {
	s := l.s
	// The count the lanes were filled by: the largest seen since no lane
	// of a partition gone was left.
	old := max(l.counts[topic], len(parts))
	var gone []*lane
	inflight := false
	for _, ln := range l.order {
		if ln.topic != topic || ln.partition == unresolved || slices.Contains(parts, ln.partition) {
			continue
		}
		old = max(old, ln.partition+1)
		if ln.state == sending {
			inflight = true
			continue
		}
		gone = append(gone, ln)
	}
	if l.counts == nil {
		l.counts, l.shrunk = map[string]int{}, map[string]int{}
	}
	if len(l.counts) >= maxMetaCache {
		clear(l.counts)
	}
	if inflight {
		l.counts[topic], l.shrunk[topic] = old, old
	} else {
		l.counts[topic] = len(parts)
		delete(l.shrunk, topic)
	}
	if len(gone) == 0 {
		return
	}
	// Records that came while the topic was unknown (deleted, not yet
	// created again) wait in its unresolved lane; they are newer than
	// those of the lanes moved, so they are placed after them.
	var later []rec
	if ul := l.lanes[dest{topic, unresolved}]; ul != nil {
		later = ul.take()
		l.remove(ul)
	}
	pc.failingKnown = false
	for _, ln := range gone {
		rs := ln.take()
		l.remove(ln)
		pc.failingKnown = false
		s.log.Warn("partition no longer exists: its records are placed again by the topic's current partitions",
			"topic", ln.topic, "partition", ln.partition, "partitions", len(parts), "records", len(rs))
		for _, r := range rs {
			s.m.replaced.WithLabelValues(r.kind(), "partition_gone").Inc()
			l.place(ctx, pc, r)
		}
	}
	for _, r := range later {
		l.place(ctx, pc, r)
	}
}

// resolveLane asks again for the partitions of an unresolved lane's topic
// and, when they are known, places its records in their lanes, in order.
func (l *loop) resolveLane(ctx context.Context, ln *lane) {
	s := l.s
	ln.sentAt = time.Now()
	parts, err := s.prod.partitions(ctx, ln.topic)
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if err != nil && !(l.templated(ln.topic) && failureReason(err) == "unknown_topic") {
		v := verdict{act: retry, reason: failureReason(err)}
		first := ln.settle(v, err, now, s.backoffMin, l.backoffMax())
		l.failed(ln, v, err, first, now)
		return
	}
	if err != nil {
		l.markMissing(ln.topic)
		l.reroute(ctx, ln)
		return
	}
	if ln.attempts > 0 {
		s.log.Info("topic known again", "topic", ln.topic, "partitions", len(parts),
			"after", now.Sub(ln.failingSince).Round(time.Millisecond), "attempts", ln.attempts)
	}
	rs := ln.take()
	l.remove(ln)
	pc := placeCache{topics: map[string]topicParts{}}
	for _, r := range rs {
		l.place(ctx, &pc, r)
	}
}

// nextRetry is the earliest time a waiting lane sends again.
func (l *loop) nextRetry() (time.Time, bool) {
	var next time.Time
	for _, ln := range l.order {
		if ln.state == waiting && (next.IsZero() || ln.retryAt.Before(next)) {
			next = ln.retryAt
		}
	}
	return next, !next.IsZero()
}

// budget reports the log budget being full: the destination holding the
// most is named in a warning (at most once a minute) and counted in
// ferry_ship_budget_full_total each time reading stops.
func (l *loop) budget(now time.Time, full bool) {
	if !full {
		l.paused = false
		return
	}
	if l.paused {
		return
	}
	l.paused = true
	var top *lane
	for _, ln := range l.order {
		if top == nil || ln.bytes > top.bytes {
			top = ln
		}
	}
	if top == nil {
		return
	}
	s := l.s
	s.m.budgetFull.WithLabelValues(top.label).Inc()
	if now.Sub(l.budgetWarnedAt) < time.Minute {
		return
	}
	l.budgetWarnedAt = now
	s.log.Warn("ship holds its whole in-flight budget: reading stops until a destination takes records",
		"topic", top.topic, "partition", top.partition, "held_bytes", top.bytes, "budget_bytes", s.logBudget,
		"state", top.state.String(), "error", top.lastErr)
}

// publish updates what Ready and the per-destination metrics read: the
// oldest record not yet confirmed, overall and by destination label. It
// runs at most every publishEvery unless forced.
func (l *loop) publish(now time.Time, force bool) {
	if !force && now.Sub(l.publishedAt) < publishEvery {
		return
	}
	l.publishedAt = now
	h := &l.s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.oldestBy)
	clear(h.recordsBy)
	h.oldest, h.where, h.err = 0, "", nil
	if len(l.pending) > 0 {
		h.oldest, h.where = l.pending[0].heldAt, "batching"
	}
	for _, ln := range l.order {
		o := ln.oldest()
		if o == 0 {
			continue
		}
		h.recordsBy[ln.label] += len(ln.queue)
		if b, ok := h.oldestBy[ln.label]; !ok || o < b {
			h.oldestBy[ln.label] = o
		}
		if h.oldest == 0 || o < h.oldest {
			h.oldest, h.err = o, ln.lastErr
			switch {
			case l.s.route == nil:
				h.where = "the " + l.s.sink + " sink"
			case ln.partition == unresolved:
				h.where = fmt.Sprintf("topic %s (partitions unknown)", ln.topic)
			default:
				h.where = fmt.Sprintf("topic %s partition %d", ln.topic, ln.partition)
			}
		}
	}
}

// publishEvery bounds how often publish walks the lanes.
const publishEvery = 50 * time.Millisecond

// refusedReasons are the failures that a destination does not get over
// within a shutdown's seconds: its topic or partition does not exist, or
// the agent may not write to it.
var refusedReasons = []string{"unknown_topic", "unknown_partition", "topic_authorization"}

// drainPatience is how long the drain goes on retrying a destination that
// refuses its records before it gives up on it (onlyRefused): long enough
// for a metadata refresh (minForcedRefresh) and a few attempts, each at
// most drainRetry after the last.
const (
	drainPatience = 2 * time.Second
	drainRetry    = drainPatience / 4
)

// startDrain begins the drain at shutdown: the lanes waiting to retry
// try once more at once (a refusal from before the drain may be over: an
// ACL fixed, a topic created), rather than after their backoff.
func (l *loop) startDrain(now time.Time) {
	l.drainAt = now
	l.retryWaitingNow(now)
}

// retryWaitingNow makes every lane waiting out a backoff due now.
func (l *loop) retryWaitingNow(now time.Time) {
	for _, ln := range l.order {
		if ln.state == waiting {
			ln.retryAt = now
		}
	}
}

// backoffMax is the longest wait before a failed lane's next attempt:
// backoff_max, and drainRetry while draining at shutdown (the drain has
// seconds, not a backoff of minutes), for every lane that fails.
func (l *loop) backoffMax() time.Duration {
	if !l.drainAt.IsZero() {
		return min(l.s.backoffMax, drainRetry)
	}
	return l.s.backoffMax
}

// onlyRefused says, while draining at shutdown (inputs closed, nothing in
// flight), that every record still held waits in a lane whose attempts
// were refused for one of refusedReasons for drainPatience of the drain:
// waiting for them would only spend shutdown_timeout (a node whose
// metrics topic is missing made every rolling update wait that long).
// An unknown topic or partition must moreover have been refused by an
// attempt made after a metadata refresh that came after the patience:
// a refusal is judged by the metadata the attempt was routed by, which
// may be up to a forced refresh's interval (minForcedRefresh) older, so
// a topic created in the drain's last second was given up on. When only
// that is missing, onlyRefused refreshes the metadata (once) and has the
// lanes try again at once.
func (l *loop) onlyRefused(now time.Time) bool {
	stale := false
	for _, ln := range l.order {
		if len(ln.queue) == 0 {
			continue
		}
		if ln.state != waiting || ln.failedAt.Sub(l.drainAt) < drainPatience || !slices.Contains(refusedReasons, ln.reason) {
			return false
		}
		if ln.reason != "topic_authorization" && l.s.fresh != nil && (l.drainRefresh.IsZero() || ln.sentAt.Before(l.drainRefresh)) {
			stale = true
		}
	}
	if len(l.order) == 0 {
		return false
	}
	if !stale {
		return true
	}
	if l.drainRefresh.IsZero() {
		l.drainRefresh = now
		l.s.fresh.forceRefresh()
		l.retryWaitingNow(now)
	}
	return false
}

// giveUp ends the drain when only refused destinations hold records:
// they are accounted for as at a hard stop (log records unacknowledged,
// read again after a restart; metric records dropped and counted), each
// such destination named in a warning.
func (l *loop) giveUp() error {
	for _, ln := range l.order {
		if len(ln.queue) > 0 {
			l.s.log.Warn("shutdown: not waiting for a destination that refuses its records",
				"topic", ln.topic, "reason", ln.reason, "error", ln.lastErr, "records", len(ln.queue),
				"failing_for", time.Since(ln.failingSince).Round(time.Millisecond))
		}
	}
	return l.stopped(errRefused, "shutdown")
}

// errRefused is why the drain stopped early (giveUp). It wraps
// context.Canceled: the agent takes it for the end of a shutdown, as it
// takes a hard stop, not for a failure.
var errRefused = fmt.Errorf("their destinations refuse them: %w", context.Canceled)

// hardStop waits for the requests in flight (their context is cancelled)
// and accounts for what is left.
func (l *loop) hardStop(ctx context.Context) error {
	for l.inflight > 0 {
		r := <-l.results
		l.inflight -= 1 + len(r.more)
	}
	return l.stopped(context.Cause(ctx), "hard stop")
}

// stopped accounts for the records left when Run stops before they were
// confirmed: metric records are dropped (counted, reason "shutdown"), log
// records are not acknowledged. It returns an error wrapping cause when
// log records were left.
func (l *loop) stopped(cause error, how string) error {
	s := l.s
	l.logBytes, l.metricBytes = 0, 0
	if n := l.metricRecs; n > 0 {
		s.m.dropped.WithLabelValues("metric", "shutdown").Add(float64(n))
		s.log.Warn(how+": dropped metric records not confirmed", "records", n)
	}
	if n := l.logRecs; n > 0 {
		s.log.Warn(how+": log records not confirmed are not acknowledged; they will be read again", "records", n)
		return fmt.Errorf("stopped with %d log records unconfirmed: %w", n, cause)
	}
	return nil
}
