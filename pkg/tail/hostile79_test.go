package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCopyMadeBeforeOpenTruncatedAfter: logrotate's copytruncate of a
// file the checkpoint read to line 4 (lines 5-7 written since) as the
// agent starts: the copy is made before the start opens the file (born
// before it), the file truncated after, before the start looks at the
// rotated files; the path has an anchor (a finished file, plain or
// compressed), so the siblings after it are looked at. The copy is read
// from the checkpoint's offset (lines 5-7), never 0-4 again, and nothing
// is counted lost; after a restart with nothing acknowledged, 5-8 once
// each (randomized seed 120278: lines read before the restart came
// twice).
func TestCopyMadeBeforeOpenTruncatedAfter(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain anchor", true: "compressed anchor"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			old := path + ".20261206-000014"
			appendFile(t, old, lines(100, 103))
			anchor := dataEntry(t, path, old, lines(100, 103), true)
			if gz {
				mustGzip(t, old)
			}
			read := lines(0, 5)
			appendFile(t, path, read)
			if err := writeState(state, []stateEntry{anchor, dataEntry(t, path, path, read, false)}); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(5, 8))
			cp := path + ".20261206-000020"
			if err := os.WriteFile(cp, []byte(read+lines(5, 8)), 0o644); err != nil {
				t.Fatal(err)
			}
			b, ok := born(cp)
			if !ok {
				t.Skip("no birth times on this file system")
			}
			tl := newIdleTailerIn(t, dir, state)
			now := time.Now()
			tl.loadState(now)
			var saved []stateEntry
			for _, es := range tl.resume {
				saved = append(saved, es...)
			}
			tl.rescan(now, true)
			f := tl.byPath[path]
			if f == nil || f.off != int64(len(read)) {
				t.Fatalf("the file not resumed at its offset: %+v", f)
			}
			// Made before the open, in an earlier tick of the file
			// system's clock.
			f.opened, f.tick, f.took = b.Add(time.Millisecond), true, nil
			mustTruncate(t, path)
			tl.resumeRotated(now, saved)
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, upto(5, 8)) {
				t.Errorf("lines %v, want %v", got, upto(5, 8))
			}
			if lost := lostTruncatedOf(tl) + testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted)); lost != 0 {
				t.Errorf("lost %v bytes counted, want none", lost)
			}
			stop77(t, tl)
			appendFile(t, path, lines(8, 9))
			restartWant(t, tl.cfg, 5, 9)
		})
	}
}

// onceThenRestart checks that the lines emitted are from..to-1, once each
// and in order, then stops the tailer (stop77), writes line to at path and
// checks that the next agent reads from..to (nothing acknowledged: what
// was emitted comes again, and nothing else).
func onceThenRestart(t *testing.T, tl *Tailer, path string, from, to int) {
	t.Helper()
	if got := emitted(tl); !slices.Equal(got, upto(from, to)) {
		t.Errorf("lines %v, want %v", got, upto(from, to))
	}
	stop77(t, tl)
	appendFile(t, path, lines(to, to+1))
	restartWant(t, tl.cfg, from, to+1)
}

// nextFileFound is a poll and a rescan that find the path's next file,
// read at once when nothing comes before it (readNextIfFree), then every
// file read, the rotated files' wait for the next one ended (lingerOver),
// and every file read again.
func nextFileFound(t *testing.T, tl *Tailer, path string) {
	t.Helper()
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	readNextIfFree(tl, path)
	readEvery77(t, tl)
	lingerOver(tl)
	readEvery77(t, tl)
}

// lingerOver ends the wait of every rotated or draining file for the
// path's next one (its successor found, and rotatedLinger passed, an hour
// ago): its next read is its last, as after rotatedLinger on a node.
func lingerOver(tl *Tailer) {
	for _, g := range tl.order {
		if g.st == stDraining || g.st == stRotated {
			g.succAt, g.since = time.Now().Add(-time.Hour), time.Now().Add(-time.Hour)
		}
	}
}

