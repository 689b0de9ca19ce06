package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// httpLimits bound what a client of the HTTP port can cost the agent. The
// port serves probes and scrapers; anyone who can reach it can also open
// connections and send slow or huge requests, so every resource a
// connection holds has a bound.
type httpLimits struct {
	// ReadHeader bounds reading a request's headers, including the wait
	// for the first byte of a new connection: a connection that says
	// nothing is closed after it.
	ReadHeader time.Duration
	// Read bounds reading a whole request.
	Read time.Duration
	// Write bounds writing a response (above pprof's default 30 s CPU
	// profile).
	Write time.Duration
	// Idle bounds how long a keep-alive connection waits for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes int
	// MaxConns bounds the connections served at once (http.max_connections).
	MaxConns int
	// MetricsTTL is how long one collection of /metrics is served to every
	// scraper: concurrent scrapes share one collection.
	MetricsTTL time.Duration
}

func defaultHTTPLimits(cfg HTTPConfig) httpLimits {
	maxConns := cfg.MaxConnections
	if maxConns <= 0 {
		maxConns = DefaultConfig().HTTP.MaxConnections
	}
	return httpLimits{
		ReadHeader:     5 * time.Second,
		Read:           10 * time.Second,
		Write:          45 * time.Second,
		Idle:           30 * time.Second,
		MaxHeaderBytes: 8 << 10,
		MaxConns:       maxConns,
		MetricsTTL:     time.Second,
	}
}

// newHTTPServer returns the server of the agent's endpoints with every
// limit set.
func newHTTPServer(h http.Handler, lim httpLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
}

// httpMetrics count what the connection cap does.
type httpMetrics struct {
	open     prometheus.Gauge
	rejected prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_http_connections",
			Help: "Connections to the HTTP endpoint being served.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_rejected_connections_total",
			Help: "Connections to the HTTP endpoint closed at accept because http.max_connections were being served.",
		}),
	}
	reg.MustRegister(m.open, m.rejected)
	return m
}

// limitListener serves at most max connections at once. A connection
// beyond them is closed as soon as it is accepted (and counted) rather than
// left in the kernel's backlog: a flood costs the agent one descriptor per
// connection for an instant, and the served ones are freed by the server's
// timeouts.
type limitListener struct {
	net.Listener
	slots chan struct{}
	m     *httpMetrics
}

func newLimitListener(ln net.Listener, max int, m *httpMetrics) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), m: m}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.m.open.Inc()
			return &limitConn{Conn: c, l: l}, nil
		default:
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // no TIME_WAIT left behind by a flood
			}
			c.Close()
			l.m.rejected.Inc()
		}
	}
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.m.open.Dec()
		<-c.l.slots
	})
	return err
}

// sharedGatherer collects at most once per ttl: concurrent scrapers wait
// for the one collection under way and all get its result, so N scrapers
// cost one collection, not N. What it returns is shared and only read.
type sharedGatherer struct {
	g   prometheus.Gatherer
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	at  time.Time
	mfs []*dto.MetricFamily
	err error
}

func newSharedGatherer(g prometheus.Gatherer, ttl time.Duration) *sharedGatherer {
	return &sharedGatherer{g: g, ttl: ttl, now: time.Now}
}

func (s *sharedGatherer) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.at.IsZero() || now.Sub(s.at) >= s.ttl || now.Before(s.at) {
		s.mfs, s.err = s.g.Gather()
		s.at = s.now()
	}
	return s.mfs, s.err
}

// newMux serves the agent's three endpoints:
//
//   - /metrics: the Prometheus exposition (ferry_* self metrics, node_*
//     host metrics, go_* and process_*), collected at most once per
//     metricsTTL whatever the number of scrapers.
//   - /healthz: 200 while no component has failed and the tailer's loop
//     goes round; 503 with the reason once a component has failed (the
//     agent is then exiting) or when the loop has not gone round for
//     loopBound (3 poll intervals, at least 10 s): a stuck tailer reads
//     nothing, and a restart is what fixes it. It does not depend on the
//     sink or the API server, so a Kafka outage never gets the agent
//     restarted.
//   - /readyz: 200 when the config is loaded, every component has started
//     (the offsets state is loaded), and the sink accepted a batch or
//     answered a metadata request within the last 30 s; 503 with the reason
//     otherwise.
//
// With withPprof, Go's profiles are served under /debug/pprof/ too.
func newMux(reg *prometheus.Registry, st *status, withPprof bool) *http.ServeMux {
	return newMuxGather(newSharedGatherer(reg, time.Second), reg, st, withPprof)
}

// newMuxGather is newMux with the gatherer of /metrics given.
func newMuxGather(g prometheus.Gatherer, reg prometheus.Registerer, st *status, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if reason := st.unhealthy(time.Now()); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := st.notReady(time.Now()); reason != "" {
			http.Error(w, reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if withPprof {
		// net/http/pprof's handlers, on this mux only (its init registers
		// them on http.DefaultServeMux, which the agent does not serve).
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// notReady returns why the agent is not ready, or "" when it is.
func (s *status) notReady(now time.Time) string {
	switch {
	case s.failed.Load():
		return "a component has failed"
	case !s.started.Load():
		return "starting"
	}
	last := s.shipper.LastSuccess()
	if last.IsZero() {
		return "sink has not answered yet"
	}
	if age := now.Sub(last); age > readyWindow {
		return fmt.Sprintf("sink has not answered for %s", age.Round(time.Second))
	}
	if err := s.shipper.Ready(); err != nil { // delivery: the oldest unconfirmed record
		return err.Error()
	}
	return ""
}
