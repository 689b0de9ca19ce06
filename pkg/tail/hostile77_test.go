package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// resumedAway77 is TestResumedAwayThenBackAndCopytruncated's start: the
// checkpoint read 0.log to line 4, lines 5-7 were written since, and the
// file is under its rotated name (a rotation being undone) as the agent
// starts. It returns the tailer, the follower the start opened away from
// the path (at the checkpoint's offset), the path and the rotated name.
func resumedAway77(t *testing.T) (*Tailer, *follower, string, string) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8)) // not read before the stop
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil || f.off != int64(len(read)) {
		t.Fatalf("the file away not resumed at the checkpoint's offset: %+v", f)
	}
	return tl, f, path, away
}

// ownLinesReadOrCounted77 ends a held-sibling test: lines 200-201, written
// to a sibling left to the file while empty, must have been read by tl, or
// be read by the next agent (started after line next is appended to
// path), or their loss counted.
func ownLinesReadOrCounted77(t *testing.T, tl *Tailer, path string, next int) {
	t.Helper()
	lost := lostTruncatedOf(tl) + testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted))
	got := emitted(tl)
	inRun := slices.Contains(got, 200) && slices.Contains(got, 201)
	stop77(t, tl)
	appendFile(t, path, lines(next, next+1))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "the line appended", func() bool { return hasSeq(r, next) })
	waitLooked(t, r)
	r.stop()
	after := seqs(r.snapshot())
	if !inRun && lost == 0 && !(slices.Contains(after, 200) && slices.Contains(after, 201)) {
		t.Errorf("lines 200-201 neither read (in the run: %v; after a restart: %v) nor counted lost", got, after)
	}
}

// readEvery77 reads every open follower to its end, then rescans and
// reads again, as turns and the next scan would.
func readEvery77(t *testing.T, tl *Tailer) {
	t.Helper()
	for range 3 {
		for range 5 {
			for _, g := range slices.Clone(tl.order) {
				if g.st != stClosed && (g.pred == nil || g.pred.st == stClosed) {
					tl.readFile(g, time.Now())
				}
			}
		}
		tl.poll(time.Now())
		tl.rescan(time.Now(), false)
	}
}

// emittedPaths77 is the path of each line a tailer driven step by step
// holds for its receiver (emitted).
func emittedPaths77(tl *Tailer) []string {
	var out []string
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			out = append(out, l.Path)
		}
	}
	return out
}

// stop77 ends tl as Run's end does.
func stop77(t *testing.T, tl *Tailer) {
	t.Helper()
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
}

// TestResumedAwayBackTruncatedInPlace: as
// TestResumedAwayThenBackAndCopytruncated, but the file renamed back is
// truncated in place (nothing copied): lines 5-7 are lost and counted,
// 8 is read once, and the next agent reads the new generation only.
func TestResumedAwayBackTruncatedInPlace(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(8, 9)) {
		t.Errorf("lines %v, want %v", got, upto(8, 9))
	}
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(5, 8))) {
		t.Errorf("lost %v bytes counted, want %d (lines 5-7)", lost, len(lines(5, 8)))
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 8, 10)
}

// TestResumedAwayBackNotTruncated: the file the start opened away from
// its path is renamed back (the rotation undone) and written on, never
// truncated: every line comes once, and once more at most after a
// restart (nothing acknowledged), never 0-4.
func TestResumedAwayBackNotTruncated(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	appendFile(t, path, lines(9, 11))
	readEvery77(t, tl)
	onceThenRestart(t, tl, path, 5, 11)
}

