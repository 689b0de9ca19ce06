package main

import (
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
			srv := httptest.NewServer(newMux(prometheus.NewRegistry(), st))
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
