package ship

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/ferry-dev/ferry/pkg/event"
)

// setupKafka builds the Kafka producer on kafka-go's Transport. Every
// setting that matters is set explicitly; see the package documentation.
func (s *Shipper) setupKafka(k KafkaConfig) error {
	tlsCfg, err := k.TLS.build()
	if err != nil {
		return fmt.Errorf("kafka.tls: %w", err)
	}
	mech, err := k.SASL.build()
	if err != nil {
		return fmt.Errorf("kafka.sasl: %w", err)
	}
	route, err := newRouter(k.Topic, k.FallbackTopic)
	if err != nil {
		return fmt.Errorf("kafka.topic: %w", err)
	}
	comp, _ := codec(k.Compression)
	acks, _ := requiredAcks(k.RequiredAcks)

	s.route, s.keyPodUID, s.metricsTop, s.sasl = route, k.Key == "pod_uid", k.MetricsTopic, mech != nil
	s.encoding = k.Encoding
	s.linger = time.Duration(k.Batch.Linger)
	s.maxBytes, s.maxMsg = k.Batch.MaxBytes, k.MaxMessageBytes
	s.maxRecords = max(1, k.Batch.MaxBytes/recordsPerBatchDivisor)
	s.backoffMin, s.backoffMax = time.Duration(k.Retry.BackoffMin), time.Duration(k.Retry.BackoffMax)
	s.writeTimeout, s.dropUnauth = time.Duration(k.WriteTimeout), k.DropUnauthorized

	d := &dialer{
		net:       &net.Dialer{Timeout: time.Duration(k.DialTimeout), KeepAlive: 30 * time.Second},
		tls:       tlsCfg,
		dials:     s.m.dials,
		counter:   newRequestsVec(s.m.requests),
		handshake: time.Duration(k.DialTimeout),
		metaWait:  time.Duration(k.WriteTimeout),
	}
	fixed := []string{k.MetricsTopic}
	if route.tmpl == nil {
		fixed = append(fixed, route.fixed)
	} else {
		fixed = append(fixed, route.fallback)
	}
	fresh := &freshTransport{
		build: func(topics []string) *kafka.Transport {
			return &kafka.Transport{
				Dial:           d.dial,
				DialTimeout:    time.Duration(k.DialTimeout),
				IdleTimeout:    30 * time.Second,
				MetadataTTL:    neverTTL,
				MetadataTopics: topics,
				ClientID:       k.ClientID,
				SASL:           mech,
			}
		},
		maxAge:    time.Duration(k.MetadataMaxAge),
		fixed:     fixed,
		now:       time.Now,
		refreshed: func(cause string) { s.m.metadataRefreshes.WithLabelValues(cause).Inc() },
	}
	addr := kafka.TCP(k.Brokers...)
	s.fresh = fresh
	mc := &metaCache{next: fresh}
	fresh.swapped = mc.clear
	s.transport = mc
	s.prod = &kafkaProducer{
		// Each attempt's context bounds its produce request
		// (attemptTimeout); kafka-go gives the brokers half of it to reach
		// required_acks. Client.Timeout is only the ceiling.
		client:      &kafka.Client{Addr: addr, Transport: s.transport, Timeout: maxTimeoutGrowth * time.Duration(k.WriteTimeout)},
		acks:        acks,
		comp:        comp,
		autoCreate:  k.AllowAutoTopicCreation,
		metaTimeout: time.Duration(k.WriteTimeout),
		requests: func(ok bool) {
			if ok {
				s.m.produceRequests.WithLabelValues("ok").Inc()
			} else {
				s.m.produceRequests.WithLabelValues("error").Inc()
			}
		},
	}
	s.autoCreate = k.AllowAutoTopicCreation
	// The ping is the cheapest request a broker answers (ApiVersions), on
	// the connection the metadata requests use; the agent sends it only
	// when no delivery proved the sink recently.
	s.ping = func(ctx context.Context) error {
		r, err := fresh.RoundTrip(ctx, addr, &apiversions.Request{})
		if err != nil {
			return err
		}
		if code := r.(*apiversions.Response).ErrorCode; code != 0 {
			return kafka.Error(code)
		}
		return nil
	}
	return nil
}

