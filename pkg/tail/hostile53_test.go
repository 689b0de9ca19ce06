package tail

import (
	"testing"
	"time"
)

// TestHostile53TwoRenamesBeforeTheFirstRead: a file followed while empty
// is written and rotated twice by kubelet's rename (0.log to a stamped
// name, a new 0.log, written, renamed again, a third 0.log) before its
// first read, which comes before the renames are taken (the write's
// notification first, the rest still queued). The second file, renamed
// too, was born after the first was opened, but it is no copy of it: its
// lines come after the first file's, once.
func TestHostile53TwoRenamesBeforeTheFirstRead(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 10))
	mustRename(t, path, path+".20261206-040000")
	appendFile(t, path, lines(10, 20)) // a new file, born after the first was opened
	mustRename(t, path, path+".20261206-040010")
	appendFile(t, path, lines(20, 25))
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("premise: the file is followed")
	}
	f.dirty, f.more = true, true // its write taken, its rename not yet
	now = now.Add(time.Second)
	tl.readTurn(now)
	hostile51Steps(tl, now)
	hostile51Once(t, upto(0, 25), hostile50Seqs(take()))
}
