package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-dev/ferry/pkg/event"
)

// One oversized record among 64: once it is found and dropped, the rest
// goes in full requests again, not one record per request.
func TestKafkaBisectionLimitResets(t *testing.T) {
	_, addr := startCluster(t, kfake.SeedTopics(1, "logs"), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "100000"}))
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Compression = "none"
	cfg.Kafka.MaxMessageBytes = 300000
	cfg.Kafka.Batch.Linger = time.Second // the 64 records make one batch
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 64, metaFor(1))
	ls[21].Body = []byte(strings.Repeat("x", 150000)) // the broker refuses it
	h.logs <- ls
	h.finish(t)
	recs := consume(t, addr, 63, []string{"logs"})
	checkPerKeyOrder(t, recs)
	ok, bad := testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("ok")), testutil.ToFloat64(h.s.m.produceRequests.WithLabelValues("error"))
	t.Logf("%v requests accepted, %v refused", ok, bad)
	if ok+bad > 16 {
		t.Errorf("%v produce requests (%v refused) for 64 records with one refused: the bisection bound was not lifted", ok+bad, bad)
	}
	if got := testutil.ToFloat64(h.s.m.dropped.WithLabelValues("log", "too_large")); got != 1 {
		t.Errorf("dropped{too_large} = %v, want 1", got)
	}
	if got := len(h.ack.cursors()); got != 64 {
		t.Errorf("acked %d, want 64", got)
	}
}

// fakeProducer answers from a script and records what it was sent.
type fakeProducer struct {
	mu    sync.Mutex
	calls [][]message
	errs  []error // answer of call i; nil after the end
}

func (f *fakeProducer) partitions(context.Context, string) ([]int, error) { return oneSink, nil }

func (f *fakeProducer) produce(_ context.Context, _ dest, msgs []message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := len(f.calls)
	f.calls = append(f.calls, append([]message(nil), msgs...))
	if i < len(f.errs) {
		return f.errs[i]
	}
	return nil
}

// runFake runs a Shipper whose sink is p, under synctest's clock.
func runFake(t *testing.T, p producer, cfg Config) (*Shipper, chan []event.Log, *recAcker, chan error) {
	t.Helper()
	logs := make(chan []event.Log)
	ack := &recAcker{}
	s, err := New(cfg, nil, Options{Logs: logs, Acker: ack, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s.prod = p
	errc := make(chan error, 1)
	go func() { errc <- s.Run(t.Context()) }()
	return s, logs, ack, errc
}

// Each attempt stamps its records with its own time, so that a record
// retried through a long outage is not refused as too old.
func TestEachAttemptStampsItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		outage := errors.New("connection refused")
		p := &fakeProducer{errs: []error{outage, outage, outage}}
		_, logs, ack, errc := runFake(t, p, Config{Stdout: &StdoutConfig{Linger: time.Millisecond}})
		logs <- makeLogs(1, 0, 3, nil)
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if len(p.calls) != 4 || len(ack.cursors()) != 3 {
			t.Fatalf("%d calls, %d acks; want 4 and 3", len(p.calls), len(ack.cursors()))
		}
		for i := 1; i < len(p.calls); i++ {
			if prev, cur := p.calls[i-1][0].Time, p.calls[i][0].Time; !cur.After(prev) {
				t.Errorf("attempt %d stamped %v, not after attempt %d's %v", i, cur, i-1, prev)
			}
		}
	})
}

// Readiness follows delivery: a sink that takes nothing makes Ready fail
// once the oldest record waited not_ready_after, naming the sink and the
// error; when the records are delivered, Ready is nil again.
func TestReadyFollowsDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := errors.New("disk on fire")
		errs := make([]error, 40) // minutes of backoff
		for i := range errs {
			errs[i] = refused
		}
		p := &fakeProducer{errs: errs}
		cfg := Config{Stdout: &StdoutConfig{Linger: time.Millisecond}}
		s, logs, _, errc := runFake(t, p, cfg)
		if err := s.Ready(); err != nil {
			t.Errorf("Ready with nothing held: %v", err)
		}
		logs <- makeLogs(1, 0, 3, nil)
		time.Sleep(59 * time.Second) // synctest's clock
		if err := s.Ready(); err != nil {
			t.Errorf("Ready after 59s (threshold 1m): %v", err)
		}
		time.Sleep(2 * time.Second)
		err := s.Ready()
		if err == nil || !strings.Contains(err.Error(), "stdout sink") || !errors.Is(err, refused) {
			t.Errorf("Ready after 61s of refusals = %v, want an error naming the stdout sink and wrapping %q", err, refused)
		}
		close(logs)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(); err != nil {
			t.Errorf("Ready after delivery: %v", err)
		}
	})
}