func codec(name string) (kafka.Compression, error) {
	switch name {
	case "none", "":
		return 0, nil
	case "gzip":
		return kafka.Gzip, nil
	case "snappy":
		return kafka.Snappy, nil
	case "lz4":
		return kafka.Lz4, nil
	case "zstd":
		return kafka.Zstd, nil
	}
	return 0, fmt.Errorf("%q: must be none, gzip, snappy, lz4 or zstd", name)
}

func requiredAcks(name string) (kafka.RequiredAcks, error) {
	switch name {
	case "all":
		return kafka.RequireAll, nil
	case "one", "leader":
		return kafka.RequireOne, nil
	}
	return 0, fmt.Errorf("%q: must be all or one (none would acknowledge records no broker confirmed)", name)
}

func (t TLSConfig) build() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s: no PEM certificate found", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func (c SASLConfig) build() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.Username, c.Password)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.Username, c.Password)
	}
	return nil, fmt.Errorf("mechanism %q: unknown", c.Mechanism)
}

// router chooses the topic of a log record. A template's result is cached
// per *event.Meta (immutable and shared by a pod's lines), so routing costs
// a map lookup per record.
type router struct {
	fixed    string
	tmpl     *template.Template
	fallback string
	cache    map[*event.Meta]route
	buf      bytes.Buffer

	// Topics the brokers said do not exist, until when they are avoided.
	// The sender marks them, the batcher reads them; gen tells the batcher
	// to forget its cache.
	mu      sync.Mutex
	missing map[string]time.Time
	gen     atomic.Uint64
	seenGen uint64
}

type route struct {
	topic    string
	fallback bool
	until    time.Time // when fallback because the topic was missing: recheck after
}

// missingTopicRecheck is how long the records of a topic the brokers do not
// know go to the fallback topic before the topic is tried again.
const missingTopicRecheck = time.Minute

// maxMissingTopics bounds the topics remembered as missing. It is above
// maxMetaCache: a template naming a topic per pod on a node with more live
// pods than that would otherwise forget a topic found missing a moment
// before, and each of its records would look it up again (a forced
// metadata refresh and a warning each). Each entry is a topic name and a
// time: 16,384 of them are about 2 MiB.
const maxMissingTopics = 4 * maxMetaCache

func (r *router) markMissing(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.missing == nil {
		r.missing = map[string]time.Time{}
	}
	now := time.Now()
	if _, ok := r.missing[topic]; !ok && len(r.missing) >= maxMissingTopics {
		// A topic no record renders again is never looked up again:
		// forget those whose minute is over, and when all are recent
		// the older half (their records then try the topic once more,
		// as after the minute), so that the map does not grow with
		// every topic a template ever made (a topic per pod, pods that
		// come and go).
		for tp, until := range r.missing {
			if now.After(until) {
				delete(r.missing, tp)
			}
		}
		if len(r.missing) >= maxMissingTopics {
			untils := make([]time.Time, 0, len(r.missing))
			for _, until := range r.missing {
				untils = append(untils, until)
			}
			slices.SortFunc(untils, time.Time.Compare)
			// The median and those before it: at least half, even
			// when times tie (a clock coarser than the calls).
			median := untils[len(untils)/2]
			for tp, until := range r.missing {
				if !until.After(median) {
					delete(r.missing, tp)
				}
			}
		}
	}
	r.missing[topic] = now.Add(missingTopicRecheck)
	r.gen.Add(1)
}

// isMissing says whether topic is avoided because the brokers said it does
// not exist (for missingTopicRecheck).
func (r *router) isMissing(topic string) bool {
	_, ok := r.missingUntil(topic)
	return ok
}

func (r *router) missingUntil(topic string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.missing[topic]
	if ok && time.Now().After(until) {
		delete(r.missing, topic)
		return time.Time{}, false
	}
	return until, ok
}