// TestResumedAwayBackCopytruncatedCompressed: as
// TestResumedAwayThenBackAndCopytruncated, with logrotate's compress
// without delaycompress: the copy is gzipped at once, before the tailer
// sees the truncation. Lines 5-7 are read from the .gz, or counted lost;
// never 0-4.
func TestResumedAwayBackCopytruncatedCompressed(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	cp := path + ".20261206-000021"
	hostile51CopyTo(t, path, cp)
	mustGzip(t, cp)
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	got, lost := emitted(tl), lostTruncatedOf(tl)
	if !(slices.Equal(got, upto(5, 9)) && lost == 0) && !(slices.Equal(got, upto(8, 9)) && lost == float64(len(lines(5, 8)))) {
		t.Errorf("lines %v, lost %v; want 5-8 and none lost, or 8 and lines 5-7 (%d bytes) lost", got, lost, len(lines(5, 8)))
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	if lost == 0 {
		restartWant(t, tl.cfg, 5, 10)
	} else {
		restartWant(t, tl.cfg, 8, 10)
	}
}

// TestResumedAwayBackThenRotatedAgain: the file is renamed back, copytruncated,
// written, and rotated again (kubelet's rename, a new file at the path)
// before the tailer sees any of it. The copy (5-7) is read, then the
// file's new generation (8), then the new file (9); each once.
func TestResumedAwayBackThenRotatedAgain(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	readAll(t, tl, f)
	readEvery77(t, tl)
	got, lost := emitted(tl), lostTruncatedOf(tl)
	if !slices.Equal(got, upto(5, 10)) || lost != 0 {
		t.Errorf("lines %v, lost %v; want %v, none lost", got, lost, upto(5, 10))
	}
	for _, p := range emittedPaths77(tl) {
		if p != path {
			t.Errorf("a line read under %s, want %s", p, path)
		}
	}
	stop77(t, tl)
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 5, 11)
}

// TestResumedAwayBackThenDeleted: the file is renamed back and
// copytruncated, its truncation handled (the follower moves to the path),
// written and deleted (the pod gone): lines 5-8 each once, nothing lost.
func TestResumedAwayBackThenDeleted(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	appendFile(t, path, lines(9, 10))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(5, 10)) {
		t.Errorf("lines %v, want %v", got, upto(5, 10))
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
}

// restartWantList runs a tailer on cfg until line last arrives: the lines
// must be want, in order.
func restartWantList(t *testing.T, cfg Config, last int, want []int) {
	t.Helper()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, last) })
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v", got, want)
	}
}

// TestResumedAwayBackWithPartialLine: the lines the checkpoint had not
// read end with the first fragment (P) of a CRI line; the file is renamed
// back and copytruncated, and its new generation starts with the line's
// last fragment (F). The line is merged across the copy and the file, not
// cut.
func TestResumedAwayBackWithPartialLine(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 7)+criLine("stdout", "P", "seq=7 first half "))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil {
		t.Fatal("the file away not resumed")
	}
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(5, 9)) {
		t.Errorf("lines %v, want %v (line 7 merged)", got, upto(5, 9))
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 5, 10)
}

