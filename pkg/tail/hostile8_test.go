package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestDirsReplacedPodDir: a pod directory is moved out of the include globs
// and another one, with a container directory of the same name, is moved in
// under its name. The container directory under the old name was watched;
// its watch stayed on the moved directory, so the tailer must still watch
// the new one: a container restarted in it (1.log) is found by its event,
// not by a rescan (minutes away here) nor by the full rescan of the kept
// listings.
func TestDirsReplacedPodDir(t *testing.T) {
	dir, state, aside := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.RescanInterval = 10 * time.Minute
	path := mkContainer(t, dir, "ns_p_1")
	appendFile(t, path, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first pod's lines", func() bool { return hasSeq(r, 9) })

	pod := filepath.Dir(filepath.Dir(path))
	mustRename(t, pod, filepath.Join(aside, "old"))
	// The new pod directory is made aside and moved in whole, so that the
	// rescan its event asks for sees all of it.
	fresh := mkContainer(t, aside, "new")
	appendFile(t, fresh, lines(10, 20))
	mustRename(t, filepath.Join(aside, "new"), pod)
	waitFor(t, 5*time.Second, "the new pod's 0.log", func() bool { return hasSeq(r, 19) })

	appendFile(t, filepath.Join(filepath.Dir(path), "1.log"), lines(20, 30))
	waitFor(t, 5*time.Second, "1.log in the new pod's container directory", func() bool { return hasSeq(r, 29) })
}

// TestDirsReplacedByRename: an empty container directory is replaced by
// another one moved over it (rename(2) replaces an empty directory). The
// watch of the old one went with it; the new one must be watched, so that
// 1.log, made in it later, is found by its event and not hidden behind its
// kept listing until the full rescan (minutes away here).
func TestDirsReplacedByRename(t *testing.T) {
	dir, state, aside := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.RescanInterval = 10 * time.Minute
	path := mkContainer(t, dir, "ns_p_1")
	appendFile(t, path, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })
	// The container directory is watched (the 0.log just read was found
	// by its directory's listing at the start, after the watches were
	// added); empty it.
	must(t, os.Remove(path))
	waitFor(t, 5*time.Second, "0.log closed", func() bool { return testutil.ToFloat64(r.tl.m.openFiles) == 0 })

	staged := mkContainer(t, aside, "new")
	appendFile(t, staged, lines(10, 20))
	// os.Rename refuses to replace a directory; mv -T does not.
	must(t, syscall.Rename(filepath.Dir(staged), filepath.Dir(path)))
	waitFor(t, 5*time.Second, "the new 0.log", func() bool { return hasSeq(r, 19) })

	appendFile(t, filepath.Join(filepath.Dir(path), "1.log"), lines(20, 30))
	waitFor(t, 5*time.Second, "1.log in the replaced container directory", func() bool { return hasSeq(r, 29) })
}

// TestDirsPodChurn: pods come and go as kubelet makes them (pod directory,
// container directory, 0.log, in quick succession, before any watch on the
// new directories), some under the name of one just deleted. Each pod's
// line arrives within a few rescan intervals, well before the full rescan
// of the kept listings (fullEvery); and no listing of a deleted directory
// is kept.
func TestDirsPodChurn(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	r := startRunner(t, cfg, Options{})
	bound := 5 * cfg.RescanInterval
	if bound >= fullEvery*cfg.RescanInterval {
		t.Fatal("the bound does not tell a rescan from the full rescan")
	}
	for i := range 30 {
		pod := filepath.Join(dir, "ns_p_"+string(rune('a'+i%4)))
		must(t, os.RemoveAll(pod))
		appendFile(t, mkContainer(t, dir, filepath.Base(pod)), lines(i, i+1))
		waitFor(t, bound, fmt.Sprintf("pod %d's line", i), func() bool { return hasSeq(r, i) })
	}
	must(t, os.RemoveAll(filepath.Join(dir, "ns_p_a")))
	must(t, os.RemoveAll(filepath.Join(dir, "ns_p_b")))
	waitFor(t, 5*time.Second, "the deleted pods' files closed", func() bool { return testutil.ToFloat64(r.tl.m.openFiles) == 2 })
	r.stop()
	for d := range r.tl.dirs.names {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("the listing of %s is kept, but it is gone", d)
		}
	}
}
