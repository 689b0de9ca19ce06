package tail

import (
	"testing"
	"time"
)

// TestCarryCheckpointedSoon: a CRI line begun in a rotated file and
// carried into the next one asks for a checkpoint within
// filesCommitDelay (filesChanged), as a file found does, not only at the
// next commit_interval: the mark that the next file's first line of the
// stream is a line's end (its entry's cont) must reach the checkpoint
// soon. Killed before it did, with the rotated file deleted before the
// next agent runs, the next agent ships that end as a line of its own
// (TestKilledAfterCarryPredecessorDeletedWhileDown: that instant is
// still open). Here the next file is found and checkpointed first, and
// the rotated file is read to its end (the carry) only after that write.
func TestCarryCheckpointedSoon(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 2)+criLine("stdout", "P", "seq=100 first half "))
	tl.readFile(f, time.Now())
	mustRename(t, path, path+".20261207-000001")
	appendFile(t, f.path, criLine("stdout", "P", "second part "))
	appendFile(t, path, criLine("stdout", "F", "end")+lines(2, 4))
	tl.check(f, time.Now())
	if f.st != stRotated {
		t.Fatalf("the rotation not seen: state %v", f.st)
	}
	tl.discover(path, time.Now(), false)
	next := tl.byPath[path]
	if next == nil || next == f {
		t.Fatal("the next file not followed")
	}
	tl.filesChanged.Store(false) // the run loop's write of the files found
	lingerOver(tl)
	readEvery77(t, tl)
	wantMerged(t, tl, []int{0, 1, 100, 2, 3}, 100, "seq=100 first half second part end")
	if !tl.filesChanged.Load() {
		t.Error("a line carried into the next file did not ask for a checkpoint soon: its entry's cont waits for commit_interval")
	}
}