func TestDecide(t *testing.T) {
	timeout := fmt.Errorf("kafka.(*Client).Produce: %w", context.DeadlineExceeded)
	tests := []struct {
		name string
		err  error
		n    int
		p    policy
		want verdict
	}{
		{"confirmed", nil, 5, policy{}, verdict{act: delivered}},
		{"too large, several records: bisect", kafka.MessageSizeTooLarge, 5, policy{}, verdict{bisect, "too_large"}},
		{"too large, one record: drop it", kafka.MessageSizeTooLarge, 1, policy{}, verdict{dropOne, "too_large"}},
		{"invalid record", kafka.InvalidRecord, 1, policy{}, verdict{dropOne, "invalid_record"}},
		{"policy violation", kafka.PolicyViolation, 2, policy{}, verdict{bisect, "policy_violation"}},
		{"corrupt message, first answer, one record: retried", kafka.InvalidMessage, 1, policy{}, verdict{retry, "corrupt_message"}},
		{"corrupt message, second answer: retried", fmt.Errorf("produce: %w", kafka.InvalidMessage), 5, policy{corrupt: 1}, verdict{retry, "corrupt_message"}},
		{"corrupt message, third answer, several records: bisect", kafka.InvalidMessage, 5, policy{corrupt: corruptTries - 1}, verdict{bisect, "corrupt_message"}},
		{"corrupt message, third answer, one record: drop it", kafka.InvalidMessage, 1, policy{corrupt: corruptTries - 1}, verdict{dropOne, "corrupt_message"}},
		{"invalid topic: all, no bisection", kafka.InvalidTopic, 5, policy{}, verdict{dropAll, "invalid_topic"}},
		{"unauthorized: held", kafka.TopicAuthorizationFailed, 5, policy{}, verdict{retry, "topic_authorization"}},
		{"unauthorized, opted in: dropped", kafka.TopicAuthorizationFailed, 5, policy{dropUnauthorized: true}, verdict{dropAll, "topic_authorization"}},
		{"invalid timestamp: held (the clock, not the record)", kafka.InvalidTimestamp, 1, policy{}, verdict{retry, "invalid_timestamp"}},
		{"unknown fixed topic: held", kafka.UnknownTopicOrPartition, 5, policy{}, verdict{retry, "unknown_topic"}},
		{"unknown templated topic: fallback", kafka.UnknownTopicOrPartition, 5, policy{templated: true}, verdict{reroute, "unknown_topic"}},
		{"not enough replicas", kafka.NotEnoughReplicas, 5, policy{}, verdict{retry, "broker"}},
		{"partition missing from the client's metadata: held, never the fallback", fmt.Errorf("produce: %w", protocol.NewErrNoPartition("logs", 2)), 5, policy{templated: true}, verdict{retry, "unknown_partition"}},
		{"topic missing from the client's metadata", protocol.NewErrNoTopic("logs"), 5, policy{}, verdict{retry, "unknown_topic"}},
		{"request timed out (broker)", kafka.RequestTimedOut, 5, policy{}, verdict{retry, "timeout"}},
		{"client timeout", timeout, 5, policy{}, verdict{retry, "timeout"}},
		{"connection refused", errors.New("dial tcp: connection refused"), 5, policy{}, verdict{retry, "network"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.err, tt.n, tt.p); got != tt.want {
				t.Errorf("decide(%v, %d, %+v) = %v %q, want %v %q", tt.err, tt.n, tt.p, got.act, got.reason, tt.want.act, tt.want.reason)
			}
		})
	}
}

func TestNextLimit(t *testing.T) {
	tests := []struct {
		name     string
		limit, n int
		act      action
		want     int
	}{
		{"refused among 64: halve", 0, 64, bisect, 32},
		{"refused among 3: halve down", 32, 3, bisect, 1},
		{"records before the culprit went out: keep", 8, 8, delivered, 8},
		{"culprit dropped: lift", 1, 1, dropOne, 0},
		{"destination dropped: lift", 4, 4, dropAll, 0},
		{"retry: keep", 4, 4, retry, 4},
		{"no bound, delivered: none", 0, 100, delivered, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextLimit(tt.limit, tt.n, verdict{act: tt.act}); got != tt.want {
				t.Errorf("nextLimit(%d, %d, %v) = %d, want %d", tt.limit, tt.n, tt.act, got, tt.want)
			}
		})
	}
}

func TestAttemptTimeout(t *testing.T) {
	var got []time.Duration
	for k := range 6 {
		got = append(got, attemptTimeout(k, time.Second))
	}
	want := []time.Duration{time.Second, 4 * time.Second, 16 * time.Second, 64 * time.Second, 64 * time.Second, 64 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attemptTimeout by timeouts in a row (-want +got):\n%s", diff)
	}
}

func TestBackoffBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, 10*time.Second
	for n, bound := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 10 * time.Second, 10 * time.Second} {
		if n == 3 {
			n = 10
		}
		if n == 4 {
			n = 1000
		}
		for range 50 {
			if d := backoff(n, lo, hi); d < bound/2 || d > bound {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, bound/2, bound)
			}
		}
	}
}

// The lane's state transitions, one per edge.
func TestLaneTransitions(t *testing.T) {
	now := time.Unix(1000, 0)
	lo, hi := 100*time.Millisecond, time.Second
	newLane := func(n int) *lane {
		ln := &lane{}
		for i := range n {
			ln.push(rec{data: []byte(fmt.Sprint(i)), valueEnd: 1, heldAt: int64(i + 1)})
		}
		return ln
	}
	t.Run("idle with records is ready; empty is not", func(t *testing.T) {
		if !newLane(1).ready(now) || newLane(0).ready(now) {
			t.Error("ready wrong")
		}
	})
	t.Run("idle -> sending: not ready", func(t *testing.T) {
		ln := newLane(3)
		ln.send(len(ln.front(1 << 20)))
		if ln.state != sending || ln.inflight != 3 || ln.ready(now) {
			t.Errorf("state %v inflight %d", ln.state, ln.inflight)
		}
	})
	t.Run("sending -> waiting on a retryable failure, ready at retryAt", func(t *testing.T) {
		ln := newLane(3)
		ln.send(3)
		if first := ln.settle(verdict{act: retry}, kafka.NotEnoughReplicas, now, lo, hi); !first {
			t.Error("first failure not reported")
		}
		if ln.state != waiting || ln.attempts != 1 || ln.ready(now) || !ln.ready(ln.retryAt) {
			t.Errorf("state %v attempts %d retryAt %v", ln.state, ln.attempts, ln.retryAt)
		}
		ln.send(3)
		if first := ln.settle(verdict{act: retry}, context.DeadlineExceeded, now, lo, hi); first || ln.timeouts != 1 {
			t.Errorf("second failure: first=%v timeouts=%d", first, ln.timeouts)
		}
	})
	t.Run("waiting -> idle on delivery: failure series over", func(t *testing.T) {
		ln := newLane(3)
		ln.send(3)
		ln.settle(verdict{act: retry}, kafka.NotEnoughReplicas, now, lo, hi)
		ln.send(3)
		ln.settle(verdict{act: delivered}, nil, now, lo, hi)
		if ln.state != idle || ln.attempts != 0 || ln.lastErr != nil || !ln.failingSince.IsZero() {
			t.Errorf("state %v attempts %d lastErr %v", ln.state, ln.attempts, ln.lastErr)
		}
	})
	t.Run("bisect: idle, next request is the front half", func(t *testing.T) {
		ln := newLane(8)
		ln.send(8)
		ln.settle(verdict{act: bisect}, kafka.MessageSizeTooLarge, now, lo, hi)
		if got := len(ln.front(1 << 20)); ln.state != idle || got != 4 {
			t.Errorf("state %v, next request %d records, want idle and 4", ln.state, got)
		}
	})
	t.Run("front respects max bytes, at least one record", func(t *testing.T) {
		ln := newLane(0)
		ln.push(rec{data: make([]byte, 1000), valueEnd: 1000})
		ln.push(rec{data: make([]byte, 1000), valueEnd: 1000})
		if got := len(ln.front(1500)); got != 1 {
			t.Errorf("front(1500) = %d records, want 1", got)
		}
	})
	t.Run("pop keeps order and bytes", func(t *testing.T) {
		ln := newLane(3)
		ln.pop(2)
		if len(ln.queue) != 1 || ln.oldest() != 3 || ln.bytes != 1 {
			t.Errorf("after pop: %d records, oldest %d, bytes %d", len(ln.queue), ln.oldest(), ln.bytes)
		}
	})
}

// The hint of a failing destination tells the operator what to do.
func TestHint(t *testing.T) {
	s := &Shipper{}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{kafka.UnknownTopicOrPartition, "topic does not exist"},
		{kafka.TopicAuthorizationFailed, "ACLs"},
		{kafka.InvalidTimestamp, "clock"},
		{kafka.NotEnoughReplicas, "temporary broker condition"},
		{fmt.Errorf("produce: %w", context.DeadlineExceeded), "did not answer"},
	} {
		if got := s.hint(tt.err); !strings.Contains(got, tt.want) {
			t.Errorf("hint(%v) = %q, want it to say %q", tt.err, got, tt.want)
		}
	}
}
