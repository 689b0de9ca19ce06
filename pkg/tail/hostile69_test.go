package tail

import (
	"os"
	"slices"
	"testing"
	"time"
)

// Hostile tests of copiesAway (copy.go): an empty rotated file finished
// looks at its siblings named before it as possible copies of it.

// hostile69Want fails unless the lines emitted are from..to-1, each once,
// in order.
func hostile69Want(t *testing.T, tl *Tailer, from, to int) {
	t.Helper()
	if got := emitted(tl); !slices.Equal(got, upto(from, to)) {
		t.Errorf("lines %v, want %v", got, upto(from, to))
	}
}

// TestHostile69NextFilesCopyNamedBefore: the empty file is rotated by a
// rename (kubelet's name, seen); the path's next file is written and
// copytruncated by logrotate with dateext (0.log-20261207, a name that sorts
// before kubelet's 0.log.20261207-000001), the copy's creation noticed by
// the next file. The copy is the next file's, not the empty one's: its
// lines come once, after the empty file.
func TestHostile69NextFilesCopyNamedBefore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gz     bool // compressed at once (copytruncate with compress)
		notice bool // its creation noticed by the next file
	}{{"-20261207", false, true}, {".1", false, true}, {"-20261207", true, true}, {"-20261207", true, false}, {"-20261207", false, false}} {
		name := tc.name
		t.Run(name+map[bool]string{true: " gz", false: ""}[tc.gz]+map[bool]string{true: "", false: " unnoticed"}[tc.notice], func(t *testing.T) {
			tl, path, f := followNew(t)
			mustRename(t, path, path+".20261207-000001")
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			n := followEmptyWith(t, tl, path)
			appendFile(t, path, lines(0, 5))
			hostile51CopyTo(t, path, path+name)
			if tc.gz {
				mustGzip(t, path+name)
			}
			if tc.notice {
				tl.copyCreated(path + name)
			}
			appendFile(t, path, lines(5, 8))
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			if n.st == stClosed {
				t.Fatalf("the next file closed")
			}
			hostile69Want(t, tl, 0, 8)
		})
	}
}

// TestHostile69TakenCopyCompressedThenRotated: a copy of the empty file
// is taken (noticed) and read; the file stays empty; the copy is
// compressed (kubelet compresses every rotated file but the newest as it
// rotates) and the empty file renamed away. The compressed copy is the one
// read already: not read again.
func TestHostile69TakenCopyCompressedThenRotated(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	cp := path + ".20261207-000001"
	hostile51CopyTo(t, path, cp)
	tl.copyCreated(cp)
	tl.readFile(f, time.Now())
	undoneCopyTurns(tl)
	if got := emitted(tl); !slices.Equal(got, upto(0, 5)) {
		t.Fatalf("the copy: lines %v", got)
	}
	for _, h := range tl.order {
		if h != f && h.st != stClosed {
			t.Fatalf("the copy not closed: %+v", h)
		}
	}
	mustGzip(t, cp)
	mustRename(t, path, path+".20261207-000002")
	appendFile(t, path, lines(5, 8))
	tl.check(f, time.Now())
	tl.discover(path, time.Now(), false)
	undoneCopyTurns(tl)
	tl.rescan(time.Now(), false)
	undoneCopyTurns(tl)
	hostile69Want(t, tl, 0, 8)
}

// TestHostile69LogrotateNumberedDelaycompress: logrotate's create mode
// (ifempty, its default), numbered names, compress with delaycompress:
// the empty file is renamed 0.log.1, the older 0.log.1 moved to 0.log.2
// and compressed (a .gz born after the empty file's open, under a name not
// there plain at its start). The older file's lines are not the empty
// file's copy: history (written before any agent) stays unread; read by
// this agent before, it is not read again.
func TestHostile69LogrotateNumberedDelaycompress(t *testing.T) {
	knownOpen(t, "logrotate numbered names with delaycompress: the older 0.log.1, moved to 0.log.2 and compressed, is read as a new file (history read; read before, read twice); not copiesAway's: fails with it off too")
	for _, history := range []bool{true, false} {
		t.Run(map[bool]string{true: "history", false: "read before"}[history], func(t *testing.T) {
			dir := t.TempDir()
			tl := newIdleTailer(t, dir)
			tl.loadState(time.Now())
			path := mkContainer(t, dir, "ns_pod_uid")
			var f *follower
			if history {
				appendFile(t, path+".1", lines(100, 105))
				old := time.Now().Add(-time.Hour)
				must(t, os.Chtimes(path+".1", old, old))
				f = followEmptyWith(t, tl, path)
			} else {
				p := followEmptyWith(t, tl, path)
				appendFile(t, path, lines(0, 5))
				tl.readFile(p, time.Now())
				mustRename(t, path, path+".1")
				tl.check(p, time.Now())
				f = followEmptyWith(t, tl, path)
				undoneCopyTurns(tl)
			}
			// logrotate: 0.log.1 -> 0.log.2 (compressed), 0.log -> 0.log.1, new 0.log.
			mustRename(t, path+".1", path+".2")
			mustGzip(t, path+".2")
			mustRename(t, path, path+".1")
			appendFile(t, path, lines(5, 8))
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			if history {
				hostile69Want(t, tl, 5, 8)
			} else {
				hostile69Want(t, tl, 0, 8)
			}
		})
	}
}

