package ship

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// The rules that turn a send's answer into what happens to its records.
// Each is a small function with its own table test (outcome_test.go); the
// loop (loop.go) only applies them.

// action is what a lane does with the records of a request after the
// sink's answer.
type action int

const (
	// delivered: the records were confirmed; acknowledge them.
	delivered action = iota
	// retry: keep the records at the front of the lane and send them again
	// after a backoff (the destination cannot take them now).
	retry
	// bisect: the sink refused several records for a reason about one
	// record; send the front half alone to find it.
	bisect
	// dropOne: the sink refused this single record for a reason about the
	// record itself; drop it (counted), acknowledge it, go on.
	dropOne
	// dropAll: the sink refused the destination itself, for good (an
	// invalid topic name) or for a reason the operator chose to drop on
	// (kafka.drop_unauthorized); drop every record sent.
	dropAll
	// reroute: the topic does not exist and is a template's: send its
	// records to kafka.fallback_topic.
	reroute
)

func (a action) String() string {
	return [...]string{"delivered", "retry", "bisect", "drop_one", "drop_all", "reroute"}[a]
}

// verdict is an answer mapped to an action, with the reason it is counted
// under: a drop reason for the drops, a failure reason for the retries.
type verdict struct {
	act    action
	reason string
}

// failure reasons: the values of ferry_ship_destination_failures_total's
// reason label.
var failureReasons = []string{"timeout", "unknown_topic", "unknown_partition", "topic_authorization", "invalid_timestamp", "corrupt_message", "broker", "network"}

// policy is what decide needs besides the error.
type policy struct {
	// templated: the destination's topic came from the topic template (and
	// not kafka.allow_auto_topic_creation), so an unknown topic is rerouted.
	templated bool
	// dropUnauthorized: kafka.drop_unauthorized.
	dropUnauthorized bool
	// corrupt is how many answers in a row were CORRUPT_MESSAGE for this
	// very request (the same front records, the same count), before this
	// one.
	corrupt int
}

// corruptTries is how many CORRUPT_MESSAGE answers in a row the same
// request gets before ship takes the corruption for a property of its
// records: a request of several records is then bisected, a lone record
// dropped (reason corrupt_message). Fewer answers are a transfer damaged
// on the way (Kafka marks the error retriable) and are retried.
const corruptTries = 3

// decide maps the error of a request of n records to an action. A nil
// error delivers. Errors about a record bisect a request of several
// records and drop a lone one. Everything else is retried: dropping would
// lose records that a fixed broker, ACL or clock would accept.
func decide(err error, n int, p policy) verdict {
	if err == nil {
		return verdict{act: delivered}
	}
	if corrupt(err) {
		switch {
		case p.corrupt+1 < corruptTries:
			return verdict{act: retry, reason: "corrupt_message"}
		case n > 1:
			return verdict{act: bisect, reason: "corrupt_message"}
		}
		return verdict{act: dropOne, reason: "corrupt_message"}
	}
	if reason, ok := recordFault(err); ok {
		if n > 1 {
			return verdict{act: bisect, reason: reason}
		}
		return verdict{act: dropOne, reason: reason}
	}
	var ke kafka.Error
	if errors.As(err, &ke) && ke == kafka.InvalidTopic {
		// About the topic, not one record: no use bisecting.
		return verdict{act: dropAll, reason: "invalid_topic"}
	}
	reason := failureReason(err)
	switch reason {
	case "unknown_topic":
		if p.templated {
			return verdict{act: reroute, reason: reason}
		}
	case "topic_authorization":
		if p.dropUnauthorized {
			return verdict{act: dropAll, reason: "topic_authorization"}
		}
	}
	return verdict{act: retry, reason: reason}
}

// corrupt says whether err is CORRUPT_MESSAGE (kafka-go's InvalidMessage,
// code 2): the broker's CRC check of the request failed. Kafka marks it
// retriable: a batch damaged on the way is stored by the next attempt. The
// broker stored nothing of the batch, so retrying it makes no copy.
func corrupt(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke == kafka.InvalidMessage
}

// recordFault says whether err is about a record itself (the broker would
// refuse it whatever the retries), and the drop reason.
//
// InvalidTimestamp is deliberately not one: every attempt stamps its
// records with the attempt's time (see deliverable), so a broker that
// refuses the timestamp (message.timestamp.*.max.ms) refuses the clock of
// this node, not a record; it is retried and surfaced like an outage.
func recordFault(err error) (string, bool) {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge:
			return "too_large", true
		case kafka.InvalidRecord:
			return "invalid_record", true
		case kafka.PolicyViolation:
			return "policy_violation", true
		}
	}
	var mtl kafka.MessageTooLargeError
	if errors.As(err, &mtl) {
		return "too_large", true
	}
	return "", false
}

// failureReason names a retryable error for metrics (a bounded set:
// failureReasons).
func failureReason(err error) string {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.UnknownTopicOrPartition:
			return "unknown_topic"
		case kafka.TopicAuthorizationFailed:
			return "topic_authorization"
		case kafka.InvalidTimestamp:
			return "invalid_timestamp"
		case kafka.RequestTimedOut:
			return "timeout"
		}
		return "broker"
	}
	switch {
	case errors.Is(err, protocol.ErrNoPartition):
		// The client's metadata lacks the partition: it was there when
		// the record was placed (see loop.partitionGone).
		return "unknown_partition"
	case errors.Is(err, protocol.ErrNoTopic):
		return "unknown_topic"
	case errors.Is(err, protocol.ErrNoLeader):
		// The metadata names no leader for the partition (an election,
		// LEADER_NOT_AVAILABLE): the brokers', not the network's.
		return "broker"
	case isTimeout(err):
		return "timeout"
	}
	return "network"
}

// isTimeout says whether err is the client giving up waiting for an
// answer (the request may still be served: a copy may follow).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff returns the wait before retry attempt n (from 0): a random time
// in [bound/2, bound] where bound = min(max, min * 2^n).
func backoff(n int, lo, hi time.Duration) time.Duration {
	bound := hi
	if n < 30 {
		bound = min(hi, lo<<n)
	}
	return bound/2 + rand.N(bound/2+1)
}

// maxTimeoutGrowth caps how much longer than write_timeout an attempt
// waits for its answer: 4^3.
const maxTimeoutGrowth = 64

// attemptTimeout is how long an attempt waits for the sink's answer after
// k timed-out attempts in a row of its destination: write_timeout, then 4
// times longer after each timeout, up to 64 times. A timed-out request may
// still be stored by the broker, so each timeout can make one copy of its
// records; growing the wait fourfold makes a broker that answers in L
// cost at most ceil(log4(L / write_timeout)) copies, not one per
// write_timeout for as long as it is slow.
func attemptTimeout(k int, writeTimeout time.Duration) time.Duration {
	f := 1
	for range min(k, 3) {
		f *= 4
	}
	return writeTimeout * time.Duration(f)
}

// nextLimit is the bisection bound after a request of n records got
// verdict v, when the bound was limit (0: none). It halves to find a
// refused record, stays while the records before the culprit go out, and
// is lifted as soon as the culprit was dropped, so that the rest of the
// batch goes in full requests again.
func nextLimit(limit, n int, v verdict) int {
	switch v.act {
	case bisect:
		return max(1, n/2)
	case dropOne, dropAll:
		return 0
	}
	return limit
}
