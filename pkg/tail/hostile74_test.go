package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lostTruncatedOf is the bytes counted lost to truncations.
func lostTruncatedOf(tl *Tailer) float64 {
	return testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated))
}

// TestHeldEmptyCopyFoundThenTruncatedInPlace: the copy the start left to
// the file while empty (copyEmptyAtStart) is written and the file
// truncated: the truncation finds it and reads it from the file's offset
// (lines 72-84). The copy stays on disk; the file's next generation
// (85-86) is then truncated in place and written (87), nothing copied (an application's
// `> file`), before its last line was read. The copy was read already:
// taken again as a copy of a later generation left to the file while
// empty, it was read whole, and lines 57-84 came twice.
func TestHeldEmptyCopyFoundThenTruncatedInPlace(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	readAllWant(t, tl, f, upto(72, 87))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(87, 88)) // shorter than 85-86: seen truncated
	readAll(t, tl, f)                  // to the truncation
	readAllWant(t, tl, f, upto(72, 88))
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
}

// TestHeldEmptyCopyOfLaterGenerationNotTruncatedYet: as TestCopyEmptyAtStartLook
// "a later generation" (the file truncated in place while the start
// looked, lines 72-84 lost, 85-89 written, the copy made empty), but the
// copy is written before the file is truncated (logrotate's copy, or a
// copytruncate between its copy and its truncation) when the tailer
// sees the first truncation. The copy holds what the file's new
// generation holds: read whole as a later generation, and the file from
// 0 too, lines 85-89 came twice.
func TestHeldEmptyCopyOfLaterGenerationNotTruncatedYet(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		name := "copied"
		if truncate {
			name = "copytruncated after the look"
		}
		t.Run(name, func(t *testing.T) {
			tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(path, cp string) {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, lines(85, 90))
				emptyCopy(t, cp)
			})
			fillCopy(t, path, cp)
			readAll(t, tl, f) // to the truncation
			readAll(t, tl, f)
			want := upto(85, 90)
			if truncate {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, path, lines(90, 92))
				readAll(t, tl, f)
				readAll(t, tl, f)
				want = upto(85, 92)
			}
			if got := emitted(tl); !slices.Equal(got, want) {
				t.Errorf("lines %v, want %v", got, want)
			}
			if lost := lostTruncatedOf(tl); lost != float64(len(lines(72, 85))) {
				t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
			}
		})
	}
}

// TestHeldEmptyCopyOfLaterGenerationCompressed: as TestCopyEmptyAtStartLook
// "a later generation" (the file truncated in place while the start
// looked, lines 72-84 lost, 85-89 written, the copy made empty), with
// logrotate's compress without delaycompress: the copy is written, the
// file truncated and written on (90-91), and the copy compressed at once,
// all before the tailer looks at the file again. The copy, known by its
// inode while plain, is gone under its plain name: lines 85-89 are read
// from its .gz, or counted lost.
func TestHeldEmptyCopyOfLaterGenerationCompressed(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(path, cp string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(85, 90))
		emptyCopy(t, cp)
	})
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(90, 92))
	mustGzip(t, cp)
	readAll(t, tl, f) // to the truncation
	readAll(t, tl, f)
	got, lost := emitted(tl), lostTruncatedOf(tl)
	if slices.Equal(got, upto(85, 92)) && lost == float64(len(lines(72, 85))) {
		return
	}
	if slices.Equal(got, upto(90, 92)) && lost == float64(len(lines(72, 90))) {
		return
	}
	t.Errorf("lines %v, lost %v bytes counted; want lines 85-91 and lines 72-84 (%d bytes) lost, or 90-91 and 72-89 (%d) lost",
		got, lost, len(lines(72, 85)), len(lines(72, 90)))
}

// TestHeldEmptyCopyAgentStopped: the agent stops while the copy it left
// to the file is empty; copytruncate writes it and truncates the file
// while no agent runs, and the file is written on. The next agent reads
// what the checkpoint had not: lines 72-86, once.
func TestHeldEmptyCopyAgentStopped(t *testing.T) {
	tl, _, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	restartWant(t, tl.cfg, 72, 87)
}

// TestHeldEmptyCopyThenRotatedByRename: logrotate's copy of the file the
// start resumed is empty at the look (left to the file), and the agent
// stops. While no agent runs, the copy is written with the file's bytes
// (lines 57-84), kubelet rotates the file by renaming it, and the runtime
// makes the next one (85-86). The next agent resumes the renamed file
// at the checkpoint's offset and reads the next one from 0: the copy
// holds nothing else, and is not read.
func TestHeldEmptyCopyThenRotatedByRename(t *testing.T) {
	tl, _, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	fillCopy(t, path, cp)
	mustRename(t, path, path+".20261206-000007")
	appendFile(t, path, lines(85, 87))
	restartWant(t, tl.cfg, 72, 87)
}

