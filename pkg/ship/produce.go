package ship

import (
	"bytes"
	"context"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
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
	produce(ctx context.Context, d dest, msgs []kafka.Message) error
}

// kafkaProducer sends one destination's records as one produce request
// through kafka-go's Client and Transport.
//
// It replaces kafka-go's Writer, whose own batching, retries and
// per-partition buffers ship would have to defeat: ship forms, bounds and
// retries its requests itself per destination (see doc.go); what it needs
// is exactly the Writer's last step, Client.Produce for one partition.
type kafkaProducer struct {
	client     *kafka.Client
	acks       kafka.RequiredAcks
	comp       kafka.Compression
	autoCreate bool
	// metaTimeout bounds a metadata lookup (kafka.write_timeout): the
	// first after a refresh waits for the new Transport's metadata.
	metaTimeout time.Duration
	requests    func(ok bool) // counts produce requests by outcome

	parts map[string][]int // topic -> partition numbers (partitions' goroutine only)
}

var _ producer = (*kafkaProducer)(nil)

// produce sends msgs to d.topic's partition d.partition in one request.
func (p *kafkaProducer) produce(ctx context.Context, d dest, msgs []kafka.Message) error {
	recs := &partRecords{msgs: msgs}
	res, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic:        d.topic,
		Partition:    d.partition,
		RequiredAcks: p.acks,
		Compression:  p.comp,
		Records:      recs,
	})
	if err == nil && res != nil && res.Error != nil {
		err = res.Error
	}
	p.requests(err == nil)
	return err
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

// partRecords reads a request's messages as records, without copying
// them: each record and its key and value readers are reused (kafka-go
// encodes a record completely before it reads the next one).
type partRecords struct {
	msgs       []kafka.Message
	next       int
	record     kafka.Record
	key, value bytesReadCloser
}

func (r *partRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.msgs) {
		return nil, io.EOF
	}
	m := &r.msgs[r.next]
	r.next++
	r.record = kafka.Record{Time: m.Time}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

type bytesReadCloser struct{ bytes.Reader }

func (*bytesReadCloser) Close() error { return nil }

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
