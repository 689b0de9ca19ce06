package main

import (
	"testing"
	"time"
)

// waitFor polls cond (a metric, a sink's lines, a checkpoint) until it
// holds, failing the test with what after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}
