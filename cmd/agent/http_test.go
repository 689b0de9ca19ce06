package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEndpointsNotReady: the documented 503s of /healthz and /readyz, which
// a running agent in the end-to-end tests never shows.
func TestEndpointsNotReady(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		started, failed      bool
		healthz, readyz      int
		readyzReasonContains string
	}{
		{"starting", false, false, 200, 503, "starting"},
		{"a component failed", true, true, 503, 503, "a component has failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &status{}
			st.started.Store(tc.started)
			st.failed.Store(tc.failed)
			srv := httptest.NewServer(newMux(prometheus.NewRegistry(), st, false))
			defer srv.Close()
			get := func(path string) (int, string) {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if c, _ := get("/healthz"); c != tc.healthz {
				t.Errorf("/healthz: %d, want %d", c, tc.healthz)
			}
			c, body := get("/readyz")
			if c != tc.readyz || !strings.Contains(body, tc.readyzReasonContains) {
				t.Errorf("/readyz: %d %q, want %d with %q", c, body, tc.readyz, tc.readyzReasonContains)
			}
		})
	}
}

// TestPprofOptIn: Go's profiles are served only when http.pprof is on, and
// then a heap profile is a real one (a gzipped protobuf).
func TestPprofOptIn(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(newMux(prometheus.NewRegistry(), &status{}, on))
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case !on && resp.StatusCode != http.StatusNotFound:
				t.Errorf("pprof off: %s answered %d, want 404", path, resp.StatusCode)
			case on && resp.StatusCode != http.StatusOK:
				t.Errorf("pprof on: %s answered %d: %s", path, resp.StatusCode, b)
			case on && path == "/debug/pprof/heap" && !bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
				t.Errorf("pprof on: the heap profile is not gzipped protobuf: % x", b[:min(len(b), 8)])
			case on && strings.HasPrefix(path, "/debug/pprof/goroutine") && !strings.Contains(string(b), "goroutine profile:"):
				t.Errorf("pprof on: goroutine dump: %.200s", b)
			}
		}
		srv.Close()
	}
}
