package tail

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHoldbackStopsOnlyHeldFiles: a file the sink holds back
// (Options.Holdback, by its cursors' Source) is not read while held, the
// others are; once released, it is read from where it stopped.
func TestHoldbackStopsOnlyHeldFiles(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	paths := podLogs(t, dir, 2)
	writeSeq(t, paths[0], 0, 0, 10)
	writeSeq(t, paths[1], 1, 0, 10)
	hb := &event.Holdback{}
	r := startRunner(t, testConfig(dir, state), Options{Holdback: hb})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return len(r.snapshot()) == 20 })
	var held uint64
	for _, rc := range r.snapshot() {
		if rc.path == paths[0] {
			held = rc.cursor.Source
		}
	}
	hb.Hold(held)
	countOf := func(p string) int {
		n := 0
		for _, rc := range r.snapshot() {
			if rc.path == p {
				n++
			}
		}
		return n
	}
	writeSeq(t, paths[0], 0, 10, 20)
	writeSeq(t, paths[1], 1, 10, 20)
	waitFor(t, 5*time.Second, "the other file's new lines", func() bool { return countOf(paths[1]) == 20 })
	// The held file was written before the other one: the read that took
	// the other's lines would have taken its lines too.
	if n := countOf(paths[0]); n != 10 {
		t.Fatalf("the held file's lines arrived while it was held: %d, want 10", n)
	}
	hb.Release(held)
	waitFor(t, 5*time.Second, "the held file's lines after its release", func() bool { return countOf(paths[0]) == 20 })
	r.stop()
	exactlyOnce(t, r.snapshot(), paths, 20)
}
