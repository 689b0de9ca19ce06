package main

import (
	"context"
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
// limit set. Served on a limitListener, its handlers take the listener's
// request slots (see limitListener).
func newHTTPServer(h http.Handler, lim httpLimits) *http.Server {
	return &http.Server{
		Handler:           guardRequests(h),
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
}

type connKey struct{}

// httpMetrics count what the connection cap does.
type httpMetrics struct {
	open     prometheus.Gauge
	rejected prometheus.Counter
	evicted  prometheus.Counter
	refused  prometheus.Counter
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_http_connections",
			Help: "Connections to the HTTP endpoint being served.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_rejected_connections_total",
			Help: "Connections to the HTTP endpoint closed at accept because http.max_connections were being served, each in a request.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_evicted_connections_total",
			Help: "Connections to the HTTP endpoint closed, while not in a request (silent, sending headers, or idle), to admit a new one when http.max_connections were open.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_http_refused_requests_total",
			Help: "Requests other than /healthz and /readyz answered 503 because the slots they may use were all in a request.",
		}),
	}
	reg.MustRegister(m.open, m.rejected, m.evicted, m.refused)
	return m
}

// probeReserve is how many of max connection slots only /healthz and
// /readyz may use for a request: an eighth, at least one.
func probeReserve(n int) int { return max(1, (n+7)/8) }

// limitListener serves at most max connections at once, and keeps room for
// kubelet's probes whatever other clients do.
//
// A connection counts as busy from the moment its request header is read
// until its response is written; otherwise (just accepted and silent,
// sending its header, idle between keep-alive requests) it is waiting.
// When max connections are open, a new one takes the place of the waiting
// connection that has waited longest, which is closed (counted as
// evicted): a client that holds connections without using them costs a
// probe nothing, and a probe (a new connection that sends its request at
// once) is never the longest waiting. Only when every connection is busy is
// the new one closed as soon as it is accepted (counted as rejected),
// rather than left in the kernel's backlog. Requests other than /healthz
// and /readyz may keep at most max-probeReserve connections busy; beyond
// that they are answered 503 at once, so that some connection is always
// waiting, and a probe can take its place.
type limitListener struct {
	net.Listener
	max, reserve int
	m            *httpMetrics

	mu        sync.Mutex
	conns     map[*limitConn]struct{}
	busyOther int // busy connections in a request other than a probe
}

func newLimitListener(ln net.Listener, max int, m *httpMetrics) net.Listener {
	return &limitListener{Listener: ln, max: max, reserve: probeReserve(max), m: m, conns: map[*limitConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitConn{Conn: c, l: l, since: time.Now()}
		l.mu.Lock()
		var victim *limitConn
		if len(l.conns) >= l.max {
			for o := range l.conns {
				if !o.busy && (victim == nil || o.since.Before(victim.since)) {
					victim = o
				}
			}
			if victim == nil {
				l.mu.Unlock()
				l.m.rejected.Inc() // before the close: a client that sees it closed sees it counted
				closeNow(c)
				continue
			}
			delete(l.conns, victim)
			victim.gone = true
		}
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		if victim != nil {
			l.m.evicted.Inc()     // before the close, as for rejected
			closeNow(victim.Conn) // its server goroutine sees the error and returns
		} else {
			l.m.open.Inc()
		}
		return lc, nil
	}
}

// closeNow closes c without leaving a TIME_WAIT behind (a flood of them).
func closeNow(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// enter marks c busy for a request; probe says whether it is /healthz or
// /readyz. It returns false when c may not serve it now.
func (l *limitListener) enter(c *limitConn, probe bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.gone || c.busy {
		return false
	}
	if !probe {
		if l.busyOther >= l.max-l.reserve {
			return false
		}
		l.busyOther++
		c.other = true
	}
	c.busy = true
	return true
}

// leave marks c waiting again, from now.
func (l *limitListener) leave(c *limitConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.other {
		l.busyOther--
		c.other = false
	}
	c.busy = false
	c.since = time.Now()
}

type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once

	// Under l.mu.
	since time.Time // accepted, or last request answered
	busy  bool
	other bool // busy with a request other than a probe
	gone  bool // closed or evicted: no longer in l.conns
}

func (c *limitConn) Close() error {
	// Uncounted before the close, as rejected and evicted connections are
	// counted: a client that sees it closed sees it no longer open.
	c.once.Do(func() {
		c.l.mu.Lock()
		gone := c.gone
		c.gone = true
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		if !gone {
			c.l.m.open.Dec()
		}
	})
	return c.Conn.Close()
}

// guardRequests takes a request slot of the connection's limitListener for
// each request, or answers 503 (and closes the connection) when the slots
// other than the probes' are all busy.
func guardRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(connKey{}).(*limitConn)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		if !c.l.enter(c, probe) {
			c.l.m.refused.Inc()
			w.Header().Set("Connection", "close")
			http.Error(w, "too many requests being served; try again", http.StatusServiceUnavailable)
			return
		}
		defer c.l.leave(c)
		h.ServeHTTP(w, r)
	})
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
