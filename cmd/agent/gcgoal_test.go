package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestGCGoalFollowsBacklog: the goal is GOGC=50 once the backlog is under
// gcLow, Go's default once it is over gcHigh, unchanged in between, and
// Go's default again when the agent stops.
func TestGCGoalFollowsBacklog(t *testing.T) {
	t.Setenv("GOGC", "")
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var sets []int
		g := newGCGoal(slog.New(slog.NewTextHandler(io.Discard, nil)))
		g.set = func(p int) int {
			mu.Lock()
			defer mu.Unlock()
			sets = append(sets, p)
			return 0
		}
		var behind atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); g.run(ctx, behind.Load) }()
		step := func(b int64, want int64) {
			t.Helper()
			behind.Store(b)
			time.Sleep(gcEvery)
			synctest.Wait()
			if got := g.percent.Load(); got != want {
				t.Fatalf("behind %d bytes: GOGC %d, want %d", b, got, want)
			}
		}
		step(0, gcKeepingUp)        // caught up
		step(5<<20, gcKeepingUp)    // between the bounds: kept
		step(100<<20, gcCatchingUp) // catching up
		step(5<<20, gcCatchingUp)   // between the bounds: kept
		step(gcLow-1, gcKeepingUp)  // caught up again
		step(gcLow-1, gcKeepingUp)  // no change, no call
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if want := []int{50, 100, 50, 100}; !slices.Equal(sets, want) {
			t.Errorf("SetGCPercent calls %v, want %v", sets, want)
		}
	})
}

// TestGCGoalLeavesGOGC: with GOGC set, the goal is never touched.
func TestGCGoalLeavesGOGC(t *testing.T) {
	t.Setenv("GOGC", "200")
	g := newGCGoal(slog.New(slog.NewTextHandler(io.Discard, nil)))
	called := false
	g.set = func(int) int { called = true; return 0 }
	g.run(context.Background(), func() int64 { return 0 }) // returns at once
	if called {
		t.Error("SetGCPercent called though GOGC is set")
	}
}
