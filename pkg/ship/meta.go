package ship

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/produce"
)

// Cluster metadata, kept like a well-behaved producer keeps it.
//
// kafka-go's Transport holds one connection pool per bootstrap address;
// the pool asks the brokers for the metadata of its MetadataTopics (all
// topics when empty) when it starts and then at random intervals below
// MetadataTTL, from a goroutine of its own, and answers every metadata
// request from that cache. It offers no way to ask for a refresh when an
// answer says the cache is stale (NOT_LEADER_OR_FOLLOWER and the like),
// and its topic list is fixed when the pool starts. So ship makes the
// Transport's own timer never fire (MetadataTTL is a century) and refreshes
// by replacing the Transport: the new one's pool starts with one metadata
// request for the topics in use. The old Transport's idle connections are
// closed at once and its busy ones when their request ends.
//
// A refresh happens:
//   - when the metadata is older than kafka.metadata_max_age and a request
//     needs it (an idle agent asks nothing);
//   - at once, at most every minForcedRefresh, when an answer means the
//     metadata is stale: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION,
//     LEADER_NOT_AVAILABLE and the other errors Kafka's Java producer
//     refreshes on, a partition or leader the cached layout lacks, a
//     broker connection that failed, or a metadata request that failed
//     (a metadata answer so refreshed, from metadata older than
//     minForcedRefresh, is asked again of the new metadata: a topic
//     created since it was found missing is found);
//   - when a topic not yet in use is asked for (a templated topic's first
//     record), so that the metadata covers only the topics in use.
//
// A refresh costs a metadata request, a new connection to a bootstrap
// broker (with its ApiVersions, and SASL's requests), and a new connection
// to each partition leader at its next produce request.

// neverTTL is the Transport's MetadataTTL: its own refresh never fires.
const neverTTL = 100 * 365 * 24 * time.Hour

// minForcedRefresh bounds how often an error forces a refresh.
const minForcedRefresh = time.Second

// maxTopicsInUse bounds the topics named in a metadata request; beyond
// it, the request asks for every topic (as an empty MetadataTopics does).
const maxTopicsInUse = 256

// freshTransport is a kafka.RoundTripper over the current Transport (see
// above). It is safe for concurrent use.
type freshTransport struct {
	build  func(topics []string) *kafka.Transport
	maxAge time.Duration
	fixed  []string         // topics always in use (kafka.topic when fixed, metrics, fallback)
	now    func() time.Time // time.Now; tests move it
	// refreshed counts refreshes by cause ("age", "stale", "topic").
	refreshed func(cause string)
	// swapped is called (under mu) when the Transport was replaced: the
	// caches of its answers are stale.
	swapped func()

	mu        sync.Mutex
	cur       *kafka.Transport
	born      time.Time            // when cur was made: its metadata's age
	topics    []string             // cur's MetadataTopics (sorted; nil: all)
	used      map[string]time.Time // templated topics in use: last asked for
	lastForce time.Time
}

var _ kafka.RoundTripper = (*freshTransport)(nil)

func (f *freshTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	var t *kafka.Transport
	if m, ok := req.(*metadata.Request); ok {
		t = f.use(m.TopicNames)
	} else {
		t = f.current()
	}
	res, err := t.RoundTrip(ctx, addr, req)
	if stale(req, res, err) {
		if f.refresh(t) >= minForcedRefresh && err == nil {
			if m, ok := req.(*metadata.Request); ok {
				// Metadata older than a forced refresh's interval
				// lacks a topic or its leader: the answer is the new
				// metadata's. A templated topic found missing is
				// looked up again only after a minute, and would be
				// found missing again by the metadata that found it
				// missing first when nothing refreshed it since.
				return f.use(m.TopicNames).RoundTrip(ctx, addr, req)
			}
		}
	}
	return res, err
}

// current returns the Transport, replaced first when its metadata is
// older than maxAge.
func (f *freshTransport) current() *kafka.Transport {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || f.now().Sub(f.born) >= f.maxAge {
		f.swap("age")
	}
	return f.cur
}

