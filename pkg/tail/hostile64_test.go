package tail

import (
	"slices"
	"testing"
	"time"
)

// hostile64Turns reads every follower not closed, a few rounds, as turns
// would (a follower waits while its predecessor is open, fair.go), and
// returns the lines emitted.
func hostile64Turns(t *testing.T, tl *Tailer) []int {
	t.Helper()
	return hostile64TurnsFor(t, tl, 20)
}

// hostile64TurnsFor is hostile64Turns with n rounds: from the 11th on,
// past rotatedLinger.
func hostile64TurnsFor(t *testing.T, tl *Tailer, n int) []int {
	t.Helper()
	for i := range n {
		now := time.Now()
		if i >= 10 {
			now = now.Add(2 * rotatedLinger) // rotated files read to their ends close
		}
		for _, f := range slices.Clone(tl.order) {
			if f.st != stClosed && (f.pred == nil || f.pred.st == stClosed) {
				tl.readFile(f, now)
			}
		}
	}
	return emitted(tl)
}

func hostile64Want(t *testing.T, got, want []int) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v once each, in order", got, want)
	}
}

// TestHostile64TwoRotationsBeforeRead: kubelet rotates 0.log (the check
// sees it), the runtime writes on to the renamed file, reopens, writes the
// next 0.log, and kubelet rotates that one too before the tailer read
// anything of the first; the runtime has not reopened yet, so nothing is
// at the path. The second rotated file is a later file of the path, not a
// copy of the first: its lines come after the first's, once each.
//
// Also with nothing written before the rename (the first file's lines all
// written to it renamed), and with the reopen in the file system clock's
// tick of the last write to the first file. (Listing the siblings born
// since the first file's start as its copies, before its first read with
// nothing at its path, read the later file first and again.)
func TestHostile64TwoRotationsBeforeRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		before   bool // lines written before the rename
		sameTick bool
	}{
		{"written before and after", true, false},
		{"written after only", false, false},
		{"reopen in the tick of the last write", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			twoRotationsBeforeRead(t, tc.before, tc.sameTick)
		})
	}
}

func twoRotationsBeforeRead(t *testing.T, before, sameTick bool) {
	tl, path, f := followNew(t)
	first := 0
	if before {
		appendFile(t, path, lines(0, 5))
		first = 5
	}
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	appendFile(t, r1, lines(first, 8)) // the runtime writes on before it reopens
	if !sameTick {
		afterTick(t, time.Now()) // the reopen comes a moment after the last write
	}
	appendFile(t, path, lines(8, 12))
	r2 := path + ".20261207-000002"
	mustRename(t, path, r2) // rotated again, not seen
	tl.readFile(f, time.Now())
	hostile64Turns(t, tl)
	tl.rescan(time.Now(), false)
	hostile64Turns(t, tl)
	appendFile(t, path, lines(12, 14)) // the runtime reopens at last
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 14))
}

// TestHostile64LaterFileSeenThenRotated: as above, but the tailer saw and
// followed the second 0.log (and read it) before kubelet rotated it in
// turn; the first file is still unread. Read as a copy of the first, its
// lines came twice and before the first's.
func TestHostile64LaterFileSeenThenRotated(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	tl.check(f, time.Now())
	appendFile(t, r1, lines(5, 8))
	appendFile(t, path, lines(8, 12))
	tl.rescan(time.Now(), false)
	g := tl.byPath[path]
	if g == nil || g == f {
		t.Fatalf("the second file not followed: %+v", g)
	}
	r2 := path + ".20261207-000002"
	mustRename(t, path, r2)
	tl.check(g, time.Now())
	hostile64Turns(t, tl)
	appendFile(t, path, lines(12, 14))
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 14))
}

