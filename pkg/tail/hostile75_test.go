package tail

import (
	"testing"
	"time"
)

// TestHostile75CopyNoticeRefusedThenReadAway (TAIL_MIX seed 20058): a
// file nothing of whose generation was read is renamed away by kubelet and
// renamed back at once; the notice of that rename is taken with its name
// gone (perhaps the file's own rename: renameNoticed). The file is written,
// copytruncated by logrotate (0.log.<ts>.000011) and renamed away again
// (.000012) before the copy's notice is taken: a poll sees it rotated, and
// the notice, taken now, is not the file's (copyCreated: not followed at
// its path; copyOfAway: a rename noticed before it). The file is renamed
// back, written, and renamed away once more (.000013) before a check saw
// it back: its first read that takes something comes while it is away, and
// its rotation undone is seen only after that read (nothing to look
// before). The copy, named before the file's name now, is read first,
// once; the lost lines were never read nor counted.
func TestHostile75CopyNoticeRefusedThenReadAway(t *testing.T) {
	tl, path, f := followNew(t)
	tl.readFile(f, time.Now()) // empty
	r1 := path + ".20261206-000010"
	mustRename(t, path, r1)
	mustRename(t, r1, path) // undone at once
	tl.copyCreated(r1)      // the rename's notice, taken with the name gone
	tl.check(f, time.Now()) // the notice of the path's (back): there
	if !f.renameNoticed {
		t.Fatal("the notice of a name gone did not count as the file's rename")
	}
	appendFile(t, path, lines(0, 12))
	cp := path + ".20261206-000011"
	hostile51CopyTo(t, path, cp) // logrotate's copytruncate
	r2 := path + ".20261206-000012"
	mustRename(t, path, r2)
	tl.check(f, time.Now()) // the path's notice: renamed away
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	tl.copyCreated(cp)         // the copy's notice, taken now
	tl.copyCreated(r2)         // the file's own rename's
	tl.readFile(f, time.Now()) // still empty
	mustRename(t, r2, path)    // undone
	appendFile(t, path, lines(12, 15))
	r3 := path + ".20261206-000013"
	mustRename(t, path, r3)    // away again before a check saw it back
	tl.readFile(f, time.Now()) // the first read that takes something
	mustRename(t, r3, path)    // undone again
	tl.check(f, time.Now())
	readAllWant(t, tl, f, upto(0, 15))
}
