package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
)

// producer is what ship needs from a sink: the Kafka producer and the
// NDJSON debug sinks.
type producer interface {
	// partitions returns the partition numbers of topic. It is called
	// from one goroutine only.
	partitions(ctx context.Context, topic string) ([]int, error)
	// produce sends msgs to d in one request and returns nil when the sink
	// confirmed all of them: a request succeeds or fails as a whole.
	// Calls for different destinations may run concurrently.
	produce(ctx context.Context, d dest, msgs []message) error
}

// groupProducer is a producer that can also send the records of several
// destinations in one request: the Kafka producer, for the partitions led
// by one broker.
type groupProducer interface {
	producer
	// leader returns the broker leading d's partition as of the last
	// partitions call of its topic, or -1 when unknown.
	leader(d dest) int32
	// produceGroup sends every part in one request and returns each
	// part's outcome (nil: confirmed), in order. Each part succeeds or
	// fails as a whole, independently of the others.
	produceGroup(ctx context.Context, parts []part) []error
}

// part is one destination's records in a request.
type part struct {
	d    dest
	msgs []message
}

// kafkaProducer sends produce requests through kafka-go's Client and
// Transport: one destination's records, or those of several partitions
// led by one broker (a produce request carries any number of topics and
// partitions; the Transport sends it to their leader).
//
// It replaces kafka-go's Writer, whose own batching, retries and
// per-partition buffers ship would have to defeat: ship forms, bounds and
// retries its requests itself per destination (see doc.go).
type kafkaProducer struct {
	client     *kafka.Client
	acks       kafka.RequiredAcks
	comp       kafka.Compression
	autoCreate bool
	// metaTimeout bounds a metadata lookup (kafka.write_timeout): the
	// first after a refresh waits for the new Transport's metadata.
	metaTimeout time.Duration
	requests    func(ok bool) // counts produce requests by outcome

	parts   map[string][]int         // topic -> partition numbers (partitions' goroutine only)
	leaders map[string]map[int]int32 // topic -> partition -> leader (partitions' goroutine only)
}

var _ groupProducer = (*kafkaProducer)(nil)

// produce sends msgs to d.topic's partition d.partition in one request.
func (p *kafkaProducer) produce(ctx context.Context, d dest, msgs []message) error {
	return p.produceGroup(ctx, []part{{d: d, msgs: msgs}})[0]
}

func (p *kafkaProducer) leader(d dest) int32 {
	if l, ok := p.leaders[d.topic][d.partition]; ok {
		return l
	}
	return -1
}

// produceGroup sends parts in one produce request (what kafka-go's
// Client.Produce does for one partition) and maps the answer back to each
// part: its partition's error code, or the request's error for all.
func (p *kafkaProducer) produceGroup(ctx context.Context, parts []part) []error {
	req := &rawproduce.Request{
		Acks:    int16(p.acks),
		Timeout: produceTimeoutMs(ctx, p.client.Timeout),
	}
	errs := make([]error, len(parts))
	// One buffer holds every part's batch, one after the other; each
	// part's reader is made once all are written (appending moves it).
	b := getBatchBuf()
	starts := make([]int, len(parts)+1)
	rds := make([]bytes.Reader, len(parts))
	for i, pt := range parts {
		var t *rawproduce.RequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == pt.d.topic {
				t = &req.Topics[i]
			}
		}
		if t == nil {
			req.Topics = append(req.Topics, rawproduce.RequestTopic{Topic: pt.d.topic})
			t = &req.Topics[len(req.Topics)-1]
		}
		start, err := b.appendBatch(pt.msgs, p.comp)
		if err != nil {
			// A codec failing on bytes in memory: nothing was sent.
			err = fmt.Errorf("produce: encoding the record batch: %w", err)
			for i := range errs {
				errs[i] = err
			}
			p.requests(false)
			return errs
		}
		starts[i] = start
		t.Partitions = append(t.Partitions, rawproduce.RequestPartition{
			Partition: int32(pt.d.partition),
			RecordSet: protocol.RawRecordSet{Reader: &rds[i]},
		})
	}
	starts[len(parts)] = len(b.out)
	for i := range parts {
		rds[i].Reset(b.out[starts[i]:starts[i+1]])
	}
	r, err := p.client.Transport.RoundTrip(ctx, p.client.Addr, req)
	if err != nil && (errors.Is(err, protocol.ErrNoTopic) || errors.Is(err, protocol.ErrNoPartition)) {
		err = p.noRoute(ctx, req, err)
	}
	if err != nil {
		p.requests(false)
		err = fmt.Errorf("produce: %w", err)
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	// Answered: the request was written, its buffer is free.
	putBatchBuf(b)
	res := r.(*produceAPI.Response)
	for i, pt := range parts {
		errs[i] = fmt.Errorf("produce: %w", protocol.ErrNoPartition)
		for _, t := range res.Topics {
			if t.Topic != pt.d.topic {
				continue
			}
			for _, rp := range t.Partitions {
				if int(rp.Partition) == pt.d.partition {
					errs[i] = partitionError(rp.ErrorCode, rp.ErrorMessage)
				}
			}
		}
	}
	// ok: every partition confirmed.
	p.requests(!slices.ContainsFunc(errs, func(e error) bool { return e != nil }))
	return errs
}

