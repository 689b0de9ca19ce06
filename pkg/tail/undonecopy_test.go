package tail

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestCopyOfUndoneFileCompressedThenRotatedAgain is test/model seed
// 1230002's order: an empty file nothing was read of is rotated (seen),
// renamed back (not seen), written, copytruncated with its copy compressed
// at once, and rotated again while empty; the runtime opens a new file at
// the path. The copy's lines come once, before the new file's.
//
// The file is empty when it is read again, so copiesUnnoted (which looks
// before the first read that takes something) never looks, and a notice
// taken late is dropped (copyCreated: the file is not followed at its
// path): copiesAway looks as the file is finished.
func TestCopyOfUndoneFileCompressedThenRotatedAgain(t *testing.T) {
	for _, notice := range []bool{false, true} {
		name := map[bool]string{false: "notice lost", true: "notice late"}[notice]
		t.Run(name, func(t *testing.T) {
			tl, path, f := followNew(t)
			away := path + ".20261204-000007"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			mustRename(t, away, path) // undone, not seen
			appendFile(t, path, lines(0, 8))
			cp := path + ".20261204-000008"
			hostile51CopyTo(t, path, cp)
			mustRename(t, path, path+".20261204-000009")
			mustGzip(t, cp)
			appendFile(t, path, lines(8, 10))
			if notice {
				tl.copyCreated(cp)
			}
			tl.check(f, time.Now())
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			if got := emitted(tl); !slices.Equal(got, upto(0, 10)) {
				t.Errorf("lines %v, want %v", got, upto(0, 10))
			}
		})
	}
}

// undoneCopyTurns reads every open follower whose predecessor is closed,
// compressed ones included, as turns would, 20 times; a rotated file is
// final at once (the new file at its path is there).
func undoneCopyTurns(tl *Tailer) {
	for range 20 {
		for _, h := range slices.Clone(tl.order) {
			if h.st == stRotated {
				h.succAt = time.Now().Add(-time.Hour)
			}
			if h.st != stClosed && (h.f != nil || h.gz != "") && (h.pred == nil || h.pred.st == stClosed) {
				tl.readFile(h, time.Now())
			}
		}
	}
}

// TestEmptyRotatedFileOlderSiblingsNotCopies: kubelet's orders around an
// empty file finished after its rotation (copiesAway looks then). Its older
// rotated files, one compressed since it was opened, are history, not
// copies; the path's next file, rotated too before the empty one was
// finished, is named after it and read after it. Each line once, in order.
func TestEmptyRotatedFileOlderSiblingsNotCopies(t *testing.T) {
	for _, nextRotated := range []bool{false, true} {
		t.Run(map[bool]string{false: "one rotation", true: "two rotations"}[nextRotated], func(t *testing.T) {
			dir := t.TempDir()
			tl := newIdleTailer(t, dir)
			tl.loadState(time.Now())
			path := mkContainer(t, dir, "ns_pod_uid")
			old := time.Now().Add(-time.Hour)
			for i, ts := range []string{".20261207-000001", ".20261207-000002"} {
				appendFile(t, path+ts, lines(100+10*i, 105+10*i))
				must(t, os.Chtimes(path+ts, old, old)) // history: written before any agent
			}
			f := followEmptyWith(t, tl, path)
			mustGzip(t, path+".20261207-000001") // compressed after the file was opened
			mustRename(t, path, path+".20261207-000003")
			appendFile(t, path, lines(0, 3))
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			if nextRotated {
				mustRename(t, path, path+".20261207-000004")
				appendFile(t, path, lines(3, 5))
			}
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			want := upto(0, 3)
			if nextRotated {
				want = upto(0, 5)
			}
			if got := emitted(tl); !slices.Equal(got, want) {
				t.Errorf("lines %v, want %v", got, want)
			}
		})
	}
}

