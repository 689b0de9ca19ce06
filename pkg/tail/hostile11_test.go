package tail

import (
	"os"
	"testing"
	"time"
)

// bornLater writes data to path until its birth time is after ref's (the
// file system's clock is coarse: a file made within a few ms of another
// may have its birth time). Bounded.
func bornLater(t *testing.T, path, ref, data string) {
	t.Helper()
	before, ok := born(ref)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := born(path); b.After(before) {
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

// TestCopyNotedThenRotated: a file nothing was read of is copytruncated
// (its copy's creation noted), and before the read that the note brings,
// kubelet renames it away and a new file takes its path (notifications in
// one burst). The copy is still a copy of the renamed file: it was created
// after that file, not after the new one at its path, and must be read.
func TestCopyNotedThenRotated(t *testing.T) {
	dir := t.TempDir()
	tl := newIdleTailer(t, dir)
	tl.loadState(time.Now())
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	tl.discover(path, time.Now(), false)
	f := tl.byPath[path]
	if f == nil || f.off != 0 {
		t.Fatalf("the file: %+v", f)
	}
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261126-035500"
	bornLater(t, cp, path, lines(0, 8)) // the copy
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	mustRename(t, path, path+".20261126-035501")
	bornLater(t, path, cp, lines(10, 11)) // the new file, born after the copy
	tl.check(f, time.Now())
	tl.discover(path, time.Now(), false)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.path != cp {
		t.Errorf("the copy of the file renamed away was not taken: its lines are lost")
	}
}
