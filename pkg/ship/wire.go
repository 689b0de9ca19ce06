package ship

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"

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
// which starts with the 2-byte API key. It is a pure function of the bytes
// written, whatever the size of each write.
type requestCounter struct {
	hdr  [6]byte
	n    int   // bytes of hdr filled
	skip int64 // bytes of the current request left after its API key
	bad  bool  // a size that cannot be: stop counting this connection
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
		c := copy(r.hdr[r.n:], p)
		p, r.n = p[c:], r.n+c
		if r.n < len(r.hdr) {
			return
		}
		size := int32(binary.BigEndian.Uint32(r.hdr[:4]))
		if size < 2 {
			r.bad = true
			return
		}
		count(int16(binary.BigEndian.Uint16(r.hdr[4:6])))
		r.n, r.skip = 0, int64(size)-2
	}
}

// countingConn counts the requests written to a broker connection.
type countingConn struct {
	net.Conn
	mu    sync.Mutex
	rc    requestCounter
	count func(key int16)
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.rc.write(p[:n], c.count)
	c.mu.Unlock()
	return n, err
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
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
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
	return &countingConn{Conn: c, count: d.counter.count}, nil
}
