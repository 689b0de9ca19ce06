package pipeline

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/ship"
)

// gauge is the value of the unlabelled gauge name in reg (0 if absent).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// deadBroker is a 127.0.0.1 address nothing listens on: a sink that never
// confirms anything.
func deadBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestHostile6FailureDuringDrainStopsAtOnce: a component that fails while
// the pipeline drains after a graceful stop (here: Extra, failing as its
// context ends; in the agent: the sink or the tailer's last offer) stops
// the rest at once, as a failure before the stop does, instead of leaving
// them to wait out shutdown_timeout for a sink that will not confirm.
func TestHostile6FailureDuringDrainStopsAtOnce(t *testing.T) {
	w := newWorld(t)
	w.write(t, "one", "two")
	cfg := w.config("")
	k := ship.DefaultConfig().Kafka
	k.Brokers = []string{deadBroker(t)}
	cfg.Sink = ship.Config{Kafka: k}
	cfg.Logs.StartAt = "beginning"
	cfg.ShutdownTimeout = time.Hour
	boom := errors.New("boom at the drain")
	reading := make(chan struct{})
	reg := prometheus.NewRegistry()
	p, err := New(cfg, Options{Registerer: reg, Extra: func(ctx context.Context) error {
		close(reading)
		<-ctx.Done()
		return boom
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-reading
	// The lines are in the sink, unconfirmed, when the stop comes.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for gauge(t, reg, "ferry_ship_held_bytes") == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the lines never reached the sink")
		}
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run still draining 30s after a component failed during the drain (shutdown_timeout 1h)")
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "extra: ") {
		t.Errorf("Run's error %v, want the failure of extra", err)
	}
	// Nothing was confirmed, so nothing was committed: the next run ships
	// both lines.
	sink := filepath.Join(w.dir, "out.ndjson")
	a := newAcked()
	stop := start(t, w.config(sink), Options{Acked: a.add})
	a.waitFor(t, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := messages(t, sink); strings.Join(got, ",") != "one,two" {
		t.Errorf("the next run shipped %q, want one,two", got)
	}
}
