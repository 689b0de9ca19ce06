package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestDirsMovedAwayAndBack: a pod directory moved out of the include globs
// and back. What its container wrote meanwhile is read, and a file made in
// it afterwards is found by its event (the rescan is minutes away), so the
// directories are watched again.
func TestDirsMovedAwayAndBack(t *testing.T) {
	dir, state, aside := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.RescanInterval = 10 * time.Minute
	path := mkContainer(t, dir, "ns_p_1")
	appendFile(t, path, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 9) })

	pod, away := filepath.Dir(filepath.Dir(path)), filepath.Join(aside, "ns_p_1")
	mustRename(t, pod, away)
	appendFile(t, filepath.Join(away, "app", "0.log"), lines(10, 20))
	mustRename(t, away, pod)
	waitFor(t, 5*time.Second, "what was written away", func() bool { return hasSeq(r, 19) })
	appendFile(t, filepath.Join(filepath.Dir(path), "1.log"), lines(20, 30))
	waitFor(t, 5*time.Second, "1.log made after the move back", func() bool { return hasSeq(r, 29) })
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 30)) {
		t.Errorf("got %v, want 0..29 once each", got)
	}
}

// TestDirsBurst: many pods made at once, as kubelet does after a node
// restart: every line arrives within a few rescan intervals.
func TestDirsBurst(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	r := startRunner(t, cfg, Options{})
	const n = 300
	for i := range n {
		appendFile(t, mkContainer(t, dir, fmt.Sprintf("ns_p%03d_uid", i)), lines(i, i+1))
	}
	bound := 5 * cfg.RescanInterval
	waitFor(t, bound+2*time.Second, "every pod's line", func() bool { return len(r.snapshot()) >= n })
	got := seqs(r.snapshot())
	slices.Sort(got)
	if !slices.Equal(got, upto(0, n)) {
		t.Errorf("got %v, want 0..%d once each", got, n-1)
	}
}

// TestDirsSymlinks: include globs that cover /var/log/containers-style
// symlinks only. A new pod's symlink is found, and so is the symlink made
// again when its pod directory is replaced under the same name.
func TestDirsSymlinks(t *testing.T) {
	base, state := t.TempDir(), t.TempDir()
	pods, links := filepath.Join(base, "pods"), filepath.Join(base, "containers") // the targets must lie under ../pods
	must(t, os.Mkdir(pods, 0o755))
	must(t, os.Mkdir(links, 0o755))
	cfg := testConfig(pods, state)
	cfg.Include = []string{filepath.Join(links, "*.log")}
	r := startRunner(t, cfg, Options{})
	link := filepath.Join(links, "p_ns_app-1.log")
	for round := range 3 {
		must(t, os.RemoveAll(filepath.Join(pods, "ns_p_1")))
		_ = os.Remove(link)
		target := mkContainer(t, pods, "ns_p_1")
		appendFile(t, target, lines(round*10, round*10+10))
		must(t, os.Symlink(target, link))
		waitFor(t, 5*cfg.RescanInterval+time.Second, fmt.Sprintf("round %d", round), func() bool { return hasSeq(r, round*10+9) })
	}
}

// TestDirsPollOnly: without notifications (no watcher, no kept listings)
// new pods and a pod directory replaced under the same name are still
// found by the rescan.
func TestDirsPollOnly(t *testing.T) {
	dir, state, aside := t.TempDir(), t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.pollOnly = true })
	path := mkContainer(t, dir, "ns_p_1")
	appendFile(t, path, lines(0, 10))
	waitFor(t, 5*time.Second, "a new pod", func() bool { return hasSeq(r, 9) })
	mustRename(t, filepath.Dir(filepath.Dir(path)), filepath.Join(aside, "old"))
	appendFile(t, mkContainer(t, dir, "ns_p_1"), lines(10, 20))
	waitFor(t, 5*time.Second, "the replaced pod", func() bool { return hasSeq(r, 19) })
	appendFile(t, filepath.Join(filepath.Dir(path), "1.log"), lines(20, 30))
	waitFor(t, 5*time.Second, "a restarted container", func() bool { return hasSeq(r, 29) })
	r.stop()
	if r.tl.dirs != nil {
		t.Error("listings kept without notifications")
	}
}

