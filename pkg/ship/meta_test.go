package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// fakeClock is the metadata's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitAcked waits until ack holds n cursors.
func waitAcked(t testing.TB, ack *recAcker, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d acks", n), func() bool { return len(ack.cursors()) >= n })
}

// A minute of traffic (a batch every second of the metadata's clock)
// costs the metadata of the first connection and no more with the
// default kafka.metadata_max_age, and a minute without traffic, pinged
// every 10 s as the agent does, costs none; with a max age of 10 s the
// metadata is refreshed about six times in that minute, by age.
func TestKafkaMetadataMaxAge(t *testing.T) {
	for _, tc := range []struct {
		maxAge      time.Duration
		min, max    int // metadata requests the broker sees in the busy minute
		ageRefreshe int
	}{
		{maxAge: 5 * time.Minute, min: 1, max: 1, ageRefreshe: 0},
		{maxAge: 10 * time.Second, min: 6, max: 7, ageRefreshe: 5},
	} {
		t.Run(tc.maxAge.String(), func(t *testing.T) {
			c, addr := startCluster(t)
			seen := watchRequests(c)
			cfg := testKafkaConfig(addr)
			cfg.Kafka.MetadataMaxAge = tc.maxAge
			clock := &fakeClock{t: time.Now()}
			h := runShipperWith(t, cfg, nil, func(s *Shipper) { s.fresh.now = clock.Now })
			n := 0
			for i := range 60 {
				clock.Advance(time.Second)
				h.logs <- makeLogs(uint64(i%10), i, 1, metaFor(i%10))
				n++
				waitAcked(t, h.ack, n)
			}
			busy := seen.count(kmsg.Metadata)
			if busy < tc.min || busy > tc.max {
				t.Errorf("a minute of traffic cost %d metadata requests at the broker, want %d..%d (all: %v)",
					busy, tc.min, tc.max, seen.snapshot())
			}
			if got := int(testutil.ToFloat64(h.s.m.metadataRefreshes.WithLabelValues("age"))); got != tc.ageRefreshe {
				t.Errorf("refreshes by age = %d, want %d", got, tc.ageRefreshe)
			}
			if tc.maxAge < time.Minute {
				return
			}
			// Idle: no records, a ping every 10 s.
			pings := seen.count(kmsg.ApiVersions)
			for range 6 {
				clock.Advance(10 * time.Second)
				if err := h.s.Ping(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := seen.count(kmsg.Metadata) - busy; got != 0 {
				t.Errorf("an idle minute cost %d metadata requests, want 0", got)
			}
			if got := seen.count(kmsg.ApiVersions) - pings; got < 6 {
				t.Errorf("6 pings reached the broker as %d ApiVersions requests, want 6 or more", got)
			}
			h.finish(t)
			if got := len(consume(t, addr, n, []string{"logs"})); got != n {
				t.Errorf("consumed %d records, want %d", got, n)
			}
		})
	}
}

// When partition leaders move, the old leader answers
// NOT_LEADER_OR_FOLLOWER: the metadata is refreshed at once (not after
// kafka.metadata_max_age) and every record is delivered once, in order.
func TestKafkaLeaderMove(t *testing.T) {
	c, addr := startCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(3, "logs"))
	seen := watchRequests(c)
	h := runShipper(t, testKafkaConfig(addr), nil)
	var sent [][]event.Log
	for i := range 6 {
		ls := makeLogs(uint64(i), 0, 20, metaFor(i))
		sent = append(sent, ls)
		h.logs <- ls
	}
	waitAcked(t, h.ack, 120)
	before := seen.count(kmsg.Metadata)
	for p := range int32(3) {
		leader := c.LeaderFor("logs", p)
		if err := c.MoveTopicPartition("logs", p, (leader+1)%3); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		ls := makeLogs(uint64(i), 20, 20, metaFor(i))
		sent = append(sent, ls)
		h.logs <- ls
	}
	waitAcked(t, h.ack, 240)
	h.finish(t)
	if got := testutil.ToFloat64(h.s.m.metadataRefreshes.WithLabelValues("stale")); got < 1 {
		t.Errorf("refreshes on stale metadata = %v, want at least 1", got)
	}
	if got := seen.count(kmsg.Metadata) - before; got < 1 || got > 3 {
		t.Errorf("%d metadata requests after the move, want 1..3", got)
	}
	recs := consume(t, addr, 240, []string{"logs"})
	if len(recs) != 240 || len(dedup(recs)) != 240 {
		t.Errorf("consumed %d records (%d distinct), want 240 once each", len(recs), len(dedup(recs)))
	}
	checkPerKeyOrder(t, recs)
	if diff := cmp.Diff(sortCursors(cursorsOf(sent...)), sortCursors(h.ack.cursors())); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

// A templated topic coming into use is added to the topics the metadata
// covers (one refresh for the topics of a flush), and metadata requests
// name only the topics in use.
func TestKafkaMetadataTopicsInUse(t *testing.T) {
	c, addr := startCluster(t, kfake.SeedTopics(1, "logs.a", "logs.b", "logs.c", "logs-fallback", "metrics", "unrelated"))
	var mu sync.Mutex
	var asked [][]string
	c.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		var names []string
		for _, t := range req.(*kmsg.MetadataRequest).Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
		mu.Lock()
		asked = append(asked, names)
		mu.Unlock()
		return nil, nil, false
	})
	cfg := testKafkaConfig(addr)
	cfg.Kafka.Topic = "logs.{{ .Namespace }}"
	cfg.Kafka.FallbackTopic = "logs-fallback"
	h := runShipper(t, cfg, nil)
	var batch []event.Log
	for i, ns := range []string{"a", "b"} {
		m := metaFor(i)
		m.Namespace = ns
		batch = append(batch, makeLogs(uint64(i), 0, 5, m)...)
	}
	h.logs <- batch
	waitAcked(t, h.ack, 10)
	m := metaFor(3)
	m.Namespace = "c"
	h.logs <- makeLogs(3, 0, 5, m)
	h.finish(t)
	mu.Lock()
	defer mu.Unlock()
	want := [][]string{
		{"logs-fallback", "logs.a", "logs.b", "metrics"},
		{"logs-fallback", "logs.a", "logs.b", "logs.c", "metrics"},
	}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("metadata requests' topics (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(h.s.m.metadataRefreshes.WithLabelValues("topic")); got != 1 {
		t.Errorf("refreshes for a new topic = %v, want 1", got)
	}
}