// readNextIfFree reads the file at path now when nothing open comes
// before it: on a node its turn may come before the rotated files'
// (readTurn), and a file that should wait for them must be seen waiting.
func readNextIfFree(tl *Tailer, path string) {
	if c := tl.byPath[path]; c != nil && (c.pred == nil || c.pred.st == stClosed) {
		tl.readFile(c, time.Now())
	}
}

// wantMerged checks that the lines emitted are want, in order, that line
// seq (a CRI line split across two files) came as whole, and that no
// partial line was counted cut.
func wantMerged(t *testing.T, tl *Tailer, want []int, seq int, whole string) {
	t.Helper()
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			if n, _ := seqOf(string(l.Body)); n == seq && string(l.Body) != whole {
				t.Errorf("line %d %q, want it whole", seq, l.Body)
			}
		}
	}
	if cut := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); cut != 0 {
		t.Errorf("%v partial lines cut, want none", cut)
	}
}

// startBetweenRenameAndCreate is an agent's start, step by step, while
// kubelet rotates: the checkpoint read 0.log to line 4; lines 5-7 were
// written since, the file rotated (.01), lines 8-9 written to the next
// one (tail: what it ends with) and that one renamed (.02), the runtime's
// next 0.log not created yet as the start scans. The start reads the
// rotated files; the next 0.log (head, then lines 10-11) is found by the
// next rescan. It returns the tailer and the path.
func startBetweenRenameAndCreate(t *testing.T, tail, head string) (*Tailer, string) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, lines(8, 10)+tail)
	mustRename(t, path, path+".20261206-000002")
	tl, saved, now := startSteps(t, dir, state)
	if tl.byPath[path] != nil {
		t.Fatal("a file at the path")
	}
	tl.resumeRotated(now, saved)
	appendFile(t, path, head+lines(10, 12))
	tl.rescan(time.Now(), false)
	c := tl.byPath[path]
	if c == nil {
		t.Fatal("the path's next file not found")
	}
	readNextIfFree(tl, path)
	readEvery77(t, tl)
	return tl, path
}

// TestStartBetweenRenameAndCreate: the start finds no file at the path
// (kubelet renamed 0.log and the runtime had not created the next) and
// reads the rotated files; the next 0.log, found after, is read after
// them: lines 5-11 once each, in order. Read beside them, its lines came
// first (TestRestartExactlyOnce under load: "got seq 489, want 304", the
// first line of the file at the path after the restart before the rest
// of the file the checkpoint was reading).
func TestStartBetweenRenameAndCreate(t *testing.T) {
	tl, path := startBetweenRenameAndCreate(t, "", "")
	onceThenRestart(t, tl, path, 5, 12)
}

// TestStartBetweenRenameAndCreatePartialLine: as
// TestStartBetweenRenameAndCreate, but the rotated file ends with the
// first fragment (P) of a CRI line whose last fragment (F) the runtime
// writes first in the next 0.log: the line comes once, whole, after 9 and
// before 10; nothing cut.
func TestStartBetweenRenameAndCreatePartialLine(t *testing.T) {
	tl, _ := startBetweenRenameAndCreate(t, criLine("stdout", "P", "seq=100 first half "), criLine("stdout", "F", "second half"))
	lingerOver(tl) // each rotated file's next read is its last
	readEvery77(t, tl)
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// TestTruncatedToLineBoundaryAboveZero: the file, read to line 39, is
// truncated in place to the end of line 29 (truncate -s; not what
// kubelet, the runtime or logrotate do: they truncate to 0), and lines
// 40-41 are written. Its first 30 lines are the bytes read before: only
// 40-41 are new. The truncation starts a new generation read from 0, so
// lines 0-29 come twice.
func TestTruncatedToLineBoundaryAboveZero(t *testing.T) {
	knownOpen(t, "a file truncated in place to a size above 0 (the bytes before it unchanged) is read again from 0: the lines before that size come twice")
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 40))
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	f := tl.byPath[path]
	readAll(t, tl, f)
	if err := os.Truncate(path, int64(len(lines(0, 30)))); err != nil {
		t.Fatal(err)
	}
	tl.poll(time.Now())
	appendFile(t, path, lines(40, 42))
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(0, 42)) {
		t.Errorf("lines %v, want %v", got, upto(0, 42))
	}
}
