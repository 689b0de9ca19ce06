package ship

import (
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// dest is where a lane's records go: a topic's partition, or partition
// unresolved for the records of a topic whose partitions are not known
// yet (its metadata failed). The debug sinks have one destination.
type dest struct {
	topic     string
	partition int
}

// unresolved is the partition of a lane that waits for its topic's
// metadata.
const unresolved = -1

// rec is one encoded record held by ship until the sink confirms it: its
// value, then its key, in data (in a chunk of the arena, or its own).
type rec struct {
	data     []byte
	chunk    *chunk // where data lives; nil when data is its own
	valueEnd int
	topic    string
	path     string // file of a log record (shared string: no copy)
	cursor   event.Cursor
	// readAt is when the tailer read a log record's line, on ship's
	// monotonic clock (Shipper.mono; 0: unknown): the wall time between
	// the read and ship taking the record (never negative), before
	// heldAt.
	readAt int64
	heldAt int64 // when ship took the record (a Shipper.mono stamp)
	isLog  bool
}

func (r *rec) value() []byte { return r.data[:r.valueEnd] }

func (r *rec) key() []byte {
	if len(r.data) > r.valueEnd {
		return r.data[r.valueEnd:]
	}
	return nil
}

func (r *rec) size() int { return len(r.data) }

func (r *rec) kind() string {
	if r.isLog {
		return "log"
	}
	return "metric"
}

// laneState is where a lane stands.
type laneState int

const (
	// idle: nothing in flight; records (if any) may be sent now.
	idle laneState = iota
	// sending: one request of the lane's front records is in flight. A
	// lane never has two: a timed-out request is not followed by another
	// until its own attempt has returned.
	sending
	// waiting: the last attempt failed; the lane sends again at retryAt.
	waiting
)

func (s laneState) String() string { return [...]string{"idle", "sending", "waiting"}[s] }

// lane holds the records of one destination in arrival order and sends
// them front first, one request at a time: a destination that cannot take
// records holds only its own, and the records of a key (which all go to
// one partition) keep their order.
type lane struct {
	dest
	label string // ferry_ship_destination_* label: a configured topic
	// queue is the lane's records, front first: buf[head:], so that the
	// backing array is reused rather than grown again after every pop.
	queue []rec
	buf   []rec
	head  int
	bytes int
	// logBytes is the part of bytes that log records hold: only they
	// count against the log budget (see loop.holdCheck).
	logBytes int
	state    laneState
	// inflight is how many front records the request in flight carries.
	inflight int
	// limit bounds the records of one request while a refused record is
	// searched for (0: no bound; see nextLimit).
	limit int
	// corrupt counts the CORRUPT_MESSAGE answers in a row to the lane's
	// request (the same front records: nothing was popped, no bisection
	// in between); see corruptTries.
	corrupt int
	// attempts counts the failed attempts in a row; timeouts sets how long
	// the next attempt waits (attemptTimeout): one more after each
	// timed-out attempt, one less after an answer in under half the wait
	// of the level below.
	attempts, timeouts int
	retryAt            time.Time
	failingSince       time.Time
	lastErr            error
	reason             string    // the failure reason of lastErr (failureReasons)
	failedAt           time.Time // when the last attempt failed
	sentAt             time.Time // when the last attempt was made
	warnedAt           time.Time
	// msgs are the messages of the request in flight (reused).
	msgs []message
	// held are the files (sources) the lane holds back while it fails
	// over its share of the log budget (loop.holdCheck); nil when none.
	held map[uint64]struct{}
}

// ready says whether the lane should send now.
func (l *lane) ready(now time.Time) bool {
	switch l.state {
	case idle:
		return len(l.queue) > 0
	case waiting:
		return !now.Before(l.retryAt)
	}
	return false
}

// push appends a record.
func (l *lane) push(r rec) {
	l.buf = append(l.buf, r)
	l.queue = l.buf[l.head:]
	l.bytes += r.size()
	if r.isLog {
		l.logBytes += r.size()
	}
}

// front returns the records of the next request: from the front, at most
// maxBytes (at least one record) and at most limit records.
func (l *lane) front(maxBytes int) []rec {
	n, size := 0, 0
	for n < len(l.queue) {
		if l.limit > 0 && n >= l.limit {
			break
		}
		sz := l.queue[n].size() + recordOverhead
		if n > 0 && size+sz > maxBytes-batchHeader {
			break
		}
		size += sz
		n++
	}
	return l.queue[:n]
}

// send marks the n front records in flight.
func (l *lane) send(n int) {
	l.state, l.inflight = sending, n
}

// pop removes the n front records (confirmed or dropped).
func (l *lane) pop(n int) {
	for i := range n {
		l.bytes -= l.queue[i].size()
		if l.queue[i].isLog {
			l.logBytes -= l.queue[i].size()
		}
	}
	clear(l.queue[:n]) // let the records' bytes go
	l.head += n
	switch {
	case l.head == len(l.buf):
		l.buf, l.head = l.buf[:0], 0
	case l.head >= 1024 && l.head > len(l.buf)/2:
		k := copy(l.buf, l.buf[l.head:])
		clear(l.buf[k:])
		l.buf, l.head = l.buf[:k], 0
	}
	l.queue = l.buf[l.head:]
}

// take removes and returns every record of the lane (to place them
// elsewhere).
func (l *lane) take() []rec {
	rs := append([]rec(nil), l.queue...)
	clear(l.buf)
	l.buf, l.head, l.queue, l.bytes, l.logBytes = l.buf[:0], 0, nil, 0, 0
	return rs
}

// settle ends the attempt in flight with verdict v at now and moves the
// lane to its next state: idle after a delivery, a drop or a bisection
// (the next request goes out at once), waiting after a retryable failure.
// It returns whether the failure is the first of a series.
func (l *lane) settle(v verdict, err error, now time.Time, lo, hi time.Duration) (first bool) {
	l.limit = nextLimit(l.limit, l.inflight, v)
	l.inflight = 0
	if v.act != retry {
		l.state = idle
		if v.act != bisect {
			// timeouts is kept: see loop.settle, which lowers it only
			// when answers come back fast again.
			l.attempts, l.lastErr, l.reason = 0, nil, ""
			l.failingSince = time.Time{}
		}
		return false
	}
	first = l.attempts == 0
	if first {
		l.failingSince = now
	}
	if isTimeout(err) {
		l.timeouts++
	} else {
		l.timeouts = 0
	}
	l.state, l.lastErr, l.reason, l.failedAt = waiting, err, v.reason, now
	l.retryAt = now.Add(backoff(l.attempts, lo, hi))
	l.attempts++
	return first
}

// oldest is when ship took the lane's oldest record (0: empty).
func (l *lane) oldest() int64 {
	if len(l.queue) == 0 {
		return 0
	}
	return l.queue[0].heldAt
}
