package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHeldOwnCopyOfLaterGenerationPolled: the sibling the start left to
// the file while empty is filled, unseen, with a copy of a later
// generation (the file truncated in place, lines 72-84 lost, written
// 85-89, copytruncated into the sibling, written 90-91), and a poll
// looks before the file is read: lines 85-91 come once each, in order,
// and 72-84 are counted lost; after a restart (nothing acknowledged) the
// same lines, never 85-89 twice.
func TestHeldOwnCopyOfLaterGenerationPolled(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 90))
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(90, 92))
	tl.poll(time.Now())
	readAll(t, tl, f)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(85, 92)) {
		t.Errorf("lines %v, want %v", got, upto(85, 92))
	}
	if lost := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
	stop77(t, tl)
	appendFile(t, path, lines(92, 93))
	restartWant(t, tl.cfg, 85, 93)
}