// TestTakenCopiesCompressedNotCopiesAgain is TestCopytruncatesInARow's
// order (seed 1): a file copytruncated twice in a row, each copy taken by
// its notice and read; the copies compressed (kubelet compresses all but
// the newest rotated file); the file, empty, rotated. As the rotated file
// is finished with nothing of it read (copiesAway looks then), a copy's
// .gz is born after the last copy taken (the generation's start then),
// but it is the copy read already: each line once.
func TestTakenCopiesCompressedNotCopiesAgain(t *testing.T) {
	for _, both := range []bool{false, true} {
		t.Run(map[bool]string{false: "first compressed", true: "both compressed"}[both], func(t *testing.T) {
			tl, path, f := followNew(t)
			cp1, cp2 := path+".20261207-000001", path+".20261207-000002"
			appendFile(t, path, lines(0, 5))
			hostile51CopyTo(t, path, cp1)
			tl.copyCreated(cp1)
			undoneCopyTurns(tl)
			appendFile(t, path, lines(5, 8))
			hostile51CopyTo(t, path, cp2)
			tl.copyCreated(cp2)
			undoneCopyTurns(tl)
			if got := emitted(tl); !slices.Equal(got, upto(0, 8)) {
				t.Fatalf("the copies: lines %v", got)
			}
			mustGzip(t, cp1)
			if both {
				mustGzip(t, cp2)
			}
			mustRename(t, path, path+".20261207-000003")
			appendFile(t, path, lines(8, 10))
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 10)
		})
	}
}

// TestCopytruncateAsTruncationHandled is TestCopytruncatesInARow's order
// (seeds 0 and 3, under -race): a second copytruncate made while the
// first one's truncation is handled, after its copies were looked for
// (findCopy, laterCopies) and before the new generation started. Its copy
// is the new generation's: read once, before what the file holds after
// it (its creation noticed, or not: the file's first read lists the
// copies made since its generation started).
func TestCopytruncateAsTruncationHandled(t *testing.T) {
	for _, notice := range []bool{true, false} {
		t.Run(map[bool]string{true: "noticed", false: "unnoticed"}[notice], func(t *testing.T) {
			tl, path, f := followNew(t)
			appendFile(t, path, lines(0, 5))
			tl.readFile(f, time.Now())
			appendFile(t, path, lines(5, 8))
			cp1, cp2 := path+".20261207-000001", path+".20261207-000002"
			hostile51CopyTo(t, path, cp1)
			tl.truncHook = func(*follower) {
				tl.truncHook = nil
				appendFile(t, path, lines(8, 10))
				hostile51CopyTo(t, path, cp2)
			}
			tl.check(f, time.Now())
			if tl.truncHook != nil {
				t.Fatal("the truncation not handled")
			}
			if notice {
				tl.copyCreated(cp2)
			}
			appendFile(t, path, lines(10, 12))
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 12)
		})
	}
}

// TestCopyReadBeforeWhileEmpty is TestCopytruncatesInARow's order (seed
// 0, under load): the path's next file is found as it is copytruncated,
// its copy created (a create, then writes) in the tick before but not
// written yet. The copy, named after the rotated file, is opened empty
// and read whole before the file; then it is written and the file
// truncated. The file's truncation finds the copy: read already, not
// read again. Each line once.
func TestCopyReadBeforeWhileEmpty(t *testing.T) {
	for _, checkFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "copy read first", true: "truncation seen first"}[checkFirst], func(t *testing.T) {
			tl, path, f := followNew(t)
			appendFile(t, path, lines(0, 3))
			tl.readFile(f, time.Now())
			mustRename(t, path, path+".20261207-000001")
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			appendFile(t, path, lines(3, 6))
			cp := path + ".20261207-000002"
			appendFile(t, cp, "") // created, not written yet
			afterTick(t, time.Now())
			tl.discover(path, time.Now(), false)
			n := tl.byPath[path]
			if n == nil || n == f || n.pred == nil || n.pred.path != cp {
				t.Fatalf("the copy not read before the next file: %+v", n)
			}
			hostile51CopyTo(t, path, cp)
			if checkFirst {
				tl.check(n, time.Now()) // a poll: the copy not read yet
			}
			undoneCopyTurns(tl)
			appendFile(t, path, lines(6, 8))
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 8)
		})
	}
}

