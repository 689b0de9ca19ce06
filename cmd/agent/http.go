package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMux serves the agent's three endpoints:
//
//   - /metrics: the Prometheus exposition (ferry_* self metrics, node_*
//     host metrics, go_* and process_*).
//   - /healthz: 200 while no component has failed; 503 once one has (the
//     agent is then exiting). It does not depend on the sink or the API
//     server, so a Kafka outage never gets the agent restarted.
//   - /readyz: 200 when the config is loaded, every component has started
//     (the offsets state is loaded), and the sink accepted a batch or
//     answered a metadata request within the last 30 s; 503 with the reason
//     otherwise.
//
// With withPprof, Go's profiles are served under /debug/pprof/ too.
func newMux(reg *prometheus.Registry, st *status, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if st.failed.Load() {
			http.Error(w, "a component has failed", http.StatusServiceUnavailable)
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