// TestResumedAwayTwoSiblingsBackCopytruncated: the checkpoint had read
// part of a rotated file (line 2 not read) and part of 0.log (line 4 not
// read); 0.log is under a rotated name as the agent starts (a rotation
// being undone). Both are opened away from the path, the older first.
// 0.log is renamed back and copytruncated: lines 2, 4-8 come once each,
// in order, nothing lost; after a restart (nothing acknowledged) the
// same.
func TestResumedAwayTwoSiblingsBackCopytruncated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r1 := path + ".20261206-000010"
	appendFile(t, r1, lines(0, 3))
	appendFile(t, path, lines(3, 5))
	if err := writeState(state, []stateEntry{dataEntry(t, path, r1, lines(0, 2), false), dataEntry(t, path, path, lines(3, 4), false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil || f.off != int64(len(lines(3, 4))) {
		t.Fatalf("the file away not resumed at the checkpoint's offset: %+v", f)
	}
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	want := append([]int{2}, upto(4, 9)...)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWantList(t, tl.cfg, 9, append([]int{2}, upto(4, 10)...))
}

// TestResumedAwayBackOverNewFile: as the agent starts, the file is under
// its rotated name and a new file is at the path (the runtime's, lines
// 100-101); kubelet renames the file back over it (the rotation undone),
// and it is copytruncated. Lines 5-8 come once each; the new file's
// lines are read or counted lost, never 0-4.
func TestResumedAwayBackOverNewFile(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	appendFile(t, path, lines(100, 102))
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil {
		t.Fatal("the file away not resumed")
	}
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	var got []int
	for _, n := range emitted(tl) {
		if n < 100 {
			got = append(got, n)
		}
	}
	if !slices.Equal(got, upto(5, 9)) {
		t.Errorf("lines %v (but 100-101), want %v", got, upto(5, 9))
	}
	if all := emitted(tl); !slices.Contains(all, 100) || !slices.Contains(all, 101) {
		t.Errorf("lines %v: the new file's lines 100-101 not read", all)
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted to truncations, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 9", func() bool { return hasSeq(r, 9) })
	r.stop()
	got = nil
	for _, n := range seqs(r.snapshot()) {
		if n < 100 {
			got = append(got, n)
		}
	}
	if !slices.Equal(got, upto(5, 10)) {
		t.Errorf("after the restart, lines %v (but 100-101), want %v", got, upto(5, 10))
	}
}

// TestResumedAwayBackStoppedThenCopytruncatedAgain: the file is renamed
// back and copytruncated, its truncation handled (it is the path's
// follower since), written; the agent stops and restarts, and the file is
// copytruncated again while no agent runs. Every line comes once in the
// run, and once more at most after the restart (nothing acknowledged:
// from the first copy's checkpoint offset on), none lost.
func TestResumedAwayBackStoppedThenCopytruncatedAgain(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 10))
	readAll(t, tl, f)
	readEvery77(t, tl)
	if tl.byPath[path] != f || f.st != stFollowing {
		t.Fatalf("the file is not the path's follower: %+v", f)
	}
	if got := emitted(tl); !slices.Equal(got, upto(5, 10)) {
		t.Errorf("lines %v, want %v", got, upto(5, 10))
	}
	stop77(t, tl)
	hostile51CopyTo(t, path, path+".20261206-000022")
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 5, 11)
}

// TestHeldEmptyWrittenAsItsOwnFile: the empty sibling the start leaves
// to the file it resumed (holds: perhaps a copy being written) is no
// copy: a file renamed while empty that the runtime writes on (lines
// 200-201) before it reopens the path. The file itself is never
// truncated. Lines 200-201 are read (in the run, or by the next agent),
// or counted lost; not dropped silently.
func TestHeldEmptyWrittenAsItsOwnFile(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f)
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(72, 87)) {
		t.Errorf("lines %v, want 72-86 (and 200-201)", got)
	}
	ownLinesReadOrCounted77(t, tl, path, 87)
}

// TestHeldEmptyWrittenAsItsOwnFileThenRotated: as
// TestHeldEmptyWrittenAsItsOwnFile, and the file is then rotated by
// kubelet (renamed, a new file at the path; the sibling compressed, or
// not) and finished: lines 200-201 are read (in the run, or by the next
// agent) or counted lost.
func TestHeldEmptyWrittenAsItsOwnFileThenRotated(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed"}[compress], func(t *testing.T) { heldEmptyWrittenThenRotated(t, compress) })
	}
}

// heldEmptyWrittenThenRotated is TestHeldEmptyWrittenAsItsOwnFileThenRotated;
// with compress, kubelet compresses the sibling as it rotates the file.
func heldEmptyWrittenThenRotated(t *testing.T, compress bool) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f)
	mustRename(t, path, path+".20261206-000030")
	if compress {
		mustGzip(t, cp)
	}
	appendFile(t, path, lines(87, 88))
	readEvery77(t, tl)
	f.since = time.Now().Add(-time.Hour) // its linger over: finished
	f.succAt = time.Now().Add(-time.Hour)
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(72, 88)) {
		t.Errorf("lines %v, want 72-87 (and 200-201)", got)
	}
	ownLinesReadOrCounted77(t, tl, path, 88)
}