// TestHostile64LaterFileRotatedFirstCompressed: TestHostile64TwoRotationsBeforeRead
// with kubelet compressing the first file (no longer the newest rotated
// one) as it rotates the second, before the tailer read anything of the
// first or saw it deleted: the first file's last change of status is its
// deletion, after the second file's birth. The second file is still not a
// copy of the first.
func TestHostile64LaterFileRotatedFirstCompressed(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	appendFile(t, r1, lines(5, 8))
	afterTick(t, time.Now())
	appendFile(t, path, lines(8, 12))
	afterTick(t, time.Now())
	mustRename(t, path, path+".20261207-000002")
	mustGzip(t, r1) // the first file deleted, its descriptor still read
	tl.readFile(f, time.Now())
	hostile64Turns(t, tl)
	tl.rescan(time.Now(), false)
	appendFile(t, path, lines(12, 14)) // the runtime reopens at last
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 14))
}

// TestHostile64NumberedRotationsBeforeRead: logrotate's numbered names
// (rename, no copytruncate): 0.log is renamed 0.log.1 (the rotation seen),
// written there, the runtime reopens, and before the first file is read
// the next 0.log is rotated too: 0.log.1 (the first file) moves to
// 0.log.2, the second file becomes 0.log.1. A rename changes the first
// file's status, not its last write: the second file is not its copy.
func TestHostile64NumberedRotationsBeforeRead(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	mustRename(t, path, path+".1")
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	appendFile(t, path+".1", lines(5, 8))
	afterTick(t, time.Now())
	appendFile(t, path, lines(8, 12))
	afterTick(t, time.Now())
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	tl.readFile(f, time.Now())
	hostile64Turns(t, tl)
	tl.rescan(time.Now(), false)
	appendFile(t, path, lines(12, 14))
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 14))
}

// TestHostile64LateWriteToRenamedFile: TestHostile64TwoRotationsBeforeRead
// with a write in progress on the runtime's old descriptor landing after
// the reopen made the next file (the race rotatedFinal waits
// read_interval for). The first file's last write is then after the
// second file's birth: that second file is not read as the first one's
// copy.
func TestHostile64LateWriteToRenamedFile(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	tl.check(f, time.Now())
	appendFile(t, r1, lines(5, 7))
	afterTick(t, time.Now())
	appendFile(t, path, lines(8, 12))
	afterTick(t, time.Now())
	appendFile(t, r1, lines(7, 8)) // the late write
	mustRename(t, path, path+".20261207-000002")
	tl.readFile(f, time.Now())
	hostile64Turns(t, tl)
	tl.rescan(time.Now(), false)
	appendFile(t, path, lines(12, 14))
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 14))
}

// TestHostile64LaterFileRenamedAwayAtStopWrittenOn: TestLaterFileRenamedAwayAtStop
// with the runtime writing on to the renamed file before it reopens (and
// the first file compressed by kubelet after the stop, or not). The next
// agent reads every line once, in order.
func TestHostile64LaterFileRenamedAwayAtStopWrittenOn(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "compressed after the stop"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := testConfig(dir, state)
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, f := followEmpty(t, cfg, path)
			appendFile(t, path, lines(0, 5))
			away := path + ".20261206-000001"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			if f.st != stRotated || f.off != 0 {
				t.Fatalf("the rotation not seen, or read: state %v, offset %d", f.st, f.off)
			}
			appendFile(t, away, lines(5, 8))
			bornLater(t, path, away, lines(8, 12)) // never found
			afterTick(t, time.Now())
			mustRename(t, path, path+".20261206-000002")
			tl.lastLook(time.Now())
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			if gz {
				mustGzip(t, away)
			}
			restartWant(t, cfg, 0, 12)
		})
	}
}

