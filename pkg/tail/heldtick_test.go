package tail

import (
	"os"
	"testing"
)

// TestStartTickCopyHeldThenTakenByNotice: a file the start found new
// (nothing of it read) is copytruncated as the agent starts, its copy
// created in the tick of the file system's clock the file's generation
// started in, before the start's listing (which takes it for a file from
// before). The start's look at the rotated files leaves the copy to the
// file (holds: a copy of it). The file is written and copytruncated
// again, and the two copies' creation notices come. Each copy is read,
// in order, then the file: the first copy, taken for a file from before
// by the notice, was skipped, and its lines lost uncounted
// (TestHostile61MixedRotationsAcrossRestarts seed 50237).
func TestStartTickCopyHeldThenTakenByNotice(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	gone := path + ".20261206-000001"
	appendFile(t, gone, lines(100, 102))
	entry := dataEntry(t, path, gone, lines(100, 102), false)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := writeState(state, []stateEntry{entry}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(0, 5)) // a new file, nothing read
	tl, saved, now := startSteps(t, dir, state)
	f := tl.byPath[path]
	if f == nil || f.off != 0 {
		t.Fatalf("the new file not followed from 0: %+v", f)
	}
	cp1, cp2 := path+".20261206-000002", path+".20261206-000003"
	hostile51CopyTo(t, path, cp1)
	b, ok := born(cp1)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	f.opened, f.tick = b, true
	f.took = append(f.took, birth{key: statKeyT(t, cp1), at: b})
	tl.resumeRotated(now, saved)
	if f.pred != nil {
		t.Fatalf("the copy was read apart: %s", f.pred.path)
	}
	appendFile(t, path, lines(5, 7))
	hostile51CopyTo(t, path, cp2)
	tl.copyCreated(cp1)
	tl.copyCreated(cp2)
	appendFile(t, path, lines(7, 8))
	readAll(t, tl, f)
	readAllWant(t, tl, f, upto(0, 8))
}