// TestHeldEmptyWrittenAsItsOwnFileStoppedRotated: as
// TestHeldEmptyWrittenAsItsOwnFileThenRotated, but the agent stops while
// the file is rotated and not finished: the next agent reads lines
// 200-201, or they are counted lost.
func TestHeldEmptyWrittenAsItsOwnFileStoppedRotated(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f)
	mustRename(t, path, path+".20261206-000030")
	appendFile(t, path, lines(87, 88))
	readEvery77(t, tl)
	if f.st == stClosed {
		t.Fatal("the file was finished")
	}
	ownLinesReadOrCounted77(t, tl, path, 88)
}

// TestResumedAwayBackCopiedNotTruncated: the file the start opened away
// from its path is renamed back and copied by logrotate without a
// truncation (its copy, 0-8), written on (9), then read: every line from
// the checkpoint's offset comes once; after a restart (nothing
// acknowledged) the same, never 0-4.
func TestResumedAwayBackCopiedNotTruncated(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "copied before any read", true: "copied after a read"}[readFirst], func(t *testing.T) {
			tl, f, path, away := resumedAway77(t)
			mustRename(t, away, path)
			appendFile(t, path, lines(8, 9))
			if readFirst {
				readAll(t, tl, f)
				readEvery77(t, tl)
			}
			copyOnly(t, path, path+".20261206-000021")
			appendFile(t, path, lines(9, 10))
			readAll(t, tl, f)
			readEvery77(t, tl)
			appendFile(t, path, lines(10, 11))
			readEvery77(t, tl)
			onceThenRestart(t, tl, path, 5, 11)
		})
	}
}

// TestResumedAwayBackTruncatedInPlaceThenRotatedAgain: the file is
// renamed back, truncated in place (nothing copied: lines 5-7 lost),
// written (8) and rotated again before the tailer sees any of it: 5-7
// counted lost, 8 and the next file's 9 read once each.
func TestResumedAwayBackTruncatedInPlaceThenRotatedAgain(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	readAll(t, tl, f)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(8, 10)) {
		t.Errorf("lines %v, want %v", got, upto(8, 10))
	}
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(5, 8))) {
		t.Errorf("lost %v bytes counted, want %d (lines 5-7)", lost, len(lines(5, 8)))
	}
	stop77(t, tl)
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 8, 11)
}

// TestResumedAwayBackPartialLineStopped: as
// TestResumedAwayBackWithPartialLine, but the agent stops after the
// truncation is handled and before the line's last fragment is written:
// the next agent merges the line (its first fragment read again from the
// copy) and reads every line from the checkpoint's offset once.
func TestResumedAwayBackPartialLineStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 7)+criLine("stdout", "P", "seq=7 first half "))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil {
		t.Fatal("the file away not resumed")
	}
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	readAll(t, tl, f)
	readEvery77(t, tl)
	stop77(t, tl)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(8, 9))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 8", func() bool { return hasSeq(r, 8) })
	waitLooked(t, r)
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(5, 9)) {
		t.Errorf("after the restart, lines %v, want %v (line 7 merged)", got, upto(5, 9))
	}
}

// TestHeldEmptyCopyCompressedWhileStopped: the agent stops while it holds
// an empty copy of the file it resumed (copyEmptyAtStart); while no agent
// runs, logrotate writes the copy, truncates the file and compresses the
// copy (compress without delaycompress). The next agent reads lines 72-84
// from the .gz and the file's new lines once.
func TestHeldEmptyCopyCompressedWhileStopped(t *testing.T) {
	tl, _, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	stop77(t, tl)
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, cp)
	appendFile(t, path, lines(85, 87))
	restartWant(t, tl.cfg, 72, 87)
}

// TestHeldEmptyRenamedThenCopyOfLaterGeneration: the empty sibling left
// to the file is renamed (a numbered rotation moves it) before it is
// written; the file is truncated in place (72-84 lost), written (85-86),
// copied into the moved sibling and truncated (87 written after). The
// truncation finds no copy of what was read: the moved sibling is read
// whole before the file, once.
func TestHeldEmptyRenamedThenCopyOfLaterGeneration(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	moved := path + ".20261206-000007"
	mustRename(t, cp, moved)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	fillCopy(t, path, moved)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(87, 88))
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(85, 88))
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
}

