package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCopytruncatedThenRenamedWhileStopped: while no agent runs, the
// checkpointed 0.log is copytruncated (the copy holds what was read), new
// lines go into the truncated file, and that file is renamed to a rotated
// name (a kubelet rotation, undone later: no 0.log for a while). The
// checkpoint's inode is then a rotated sibling that no longer starts as
// the entry's file did; its copy does. Nothing was lost: the copy stands
// for the entry (read from its offset: nothing again), the renamed file's
// new lines are read from 0 once, and no loss is counted (test/model seed
// 1500169 with -poll 100ms -more counted one).
func TestCopytruncatedThenRenamedWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	firstRun(t, cfg, path)
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(100, 120))
	mustRename(t, path, path+".20261206-000002")

	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the truncated file's lines", func() bool { return hasSeq(r, 119) })
	mustRename(t, path+".20261206-000002", path) // the rotation undone
	appendFile(t, path, lines(120, 121))         // the sentinel
	waitFor(t, 10*time.Second, "the sentinel", func() bool { return hasSeq(r, 120) })
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(100, 121)) {
		t.Errorf("lines after the restart %v, want %v once each", got, upto(100, 121))
	}
	if n := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted vanished, want 0: the copy holds what was read", n)
	}
}

// TestUndoneRotationsAcrossRestarts: a randomized sequence of writes,
// rotations in the order of this test's first version (the file renamed
// and the new one created first, then the older rotated files gzipped and
// the oldest deleted once read), rotations undone (0.log renamed to
// 0.log.<ts> and back, with or without a pause in between, the agent
// running or not) and graceful restarts, without copytruncate: the
// sequences of hostile61Mixed in that mode. Graceful restarts repeat
// nothing: every line is delivered exactly once (test/model seed 1230068
// with -poll 100ms -more: 72 lines twice after two undone rotations and a
// SIGTERM). A few sequences run by default; TAIL_UNDO=N runs N.
func TestUndoneRotationsAcrossRestarts(t *testing.T) {
	n := 4
	if s := os.Getenv("TAIL_UNDO"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("TAIL_UNDO: %v", err)
		}
	}
	for seed := range n {
		t.Run(strconv.Itoa(seed), func(t *testing.T) { hostile61Mixed(t, uint64(seed), mixUndone) })
	}
}

// TestRotatedAfterEmptyRefAnchorOnly: as TestRotatedAfterEmptyRef, in an
// agent that started after the older file was finished: no file closed
// since its start tells what is older than the followed one, which was
// rotated while empty and compressed (no name left, no first bytes). The
// path's anchor, the checkpoint's finished file found again at the start,
// does: the files after it are read, not it (it was read, compressed since,
// and read twice: TestUndoneRotationsAcrossRestarts, seed 9 under load).
func TestRotatedAfterEmptyRefAnchorOnly(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl := newIdleTailer(t, dir)
	b, c, d := path+".20261126-035508", path+".20261126-035509", path+".20261126-035510"
	anchorAt(t, tl, path, b, lines(0, 5))   // read and finished by the agent before
	ref, refKey := emptyRefCompressed(t, c) // the followed file, rotated while empty
	mustGzip(t, b)
	appendFile(t, d, lines(5, 10)) // rotated before the tailer looked
	got := rotatedAfterNames(tl, path, ref, refKey, nil)
	if !slices.Equal(got, []string{"0.log.20261126-035510"}) {
		t.Errorf("files read %v, want only 0.log.20261126-035510 (the anchor's .gz was read)", got)
	}
}