// TestHostile69UndoneOverNextFileThenCopied: kubelet renames the empty
// file away (seen); the runtime opens a new file at the path (followed) but
// ReopenContainerLog times out on kubelet's side, which renames the file
// back over the new one (unlinked; seen or not). Back at its path the file
// is written and copytruncated, then rotated again while empty; a third
// file is opened at the path. The copy, made after the unlinked file, is
// the file's own: its lines come once, before the third file's.
func TestHostile69UndoneOverNextFileThenCopied(t *testing.T) {
	for _, tc := range []struct{ seen, notice bool }{{false, false}, {true, false}, {false, true}} {
		seen := tc.seen
		t.Run(map[bool]string{false: "unlink unseen", true: "unlink seen"}[seen]+map[bool]string{true: " copy noticed", false: ""}[tc.notice], func(t *testing.T) {
			tl, path, f := followNew(t)
			away := path + ".20261207-000001"
			mustRename(t, path, away)
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			n := followEmptyWith(t, tl, path)
			mustRename(t, away, path) // undone over the new file
			if seen {
				tl.check(n, time.Now())
				if n.st != stDeleted {
					t.Fatalf("the new file: state %v", n.st)
				}
			}
			appendFile(t, path, lines(0, 5))
			cp := path + ".20261207-000002"
			hostile51CopyTo(t, path, cp)
			if tc.notice {
				tl.copyCreated(cp) // the path's follower is the unlinked file's
			}
			mustRename(t, path, path+".20261207-000003")
			appendFile(t, path, lines(5, 8))
			tl.check(f, time.Now())
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl) // the file finished before the unlink is seen
			tl.check(n, time.Now())
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 8)
		})
	}
}

// TestHostile69NextFileUnseenCopiedAndRotated: the empty file is renamed
// away (seen); the path's next file is made but not found yet, written,
// copytruncated (logrotate dateext: named before the empty file) and
// renamed away empty in turn; a third file is made. The next file's copy
// comes once, before the third file's lines.
func TestHostile69NextFileUnseenCopiedAndRotated(t *testing.T) {
	tl, path, f := followNew(t)
	mustRename(t, path, path+".20261207-000001")
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	appendFile(t, path, lines(0, 5))
	hostile51CopyTo(t, path, path+"-20261207")
	mustRename(t, path, path+".20261207-000002")
	appendFile(t, path, lines(5, 8))
	tl.discover(path, time.Now(), false)
	undoneCopyTurns(tl)
	tl.rescan(time.Now(), false)
	undoneCopyTurns(tl)
	tl.rescan(time.Now(), false)
	undoneCopyTurns(tl)
	hostile69Want(t, tl, 0, 8)
}

// TestHostile69NextFileNamedBeforeCompressed: the clock was stepped back
// between two rotations: the path's next file, written, is renamed to a
// name before the empty file's and compressed at once; a third file is
// made. The next file's lines come once, after the empty file.
func TestHostile69NextFileNamedBeforeCompressed(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gz"}[gz], func(t *testing.T) {
			tl, path, f := followNew(t)
			mustRename(t, path, path+".20261207-000005")
			tl.check(f, time.Now())
			if f.st != stRotated {
				t.Fatalf("the rotation not seen: state %v", f.st)
			}
			n := followEmptyWith(t, tl, path)
			appendFile(t, path, lines(0, 5))
			mustRename(t, path, path+".20261207-000003")
			if gz {
				mustGzip(t, path+".20261207-000003")
			}
			appendFile(t, path, lines(5, 8))
			tl.check(n, time.Now())
			tl.discover(path, time.Now(), false)
			undoneCopyTurns(tl)
			tl.rescan(time.Now(), false)
			undoneCopyTurns(tl)
			hostile69Want(t, tl, 0, 8)
		})
	}
}
