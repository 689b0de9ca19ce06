package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/ship"
)

// TestHostile6HealthyWhileDraining: a graceful stop (SIGTERM, or a config
// reload, which drains the same way while the pod lives on) stops the
// tailer's loop on purpose, and the drain may last shutdown_timeout (up to
// 10 min) for a sink that does not confirm. Were the stopped loop taken for
// a stuck one 10 s into the drain, the kubelet's liveness probe would kill
// an agent reloading its config, mid-drain. It is not (the tailer's
// LastLoop is zero once its Run returned): /healthz stays 200 through the
// drain (holds).
func TestHostile6HealthyWhileDraining(t *testing.T) {
	if testing.Short() {
		t.Skip("watches /healthz for 12 s of a drain")
	}
	dir := t.TempDir()
	cfg, _ := hostile6Config(t, dir, "127.0.0.1:0", 20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	k := ship.DefaultConfig().Kafka
	k.Brokers = []string{dead}
	cfg.Sink = ship.Config{Kafka: k}
	cfg.ShutdownTimeout = 14 * time.Second
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addr := make(chan string, 1)
	done := make(chan error, 1)
	reg := prometheus.NewRegistry()
	go func() {
		done <- runAgent(ctx, cfg, logger, runHooks{Registry: reg, Listening: func(a string) { addr <- a }})
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a + "/healthz"
	case err := <-done:
		t.Fatal(err)
	}
	if c := httpStatus(t, url); c != http.StatusOK {
		t.Fatalf("/healthz %d before the stop", c)
	}
	// The lines wait in the sink when the stop comes.
	waitFor(t, 30*time.Second, "a line held by the sink", func() bool { return gaugeValue(t, reg, "ferry_ship_held_bytes") > 0 })
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	stop()
	stopped := time.Now()
	for time.Since(stopped) < 12*time.Second { // past the loop's bound of 10 s
		select {
		case err := <-done:
			t.Fatalf("the agent stopped %s into a drain of 14 s: %v", time.Since(stopped), err)
		case <-tick.C:
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz %d %q %s into the drain", resp.StatusCode, body, time.Since(stopped).Round(time.Millisecond))
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop at shutdown_timeout")
	}
}
