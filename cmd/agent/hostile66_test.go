package main

import (
	"testing"
	"time"
)

// TestHostile66HealthzAfterClockStepBack: the tailer's loop went round
// (tail.Tailer.LastLoop, a wall-clock stamp: time.Unix of the beat's
// UnixNano), then NTP stepped the node's clock back an hour, then the
// loop hung. Two minutes later /healthz (status.unhealthy with the
// handler's time.Now()) must say the loop is stuck (bound 10s); with
// wall-clock stamps it says healthy for the hour the clock went back
// (and a step a day forward makes it fail until the next beat).
func TestHostile66HealthzAfterClockStepBack(t *testing.T) {
	t.Skip("known open: tail.LastLoop is a wall-clock stamp (pkg/tail/health.go: beat stores time.Now().UnixNano()); after the clock steps back an hour, /healthz calls a hung tailer alive for that hour; the fix belongs in pkg/tail (a monotonic beat)")
	loop := &stuckLoop{}
	st := &status{loop: loop, loopBound: 10 * time.Second}
	beat := time.Now()
	loop.last.Store(beat.UnixNano())
	// What time.Now() returns two minutes later after a step back of an
	// hour: the wall reading an hour behind (the handler's Sub uses the
	// wall reading, LastLoop having no monotonic one).
	now := beat.Round(0).Add(-time.Hour + 2*time.Minute)
	if reason := st.unhealthy(now); reason == "" {
		t.Errorf("/healthz healthy though the tail loop has not gone round for 2m (bound 10s), after a clock step back of 1h")
	}
}
