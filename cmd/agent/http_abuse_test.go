package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// abuseServer serves the agent's endpoints with small limits, the way
// runAgent does; it returns the address and the registry.
func abuseServer(t *testing.T, lim httpLimits) (string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = newLimitListener(ln, lim.MaxConns, newHTTPMetrics(reg))
	st := &status{}
	srv := newHTTPServer(newMuxGather(newSharedGatherer(reg, lim.MetricsTTL), reg, st, false), lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), reg
}

func smallLimits() httpLimits {
	return httpLimits{
		ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: 300 * time.Millisecond,
		MaxHeaderBytes: 4 << 10, MaxConns: 16, MetricsTTL: time.Second,
	}
}

// TestHTTPIdleConnectionFlood: 600 connections that never send a byte.
// The agent holds at most max_connections of them at once, each new one
// taking the place of the oldest (counted), closes the last ones after the
// header timeout, and then answers /healthz as before.
func TestHTTPIdleConnectionFlood(t *testing.T) {
	lim := smallLimits()
	addr, reg := abuseServer(t, lim)
	const flood = 600
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Every connection is closed by the agent: at accept (over the cap,
	// which the dial itself may see as a reset) or after the header
	// timeout (served, silent).
	var closed atomic.Int64
	for range flood {
		c, err := net.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			closed.Add(1)
			continue
		}
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(deadline)
			if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, errTimeout(err)) {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := closed.Load(); n != flood {
		t.Errorf("%d of %d idle connections were closed by the agent within 20 s", n, flood)
	}
	open := gaugeValue(t, reg, "ferry_http_connections")
	evicted := gaugeValue(t, reg, "ferry_http_evicted_connections_total")
	t.Logf("evicted for a newer one: %v, open now: %v", evicted, open)
	if evicted < flood-float64(lim.MaxConns)*20 {
		// A silent connection waits for the header timeout unless a newer
		// one takes its place; the flood was dialled in far less than 20
		// timeouts.
		t.Errorf("evicted %v connections, want most of %d", evicted, flood)
	}
	// The slots are free again: a probe is served.
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("/healthz after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz after the flood: %d", resp.StatusCode)
	}
}

// errTimeout returns err when it is a timeout, else a sentinel that
// matches nothing.
func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errNoMatch
}

var errNoMatch = errors.New("no match")

// TestHTTPConnectionCap: while max_connections idle keep-alive
// connections are held open, the open gauge stays at the cap and each new
// connection takes the place of the one idle longest, which is closed and
// counted.
func TestHTTPConnectionCap(t *testing.T) {
	lim := smallLimits()
	lim.ReadHeader, lim.Idle = 30*time.Second, 30*time.Second
	addr, reg := abuseServer(t, lim)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	get := func(c net.Conn) error {
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// Hold the cap with keep-alive connections that made one request.
	for range lim.MaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	if v := gaugeValue(t, reg, "ferry_http_connections"); v != float64(lim.MaxConns) {
		t.Errorf("ferry_http_connections = %v, want %d", v, lim.MaxConns)
	}
	for i := range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close() // kept open: its slot stays taken
		if err := get(c); err != nil {
			t.Errorf("connection %d over the cap: %v, want it served", i, err)
		}
		held[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := held[i].Read(make([]byte, 1)); err == nil || errTimeout(err) == err {
			t.Errorf("connection idle longest (%d): read %v, want it closed", i, err)
		}
	}
	if v := gaugeValue(t, reg, "ferry_http_evicted_connections_total"); v != 5 {
		t.Errorf("ferry_http_evicted_connections_total = %v, want 5", v)
	}
	if v := gaugeValue(t, reg, "ferry_http_connections"); v > float64(lim.MaxConns) {
		t.Errorf("ferry_http_connections = %v, over the cap %d", v, lim.MaxConns)
	}
}

// TestHTTPProbeReserve: requests other than the probes keep at most
// max_connections-probeReserve connections busy (503 beyond), so a probe
// always finds a place, taking that of a silent connection; only when
// every connection is in a request is a new one closed at accept.
func TestHTTPProbeReserve(t *testing.T) {
	lim := smallLimits()
	lim.ReadHeader, lim.Idle = 30*time.Second, 30*time.Second
	reg := prometheus.NewRegistry()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = newLimitListener(ln, lim.MaxConns, newHTTPMetrics(reg))
	release := make(chan struct{})
	var entered sync.WaitGroup
	var blockProbes atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) { entered.Done(); <-release })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if blockProbes.Load() {
			entered.Done()
			<-release
		}
	})
	srv := newHTTPServer(mux, lim)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-done
	}()
	addr := ln.Addr().String()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	send := func(path string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		return c
	}
	status := func(c net.Conn) int {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	others := lim.MaxConns - probeReserve(lim.MaxConns)
	entered.Add(others)
	for range others {
		send("/slow")
	}
	entered.Wait()
	if code := status(send("/slow")); code != http.StatusServiceUnavailable {
		t.Errorf("a request past the slots of non-probes: %d, want 503", code)
	}
	if v := gaugeValue(t, reg, "ferry_http_refused_requests_total"); v != 1 {
		t.Errorf("ferry_http_refused_requests_total = %v, want 1", v)
	}
	// Fill the cap with silent connections: each probe takes the place of one.
	for len(conns) < lim.MaxConns+others {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i := range 3 {
		if code := status(send("/healthz")); code != 200 {
			t.Errorf("probe %d with the cap full of busy and silent connections: %d", i, code)
		}
	}
	// Every connection in a request: a new one is closed at accept.
	blockProbes.Store(true)
	reserve := probeReserve(lim.MaxConns)
	entered.Add(reserve)
	for range reserve {
		send("/healthz")
	}
	entered.Wait()
	c, err := net.Dial("tcp", addr)
	if err == nil {
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errTimeout(err) == err {
			t.Errorf("a connection with every slot in a request: read %v, want it closed", err)
		}
	}
	if v := gaugeValue(t, reg, "ferry_http_rejected_connections_total"); v != 1 {
		t.Errorf("ferry_http_rejected_connections_total = %v, want 1", v)
	}
	close(release)
}

// TestHTTPIdleKeepAliveClosed: a keep-alive connection that goes quiet
// after a request is closed after the idle timeout.
func TestHTTPIdleKeepAliveClosed(t *testing.T) {
	addr, _ := abuseServer(t, smallLimits())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection: read %v, want EOF (closed by the agent)", err)
	}
}