func TestStaleErr(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kafka.NotLeaderForPartition, true},
		{kafka.UnknownTopicOrPartition, true},
		{kafka.LeaderNotAvailable, true},
		{kafka.BrokerNotAvailable, true},
		{fmt.Errorf("kafka.(*Client).Produce: %w", protocol.NewErrNoLeader("logs", 2)), true},
		{io.ErrUnexpectedEOF, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{kafka.NotEnoughReplicas, false},
		{kafka.MessageSizeTooLarge, false},
		{kafka.TopicAuthorizationFailed, false},
		{kafka.RequestTimedOut, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("wrapped: %w", context.Canceled), false},
	} {
		if got := staleErr(tc.err); got != tc.want {
			t.Errorf("staleErr(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", kafka.NotLeaderForPartition), kafka.NotLeaderForPartition) {
		t.Fatal("kafka.Error does not wrap as expected")
	}
}

// The topics a refresh asks for: the fixed ones and those in use; every
// topic beyond maxTopicsInUse (no refresh per new topic then); topics no
// longer asked for are forgotten at the next refresh by age. Forced
// refreshes come at most every minForcedRefresh.
func TestFreshTransportTopics(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	var built [][]string
	f := &freshTransport{
		build: func(topics []string) *kafka.Transport {
			built = append(built, topics)
			return &kafka.Transport{MetadataTopics: topics}
		},
		maxAge: time.Minute,
		fixed:  []string{"logs-fallback", "metrics"},
		now:    clock.Now,
	}
	f.use([]string{"logs.a"})
	f.use([]string{"logs.a", "metrics"})
	f.use([]string{"logs.b"})
	many := make([]string, maxTopicsInUse+1)
	for i := range many {
		many[i] = fmt.Sprintf("logs.n%d", i)
	}
	f.use(many)
	f.use([]string{"logs.c"}) // covered: every topic
	clock.Advance(30 * time.Second)
	f.use([]string{"logs.d"})
	clock.Advance(31 * time.Second)
	f.use([]string{"logs.d"}) // by age: only the topics used within the minute stay
	want := [][]string{
		{"logs-fallback", "logs.a", "metrics"},
		{"logs-fallback", "logs.a", "logs.b", "metrics"},
		nil,
		{"logs-fallback", "logs.d", "metrics"},
	}
	if diff := cmp.Diff(want, built); diff != "" {
		t.Fatalf("metadata topics of each Transport (-want +got):\n%s", diff)
	}
	cur := f.current()
	f.refresh(cur)
	f.refresh(f.current()) // too soon
	clock.Advance(minForcedRefresh)
	f.refresh(cur) // not current any more: already refreshed
	f.refresh(f.current())
	if got := len(built) - len(want); got != 2 {
		t.Errorf("%d forced refreshes, want 2", got)
	}
}
