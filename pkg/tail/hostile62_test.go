package tail

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostile62Reborn removes path and creates it again with data until the
// new file has the identity key (the file system gave it the inode of a
// file deleted, as ext4 does at once) and a birth time after since; it
// skips the test when the file system does not reuse the inode.
func hostile62Reborn(t *testing.T, path, data string, key fileKey, since time.Time) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		k, err := statKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if k != key {
			t.Skip("the file system did not give the new file the inode of the one deleted")
		}
		if b, ok := born(path); !ok {
			t.Skip("no birth times on this file system")
		} else if b.After(since) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock did not move")
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestParkedFileInodeReusedAtItsPath: a file nothing was read of is
// parked for a waiting file; while parked it is written, rotated by
// kubelet and compressed (its inode freed), and the runtime's new file
// at the path gets its inode. When its turn comes, the file at the path
// is not the parked one (it was born after it): the parked file's lines
// (in the .gz) are read or counted lost, and the new file's are read
// once. Taken for the parked file, the new file was read in its place
// and the parked file's lines were lost uncounted.
func TestParkedFileInodeReusedAtItsPath(t *testing.T) {
	tl, path, f := followNew(t)
	was, ok := bornOf(f.f)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	readThenPark(t, tl, f)
	appendFile(t, path, lines(0, 5)) // written while parked
	rotated := path + ".20261206-000001"
	mustRename(t, path, rotated)
	mustGzip(t, rotated) // its inode is free
	hostile62Reborn(t, path, lines(5, 10), f.key, was)
	if !tl.admitUpTo(100, time.Now()) {
		t.Fatal("the waiting file was not opened")
	}
	for range 10 {
		for _, g := range slices.Clone(tl.order) {
			if g.st != stClosed && g.f != nil {
				tl.readFile(g, time.Now())
			}
		}
	}
	got := emitted(tl)
	lost := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostWaiting))
	switch {
	case slices.Equal(got, upto(0, 10)):
	case slices.Equal(got, upto(5, 10)) && lost > 0:
	default:
		t.Errorf("lines %v, want %v (or %v with the parked file counted lost; %v counted)", got, upto(0, 10), upto(5, 10), lost)
	}
}

// TestCopyNoticeTakenAfterRotation: a file nothing was read of is
// written, copytruncated (logrotate, numbered) and written again, then
// renamed by kubelet, and the runtime's new file takes the path, before
// the tailer looked: the copy's creation is taken once the rotation was
// seen. The copy holds the file's first lines: read before the rest of
// the file, then the new file's.
//
// copiesUnnoted does not list while the path names another file (a
// sibling born since the file's start may then be a later file of the path
// renamed in turn), but the notice tells: taken before the notice of the
// file's own rename, the copy was made while the file was at its path
// (copy.go copyOfAway; TestLaterFileNoticeAfterRenameNotice).
func TestCopyNoticeTakenAfterRotation(t *testing.T) {
	for _, found := range []bool{false, true} {
		t.Run(map[bool]string{false: "next file found after the notice", true: "next file found before the notice"}[found], func(t *testing.T) {
			copyNoticeTakenAfterRotation(t, found)
		})
	}
}

func copyNoticeTakenAfterRotation(t *testing.T, found bool) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	cp := path + ".1"
	hostile51CopyTo(t, path, cp)
	appendFile(t, path, lines(5, 7))
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, lines(7, 9))
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	if found {
		tl.discover(path, time.Now(), false)
	}
	tl.copyCreated(cp)
	tl.discover(path, time.Now(), false)
	g := tl.byPath[path]
	if g == nil || g == f {
		t.Fatal("the new file not followed")
	}
	for range 20 {
		for _, h := range slices.Clone(tl.order) {
			if h.st != stClosed && h.f != nil && (h.pred == nil || h.pred.st == stClosed) {
				tl.readFile(h, time.Now())
			}
		}
		if f.st == stRotated {
			f.succAt = time.Now().Add(-time.Hour) // final: the new file is there
		}
	}
	if got := emitted(tl); !slices.Equal(got, upto(0, 9)) {
		t.Errorf("lines %v, want %v (bytes counted lost: %v)", got, upto(0, 9), testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)))
	}
}

// hostile62ReadTurns reads every open follower whose predecessor is
// closed, as turns would, n times; a rotated file is final at once (the
// new file at its path is there).
func hostile62ReadTurns(tl *Tailer, n int) {
	for range n {
		for _, h := range slices.Clone(tl.order) {
			if h.st == stRotated {
				h.succAt = time.Now().Add(-time.Hour)
			}
			if h.st != stClosed && h.f != nil && (h.pred == nil || h.pred.st == stClosed) {
				tl.readFile(h, time.Now())
			}
		}
	}
}

