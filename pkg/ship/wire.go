package ship

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The request counter: ferry_ship_kafka_requests_total{api} counts every
// request written to a broker connection, by Kafka API. It is counted on
// the connection, under TLS, not in front of kafka-go's Transport: the
// Transport answers most metadata requests from its cache, sends its own
// metadata requests from a goroutine of its own, and opens every
// connection with an ApiVersions request (and SASL's), none of which a
// RoundTripper in front of it sees. What the brokers receive is what a
// platform team sizes Kafka for.

// apiNames are the values of the api label: the APIs the producer uses,
// and "other" for anything else (bounded).
var apiNames = []string{"produce", "metadata", "api_versions", "sasl_handshake", "sasl_authenticate", "other"}

// apiName names Kafka API key k for the api label.
func apiName(k int16) string {
	switch k {
	case 0:
		return "produce"
	case 3:
		return "metadata"
	case 18:
		return "api_versions"
	case 17:
		return "sasl_handshake"
	case 36:
		return "sasl_authenticate"
	}
	return "other"
}

// requestCounter reads the requests a client writes to a broker
// connection: each is a 4-byte big-endian size, then the request header,
// which starts with the 2-byte API key and the 2-byte API version. It is a
// pure function of the bytes written, whatever the size of each write,
// and of raw's end (endRaw).
//
// After a SaslHandshake v0 request (a broker before Kafka 1.0), kafka-go
// sends the SASL tokens raw: a 4-byte size and the token, no request
// header. Those frames are counted as SaslAuthenticate requests until
// endRaw (countingConn: the next deadline kafka-go sets, when its
// exchange is over and a request of its caller's comes).
type requestCounter struct {
	hdr  [8]byte
	n    int   // bytes of hdr filled
	skip int64 // bytes of the current request left after its header
	bad  bool  // a size that cannot be: stop counting this connection
	raw  bool  // the frames are raw SASL tokens
}

// need is how many bytes of a frame's start are read: a raw token's
// size; a request's size and API key, and a SaslHandshake's version too.
func (r *requestCounter) need() int {
	switch {
	case r.raw:
		return 4
	case r.n >= 6 && binary.BigEndian.Uint16(r.hdr[4:6]) == 17 && int32(binary.BigEndian.Uint32(r.hdr[:4])) >= 4:
		return 8
	}
	return 6
}

// starts says whether p starts a request at a frame boundary, and its key.
func (r *requestCounter) starts(p []byte) (int16, bool) {
	if r.bad || r.n != 0 || r.skip != 0 || len(p) < 6 {
		return 0, false
	}
	if r.raw {
		return 36, true
	}
	return int16(binary.BigEndian.Uint16(p[4:6])), true
}

func (r *requestCounter) endRaw() {
	if r.n == 0 && r.skip == 0 {
		r.raw = false
	}
}

// write feeds the bytes p and calls count for every API key read.
func (r *requestCounter) write(p []byte, count func(key int16)) {
	for len(p) > 0 && !r.bad {
		if r.skip > 0 {
			k := int64(len(p))
			if k > r.skip {
				k = r.skip
			}
			p, r.skip = p[k:], r.skip-k
			continue
		}
		need := r.need()
		c := copy(r.hdr[r.n:need], p)
		p, r.n = p[c:], r.n+c
		if r.n < need {
			return
		}
		if r.n < r.need() {
			continue // a SaslHandshake: its version too
		}
		size := int64(int32(binary.BigEndian.Uint32(r.hdr[:4])))
		if r.raw {
			if size < 0 {
				r.bad = true
				return
			}
			count(36)
			r.n, r.skip = 0, size
			continue
		}
		if size < 2 {
			r.bad = true
			return
		}
		key, read := int16(binary.BigEndian.Uint16(r.hdr[4:6])), r.n
		count(key)
		r.n, r.skip = 0, size-int64(read-4)
		if key == 17 && read == 8 && binary.BigEndian.Uint16(r.hdr[6:8]) == 0 {
			r.raw = true // SaslHandshake v0: the SASL tokens follow raw
		}
	}
}