// TestHTTPHeaderBound: headers above the bound are refused with 431.
func TestHTTPHeaderBound(t *testing.T) {
	addr, _ := abuseServer(t, smallLimits())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %d, want 431", resp.StatusCode)
	}
}

// countingCollector counts its collections.
type countingCollector struct{ n atomic.Int64 }

func (c *countingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc("test_collections", "collections", nil, nil)
}

func (c *countingCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n.Add(1)
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("test_collections", "collections", nil, nil),
		prometheus.CounterValue, float64(n))
}

// TestMetricsSharedBetweenScrapers: 30 concurrent scrapers within one TTL
// cost one collection, and all get the same exposition; after the TTL the
// next scrape collects again.
func TestMetricsSharedBetweenScrapers(t *testing.T) {
	reg := prometheus.NewRegistry()
	cc := &countingCollector{}
	reg.MustRegister(cc)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	g := newSharedGatherer(reg, time.Second)
	g.now = func() time.Time { return time.Unix(0, now.Load()) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: newMuxGather(g, reg, &status{}, false)}
	go srv.Serve(ln)
	defer srv.Close()
	scrape := func() string {
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			t.Error(err)
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var wg sync.WaitGroup
	bodies := make([]string, 30)
	for i := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); bodies[i] = scrape() }()
	}
	wg.Wait()
	if n := cc.n.Load(); n != 1 {
		t.Errorf("30 concurrent scrapes collected %d times, want 1", n)
	}
	for i, b := range bodies {
		if !strings.Contains(b, "test_collections 1\n") {
			t.Errorf("scrape %d: %.200q", i, b)
		}
	}
	now.Add(int64(time.Second))
	if b := scrape(); !strings.Contains(b, "test_collections 2\n") || cc.n.Load() != 2 {
		t.Errorf("after the TTL: %d collections, body %.200q", cc.n.Load(), b)
	}
}

// gaugeValue is the value of the one series of the gauge or counter name.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return metricValue(mf.Metric[0])
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}

// TestEdgeMetricsLint: the HTTP and reload metrics pass promtool's rules.
func TestEdgeMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	newHTTPMetrics(reg)
	m := newReloadMetrics()
	reg.MustRegister(m.total, m.lastSuccess)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if v := testutil.ToFloat64(m.lastSuccess); v != 1 {
		t.Errorf("ferry_config_last_reload_success starts at %v, want 1", v)
	}
}
