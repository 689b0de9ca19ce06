package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// copyEmptyAtStart starts a tailer on a checkpoint that read 0.log to its
// line 71 (lines 72-84 written since, not read), with a finished rotated
// file before it, compressed. Between the start's scan (0.log resumed at
// its offset) and its look at the rotated files, between runs; its
// copy, if any, is an empty file with a rotated name made then: a copy
// copytruncate or logrotate's copy has created and not written yet.
// It returns the tailer, 0.log's follower and its path, the look done.
//
// when says when the copy was created, as 0.log's generation start
// (genStart) sees it: since; in the tick of the file system's clock that
// start read, and listed by it as a file from before (created as the file
// was opened); or in a tick before (created just before the file was
// opened, written after).
func copyEmptyAtStart(t *testing.T, when copyMade, between func(path, cp string)) (*Tailer, *follower, string, string) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old := lines(37, 57)
	r4 := path + ".20261206-000004"
	appendFile(t, r4, old)
	read := lines(57, 72)
	appendFile(t, path, read)
	entries := []stateEntry{dataEntry(t, path, r4, old, true), dataEntry(t, path, path, read, false)}
	mustGzip(t, r4)
	appendFile(t, path, lines(72, 85))
	if err := writeState(state, entries); err != nil {
		t.Fatal(err)
	}
	tl, saved, now := startSteps(t, dir, state)
	f := tl.byPath[path]
	if f == nil || f.off != int64(len(read)) {
		t.Fatalf("the file at the path not resumed at its offset: %+v", f)
	}
	cp := path + ".20261206-000006"
	between(path, cp)
	switch when {
	case madeInTick, madeBefore:
		b, ok := born(cp)
		if !ok {
			t.Skip("no birth times on this file system")
		}
		f.opened, f.tick = b, true
		f.took = append(f.took, birth{key: statKeyT(t, cp), at: b})
		if when == madeBefore {
			f.opened, f.took = b.Add(time.Millisecond), nil
		}
	}
	tl.resumeRotated(now, saved)
	return tl, f, path, cp
}

// emptyCopy makes the empty file cp.
func emptyCopy(t *testing.T, cp string) {
	t.Helper()
	if err := os.WriteFile(cp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fillCopy writes the bytes of the file at path into cp, which exists.
func fillCopy(t *testing.T, path, cp string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCopyEmptyAtStartLook: logrotate copies the file the start resumed
// (its copytruncate, or its copy) as the agent starts, and the start's
// look at the rotated files finds the copy created and not written yet.
// Opened apart from 0, it was read whole once written: the lines the
// checkpoint had read (57-71) came twice
// (TestHostile61MixedRotationsAcrossRestarts seed 8427). Every line the
// checkpoint had not read comes once, in order; a copy that holds a
// later generation by the time the file's truncation is found is read,
// and what no copy holds is counted lost.
func TestCopyEmptyAtStartLook(t *testing.T) {
	for _, when := range []copyMade{madeSince, madeInTick, madeBefore} {
		t.Run([]string{"made since", "made in the start's tick", "made a tick before"}[when], func(t *testing.T) { copyEmptyAtStartLook(t, when) })
	}
}

// copyMade is when a copy was created, as a file's generation start sees
// it (copyEmptyAtStart).
type copyMade int

const (
	madeSince copyMade = iota
	madeInTick
	madeBefore
)

func copyEmptyAtStartLook(t *testing.T, when copyMade) {
	t.Run("copytruncated", func(t *testing.T) {
		tl, f, path, cp := copyEmptyAtStart(t, when, func(_, cp string) { emptyCopy(t, cp) })
		fillCopy(t, path, cp)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, lines(85, 87))
		readAllWant(t, tl, f, upto(72, 87))
	})
	t.Run("copied, not truncated", func(t *testing.T) {
		tl, f, path, cp := copyEmptyAtStart(t, when, func(_, cp string) { emptyCopy(t, cp) })
		fillCopy(t, path, cp)
		appendFile(t, path, lines(85, 87))
		readAllWant(t, tl, f, upto(72, 87))
	})
	t.Run("copytruncated, then the agent stops", func(t *testing.T) {
		tl, _, path, cp := copyEmptyAtStart(t, when, func(_, cp string) { emptyCopy(t, cp) })
		fillCopy(t, path, cp)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		tl.lastLook(time.Now())
		if err := tl.commit(true); err != nil {
			t.Fatal(err)
		}
		tl.closeAll()
		appendFile(t, path, lines(85, 87))
		restartWant(t, tl.cfg, 72, 87)
	})
	t.Run("a later generation", func(t *testing.T) {
		// Truncated in place (nothing copied: lines 72-84 lost), written,
		// and then copytruncated, the copy empty at the look.
		tl, f, path, cp := copyEmptyAtStart(t, when, func(path, cp string) {
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
		readAll(t, tl, f) // to the truncation: its turn ends there
		readAllWant(t, tl, f, upto(85, 92))
		if lost := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); lost != float64(len(lines(72, 85))) {
			t.Errorf("lost %v bytes counted, want %d (lines 72-84)", lost, len(lines(72, 85)))
		}
	})
	if when == madeBefore {
		// A copytruncate before the copy would be before the file's
		// open too: the file was opened truncated, not as it is here.
		return
	}
	t.Run("stays empty", func(t *testing.T) {
		// A copy of the file made while it was empty (a second
		// copytruncate right after the first) stays empty.
		full := ""
		copies := func(path, cp string) {
			full = path + ".20261206-000005"
			hostile51CopyTo(t, path, full)
			emptyCopy(t, cp)
		}
		tl, f, path, _ := copyEmptyAtStart(t, when, copies)
		for try := 1; when == madeInTick; try++ {
			// Both copies born in the tick the file's open read. When
			// the file system's clock ticked between the two (about 1
			// run in 30 under -race), the full copy is born a tick
			// before that open: a copytruncate before the file was
			// opened, which found it full - a start no node makes
			// (the tick before is "made a tick before", which has no
			// such case). Made again.
			if b, ok := born(full); ok && b.Equal(f.opened) {
				break
			}
			tl.closeAll()
			if try == 20 {
				t.Skip("the two copies never born in one tick of the file system's clock")
			}
			tl, f, path, _ = copyEmptyAtStart(t, when, func(path, cp string) {
				full = path + ".20261206-000005"
				hostile51CopyTo(t, path, full)
				emptyCopy(t, cp)
			})
		}
		appendFile(t, path, lines(85, 87))
		readAllWant(t, tl, f, upto(72, 87))
		if got := emitted(tl); slices.Contains(got, 57) {
			t.Errorf("lines the checkpoint read came again: %v", got)
		}
	})
}