// countingConn counts the requests written to a broker connection, and
// bounds how long kafka-go waits on it where kafka-go itself does not.
//
// kafka-go clears a new connection's deadline after ApiVersions and then
// runs the SASL exchange without any (its connect goroutine is left
// behind by a caller that gave up, not stopped), and its Transport sends
// its metadata requests with MetadataTTL as deadline (a century: see
// neverTTL). A broker or proxy that answers ApiVersions but never the
// SASL handshake, or never a metadata request, then holds the connection
// and its goroutine forever, one more at every metadata refresh. So:
//   - until the connection writes its first request other than ApiVersions
//     and SASL's, no deadline is later than the dial plus dial_timeout
//     (kafka.dial_timeout bounds connecting: TCP, TLS and SASL);
//   - a metadata request is answered within write_timeout (what a
//     metadata lookup waits: kafkaProducer.metaTimeout) or the
//     connection fails, as a timed-out attempt's does.
//
// Other deadlines (an attempt's) are kafka-go's own.
type countingConn struct {
	net.Conn
	mu    sync.Mutex
	rc    requestCounter
	count func(key int16)

	handshakeEnd time.Time     // zero: bound off (tests)
	metaWait     time.Duration // 0: no bound on metadata requests
	handshaken   bool          // a request other than the handshake's was written
	requests     int           // requests written (their API keys read)
	rd, wd       time.Time     // the deadlines kafka-go asked for
}

// handshakeKey says whether API key k, of the connection's request
// number n (from 0), belongs to the connection's opening exchange:
// ApiVersions first, then SaslHandshake and SaslAuthenticate. A later
// ApiVersions is a ping (kafka-go sends it only when connecting): a
// connection that only ever carried pings is past its opening exchange
// too, and is not bounded by its dial's dial_timeout.
func handshakeKey(k int16, n int) bool { return k == 18 && n == 0 || k == 17 || k == 36 }

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if key, ok := c.rc.starts(p); ok && !c.handshaken && !handshakeKey(key, c.requests) {
		// The first request after the handshake: its deadline is the
		// caller's again.
		c.endHandshake()
	}
	c.mu.Unlock()
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.rc.write(p[:n], func(key int16) {
		c.count(key)
		if !c.handshaken && !handshakeKey(key, c.requests) {
			c.endHandshake()
		}
		c.requests++
		if key == 3 && c.metaWait > 0 {
			limit := time.Now().Add(c.metaWait)
			if c.rd.IsZero() || c.rd.After(limit) {
				_ = c.Conn.SetReadDeadline(limit)
			}
		}
	})
	c.mu.Unlock()
	return n, err
}

// endHandshake lifts the handshake's bound (c.mu held).
func (c *countingConn) endHandshake() {
	c.handshaken = true
	if !c.handshakeEnd.IsZero() {
		_ = c.Conn.SetReadDeadline(c.rd)
		_ = c.Conn.SetWriteDeadline(c.wd)
	}
}

// bound is the deadline set for t, which kafka-go asked for (c.mu held).
func (c *countingConn) bound(t time.Time) time.Time {
	if c.handshaken || c.handshakeEnd.IsZero() {
		return t
	}
	if t.IsZero() || t.After(c.handshakeEnd) {
		return c.handshakeEnd
	}
	return t
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rc.endRaw()
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(c.bound(t))
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rc.endRaw()
	c.rd = t
	return c.Conn.SetReadDeadline(c.bound(t))
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rc.endRaw()
	c.wd = t
	return c.Conn.SetWriteDeadline(c.bound(t))
}

// requestsVec counts requests by API label; its children are looked up
// once.
type requestsVec struct {
	byKey map[int16]prometheus.Counter
	other prometheus.Counter
}

func newRequestsVec(v *prometheus.CounterVec) *requestsVec {
	r := &requestsVec{byKey: map[int16]prometheus.Counter{}, other: v.WithLabelValues("other")}
	for _, k := range []int16{0, 3, 17, 18, 36} {
		r.byKey[k] = v.WithLabelValues(apiName(k))
	}
	return r
}

func (r *requestsVec) count(key int16) {
	if c, ok := r.byKey[key]; ok {
		c.Inc()
		return
	}
	r.other.Inc()
}

// dialer opens broker connections for kafka-go's Transport: TCP, then TLS
// when configured (done here rather than by the Transport so that the
// counter reads the requests, not their ciphertext), each connection
// counting its requests.
type dialer struct {
	net     *net.Dialer
	tls     *tls.Config
	dials   *prometheus.CounterVec
	counter *requestsVec
	// handshake bounds a connection's opening exchange (dial_timeout),
	// metaWait a metadata request (write_timeout); see countingConn.
	handshake, metaWait time.Duration
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	c, err := d.net.DialContext(ctx, network, addr)
	if err != nil {
		d.dials.WithLabelValues("error").Inc()
		return nil, err
	}
	d.dials.WithLabelValues("ok").Inc()
	if d.tls != nil {
		cfg := d.tls
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		c = tls.Client(c, cfg)
	}
	cc := &countingConn{Conn: c, count: d.counter.count, metaWait: d.metaWait}
	if d.handshake > 0 {
		cc.handshakeEnd = start.Add(d.handshake)
		_ = c.SetDeadline(cc.handshakeEnd)
	}
	return cc, nil
}