// TestDirsOverflowForgetsStaleWatches: a pod directory is replaced (moved
// away, a new one made under its name) while the kernel's event queue
// overflows, so that neither the move nor the watches' end is reported.
// The watches recorded for the old directories must not be taken for
// watches of the new ones once Drain reported the overflow: they would keep
// the new directories unwatched for good, and their listings kept as if
// every change in them were reported.
func TestDirsOverflowForgetsStaleWatches(t *testing.T) {
	limit := readSysInt(t, "/proc/sys/fs/inotify/max_queued_events")
	if limit > 1<<17 {
		t.Skipf("max_queued_events is %d: overflowing it takes too long", limit)
	}
	dir, aside := t.TempDir(), t.TempDir()
	pod := filepath.Join(dir, "ns_p_1")
	ctr := filepath.Join(pod, "app")
	must(t, os.MkdirAll(ctr, 0o755))
	kept := filepath.Join(dir, "ns_q_2", "app") // not replaced: stays watched
	must(t, os.MkdirAll(kept, 0o755))
	n := newTestNotifier(t, dir, pod, ctr, filepath.Dir(kept), kept)

	var fs [2]*os.File
	for i := range fs {
		f, err := os.Create(filepath.Join(kept, fmt.Sprintf("%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fs[i] = f
	}
	// Alternate two files so that no write is merged with the one before;
	// see TestNotifierOverflow for the count.
	for i := range limit + 64<<10/32 + 100 {
		if _, err := fs[i%2].WriteString("x\n"); err != nil {
			t.Fatal(err)
		}
	}
	mustRename(t, pod, filepath.Join(aside, "old"))
	must(t, os.MkdirAll(ctr, 0o755))

	over := false
	deadline := time.Now().Add(10 * time.Second)
	for !over {
		if time.Now().After(deadline) {
			t.Fatal("no overflow reported")
		}
		over = n.Drain(16, func([]byte) {}, func(notifyEvent) {})
	}
	for _, d := range []string{pod, ctr} {
		if n.Watching(d) {
			t.Errorf("%s: recorded as watched after the overflow, but its watch is on the directory moved away", d)
		}
	}
	for _, d := range []string{dir, filepath.Dir(kept), kept} {
		if !n.Watching(d) {
			t.Errorf("%s: its watch was dropped, though it is still the directory watched", d)
		}
	}
}

// TestDirsMovedBackKeepsWatches: a pod directory moved away and back; once
// the events are taken, its container directory, the same one at the same
// path, is still watched (dropping its watch would leave it unwatched until
// the rescan that follows watches it again, and a file made meanwhile
// unreported), while the pod directory itself is watched anew by the
// tailer (its own watch ends with the move).
func TestDirsMovedBackKeepsWatches(t *testing.T) {
	dir, aside := t.TempDir(), t.TempDir()
	pod := filepath.Join(dir, "ns_p_1")
	ctr := filepath.Join(pod, "app")
	must(t, os.MkdirAll(ctr, 0o755))
	n := newTestNotifier(t, dir, pod, ctr)
	mustRename(t, pod, filepath.Join(aside, "p"))
	mustRename(t, filepath.Join(aside, "p"), pod)
	created := false
	deadline := time.Now().Add(5 * time.Second)
	for !created {
		if time.Now().After(deadline) {
			t.Fatal("the move back was not reported")
		}
		n.Drain(16, func([]byte) {}, func(ev notifyEvent) { created = created || (ev.Op == opCreate && ev.Name == pod) })
	}
	if !n.Watching(ctr) {
		t.Errorf("%s: its watch was dropped, though it is the same directory at the same path", ctr)
	}
}
