package tail

import (
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
// Open: the file is empty when it is read again, so copiesUnnoted (which
// looks before the first read that takes something) never looks, and a
// notice taken late is dropped (copyCreated: the file is not followed at
// its path). A copy sorts before the file's new rotated name, a later file
// of the path after it; that is the lead.
func TestCopyOfUndoneFileCompressedThenRotatedAgain(t *testing.T) {
	knownOpen(t, "test/model seed 1230002: the copy of an empty file whose rotation was undone unseen, compressed at once, is never read: its lines are lost uncounted")
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
			hostile62ReadTurns(tl, 20)
			if got := emitted(tl); !slices.Equal(got, upto(0, 10)) {
				t.Errorf("lines %v, want %v", got, upto(0, 10))
			}
		})
	}
}