// TestCopyOfResumedFileRenamedWhileStopped: while no agent runs,
// logrotate copies the file the checkpoint read to line 71 (copy: lines
// 57-84, not truncated), and kubelet rotates the file by renaming it after
// the copy's name; the runtime makes the next file (85-86). The next
// agent resumes the renamed file at the checkpoint's offset: the copy
// holds nothing it does not, and is not read (it was read from 0: lines
// 57-84 came twice). A copytruncate's copy, the renamed file empty, is
// read on from the checkpoint's offset.
func TestCopyOfResumedFileRenamedWhileStopped(t *testing.T) {
	for _, c := range []struct {
		name      string
		gz, trunc bool
	}{{"plain", false, false}, {"compressed", true, false}, {"copytruncated", false, true}} {
		gz := c.gz
		t.Run(c.name, func(t *testing.T) {
			tl, _, path, cp := copyEmptyAtStart(t, madeSince, func(string, string) {})
			tl.lastLook(time.Now())
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			if c.trunc {
				// Not a copy the renamed file holds: read from the
				// checkpoint's offset, as the file's copytruncate.
				hostile51CopyTo(t, path, cp)
			} else {
				copyOnly(t, path, cp)
			}
			if gz {
				mustGzip(t, cp)
			}
			mustRename(t, path, path+".20261206-000007")
			appendFile(t, path, lines(85, 87))
			restartWant(t, tl.cfg, 72, 87)
		})
	}
}

// copyOnly copies the file at path to cp (logrotate's copy).
func copyOnly(t *testing.T, path, cp string) {
	t.Helper()
	emptyCopy(t, cp)
	fillCopy(t, path, cp)
}

// TestHeldEmptyCopyOfReadGenerationThenTruncatedInPlace: the copy the
// start left to the file while empty is written with the file's bytes
// (logrotate's copy, not truncated: lines 57-84), the file is written on
// (85-86) and read, and then truncated in place, nothing copied (87
// written after). The copy is shorter than what was read of the file:
// not the truncation's copy, and not a later generation either; every
// line it holds was read through the file. Read whole as a later
// generation, lines 57-84 came twice.
func TestHeldEmptyCopyOfReadGenerationThenTruncatedInPlace(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	fillCopy(t, path, cp)
	appendFile(t, path, lines(85, 87))
	readAllWant(t, tl, f, upto(72, 87))
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(87, 88))
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(72, 88))
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
}

// TestHeldEmptyCopytruncateRaced: logrotate's copytruncate copies the file
// into the copy the start left to it while empty (lines 57-84); the
// application writes 85-86 before the truncation, and the tailer reads
// them (logrotate's copytruncate loses them: the copy does not hold them);
// then the truncation. The copy is shorter than what was read, all of it
// read through the file: not read again, plain or compressed at once.
func TestHeldEmptyCopytruncateRaced(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "compressed"
		}
		t.Run(name, func(t *testing.T) {
			tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
			fillCopy(t, path, cp)
			appendFile(t, path, lines(85, 87))
			readAllWant(t, tl, f, upto(72, 87))
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			if gz {
				mustGzip(t, cp)
			}
			appendFile(t, path, lines(87, 88))
			readAll(t, tl, f) // to the truncation
			readAllWant(t, tl, f, upto(72, 88))
			if lost := lostTruncatedOf(tl); lost != 0 {
				t.Errorf("lost %v bytes counted, want none", lost)
			}
		})
	}
}

// TestHeldEmptyCopytruncatedCompressedAtOnce: logrotate's copytruncate
// with compress (no delaycompress) fills the copy the start left to the
// file while empty, truncates the file and gzips the copy, all before the
// tailer looks at the file again. The truncation finds the copy by its
// .gz and reads it on from the file's offset: lines 72-84 once, then the
// new generation.
func TestHeldEmptyCopytruncatedCompressedAtOnce(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, cp)
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(72, 87))
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
}

// TestHeldEmptyCopyFilledAfterTruncationHandled: the copy the start left
// to the file while empty is still empty when the file's truncation in
// place (lines 72-84 lost) is handled; the new generation (85-86) is read;
// copytruncate then fills the copy with it and truncates the file (87
// written after). The copy is the second truncation's: nothing of it is
// read again, nothing more is counted lost.
func TestHeldEmptyCopyFilledAfterTruncationHandled(t *testing.T) {
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 87))
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(85, 87))
	fillCopy(t, path, cp)
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

