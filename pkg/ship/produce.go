package ship

import (
	"bytes"
	"context"
	"io"
	"sync"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/metadata"
)

// kafkaProducer sends the records of one call as one produce request per
// partition, concurrently, through kafka-go's Client and Transport, and
// reports each record's outcome.
//
// It replaces kafka-go's Writer, whose own batching ship had to defeat (see
// doc.go): the Writer copies every message into per-partition batches that
// it sizes for its BatchSize limit (one allocation of BatchSize messages
// per partition per call, whatever the call holds), starts a timer and a
// goroutine hand-off per batch, and looks up the partition count once per
// message. Ship already forms, bounds and retries its batches; what it
// needs is exactly the Writer's last step, Client.Produce per partition.
type kafkaProducer struct {
	client     *kafka.Client
	acks       kafka.RequiredAcks
	comp       kafka.Compression
	autoCreate bool
	balancer   kafka.Murmur2Balancer
	requests   func(ok bool) // counts produce requests by outcome

	// Reused by each call; calls do not overlap (one batch in flight).
	parts  map[string][]int // topic -> partition numbers, for the balancer
	groups []*partBatch
	byKey  map[topicPartition]*partBatch
	errs   kafka.WriteErrors
}

type topicPartition struct {
	topic     string
	partition int
}

// partBatch is what one call sends to one partition.
type partBatch struct {
	topicPartition
	msgs []int // indexes into the call's messages, in order
	recs partRecords
	err  error
}

var _ producer = (*kafkaProducer)(nil)

// WriteMessages sends msgs and returns nil when the brokers confirmed all
// of them. Otherwise it returns kafka.WriteErrors with one entry per
// message (nil for the confirmed ones): a partition's request succeeds or
// fails as a whole. The WriteErrors slice is reused by the next call.
func (p *kafkaProducer) WriteMessages(ctx context.Context, msgs ...kafka.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if p.byKey == nil {
		p.byKey = make(map[topicPartition]*partBatch)
		p.parts = make(map[string][]int)
	}
	clear(p.byKey)
	p.groups = p.groups[:0]
	p.errs = p.errs[:0]
	for range msgs {
		p.errs = append(p.errs, nil)
	}
	var (
		failed bool
		// Records come in runs of one topic and one key (a file's lines):
		// the topic's partitions and the key's partition are looked up
		// once per run.
		topic    string
		parts    []int
		topicErr error
		lastKey  []byte
		lastPart = -1
		// Records without a key all go to one random partition per topic
		// of a call, as Java's sticky partitioner does: one request, not
		// one per partition.
		sticky = -1
	)
	for i := range msgs {
		m := &msgs[i]
		if i == 0 || m.Topic != topic {
			topic, lastPart, sticky = m.Topic, -1, -1
			parts, topicErr = p.partitions(ctx, topic)
		}
		if topicErr != nil {
			p.errs[i], failed = topicErr, true
			continue
		}
		var part int
		switch {
		case m.Key == nil:
			if sticky < 0 {
				sticky = p.balancer.Balance(*m, parts...)
			}
			part = sticky
		case lastPart >= 0 && bytes.Equal(m.Key, lastKey):
			part = lastPart
		default:
			part = p.balancer.Balance(*m, parts...)
			lastKey, lastPart = m.Key, part
		}
		key := topicPartition{topic, part}
		g := p.byKey[key]
		if g == nil {
			g = p.newGroup(len(p.groups))
			g.topicPartition = key
			p.byKey[key] = g
			p.groups = append(p.groups, g)
		}
		g.msgs = append(g.msgs, i)
	}
	if len(p.groups) == 1 {
		p.produce(ctx, p.groups[0], msgs)
	} else {
		var wg sync.WaitGroup
		for _, g := range p.groups {
			wg.Go(func() { p.produce(ctx, g, msgs) })
		}
		wg.Wait()
	}
	for _, g := range p.groups {
		if g.err == nil {
			continue
		}
		failed = true
		for _, i := range g.msgs {
			p.errs[i] = g.err
		}
	}
	if !failed {
		return nil
	}
	return p.errs
}

// newGroup reuses the k-th partition batch of earlier calls.
func (p *kafkaProducer) newGroup(k int) *partBatch {
	if k < cap(p.groups) {
		if g := p.groups[:k+1][k]; g != nil {
			g.msgs, g.err = g.msgs[:0], nil
			return g
		}
	}
	return &partBatch{}
}

// produce sends g's messages in one request.
func (p *kafkaProducer) produce(ctx context.Context, g *partBatch, msgs []kafka.Message) {
	g.recs.reset(msgs, g.msgs)
	res, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic:        g.topic,
		Partition:    g.partition,
		RequiredAcks: p.acks,
		Compression:  p.comp,
		Records:      &g.recs,
	})
	g.recs.reset(nil, nil)
	switch {
	case err != nil:
		g.err = err
	case res != nil && res.Error != nil:
		g.err = res.Error
	}
	p.requests(g.err == nil)
}

// partitions returns the partition numbers of topic (from the metadata
// cache in front of the Transport).
func (p *kafkaProducer) partitions(ctx context.Context, topic string) ([]int, error) {
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

// partRecords reads a partition's messages as records, without copying
// them: each record and its key and value readers are reused (kafka-go
// encodes a record completely before it reads the next one).
type partRecords struct {
	msgs       []kafka.Message
	idx        []int
	next       int
	record     kafka.Record
	key, value bytesReadCloser
}

func (r *partRecords) reset(msgs []kafka.Message, idx []int) {
	r.msgs, r.idx, r.next = msgs, idx, 0
	r.record = kafka.Record{}
	r.key.Reset(nil)
	r.value.Reset(nil)
}

func (r *partRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.idx) {
		return nil, io.EOF
	}
	m := &r.msgs[r.idx[r.next]]
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