// TestHeldEmptyDeletedThenTruncated: the empty sibling left to the file
// is deleted; the file is truncated in place and written: lines 72-84
// are counted lost, the new ones read once.
func TestHeldEmptyDeletedThenTruncated(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	if err := os.Remove(cp); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 86))
	readAll(t, tl, f)
	readAllWant(t, tl, f, upto(85, 86))
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
}

// TestResumedAwayBackThenRotatedByKubelet: the file followed at its path
// since its truncation was handled (backHome) is rotated by kubelet
// (renamed, a new file at the path): its lines and the new file's come
// once each, and the same after a restart (nothing acknowledged).
func TestResumedAwayBackThenRotatedByKubelet(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	appendFile(t, path, lines(9, 10))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(10, 11))
	readEvery77(t, tl)
	f.succAt = time.Now().Add(-time.Hour) // final
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(5, 11)) {
		t.Errorf("lines %v, want %v", got, upto(5, 11))
	}
	if f.st != stClosed {
		t.Errorf("the rotated file not finished: %v", f.st)
	}
	stop77(t, tl)
	appendFile(t, path, lines(11, 12))
	restartWant(t, tl.cfg, 5, 12)
}

// TestResumedAwayBackCompressedCopyThenRotatedAgain: as
// TestResumedAwayBackThenRotatedAgain, the copy compressed at once
// (logrotate's compress without delaycompress): lines 5-7 come from the
// .gz, then 8 and the next file's 9; each once.
func TestResumedAwayBackCompressedCopyThenRotatedAgain(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	cp := path + ".20261206-000021"
	hostile51CopyTo(t, path, cp)
	mustGzip(t, cp)
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	readAll(t, tl, f)
	readEvery77(t, tl)
	got, lost := emitted(tl), lostTruncatedOf(tl)
	if !slices.Equal(got, upto(5, 10)) || lost != 0 {
		t.Errorf("lines %v, lost %v; want %v, none lost", got, lost, upto(5, 10))
	}
	stop77(t, tl)
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 5, 11)
}

// TestResumedAwayNewerSiblingBackCopytruncated: as the agent starts, the
// file the checkpoint read part of (line 4 not read) is under a rotated
// name, and so is the file after it (5-7, never read: a rotation of it
// being undone), nothing at the path. Both are opened away from the path,
// the newer after the older. The newer is renamed back and copytruncated
// before its first read, and written (8): lines 4-8 come once each, in
// order, nothing lost; after a restart (nothing acknowledged) the same.
func TestResumedAwayNewerSiblingBackCopytruncated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, lines(0, 4), false)}); err != nil {
		t.Fatal(err)
	}
	older, newer := path+".20261206-000020", path+".20261206-000021"
	mustRename(t, path, older)
	appendFile(t, newer, lines(5, 8))
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	o, n := tl.files[statKeyT(t, older)], tl.files[statKeyT(t, newer)]
	if o == nil || n == nil {
		t.Fatalf("the files away not opened: %+v %+v", o, n)
	}
	mustRename(t, newer, path)
	hostile51CopyTo(t, path, path+".20261206-000022")
	appendFile(t, path, lines(8, 9))
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(4, 9)) {
		t.Errorf("lines %v, want %v", got, upto(4, 9))
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 4, 10)
}

// TestHeldEmptyWrittenAsItsOwnFileThenCopytruncated: as
// TestHeldEmptyWrittenAsItsOwnFileThenRotated, but the file is
// copytruncated (its copy another sibling, found by its truncation)
// before it is rotated: lines 200-201 are read (in the run, or by the
// next agent) or counted lost.
func TestHeldEmptyWrittenAsItsOwnFileThenCopytruncated(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	appendFile(t, path, lines(85, 87))
	hostile51CopyTo(t, path, path+".20261206-000008")
	appendFile(t, path, lines(87, 88))
	readAll(t, tl, f)
	readAll(t, tl, f)
	mustRename(t, path, path+".20261206-000030")
	appendFile(t, path, lines(88, 89))
	readEvery77(t, tl)
	f.succAt = time.Now().Add(-time.Hour) // final
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(72, 89)) {
		t.Errorf("lines %v, want 72-88 (and 200-201)", got)
	}
	ownLinesReadOrCounted77(t, tl, path, 89)
}

