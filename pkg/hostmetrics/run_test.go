package hostmetrics

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestRunDropOldest: with nobody reading, Out holds the newest snapshots
// only, each dropped one is counted, Run never blocks, and Run closes Out
// when its context ends.
func TestRunDropOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fixtureConfig(t)
		cfg.Interval = 15 * time.Second
		cfg.MaxHeldSnapshots = 2
		out := make(chan event.Snapshot, 8) // larger than the bound: the bound wins
		c := newFixture(t, cfg, nil, Options{Node: "node-1", Out: out})

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.Run(ctx) }()

		// Snapshots at 0s, 15s, ..., 75s: six in all.
		time.Sleep(75*time.Second + time.Second)
		synctest.Wait()
		if got := testutil.ToFloat64(c.snapshots); got != 6 {
			t.Fatalf("%v snapshots taken, want 6", got)
		}
		if got := testutil.ToFloat64(c.dropped); got != 4 {
			t.Errorf("%v snapshots dropped, want 4", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		var held []event.Snapshot
		for s := range out { // ends: Run closed Out
			held = append(held, s)
		}
		if len(held) != 2 {
			t.Fatalf("%d snapshots held, want 2", len(held))
		}
		for i, want := range []time.Duration{60 * time.Second, 75 * time.Second} {
			if got := held[i].Time.Sub(start); got != want {
				t.Errorf("held snapshot %d taken at +%v, want +%v (the newest)", i, got, want)
			}
			if held[i].Node != "node-1" || len(held[i].Metrics) == 0 {
				t.Errorf("held snapshot %d: node %q, %d metrics", i, held[i].Node, len(held[i].Metrics))
			}
		}
	})
}

// TestRunDelivers: a reader that keeps up gets every snapshot, in order,
// one per interval, and nothing is dropped.
func TestRunDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fixtureConfig(t)
		cfg.Interval = 10 * time.Second
		out := make(chan event.Snapshot, 1)
		c := newFixture(t, cfg, nil, Options{Node: "n", Out: out})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		start := time.Now()
		for i := range 5 {
			s := <-out
			if got, want := s.Time.Sub(start), time.Duration(i)*10*time.Second; got != want {
				t.Errorf("snapshot %d at +%v, want +%v", i, got, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(c.dropped); got != 0 {
			t.Errorf("%v dropped with a reader keeping up", got)
		}
		if _, ok := <-out; ok {
			// At most one snapshot may have been taken between the last
			// read and cancel; after it, Out must be closed.
			if _, ok := <-out; ok {
				t.Error("Out not closed after Run returned")
			}
		}
	})
}

func TestRunOptions(t *testing.T) {
	cfg := fixtureConfig(t)
	c := newFixture(t, cfg, nil, Options{})
	if err := c.Run(t.Context()); err == nil {
		t.Error("Run without Options.Out: no error")
	}
	if _, err := New(cfg, nil, Options{Out: make(chan event.Snapshot)}); err == nil {
		t.Error("New with an unbuffered Out: no error")
	}
	cfg.Enabled = false
	out := make(chan event.Snapshot, 1)
	c = newFixture(t, cfg, nil, Options{Out: out})
	if err := c.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-out; ok {
		t.Error("disabled collector sent a snapshot or left Out open")
	}
}