// TestLaterFileNoticeAfterRenameNotice: a file nothing was read of is
// written and renamed away by kubelet (seen by a poll); the path's next
// file, never found, is written and renamed away in turn, and a third
// file takes the path. The notices come in order: the first file's rename,
// then the next file's. The next file, created after the first file's
// rename was noticed, is no copy of it (copyOfAway): its lines come after
// the first file's, each once. So too with the first rename's notice lost
// (an overflow), taken after its name was gone (compressed), or missing
// (the next file is born after the first file's last change).
func TestLaterFileNoticeAfterRenameNotice(t *testing.T) {
	for _, order := range []string{"rename noticed", "notices lost", "rename notice of a name gone", "rename notice missing"} {
		t.Run(order, func(t *testing.T) {
			tl, path, f := followNew(t)
			appendFile(t, path, lines(0, 3))
			r1, r2 := path+".20261207-000001", path+".20261207-000002"
			mustRename(t, path, r1)
			tl.check(f, time.Now())
			if f.st != stRotated || f.off != 0 {
				t.Fatalf("the rotation not seen, or read: state %v, offset %d", f.st, f.off)
			}
			switch order {
			case "rename noticed":
				tl.copyCreated(r1)
			case "notices lost":
				f.renameNoticed = true // as an overflow leaves it
			case "rename notice missing":
				afterTick(t, time.Now())
			}
			bornLater(t, path, r1, lines(3, 6)) // never found
			mustRename(t, path, r2)
			if order == "rename notice of a name gone" {
				mustGzip(t, r1)
				tl.copyCreated(r1)
			}
			tl.copyCreated(r2)
			tl.readFile(f, time.Now()) // before the path's new file is found
			appendFile(t, path, lines(6, 8))
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 8)
		})
	}
}

// TestNextFilesCopyNoticeNotTheRotatedFiles: a file nothing was read of is
// written and renamed away (seen); the path's next file is followed,
// written and copytruncated, and that copy's notice taken before the
// first file is read. The copy is the next file's (copyOfAway takes none
// made after the first file's rename was noticed, or after its last
// change): its lines come after the first file's, each once.
func TestNextFilesCopyNoticeNotTheRotatedFiles(t *testing.T) {
	for _, renameNotice := range []bool{true, false} {
		t.Run(map[bool]string{true: "rename noticed", false: "rename notice missing"}[renameNotice], func(t *testing.T) {
			tl, path, f := followNew(t)
			appendFile(t, path, lines(0, 3))
			r1 := path + ".20261207-000001"
			mustRename(t, path, r1)
			tl.check(f, time.Now())
			if f.st != stRotated || f.off != 0 {
				t.Fatalf("the rotation not seen, or read: state %v, offset %d", f.st, f.off)
			}
			if renameNotice {
				tl.copyCreated(r1)
			} else {
				afterTick(t, time.Now())
			}
			n := followEmptyWith(t, tl, path)
			appendFile(t, path, lines(3, 6))
			cp := path + ".20261207-000002"
			hostile51CopyTo(t, path, cp)
			tl.copyCreated(cp)
			tl.readFile(f, time.Now())
			appendFile(t, path, lines(6, 8))
			undoneCopyTurns(tl)
			if n.st == stClosed {
				t.Fatal("the next file closed")
			}
			hostile69Want(t, tl, 0, 8)
		})
	}
}

// TestLaterCopyCompressedNotCopyAgain is TestCopytruncatesInARow's order
// (seed 1, under load): a truncation found with a later copy beside its
// copy (made as the truncation was handled), read after it (laterCopies);
// the next copy taken by its notice; the later copy compressed; the file,
// empty, rotated. As it is finished (copiesAway), the later copy's .gz is
// born since its generation started, but it is a copy read already: each
// line once.
func TestLaterCopyCompressedNotCopyAgain(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	tl.readFile(f, time.Now())
	cp1, cp2, cp3 := path+".20261207-000001", path+".20261207-000002", path+".20261207-000003"
	appendFile(t, path, lines(5, 8))
	hostile51CopyTo(t, path, cp1)
	tl.openFault = func(p string) error {
		if p == cp1 {
			tl.openFault = nil
			appendFile(t, path, lines(8, 10))
			hostile51CopyTo(t, path, cp2)
		}
		return nil
	}
	tl.check(f, time.Now())
	if tl.openFault != nil {
		t.Fatal("the truncation's copy not looked at")
	}
	undoneCopyTurns(tl)
	appendFile(t, path, lines(10, 12))
	hostile51CopyTo(t, path, cp3)
	tl.copyCreated(cp3)
	undoneCopyTurns(tl)
	if got := emitted(tl); !slices.Equal(got, upto(0, 12)) {
		t.Fatalf("the copies: lines %v", got)
	}
	mustGzip(t, cp2)
	mustRename(t, path, path+".20261207-000004")
	appendFile(t, path, lines(12, 14))
	tl.check(f, time.Now())
	tl.discover(path, time.Now(), false)
	undoneCopyTurns(tl)
	tl.rescan(time.Now(), false)
	undoneCopyTurns(tl)
	hostile69Want(t, tl, 0, 14)
}