// TestResumedAwayBackTruncationSeenAtStop: the file is renamed back and
// copytruncated, and its truncation is first seen by the stop's last
// look (backHome then): the next agent reads lines 5-8 once each, in
// order, nothing lost.
func TestResumedAwayBackTruncationSeenAtStop(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	stop77(t, tl)
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 5, 10)
}

// TestResumedAwayBackRotatedAgainSeenAtStop: as
// TestResumedAwayBackThenRotatedAgain, first seen by the stop's last look:
// the next agent reads lines 5-9 once each, in order.
func TestResumedAwayBackRotatedAgainSeenAtStop(t *testing.T) {
	tl, _, path, away := resumedAway77(t)
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	mustRename(t, path, path+".20261206-000022")
	appendFile(t, path, lines(9, 10))
	stop77(t, tl)
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	appendFile(t, path, lines(10, 11))
	restartWant(t, tl.cfg, 5, 11)
}

// TestStartTickCopyOnlyHeldThenNoticed: as
// TestStartTickCopyHeldThenTakenByNotice, but logrotate copies the file
// without truncating it (its copy, in the start's tick): the copy's notice
// comes after the start left it to the file. The file holds every line
// the copy does: each comes once.
func TestStartTickCopyOnlyHeldThenNoticed(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	gone := path + ".20261206-000001"
	appendFile(t, gone, lines(100, 102))
	entry := dataEntry(t, path, gone, lines(100, 102), false)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := writeState(state, []stateEntry{entry}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(0, 5)) // a new file, nothing read
	tl, saved, now := startSteps(t, dir, state)
	f := tl.byPath[path]
	if f == nil || f.off != 0 {
		t.Fatalf("the new file not followed from 0: %+v", f)
	}
	cp := path + ".20261206-000002"
	copyOnly(t, path, cp)
	b, ok := born(cp)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	f.opened, f.tick = b, true
	f.took = append(f.took, birth{key: statKeyT(t, cp), at: b})
	tl.resumeRotated(now, saved)
	if f.pred != nil {
		t.Fatalf("the copy was read apart: %s", f.pred.path)
	}
	appendFile(t, path, lines(5, 7))
	tl.copyCreated(cp)
	readAll(t, tl, f)
	readAllWant(t, tl, f, upto(0, 7))
	stop77(t, tl)
	appendFile(t, path, lines(7, 10))
	restartWant(t, tl.cfg, 0, 10)
}

// TestHeldEmptyWrittenAsItsOwnFileReadInRun: as
// TestHeldEmptyWrittenAsItsOwnFile: lines 200-201 are read by the running
// agent, without waiting for the file to close (which may come only with
// the pod's deletion, its directory and the sibling gone with it).
func TestHeldEmptyWrittenAsItsOwnFileReadInRun(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f)
	readEvery77(t, tl)
	got := emitted(tl)
	if !slices.Contains(got, 200) || !slices.Contains(got, 201) {
		t.Errorf("lines %v: 200-201 not read", got)
	}
	if !slices.Equal(slices.DeleteFunc(slices.Clone(got), func(n int) bool { return n >= 200 }), upto(72, 87)) {
		t.Errorf("lines %v, want 72-86 (and 200-201)", got)
	}
}