// TestHeldEmptyCopyTruncatedAfterLastLook: the agent stops while the copy
// it left to the file is empty; the file is truncated in place after the
// stop's last look (lines 72-84 lost) and written (85-89); while no agent
// runs, copytruncate fills the copy with them and truncates the file, and
// 90-91 are written. The next agent reads 85-91 once.
func TestHeldEmptyCopyTruncatedAfterLastLook(t *testing.T) {
	tl, _, path, cp := copyEmptyAtStart(t, madeSince, func(_, cp string) { emptyCopy(t, cp) })
	tl.lastLook(time.Now())
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(85, 90))
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	fillCopy(t, path, cp)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(90, 92))
	restartWant(t, tl.cfg, 85, 92)
}

// TestHeldEmptyCopyInStartTick: the empty copy is made in the tick of the
// file system's clock the start resumed the file in (hostile63StartTick:
// a file born then, taken by the start's listing, marks the tick), after
// the listing. It is left to the file all the same: copytruncate fills it
// (lines 0-4, all read before the stop) and truncates the file; 5-6 come
// once.
func TestHeldEmptyCopyInStartTick(t *testing.T) {
	tl, cur, path := hostile63StartTick(t, func(path string) string {
		mark := path + ".mark"
		emptyCopy(t, mark)
		emptyCopy(t, path+".20261206-000002")
		return mark
	})
	fillCopy(t, path, path+".20261206-000002")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 7))
	readAll(t, tl, cur) // to the truncation
	readAllWant(t, tl, cur, upto(5, 7))
}

// TestTwoHeldEmptyCopiesOfLaterGenerations: while the start looks, the
// file is truncated in place (lines 72-84 lost) and written (85-86), and
// two empty copies are made; then copytruncate fills the first with
// 85-86 and truncates the file, 87-88 are written, copytruncate fills the
// second with them and truncates the file, 89 is written. The file's
// truncation finds no copy of what it read: both copies are read, in
// order, before the file.
func TestTwoHeldEmptyCopiesOfLaterGenerations(t *testing.T) {
	cp2 := ""
	tl, f, path, cp := copyEmptyAtStart(t, madeSince, func(path, cp string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(85, 87))
		emptyCopy(t, cp)
		cp2 = path + ".20261206-000007"
		emptyCopy(t, cp2)
	})
	for _, c := range []struct {
		cp       string
		from, to int
	}{{cp, 87, 89}, {cp2, 89, 90}} {
		fillCopy(t, path, c.cp)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(c.from, c.to))
	}
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(85, 90))
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
}

// TestCopyThenRenamedWhileRunning: while the agent runs, logrotate copies
// the file it follows (copy, not truncated: lines 0-4), and kubelet then
// rotates the file by renaming it after the copy's name; the runtime makes
// the next file (5-6). The copy holds nothing the file did not: every line
// comes once, and again once across a stop and a start.
func TestCopyThenRenamedWhileRunning(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the file's lines", func() bool { return hasSeq(r, 4) })
	copyOnly(t, path, path+".20261206-000001")
	waitLooked(t, r)
	mustRename(t, path, path+".20261206-000002")
	appendFile(t, path, lines(5, 7))
	waitFor(t, 5*time.Second, "the next file's lines", func() bool { return hasSeq(r, 6) })
	waitLooked(t, r)
	// Acknowledged before the stop: a line not acknowledged comes again.
	waitFor(t, 5*time.Second, "every line acknowledged", func() bool { return testutil.ToFloat64(r.tl.m.inflight) == 0 })
	r.stop()
	if err := r.tl.Close(); err != nil { // the final checkpoint
		t.Fatal(err)
	}
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 7)) {
		t.Errorf("lines %v, want %v", got, upto(0, 7))
	}
	appendFile(t, path, lines(7, 8))
	restartWant(t, cfg, 7, 8)
}

// TestHeldEmptyCopyThenAnotherRotation: logrotate's numbered names. While
// the start looks, the file is truncated in place (lines 72-84 lost) and
// written (85-86), and copytruncate's copy 0.log.1 is made, empty. Then,
// before the tailer looks at the file again: the copy is filled (85-86),
// the file truncated and written (87-88); the next rotation moves 0.log.1
// to 0.log.2 and copytruncates the file into a new 0.log.1 (87-88), 89
// written. Every line after 84 comes once, in order.
func TestHeldEmptyCopyThenAnotherRotation(t *testing.T) {
	tl, f, path, _ := copyEmptyAtStart(t, madeSince, func(path, _ string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(85, 87))
		emptyCopy(t, path+".1")
	})
	fillCopy(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(87, 89))
	mustRename(t, path+".1", path+".2")
	copyOnly(t, path, path+".1")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(89, 90))
	readAll(t, tl, f) // to the truncation
	readAllWant(t, tl, f, upto(85, 90))
	if lost := lostTruncatedOf(tl); lost != float64(len(lines(72, 85))) {
		t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
	}
}