// TestCopyOfUndoneFileThenRotated: the copy of a file nothing was read
// of, made while a rotation of it was undone, is taken from the listing
// the undoing makes and read before the file. Then kubelet rotates the
// file (the runtime reopens) and the new file is found: the copy, a
// rotated sibling of the path by its name, is not read again, and every
// line comes once, in order.
func TestCopyOfUndoneFileThenRotated(t *testing.T) {
	for _, cpName := range []string{".20261206-000002", ".1", "-20261206"} {
		t.Run(cpName, func(t *testing.T) {
			tl, path, f := followNew(t)
			away := path + ".20261206-000001"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			mustRename(t, away, path) // undone
			appendFile(t, path, lines(0, 10))
			hostile51CopyTo(t, path, path+cpName)
			appendFile(t, path, lines(10, 12))
			tl.check(f, time.Now())
			if f.st != stFollowing {
				t.Fatalf("the undone rotation not seen: state %v", f.st)
			}
			readAll(t, tl, f)
			mustRename(t, path, path+".20261206-000003")
			appendFile(t, path, lines(12, 14))
			tl.check(f, time.Now())
			tl.discover(path, time.Now(), false)
			hostile62ReadTurns(tl, 10)
			if got := emitted(tl); !slices.Equal(got, upto(0, 14)) {
				t.Errorf("lines %v, want %v", got, upto(0, 14))
			}
		})
	}
}

// TestCopyOfUndoneFileAcrossStop: a file nothing was read of is rotated
// (seen), renamed back, written, copytruncated and written again; the
// agent stops before its read, with the file at its path, or renamed away
// again for a moment (kubelet's next attempt, undone after the stop). The
// next agent reads the copy's lines, then the file's, each once.
func TestCopyOfUndoneFileAcrossStop(t *testing.T) {
	for _, awayAtStop := range []bool{false, true} {
		t.Run(strconv.FormatBool(awayAtStop), func(t *testing.T) {
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
			appendFile(t, path, lines(8, 10))
			if awayAtStop {
				mustRename(t, path, away)
			}
			tl.lastLook(time.Now())
			if err := tl.commit(true); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			if awayAtStop {
				mustRename(t, away, path)
			}
			restartWant(t, cfg, 0, 10)
		})
	}
}

// TestCopyOfUndoneFileRotatedBeforeRead: TestCopyOfUndoneFileThenRotated
// with kubelet's rotation (the runtime reopens) and the new file found
// before the file's read that the undoing's listing asked for: the copy
// is still read before the file, the new file after both.
func TestCopyOfUndoneFileRotatedBeforeRead(t *testing.T) {
	for _, cpName := range []string{".20261206-000002", ".1", "-20261206"} {
		t.Run(cpName, func(t *testing.T) {
			tl, path, f := followNew(t)
			away := path + ".20261206-000001"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			mustRename(t, away, path) // undone
			appendFile(t, path, lines(0, 10))
			hostile51CopyTo(t, path, path+cpName)
			appendFile(t, path, lines(10, 12))
			tl.check(f, time.Now())
			if f.st != stFollowing || len(f.copied) == 0 {
				t.Fatalf("the undone rotation not seen, or no copy listed: state %v, copies %v", f.st, f.copied)
			}
			mustRename(t, path, path+".20261206-000003")
			appendFile(t, path, lines(12, 14))
			tl.check(f, time.Now())
			tl.discover(path, time.Now(), false)
			hostile62ReadTurns(tl, 10)
			if got := emitted(tl); !slices.Equal(got, upto(0, 14)) {
				t.Errorf("lines %v, want %v", got, upto(0, 14))
			}
		})
	}
}

// TestLaterFileRenamedWhileRotationUndone: a file written and not read
// yet is renamed away (seen), a new file takes its path, is written and
// renamed away in turn before the tailer found it, and the first file is
// renamed back and written on. The later file is not a copy of the first:
// its lines come after the first file's lines written before it. The
// undoing's listing (follower.go undone, or copiesUnnoted's at the first
// read) takes every plain sibling born since the file's generation
// started for a copy, and reads it first: its lines come before the
// first file's.
//
// Open: kubelet does not do this (it renames back only the file it just
// renamed, before the runtime made a new one), and nothing known tells
// such a file from a copy made while nothing of the file was read (its
// first bytes were taken after the copy, or never).
func TestLaterFileRenamedWhileRotationUndone(t *testing.T) {
	knownOpen(t, "a later file of the path, renamed away before it was found while the file it followed was away and renamed back, is read as that file's copy, before it: lines out of order")
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 3))
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	bornLater(t, path, away, lines(3, 6)) // never found
	mustRename(t, path, path+".20261206-000002")
	mustRename(t, away, path)
	appendFile(t, path, lines(6, 9))
	tl.check(f, time.Now())
	hostile62ReadTurns(tl, 10)
	got := emitted(tl)
	wantOnce(t, got, upto(0, 9))
	if i, j := slices.Index(got, 2), slices.Index(got, 3); i < 0 || j < 0 || j < i {
		t.Errorf("lines %v: the later file's (3-5) before the first file's written before it (0-2)", got)
	}
}
