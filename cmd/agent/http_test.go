package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// stuckLoop is a tailer loop whose last round the test sets.
type stuckLoop struct{ last atomic.Int64 }

func (l *stuckLoop) LastLoop() time.Time {
	if ns := l.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// TestHealthzTailLoopStuck: /healthz fails with the reason while the
// tailer's loop has not gone round within the bound, and passes again once
// it does. A loop that has not started yet (zero) is not stuck.
func TestHealthzTailLoopStuck(t *testing.T) {
	loop := &stuckLoop{}
	st := &status{loop: loop, loopBound: 3 * time.Second}
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
	for _, tc := range []struct {
		name string
		last time.Time
		code int
		want string
	}{
		{"not started", time.Time{}, 200, "ok"},
		{"went round just now", time.Now(), 200, "ok"},
		{"stuck past the bound", time.Now().Add(-time.Minute), 503, "tail loop stuck: no round for 1m0"},
		{"recovered", time.Now(), 200, "ok"},
	} {
		if tc.last.IsZero() {
			loop.last.Store(0)
		} else {
			loop.last.Store(tc.last.UnixNano())
		}
		code, body := get("/healthz")
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: /healthz %d %q, want %d with %q", tc.name, code, body, tc.code, tc.want)
		}
		if tc.code == 503 && !strings.Contains(body, "(bound 3s)") {
			t.Errorf("%s: /healthz %q does not say the bound", tc.name, body)
		}
	}
}

// TestLoopBound: three poll intervals, never under ten seconds.
func TestLoopBound(t *testing.T) {
	for _, tc := range []struct{ poll, want time.Duration }{
		{100 * time.Millisecond, 10 * time.Second},
		{time.Second, 10 * time.Second},
		{10 * time.Second, 30 * time.Second},
	} {
		if got := loopBound(tc.poll); got != tc.want {
			t.Errorf("loopBound(%s) = %s, want %s", tc.poll, got, tc.want)
		}
	}
}
