package tail

import (
	"path/filepath"
	"testing"
	"time"
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