// TestHostile64CopyThenLaterFileBeforeRead: TestCopyMadeWhileRotationUndoneReadAway
// with the runtime reopening at last (kubelet's normal flow, not the
// rename back), after the read or before it with kubelet rotating that
// next file too: the copy is the first file's (read before it), the later
// files are not (read after it), each once.
//
// Open, as TestCopyMadeWhileRotationUndoneReadAway: the copy, named after
// the first file, is read as a file rotated after it when the new file at
// the path is found: its lines after the first file's.
func TestHostile64CopyThenLaterFileBeforeRead(t *testing.T) {
	knownOpen(t, "the copytruncate's copy of a file nothing was read of, made before the file was renamed away (a rotation undone before), is read after the file when the runtime's next file is found: its lines out of order")
	for _, later := range []bool{false, true} {
		t.Run(map[bool]string{false: "the next file at the path after the read", true: "the next file rotated before the read"}[later], func(t *testing.T) {
			copyThenLaterFile(t, later, false)
		})
	}
	t.Run("the runtime reopens after rotatedLinger", func(t *testing.T) {
		copyThenLaterFile(t, false, true)
	})
}

func copyThenLaterFile(t *testing.T, later, lingered bool) {
	tl, path, f := followNew(t)
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	mustRename(t, away, path) // undone
	appendFile(t, path, lines(0, 10))
	hostile51CopyTo(t, path, path+".20261206-000002")
	mustRename(t, path, away) // away again
	appendFile(t, away, lines(10, 12))
	if later {
		afterTick(t, time.Now())
		appendFile(t, path, lines(12, 15)) // the runtime reopens
		afterTick(t, time.Now())
		mustRename(t, path, path+".20261206-000003")
	}
	tl.readFile(f, time.Now())
	if lingered {
		hostile64Turns(t, tl) // the rotated file closed: no new file within rotatedLinger
	} else {
		hostile64TurnsFor(t, tl, 10) // the runtime reopens within rotatedLinger
	}
	tl.rescan(time.Now(), false)
	if later {
		appendFile(t, path, lines(15, 16))
	} else {
		appendFile(t, path, lines(12, 16))
	}
	tl.rescan(time.Now(), false)
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	hostile64Want(t, hostile64Turns(t, tl), upto(0, 16))
}

// TestHostile64CopyOfAwayFileAcrossStopThenReopen: TestCopyOfUndoneFileAcrossStop
// with the file away at the stop and the runtime reopening after it (a new
// file at the path, not the rename back): the next agent reads the copy,
// the file and the new file, each once, in order.
func TestHostile64CopyOfAwayFileAcrossStopThenReopen(t *testing.T) {
	knownOpen(t, "a copy noted at the stop for a file away from its path is read after that file by the next agent when the runtime reopens (a new file at the path, not the rename back): its lines out of order")
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	mustRename(t, away, path) // undone
	appendFile(t, path, lines(0, 8))
	hostile51CopyTo(t, path, path+".20261206-000002")
	mustRename(t, path, away) // away again
	appendFile(t, away, lines(8, 10))
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	afterTick(t, time.Now())
	appendFile(t, path, lines(10, 12)) // the runtime reopens
	restartWant(t, cfg, 0, 12)
}

// TestHostile64CopyCompressedBeforeReadAway: TestCopyMadeWhileRotationUndoneReadAway
// with the copy compressed (kubelet gzips every rotated file but the
// newest) before the file's first read: the copy's lines are read once,
// before the file's.
func TestHostile64CopyCompressedBeforeReadAway(t *testing.T) {
	knownOpen(t, "a copy compressed before the first read of a file renamed away from its path (nothing there) is never read: its lines are lost uncounted")
	tl, path, f := followNew(t)
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	mustRename(t, away, path) // undone
	appendFile(t, path, lines(0, 10))
	cp := path + ".20261206-000002"
	hostile51CopyTo(t, path, cp)
	mustRename(t, path, away) // away again
	appendFile(t, away, lines(10, 12))
	mustGzip(t, cp)
	tl.readFile(f, time.Now())
	mustRename(t, away, path) // undone again
	tl.check(f, time.Now())
	readAllWant(t, tl, f, upto(0, 12))
}
