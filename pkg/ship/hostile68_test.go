package ship

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/pkg/event"
)

// pingBurst sends n pings at once and returns their errors.
func pingBurst(s *Shipper, n int) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs[i] = s.Ping(ctx)
		}()
	}
	wg.Wait()
	return errs
}

// TestHostile68PingOnlyConnection: the agent pings an idle sink every 10s
// with an ApiVersions request on a bootstrap (control) connection. Once
// the connection that carried the metadata request is closed as idle
// (30s), a ping opens a connection whose only requests are pings:
// ApiVersions, which countingConn takes for the opening exchange, so the
// connection stays bounded by its dial plus dial_timeout forever. The
// next ping on it, dial_timeout after the dial (20s later with the
// defaults), fails with an i/o timeout against a healthy broker; and so
// every other ping of an idle agent.
func TestHostile68PingOnlyConnection(t *testing.T) {
	_, addr := startCluster(t)
	cfg := testKafkaConfig(addr)
	cfg.Kafka.DialTimeout = 300 * time.Millisecond
	h := runShipper(t, cfg, nil)
	dials := h.s.m.dials.WithLabelValues("ok")
	// Concurrent pings until one went on a connection of its own (the
	// bootstrap connection of the metadata request is busy with another).
	for i := 0; testutil.ToFloat64(dials) < 2; i++ {
		if i == 50 {
			t.Fatalf("50 bursts of pings and still %v connections", testutil.ToFloat64(dials))
		}
		for _, err := range pingBurst(h.s, 4) {
			if err != nil {
				t.Fatalf("ping: %v", err)
			}
		}
	}
	// Ping on until the connections are three dial_timeouts old (the
	// point of the test is their age, not anything the shipper does): a
	// connection still bounded by its dial fails the pings after the
	// bound, whichever burst they come in.
	for opened := time.Now(); time.Since(opened) < 3*cfg.Kafka.DialTimeout; {
		for _, err := range pingBurst(h.s, 4) {
			if err != nil {
				t.Fatalf("a ping of a healthy broker failed on a connection that had carried only pings: %v", err)
			}
		}
	}
	for range 3 {
		for _, err := range pingBurst(h.s, 4) {
			if err != nil {
				t.Fatalf("a ping of a healthy broker failed on a connection older than dial_timeout that had carried only pings: %v", err)
			}
		}
	}
	h.finish(t)
}

// saslV0Broker is a TCP peer on 127.0.0.1 that speaks just enough of an
// old (pre-1.0) broker: ApiVersions says SaslHandshake v0 only, so the
// client sends its SASL tokens raw (a 4-byte size and the token, no
// request header) after the handshake; the broker answers ApiVersions and
// SaslHandshake and never the raw token. closed receives, for each
// connection, how long after it was accepted the client closed it.
type saslV0Broker struct {
	ln     net.Listener
	closed chan time.Duration
}

func newSASLV0Broker(t *testing.T) *saslV0Broker {
	t.Helper()
	b := &saslV0Broker{closed: make(chan time.Duration, 1000)}
	b.ln = serveLocal(t, b.serve)
	return b
}

