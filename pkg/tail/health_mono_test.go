package tail

import (
	"testing"
	"time"
)

// TestLastLoopMonotonic: the liveness stamp carries the monotonic clock, so
// that /healthz's age of it (time.Now().Sub) is not moved by a step of the
// wall clock: with a wall-clock stamp (time.Unix of the beat), a step back
// of an hour made a hung loop look alive for that hour, and a step forward
// made a live one look hung until its next round.
func TestLastLoopMonotonic(t *testing.T) {
	tl := newIdleTailer(t, t.TempDir())
	if !tl.LastLoop().IsZero() {
		t.Fatal("a stamp before Run")
	}
	before := time.Now()
	tl.progress()
	last := tl.LastLoop()
	if last == last.Round(0) {
		t.Fatalf("LastLoop %v has no monotonic clock reading", last)
	}
	if last.Before(before) || last.After(time.Now()) {
		t.Fatalf("LastLoop %v not between %v and now", last, before)
	}
	// Between two times with monotonic readings, Sub uses those (and
	// time.Now has one): no step of the wall clock moves the age.
	if age := time.Since(last); age < 0 || age > time.Minute {
		t.Fatalf("age %v", age)
	}
}