// TestResumedAwayBackWrittenThenRotated: the file the start opened away
// from its path is renamed back (not truncated), written, and rotated by
// kubelet (renamed, written still by the runtime before it reopens, a new
// file at the path): every line comes once, and the same after a restart
// (nothing acknowledged).
func TestResumedAwayBackWrittenThenRotated(t *testing.T) {
	tl, f, path, away := resumedAway77(t)
	mustRename(t, away, path)
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	readEvery77(t, tl)
	appendFile(t, path, lines(9, 10))
	rot := path + ".20261206-000022"
	mustRename(t, path, rot)
	appendFile(t, rot, lines(10, 11))
	readEvery77(t, tl)
	appendFile(t, path, lines(11, 12))
	readEvery77(t, tl)
	for _, g := range tl.order {
		if g.st == stRotated {
			g.succAt = time.Now().Add(-time.Hour) // final
		}
	}
	readEvery77(t, tl)
	onceThenRestart(t, tl, path, 5, 12)
}

// TestResumedCopyThenAwayBackCopytruncated: while no agent ran, the file
// the checkpoint read part of (line 4 not read) was copytruncated (its
// copy .20), written (5-7), and renamed away (.21: a rotation being
// undone as the agent starts). The start reads the copy from the
// checkpoint's offset and the file away from 0, after it. The file is
// renamed back and copytruncated again (.22), and written (8): lines 4-8
// come once each, in order, nothing lost; after a restart the same.
func TestResumedCopyThenAwayBackCopytruncated(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, lines(0, 4), false)}); err != nil {
		t.Fatal(err)
	}
	hostile51CopyTo(t, path, path+".20261206-000020")
	appendFile(t, path, lines(5, 8))
	away := path + ".20261206-000021"
	mustRename(t, path, away)
	tl, saved, now := startSteps(t, dir, state)
	tl.resumeRotated(now, saved)
	f := tl.files[statKeyT(t, away)]
	if f == nil {
		t.Fatal("the file away not opened")
	}
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000022")
	appendFile(t, path, lines(8, 9))
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(4, 9)) {
		t.Errorf("lines %v, want %v", got, upto(4, 9))
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 4, 10)
}

// TestHeldEmptyWrittenOpenedThenStopped: the sibling left to the file
// while empty and written as a file of its own (200-201) is opened by a
// poll, and the agent stops before reading it: the next agent reads it
// once, and the file's lines from the checkpoint's offset once.
func TestHeldEmptyWrittenOpenedThenStopped(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	appendFile(t, cp, lines(200, 202))
	tl.poll(time.Now())
	if g := tl.files[statKeyT(t, cp)]; g == nil || g == f {
		t.Fatal("the sibling written as a file of its own not opened by the poll")
	}
	stop77(t, tl)
	appendFile(t, path, lines(85, 87))
	r := startRunner(t, tl.cfg, Options{})
	waitFor(t, 5*time.Second, "line 86", func() bool { return hasSeq(r, 86) })
	waitFor(t, 5*time.Second, "line 201", func() bool { return hasSeq(r, 201) })
	waitLooked(t, r)
	r.stop()
	got := slices.Sorted(slices.Values(seqs(r.snapshot())))
	if want := append(upto(72, 87), 200, 201); !slices.Equal(got, want) {
		t.Errorf("after the restart, lines %v, want %v once each", got, want)
	}
}

// TestResumedAwayBackCopytruncatedWhileRunning: the agent starts while
// the file it had checkpointed is under a rotated name (a rotation being
// undone); while it runs, the file is renamed back, copytruncated and
// written. Every line from the checkpoint's offset comes once, each
// acknowledged; the next agent reads only what was written after.
func TestResumedAwayBackCopytruncatedWhileRunning(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	away := path + ".20261206-000020"
	mustRename(t, path, away)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "lines 5-7", func() bool { return hasSeq(r, 7) })
	mustRename(t, away, path)
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 10))
	waitFor(t, 5*time.Second, "line 9", func() bool { return hasSeq(r, 9) })
	waitLooked(t, r)
	waitFor(t, 5*time.Second, "every line acknowledged", func() bool { return testutil.ToFloat64(r.tl.m.inflight) == 0 })
	got := stopClosed(t, r)
	wantOnce(t, got, upto(5, 10))
	if lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	appendFile(t, path, lines(10, 11))
	restartWant(t, cfg, 10, 11)
}
