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

// TestHeldEmptyWrittenAfterCopytruncateHandled: as
// TestHeldEmptyWrittenAsItsOwnFileThenCopytruncated, but the sibling
// left to the file while empty is still empty as the file's
// copytruncate is handled (its copy found), and written (200-201) only
// after: lines 200-201 are read (in the run, or by the next agent) or
// counted lost; not dropped silently.
func TestHeldEmptyWrittenAfterCopytruncateHandled(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, path, lines(85, 87))
	hostile51CopyTo(t, path, path+".20261206-000008")
	appendFile(t, path, lines(87, 88))
	readAll(t, tl, f)
	readAll(t, tl, f)
	appendFile(t, cp, lines(200, 202))
	readEvery77(t, tl)
	mustRename(t, path, path+".20261206-000030")
	appendFile(t, path, lines(88, 89))
	readEvery77(t, tl)
	f.succAt = time.Now().Add(-time.Hour) // final
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(72, 89)) {
		t.Errorf("lines %v, want 72-88 (and 200-201)", got)
	}
	lost := lostTruncatedOf(tl) + testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted))
	inRun := slices.Contains(got, 200) && slices.Contains(got, 201)
	stop77(t, tl)
	appendFile(t, path, lines(89, 90))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 89", func() bool { return hasSeq(r, 89) })
	waitLooked(t, r)
	r.stop()
	after := seqs(r.snapshot())
	if !inRun && lost == 0 && !(slices.Contains(after, 200) && slices.Contains(after, 201)) {
		t.Errorf("lines 200-201 neither read (in the run: %v; after a restart: %v) nor counted lost", got, after)
	}
}

// TestHeldEmptyWrittenAfterTruncationHandled: as
// TestHeldEmptyWrittenAfterCopytruncateHandled, but the file is
// truncated in place (no copy: lines 72-84 lost, counted): the sibling,
// still empty then, is written (200-201) after; those lines are read
// (in the run, or by the next agent) or counted lost too.
func TestHeldEmptyWrittenAfterTruncationHandled(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f)
	readAll(t, tl, f)
	appendFile(t, cp, lines(200, 202))
	readEvery77(t, tl)
	mustRename(t, path, path+".20261206-000030")
	appendFile(t, path, lines(87, 88))
	readEvery77(t, tl)
	f.succAt = time.Now().Add(-time.Hour) // final
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(85, 88)) {
		t.Errorf("lines %v, want 85-87 (and 200-201)", got)
	}
	lost := lostTruncatedOf(tl) + testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted)) - float64(len(lines(72, 85)))
	inRun := slices.Contains(got, 200) && slices.Contains(got, 201)
	stop77(t, tl)
	appendFile(t, path, lines(88, 89))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 88", func() bool { return hasSeq(r, 88) })
	waitLooked(t, r)
	r.stop()
	after := seqs(r.snapshot())
	if !inRun && lost <= 0 && !(slices.Contains(after, 200) && slices.Contains(after, 201)) {
		t.Errorf("lines 200-201 neither read (in the run: %v; after a restart: %v) nor counted lost", got, after)
	}
}

// TestResumedAwayBackRotatedAgainNewFileFirst: as
// TestResumedAwayBackThenRotatedAgain, but the tailer's rescan finds the
// new file at the path (9) before the file's truncation is handled: the
// copy (5-7), then the file's new generation (8), then the new file (9),
// each once, in order; after a restart the same.
func TestResumedAwayBackRotatedAgainNewFileFirst(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	got, lost := emitted(tl), lostTruncatedOf(tl)
	if !slices.Equal(got, upto(5, 10)) || lost != 0 {
		t.Errorf("lines %v, lost %v; want %v, none lost", got, lost, upto(5, 10))
	}
	stop77(t, tl)
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 5, 11)
}

// TestResumedAwayBackRotatedAgainPartialLine: as
// TestResumedAwayBackRotatedAgainNewFileFirst, but the file's new
// generation ends with a partial line (P) whose end (F) the runtime
// writes in the new file at the path: the line comes once, whole, after
// 5-7 and before 9; nothing cut.
func TestResumedAwayBackRotatedAgainPartialLine(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, criLine("stdout", "P", "seq=8 first half "))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(9, 10))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	lingerOver(tl) // each rotated file's next read is its last
	readEvery77(t, tl)
	wantMerged(t, tl, upto(5, 10), 8, "seq=8 first half second half")
}

// TestResumedAwayBackRotatedAgainRescanFirst: as
// TestResumedAwayBackRotatedAgainNewFileFirst, but the rescan finds the
// new file at the path before any poll sees the file's truncation: lines
// 5-9 each once, in order, never 0-4; after a restart the same.
func TestResumedAwayBackRotatedAgainRescanFirst(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	tl.rescan(time.Now(), false)
	readEvery77(t, tl)
	onceThenRestart(t, tl, path, 5, 10)
}

// TestResumedAwayBackRotatedAgainCompressed: as
// TestResumedAwayBackRotatedAgainRescanFirst (and with a poll first),
// but kubelet compresses the file's rotated name (.22) before the
// tailer looks: lines 5-9 each once, in order, never 0-4; after a
// restart the same.
func TestResumedAwayBackRotatedAgainCompressed(t *testing.T) {
	for _, pollFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "rescan first", true: "poll first"}[pollFirst], func(t *testing.T) {
			tl, _, path, away := resumedAway77(t)
			mustRename(t, away, path)
			hostile51CopyTo(t, path, path+".20261206-000021")
			appendFile(t, path, lines(8, 9))
			mustRename(t, path, path+".20261206-000022")
			mustGzip(t, path+".20261206-000022")
			appendFile(t, path, lines(9, 10))
			if pollFirst {
				tl.poll(time.Now())
			}
			tl.rescan(time.Now(), false)
			readEvery77(t, tl)
			onceThenRestart(t, tl, path, 5, 10)
		})
	}
}

// TestHeldOwnWrittenTruncationPending: the sibling left to the file while
// empty is written as a file of its own (200-201) while the file's
// truncation in place (72-84 lost) waits to be seen, and a poll looks
// first: every line comes once (200-201 read by the truncation, as a
// later generation), 72-84 counted lost; after a restart none twice.
func TestHeldOwnWrittenTruncationPending(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	tl.poll(time.Now())
	readAll(t, tl, f)
	readEvery77(t, tl)
	got := slices.Sorted(slices.Values(emitted(tl)))
	if want := append(upto(85, 87), 200, 201); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v once each", got, want)
	}
	if lost := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
	stop77(t, tl)
	appendFile(t, path, lines(87, 88))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 87", func() bool { return hasSeq(r, 87) })
	waitLooked(t, r)
	r.stop()
	after := seqs(r.snapshot())
	for _, n := range upto(85, 88) {
		if c := len(slices.DeleteFunc(slices.Clone(after), func(m int) bool { return m != n })); c != 1 {
			t.Errorf("after the restart, line %d came %d times (%v)", n, c, after)
		}
	}
}