// noRoute tells why kafka-go found no broker for req (err: topic or
// partition not found in its Transport's metadata). That metadata may not
// be the cluster's: a Transport that could not fetch any (every broker
// unreachable when it was made) has an empty layout and fails every
// produce request so, until ship replaces it. An unknown topic or
// partition is reported only when the metadata the Transport holds (the
// metadata request is answered from its cache, or fails with the error
// that left the cache empty) has the topic without that partition, or
// says the topic is unknown;
// otherwise the failure is the brokers' absence (a metadata request that
// fails) or a stale route (errStaleRoute), both retried as network
// failures: a templated topic is not sent to the fallback topic, nor the
// drain at shutdown given up, because the brokers were away.
func (p *kafkaProducer) noRoute(ctx context.Context, req *rawproduce.Request, err error) error {
	topics := make([]string, 0, len(req.Topics))
	for _, t := range req.Topics {
		topics = append(topics, t.Topic)
	}
	r, merr := p.client.Transport.RoundTrip(ctx, p.client.Addr, &metadata.Request{TopicNames: topics})
	if merr != nil {
		return fmt.Errorf("no cluster metadata: %w", merr)
	}
	known := map[string][]int32{}
	for _, t := range r.(*metadata.Response).Topics {
		if t.ErrorCode != 0 {
			continue
		}
		for _, tp := range t.Partitions {
			known[t.Name] = append(known[t.Name], tp.PartitionIndex)
		}
	}
	for _, t := range req.Topics {
		for _, tp := range t.Partitions {
			if !slices.Contains(known[t.Topic], tp.Partition) {
				return err // the metadata agrees: unknown
			}
		}
	}
	return fmt.Errorf("%w (%v)", errStaleRoute, err.Error())
}

// errStaleRoute is a produce request kafka-go could not route although
// the cluster's metadata has every partition it names.
var errStaleRoute = errors.New("produce: no route by stale metadata, retrying")

// partitionError is a partition's answer as kafka-go's Client.Produce
// returns it: nil, the kafka.Error, or the kafka.Error with the broker's
// message.
func partitionError(code int16, msg string) error {
	switch {
	case code == 0:
		return nil
	case msg == "":
		return kafka.Error(code)
	}
	return fmt.Errorf("%w: %s", kafka.Error(code), msg)
}

// produceTimeoutMs is the time the brokers get to reach required_acks:
// half of what is left of the attempt (as kafka-go's Client gives them),
// capped by ceiling.
func produceTimeoutMs(ctx context.Context, ceiling time.Duration) int32 {
	timeout := ceiling
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	return int32(max(timeout/2, time.Millisecond) / time.Millisecond)
}

// partitions returns the partition numbers of topic (from the metadata
// cache in front of the Transport).
func (p *kafkaProducer) partitions(ctx context.Context, topic string) ([]int, error) {
	if p.metaTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.metaTimeout)
		defer cancel()
	}
	r, err := p.client.Transport.RoundTrip(ctx, p.client.Addr, &metadata.Request{
		TopicNames:             []string{topic},
		AllowAutoTopicCreation: p.autoCreate,
	})
	if err != nil {
		return nil, err
	}
	for _, t := range r.(*metadata.Response).Topics {
		if t.Name != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return nil, kafka.Error(t.ErrorCode)
		}
		if len(t.Partitions) == 0 {
			return nil, kafka.UnknownTopicOrPartition
		}
		if p.parts == nil {
			p.parts = make(map[string][]int)
			p.leaders = make(map[string]map[int]int32)
		}
		leaders := p.leaders[topic]
		if leaders == nil {
			if len(p.leaders) >= maxMetaCache {
				clear(p.leaders)
			}
			leaders = make(map[int]int32, len(t.Partitions))
			p.leaders[topic] = leaders
		}
		for _, tp := range t.Partitions {
			leaders[int(tp.PartitionIndex)] = tp.LeaderID
		}
		parts := p.parts[topic]
		if len(parts) != len(t.Partitions) {
			parts = make([]int, len(t.Partitions))
			for i := range parts {
				parts[i] = i
			}
			if len(p.parts) >= maxMetaCache {
				clear(p.parts)
			}
			p.parts[topic] = parts
		}
		return parts, nil
	}
	return nil, kafka.UnknownTopicOrPartition
}

// closeIdle closes the Transport's idle connections (at shutdown).
func closeIdle(rt kafka.RoundTripper) {
	for {
		switch t := rt.(type) {
		case *metaCache:
			rt = t.next
			continue
		case interface{ CloseIdleConnections() }:
			t.CloseIdleConnections()
		}
		return
	}
}