// TestRotatedAfterUndoneAndRotatedAgain: the path's last rotated file,
// closed at its end, is renamed back to the path (kubelet undid the
// rotation), written to, and rotated again before the tailer looked at the
// path. The path's next file is found: the lines written to the returned
// file meanwhile are read, from where reading stopped (they were never
// read: TestUndoneRotationsAcrossRestarts, seed 108 under load), plain or
// compressed since.
func TestRotatedAfterUndoneAndRotatedAgain(t *testing.T) {
	for _, tc := range []struct {
		name       string
		gz, closed bool // compressed since; closed empty (no first bytes)
	}{{"plain", false, false}, {"compressed", true, false}, {"closed empty", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			gz := tc.gz
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl := newIdleTailer(t, dir)
			b, c := path+".20261126-035508", path+".20261126-035509"
			first := lines(0, 5)
			if tc.closed {
				first = "" // closed empty (TestUndoneRotationsAcrossRestarts, seed 93 under load)
			}
			appendFile(t, b, first) // read to its end and closed as rotated
			ref, err := os.Stat(b)
			if err != nil {
				t.Fatal(err)
			}
			refKey, _ := keyOf(ref)
			off := int64(len(first))
			mustRename(t, b, path) // the rotation undone
			appendFile(t, path, lines(5, 8))
			mustRename(t, path, c) // and done again
			appendFile(t, path, "")
			if gz {
				mustGzip(t, c)
			}
			fs := tl.rotatedAfter(path, ref, refKey, []byte(first), true, off, time.Time{}, nil, nil, time.Now())
			if len(fs) != 1 || (fs[0].path != c && fs[0].path != c+".gz") || fs[0].off != off {
				var got []string
				for _, f := range fs {
					got = append(got, fmt.Sprintf("%s from %d", filepath.Base(f.path), f.off))
				}
				t.Fatalf("files read %v; want %s from %d (lines 5-7 were written to it after the close)", got, filepath.Base(c), off)
			}
		})
	}
}

// TestUndoneAtTheStartThenBack: the checkpoint's file, empty when it was
// written, is written to and renamed to a rotated name while no agent
// runs (a rotation kubelet undoes), the agent starts while it is away and
// reads it there to its end, and it is renamed back and written to. What
// was read is not read again, nor are the older rotated files before it
// (TestUndoneRotationsAcrossRestarts, seed 106 under load: every file of
// the path was read again).
func TestUndoneAtTheStartThenBack(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	appendFile(t, path, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })
	old := path + ".20261206-000001"
	mustRename(t, path, old)
	appendFile(t, path, "")
	waitFor(t, 10*time.Second, "the rotated file closed and the new one followed", func() bool {
		return testutil.ToFloat64(r.tl.m.openFiles) == 1 && testutil.ToFloat64(r.tl.m.rotations) == 1
	})
	mustGzip(t, old)
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	first := seqs(r.snapshot())

	appendFile(t, path, lines(10, 15))
	away := path + ".20261206-000002"
	mustRename(t, path, away)
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the lines written while stopped", func() bool { return hasSeq(r2, 14) })
	waitFor(t, 10*time.Second, "the file read away closed", func() bool { return testutil.ToFloat64(r2.tl.m.openFiles) == 0 })
	mustRename(t, away, path) // the rotation undone
	appendFile(t, path, lines(15, 20))
	waitFor(t, 10*time.Second, "the lines written after the undo", func() bool { return hasSeq(r2, 19) })
	r2.stop()
	got := append(first, seqs(r2.snapshot())...)
	wantOnce(t, got, upto(0, 20))
}

// TestUndoneFileWasTheEmptyAnchor: the checkpoint names the path's file
// only as the path's empty anchor (closed empty as rotated, while a
// rotation of it was undone, and taken back with nothing read before the
// stop), beside the anchor before it. While no agent runs it is written
// to and renamed away again; the agent starts and reads it where it is,
// and it is renamed back and written to. The anchor's entry, not resumed
// at the start (the file has lines now: taken for one that reuses the
// inode), is not taken for the file at the path: reading continues where
// it stopped, and nothing is read again, the anchor's file neither
// (TestUndoneRotationsAcrossRestarts, seed 106 under load).
func TestUndoneFileWasTheEmptyAnchor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	older := path + ".20261206-000000"
	appendFile(t, older, lines(100, 105)) // read to its end before
	appendFile(t, path, "")
	entry := func(p string, first []byte, done bool) stateEntry {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := keyOf(fi)
		return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: len(first), Fingerprint: fpHash(first), Path: path,
			Offset: int64(len(first)), AckedTo: int64(len(first)), Done: done}
	}
	if err := writeState(state, []stateEntry{entry(older, []byte(lines(100, 105)), true), entry(path, nil, true)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(0, 5))
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	readAwayThenUndone(t, cfg, path, away)
}