// use returns the Transport after adding topics to the topics in use
// (replacing the Transport when one was not).
func (f *freshTransport) use(topics []string) *kafka.Transport {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	added := false
	for _, tp := range topics {
		if slices.Contains(f.fixed, tp) {
			continue
		}
		if f.used == nil {
			f.used = map[string]time.Time{}
		}
		if _, ok := f.used[tp]; !ok {
			// Beyond maxTopicsInUse the metadata covers every topic
			// (f.topics nil) until a refresh by age forgets the topics
			// no longer in use; this bounds the map itself.
			if len(f.used) >= maxMetaCache {
				clear(f.used)
			}
			added = true
		}
		f.used[tp] = now
	}
	switch {
	case f.cur == nil || now.Sub(f.born) >= f.maxAge:
		f.swap("age")
	case added && f.topics != nil && !f.covers(topics):
		f.swap("topic")
	}
	return f.cur
}

func (f *freshTransport) covers(topics []string) bool {
	for _, tp := range topics {
		if _, ok := slices.BinarySearch(f.topics, tp); !ok {
			return false
		}
	}
	return true
}

// refresh replaces t (if still current) because an answer said its
// metadata is stale, at most every minForcedRefresh. It returns the age
// of the metadata replaced (0: not replaced).
func (f *freshTransport) refresh(t *kafka.Transport) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.cur != t || now.Sub(f.lastForce) < minForcedRefresh {
		return 0
	}
	age := now.Sub(f.born)
	f.lastForce = now
	f.swap("stale")
	return age
}

// forceRefresh replaces the Transport now, however recent the last
// refresh (the drain's last look before it gives up on a topic).
func (f *freshTransport) forceRefresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastForce = f.now()
	f.swap("stale")
}

// swap replaces the Transport by a new one for the topics in use. Topics
// not asked for within maxAge stop being in use at a refresh by age.
func (f *freshTransport) swap(cause string) {
	now := f.now()
	if cause == "age" {
		for tp, at := range f.used {
			if now.Sub(at) >= f.maxAge {
				delete(f.used, tp)
			}
		}
	}
	topics := slices.Clone(f.fixed)
	for tp := range f.used {
		topics = append(topics, tp)
	}
	slices.Sort(topics)
	topics = slices.Compact(topics)
	if len(topics) > maxTopicsInUse {
		topics = nil
	}
	old := f.cur
	f.cur, f.born, f.topics = f.build(topics), now, topics
	if f.swapped != nil {
		f.swapped()
	}
	if old != nil {
		old.CloseIdleConnections()
		if f.refreshed != nil {
			f.refreshed(cause)
		}
	}
}

// CloseIdleConnections closes the current Transport's idle connections.
func (f *freshTransport) CloseIdleConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.CloseIdleConnections()
	}
}

// stale says whether the answer to req means the metadata it was routed
// by is stale.
func stale(req kafka.Request, res kafka.Response, err error) bool {
	if err != nil {
		if _, ok := req.(*metadata.Request); ok {
			return true // no metadata at all: ask again
		}
		return staleErr(err)
	}
	switch r := res.(type) {
	case *produce.Response:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && staleErr(kafka.Error(p.ErrorCode)) {
					return true
				}
			}
		}
	case *metadata.Response:
		for _, t := range r.Topics {
			if t.ErrorCode != 0 && staleErr(kafka.Error(t.ErrorCode)) {
				return true
			}
		}
	}
	return false
}

// staleErr says whether err means the metadata is stale: the error codes
// Kafka's Java producer refreshes on (InvalidMetadataException), a topic,
// partition or leader missing from the cached layout, a broker the layout
// names that is gone, or a broken connection. A timeout is not one: a
// slow broker is not a moved one.
func staleErr(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.NotLeaderForPartition, kafka.UnknownTopicOrPartition, kafka.LeaderNotAvailable,
			kafka.BrokerNotAvailable, kafka.ReplicaNotAvailable, kafka.KafkaStorageError,
			kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.NotController:
			return true
		}
		return false
	}
	var te *protocol.TopicError
	var tpe *protocol.TopicPartitionError
	if errors.As(err, &te) || errors.As(err, &tpe) {
		return true
	}
	return !isTimeout(err) && !errors.Is(err, context.Canceled)
}