func newRouter(topic, fallback string) (*router, error) {
	if !isTemplate(topic) {
		return &router{fixed: topic}, nil
	}
	t, err := parseTopicTemplate(topic)
	if err != nil {
		return nil, err
	}
	return &router{tmpl: t, fallback: fallback, cache: make(map[*event.Meta]route)}, nil
}

var emptyMeta = &event.Meta{}

// topic returns the topic of a record with metadata m, and whether it is
// the fallback because the template failed or gave an invalid name.
func (r *router) topic(m *event.Meta) (string, bool) {
	if r.tmpl == nil {
		return r.fixed, false
	}
	if m == nil {
		m = emptyMeta
	}
	if g := r.gen.Load(); g != r.seenGen {
		clear(r.cache)
		r.seenGen = g
	}
	if rt, ok := r.cache[m]; ok && (rt.until.IsZero() || time.Now().Before(rt.until)) {
		return rt.topic, rt.fallback
	}
	if len(r.cache) >= maxMetaCache {
		clear(r.cache)
	}
	rt := route{topic: r.fallback, fallback: true}
	if err := renderTopic(r.tmpl, &r.buf, m); err == nil && checkTopic(r.buf.String()) == nil {
		rt = route{topic: r.buf.String()}
		if until, missing := r.missingUntil(rt.topic); missing {
			rt = route{topic: r.fallback, fallback: true, until: until}
		}
	}
	r.cache[m] = rt
	return rt.topic, rt.fallback
}

// recordsPerBatchDivisor sets a batch's record bound: batch.max_bytes
// divided by it. It bounds the per-record bookkeeping of a batch (about 100
// bytes a record, allocated once per batch buffer) when records are tiny;
// log records are rarely under 300 bytes encoded, so the byte bound is
// the one that fills a batch.
const recordsPerBatchDivisor = 128

// metaCacheTTL is how long metaCache reuses a topic's metadata.
const metaCacheTTL = time.Second

// metaCache sits in front of the producer's transport. The producer asks
// for a topic's metadata once per topic of every batch, to count its
// partitions; kafka.Transport answers from its own cache but takes locks
// and copies the response every time. metaCache answers a repeated
// single-topic metadata request from the last good response (the topic
// found, no error) for up to metaCacheTTL; everything else, produce
// requests included, goes through. The producer only reads the responses
// it gets.
type metaCache struct {
	next kafka.RoundTripper

	mu      sync.Mutex
	entries map[metaKey]metaEntry
}

type metaKey struct {
	topic      string
	autoCreate bool
}

type metaEntry struct {
	res   *metadata.Response
	until time.Time
}

// clear forgets every answer (the metadata behind them was replaced).
func (m *metaCache) clear() {
	m.mu.Lock()
	clear(m.entries)
	m.mu.Unlock()
}

func (m *metaCache) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	r, ok := req.(*metadata.Request)
	if !ok || len(r.TopicNames) != 1 || r.IncludeClusterAuthorizedOperations || r.IncludeTopicAuthorizedOperations {
		return m.next.RoundTrip(ctx, addr, req)
	}
	key := metaKey{topic: r.TopicNames[0], autoCreate: r.AllowAutoTopicCreation}
	now := time.Now()
	m.mu.Lock()
	e, hit := m.entries[key]
	m.mu.Unlock()
	if hit && now.Before(e.until) {
		return e.res, nil
	}
	res, err := m.next.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if mr, ok := res.(*metadata.Response); ok && len(mr.Topics) == 1 && mr.Topics[0].Name == key.topic &&
		mr.Topics[0].ErrorCode == 0 && len(mr.Topics[0].Partitions) > 0 {
		m.mu.Lock()
		if m.entries == nil || len(m.entries) >= maxMetaCache {
			m.entries = make(map[metaKey]metaEntry)
		}
		m.entries[key] = metaEntry{res: mr, until: now.Add(metaCacheTTL)}
		m.mu.Unlock()
	}
	return res, nil
}