func (b *saslV0Broker) serve(c net.Conn) {
	start := time.Now()
	defer c.Close()
	defer func() { b.closed <- time.Since(start) }()
	raw := false
	for {
		var sz [4]byte
		if _, err := io.ReadFull(c, sz[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(sz[:]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if raw || len(body) < 8 {
			continue // a raw SASL token: never answered
		}
		key := int16(binary.BigEndian.Uint16(body[0:2]))
		corr := body[4:8]
		var res []byte
		switch key {
		case int16(kmsg.ApiVersions):
			r := kmsg.NewApiVersionsResponse()
			for _, k := range []kmsg.Key{kmsg.Produce, kmsg.Metadata, kmsg.ApiVersions} {
				r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(k), MinVersion: 0, MaxVersion: 1})
			}
			r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(kmsg.SASLHandshake), MinVersion: 0, MaxVersion: 0})
			res = r.AppendTo(nil)
		case int16(kmsg.SASLHandshake):
			r := kmsg.NewSASLHandshakeResponse()
			r.SupportedMechanisms = []string{"PLAIN"}
			res = r.AppendTo(nil)
			raw = true
		default:
			return
		}
		out := binary.BigEndian.AppendUint32(nil, uint32(4+len(res)))
		out = append(append(out, corr...), res...)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// TestHostile68SASLv0NeverAnswered: hostile 66's SASL test against a
// broker that speaks SaslHandshake v0 (Kafka before 1.0, still offered by
// kafka-go): the SASL tokens then go raw, without a request header, and
// countingConn reads the first two bytes of the token as an API key
// ("\x00f" of "\x00ferry\x00s3cret": 102), takes it for the first request
// after the opening exchange and lifts dial_timeout's bound: a broker that
// never answers the token holds the connection (and kafka-go's connect
// goroutine) forever, one more at every metadata refresh.
func TestHostile68SASLv0NeverAnswered(t *testing.T) {
	b := newSASLV0Broker(t)
	cfg := testKafkaConfig(b.ln.Addr().String())
	cfg.Kafka.DialTimeout, cfg.Kafka.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	cfg.Kafka.SASL = SASLConfig{Mechanism: "PLAIN", Username: "ferry", Password: "s3cret"}
	h := runShipper(t, cfg, nil)
	ls := makeLogs(1, 0, 5, metaFor(1))
	go func() { h.logs <- ls }()
	select {
	case d := <-b.closed:
		if d > 3*time.Second {
			t.Errorf("a connection whose SASL token was never answered was closed %v after it was opened (dial_timeout %v)", d, cfg.Kafka.DialTimeout)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("a connection whose SASL token was never answered still open 10s after it was opened (dial_timeout %v): dial_timeout does not bound SASL against a SaslHandshake v0 broker",
			cfg.Kafka.DialTimeout)
	}
	if v := testutil.ToFloat64(h.s.m.requests.WithLabelValues("other")); v > 0 {
		t.Errorf("requests_total{api=other} = %v: raw SASL tokens read as requests", v)
	}
	h.cancel()
	<-h.errc
}

// TestHostile68RawSASLFrames: after a SaslHandshake v0 request the raw
// SASL tokens (4-byte size, token) are counted as SaslAuthenticate, however
// the bytes are split, whatever the token's first bytes (one that looks
// like a Metadata header, one shorter than a header, an empty one); once
// the exchange is over (endRaw) requests are read again.
func TestHostile68RawSASLFrames(t *testing.T) {
	req := func(key, version int16, body int) []byte {
		b := make([]byte, 4+8+body)
		binary.BigEndian.PutUint32(b, uint32(8+body))
		binary.BigEndian.PutUint16(b[4:], uint16(key))
		binary.BigEndian.PutUint16(b[6:], uint16(version))
		return b
	}
	token := func(tok []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...)
	}
	var stream []byte
	for _, f := range [][]byte{req(18, 0, 0), req(17, 0, 7), token([]byte{0, 3, 0, 0, 0, 0}), token([]byte{1}), token(nil), token([]byte("\x00ferry\x00s3cret"))} {
		stream = append(stream, f...)
	}
	after := req(3, 1, 20)
	for _, chunk := range []int{1, 2, 3, 5, 7, 64, len(stream)} {
		var rc requestCounter
		var got []int16
		for p := stream; len(p) > 0; {
			k := min(chunk, len(p))
			rc.write(p[:k], func(key int16) { got = append(got, key) })
			p = p[k:]
		}
		rc.endRaw()
		rc.write(after, func(key int16) { got = append(got, key) })
		want := []int16{18, 17, 36, 36, 36, 36, 3}
		if !slices.Equal(got, want) {
			t.Errorf("writes of %d bytes: keys %v, want %v", chunk, got, want)
		}
	}
	// SaslHandshake v1: its tokens go in SaslAuthenticate requests.
	var rc requestCounter
	var got []int16
	for _, f := range [][]byte{req(18, 0, 0), req(17, 1, 7), req(36, 1, 9), req(3, 1, 0)} {
		rc.write(f, func(key int16) { got = append(got, key) })
	}
	if want := []int16{18, 17, 36, 3}; !slices.Equal(got, want) {
		t.Errorf("SaslHandshake v1: keys %v, want %v", got, want)
	}
}

// lookupCounter is templateProducer counting the lookups of topics that
// do not exist.
type lookupCounter struct {
	templateProducer
	missing atomic.Int64
}

func (p *lookupCounter) partitions(ctx context.Context, topic string) ([]int, error) {
	parts, err := p.templateProducer.partitions(ctx, topic)
	if err != nil {
		p.missing.Add(1)
	}
	return parts, err
}

// TestHostile68MissingTopicsOverCap: a template naming a topic per pod,
// none existing, on a node with more live pods than the bound of topics
// remembered as missing (maxMetaCache, 4096): every pod logs, twice
// within the minute a missing topic is avoided. The second time, no
// topic should be looked up again (each was found missing a moment
// before): against Kafka each lookup that finds the topic missing
// forces a metadata refresh (a new bootstrap connection and a metadata
// request for every topic of the cluster, at most one a second) and logs
// a warning. markMissing forgets every topic when the bound is reached
// with all of them recent, so with one pod over the bound every record
// looks its topic up again: a refresh a second, forever.
func TestHostile68MissingTopicsOverCap(t *testing.T) {
	// Fixed: the bound of missing topics (maxMissingTopics) is above maxMetaCache, and a full map forgets its older half, not everything.
	cfg := testKafkaConfig("127.0.0.1:1")
	cfg.Kafka.Topic, cfg.Kafka.FallbackTopic = "logs.{{ .Pod }}", "logs"
	p := &lookupCounter{}
	h := runShipperWith(t, cfg, nil, func(s *Shipper) { s.prod = p })
	const pods = maxMetaCache + 400
	metas := make([]*event.Meta, pods)
	for i := range metas {
		metas[i] = metaFor(i)
	}
	round := func(r int) {
		for i := 0; i < pods; i += 100 {
			ls := make([]event.Log, 0, 100)
			for j := i; j < min(i+100, pods); j++ {
				ls = append(ls, makeLogs(uint64(j), r, 1, metas[j])...)
			}
			h.logs <- ls
		}
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d's records acknowledged", r), func() bool { return len(h.ack.cursors()) == (r+1)*pods })
	}
	start := time.Now()
	round(0)
	first := p.missing.Load()
	round(1)
	again := p.missing.Load() - first
	if time.Since(start) > missingTopicRecheck/2 {
		t.Skipf("too slow to tell (%v)", time.Since(start))
	}
	h.finish(t)
	if again > pods/100 {
		t.Errorf("%d pods, each topic found missing in the first round (%d lookups): the second round, within the minute, looked up %d missing topics again",
			pods, first, again)
	}
}

// TestMissingTopicsFullForgetsOlderHalf: when more topics than
// maxMissingTopics are found missing within the minute, the router forgets
// the older half of them, not all: the topics found missing last are still
// avoided, and the map stays within its bound.
func TestMissingTopicsFullForgetsOlderHalf(t *testing.T) {
	r := &router{}
	name := func(i int) string { return fmt.Sprintf("logs.pod-%d", i) }
	for i := range maxMissingTopics + 1 {
		r.markMissing(name(i))
	}
	if n := len(r.missing); n > maxMissingTopics || n < maxMissingTopics/2 {
		t.Errorf("%d topics remembered, want between %d and %d", n, maxMissingTopics/2, maxMissingTopics)
	}
	for i := maxMissingTopics - 100; i <= maxMissingTopics; i++ {
		if !r.isMissing(name(i)) {
			t.Fatalf("topic %d of %d, found missing last, is no longer avoided", i, maxMissingTopics)
		}
	}
	r.markMissing(name(maxMissingTopics)) // again: nothing forgotten
	if !r.isMissing(name(maxMissingTopics - 100)) {
		t.Error("marking a remembered topic again forgot others")
	}
}
