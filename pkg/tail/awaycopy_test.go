package tail

import (
	"slices"
	"testing"
	"time"
)

// TestResumedAwayThenBackAndCopytruncated: the agent starts while a
// rotation of the file it had checkpointed is being undone (kubelet
// renamed the file away, the runtime could not reopen, and kubelet renames
// it back): the start finds the file under its rotated name and reads it
// on from the checkpoint's offset as a rotated file. It is renamed back
// and copytruncated (logrotate) before that read. The truncation's copy
// lies beside the path, not beside the rotated name: looked for beside the
// rotated name, it was not found, the lines the file held past the
// checkpoint (5-7) were counted lost although they were in the copy, and
// the next agent read the copy from 0: lines 0-4 twice
// (TestHostile61MixedRotationsAcrossRestarts seed 60276, once in 300
// seeds).
//
// The follower of the file, opened as a rotated sibling, is made the
// path's follower as its truncation is handled (rotated.go backHome): its
// copy is looked for beside the path. Looking there while it stayed a
// rotated file was not enough: finished and closed as one, the discovery
// that found it at the path took it for a rotation undone and its
// truncation's copy for the file's copy, and read both again.
func TestResumedAwayThenBackAndCopytruncated(t *testing.T) {
	tl, f, path, away := resumedAway77(t) // hostile77_test.go
	mustRename(t, away, path)             // the rotation undone
	hostile51CopyTo(t, path, path+".20261206-000021")
	appendFile(t, path, lines(8, 9))
	readAll(t, tl, f)
	tl.rescan(time.Now(), false)
	for _, g := range tl.order {
		readAll(t, tl, g)
	}
	if got := emitted(tl); !slices.Equal(got, upto(5, 9)) {
		t.Errorf("lines %v, want %v", got, upto(5, 9))
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	// Nothing was acknowledged: the next agent reads 5-9 again (the
	// copy from the checkpoint's offset, the file from 0), not 0-4.
	appendFile(t, path, lines(9, 10))
	restartWant(t, tl.cfg, 5, 10)
}