// readAwayThenUndone starts an agent while path's file, holding lines 0-4
// that no agent read, is renamed to away (a rotation kubelet undoes), waits
// until it read them there and closed the file, renames it back, writes
// lines 5-9, and checks that lines 0-9 arrived once each.
func readAwayThenUndone(t *testing.T, cfg Config, path, away string) {
	t.Helper()
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the lines of the file away", func() bool { return hasSeq(r, 4) })
	waitFor(t, 10*time.Second, "the file read away closed", func() bool { return testutil.ToFloat64(r.tl.m.openFiles) == 0 })
	mustRename(t, away, path) // the rotation undone
	appendFile(t, path, lines(5, 10))
	waitFor(t, 10*time.Second, "the lines written after the undo", func() bool { return hasSeq(r, 9) })
	r.stop()
	if got := seqsSorted(r); !slices.Equal(got, upto(0, 10)) {
		t.Errorf("lines %v, want %v once each", got, upto(0, 10))
	}
}

// TestFinishedGrewWhileStopped: the checkpoint names a file as finished
// (closed as rotated at its end: a rotation undone just before the stop,
// not seen undone yet). While no agent runs it is written to, at the path,
// and rotated again. The lines written to it since are read, from where
// it was finished, plain or compressed (TestUndoneRotationsAcrossRestarts,
// seed 57 under load: lost uncounted). Copytruncated instead of renamed,
// they are read from the copy (TestHostile61MixedRotationsAcrossRestarts,
// seed 8185: the copy was taken for the finished file not grown, its
// lines lost uncounted).
func TestFinishedGrewWhileStopped(t *testing.T) {
	for _, how := range []string{"plain", "compressed", "copytruncated"} {
		t.Run(how, func(t *testing.T) {
			gz := how == "compressed"
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, state)
			rot := finishedGrew(t, state, path, how)
			if gz {
				mustGzip(t, rot)
			}
			restartWant(t, cfg, 5, 9)
		})
	}
}

// TestCopytruncatedBetweenCheckAndRead: a read within a line (the last
// read ended inside it) looks for a rewrite, and before its data is read
// the file is copytruncated and written past the offset (logrotate on a
// busy container). The bytes at the offset are the new generation's: not
// shipped after the old line's start as one corrupt line. The copy is
// taken, the old line finished from it, and the new generation read from
// its start (test/model seed 1610238 with -poll 100ms -more: a corrupt
// record, and the copy, taken at an offset inside the new bytes, read
// again from 0).
func TestCopytruncatedBetweenCheckAndRead(t *testing.T) {
	tl, path, f := followNew(t)
	long := criLine("stdout", "F", "seq=3 "+strings.Repeat("y", 300))
	appendFile(t, path, lines(0, 3)+long[:100]) // the line's start written so far
	tl.readFile(f, time.Now())
	if len(f.carry) == 0 {
		t.Fatalf("nothing carried after the first read (off %d, consumed %d)", f.off, f.consumed)
	}
	appendFile(t, path, long[100:]+lines(4, 6))
	done := false
	tl.readHook = func(*follower) {
		if done {
			return
		}
		done = true
		hostile51CopyTo(t, path, path+".20261206-000001")
		appendFile(t, path, lines(100, 120))
	}
	readAll(t, tl, f)
	want := append(upto(0, 6), upto(100, 120)...)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	var bodies []string
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			bodies = append(bodies, string(l.Body))
		}
	}
	if !slices.Contains(bodies, "seq=3 "+strings.Repeat("y", 300)) {
		t.Errorf("the line read within was not shipped whole: %q", bodies)
	}
}
