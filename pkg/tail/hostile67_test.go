package tail

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

// Hostile pass 67: the link directory's entries followed as their
// targets (links.go, commit db34006).

// hostile67Linkify rewrites the checkpoint in state as an agent before
// links.go wrote it: each target's entry named by its link.
func hostile67Linkify(t *testing.T, state string, targetLink ...string) {
	t.Helper()
	sp := filepath.Join(state, stateName)
	b, err := os.ReadFile(sp)
	must(t, err)
	s := string(b)
	for i := 0; i+1 < len(targetLink); i += 2 {
		if !strings.Contains(s, `"`+targetLink[i]+`"`) {
			t.Fatalf("the checkpoint does not name %s:\n%s", targetLink[i], s)
		}
		s = strings.ReplaceAll(s, `"`+targetLink[i]+`"`, `"`+targetLink[i+1]+`"`)
	}
	must(t, os.WriteFile(sp, []byte(s), 0o600))
}

// TestHostile67MigratedEntryOfExcludedLink: an agent before links.go
// checkpointed a link's file under the link's path; the next agent (the
// upgrade) has the link's name excluded (logs.exclude added with the
// upgrade, or by a reload before it: an excluded file keeps its entry
// while it exists). The excluded pod's files are not read: not its
// current file, not the files kubelet rotated while no agent ran.
func TestHostile67MigratedEntryOfExcludedLink(t *testing.T) {
	n := newLinkNode(t)
	keep, keepLink := n.pod("keep", "web", "1")
	drop, dropLink := n.pod("drop", "web", "2")
	appendFile(t, keep, lines(0, 3))
	appendFile(t, drop, lines(100, 103))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "both files", func() bool { return hasSeq(r, 2) && hasSeq(r, 102) })
	stopClosed(t, r)
	hostile67Linkify(t, state, keep, keepLink, drop, dropLink)
	// While no agent runs: the excluded pod's log is written and rotated.
	appendFile(t, drop, lines(103, 105))
	mustRename(t, drop, drop+".20261207-000001")
	appendFile(t, drop, lines(105, 107))
	appendFile(t, keep, lines(3, 5))
	cfg.Exclude = []string{"*_drop_*"}
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 4, 5*time.Second, "the kept pod's new lines")
	if got := seqs(r2.snapshot()); !slices.Equal(got, upto(3, 5)) {
		t.Errorf("lines %v, want %v (none of the excluded pod)", got, upto(3, 5))
	}
}

// TestHostile67ExcludeOnPodsPath: with the link directory included, a
// logs.exclude glob on the pods path (the path the file is now followed,
// checkpointed and shipped under) keeps the file unread, as it does for
// the pods glob.
func TestHostile67ExcludeOnPodsPath(t *testing.T) {
	n := newLinkNode(t)
	keep, _ := n.pod("keep", "web", "1")
	drop, _ := n.pod("drop", "web", "2")
	appendFile(t, keep, lines(0, 3))
	appendFile(t, drop, lines(100, 103))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	cfg.Exclude = []string{filepath.Join(n.pods, "drop_*", "*", "*.log")}
	r := startRunner(t, cfg, Options{})
	stopAfter(t, r, 2, 5*time.Second, "the kept pod's lines")
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 3)) {
		t.Errorf("lines %v, want %v (none of the excluded pod)", got, upto(0, 3))
	}
}

// TestHostile67PodDeletedWhileStopped: the agent stops (a rolling
// update) with its files read to their ends; a container writes its last
// lines and its pod is deleted (kubelet removes the link and the pod's log
// directory) before the next agent starts. Those lines are lost, and the
// loss is counted, as it is for the pods glob and was when the file was
// checkpointed under its link.
func TestHostile67PodDeletedWhileStopped(t *testing.T) {
	n := newLinkNode(t)
	keep, _ := n.pod("ns", "keep", "1")
	gone, goneLink := n.pod("ns", "gone", "2")
	appendFile(t, keep, lines(0, 3))
	appendFile(t, gone, lines(100, 103))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "both files", func() bool { return hasSeq(r, 2) && hasSeq(r, 102) })
	stopClosed(t, r)
	appendFile(t, gone, lines(103, 105))
	must(t, os.Remove(goneLink))
	must(t, os.RemoveAll(filepath.Dir(filepath.Dir(gone))))
	appendFile(t, keep, lines(3, 5))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 4, 5*time.Second, "the other pod's new lines")
	if got := hostile61Lost(t, r2.reg); got == 0 {
		t.Errorf("lines %v; the deleted pod's last lines lost, no loss counted", seqs(r2.snapshot()))
	}
}

func hostile67Skipped(r *runner, reason string) float64 {
	return testutil.ToFloat64(r.tl.m.skipped.WithLabelValues(reason))
}

// TestHostile67TwoLinksOneTarget: two links name one file (a tool's
// second link); the file is read once. The second link is removed, then
// kubelet rotates the file twice between two looks, and the agent
// restarts: every line once, in order, nothing counted lost.
func TestHostile67TwoLinksOneTarget(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	second := filepath.Join(n.containers, "web_ns_app-2.log")
	must(t, os.Symlink(target, second))
	appendFile(t, target, lines(0, 3))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 2) })
	must(t, os.Remove(second))
	waitLooked(t, r)
	appendFile(t, target, lines(3, 5))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(5, 7))
	mustRename(t, target, target+".20261207-000011")
	appendFile(t, target, lines(7, 9))
	waitFor(t, 5*time.Second, "the last line", func() bool { return hasSeq(r, 8) })
	first := stopClosed(t, r)
	appendFile(t, target, lines(9, 10))
	mustRename(t, target, target+".20261207-000021")
	appendFile(t, target, lines(10, 12))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 11, 5*time.Second, "the lines after the restart")
	if got := append(first, seqs(r2.snapshot())...); !slices.Equal(got, upto(0, 12)) {
		t.Errorf("lines %v, want %v", got, upto(0, 12))
	}
	if got := hostile61Lost(t, r.reg) + hostile61Lost(t, r2.reg); got != 0 {
		t.Errorf("%v counted lost", got)
	}
}

// TestHostile67PodsGlobFirstThenRestart: the pods glob listed before the
// link directory: the file is followed under its pods path by either;
// rotated while no agent ran, every line comes once, in order.
func TestHostile67PodsGlobFirstThenRestart(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 3))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.pods, "*", "*", "*.log"), filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 2) })
	first := stopClosed(t, r)
	appendFile(t, target, lines(3, 5))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(5, 7))
	// The next agent lists the link directory first.
	cfg.Include = []string{cfg.Include[1], cfg.Include[0]}
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 6, 5*time.Second, "the last line")
	if got := append(first, seqs(r2.snapshot())...); !slices.Equal(got, upto(0, 7)) {
		t.Errorf("lines %v, want %v", got, upto(0, 7))
	}
	for _, rc := range r2.snapshot() {
		if filepath.Dir(rc.path) != filepath.Dir(target) {
			t.Errorf("a line read under %s", rc.path)
		}
	}
}

// TestHostile67ContainerRestart: the container restarts: kubelet makes
// 1.log and a new link while the old link to 0.log stays, then (the next
// restart's garbage collection) removes the old link and 0.log. Each
// file's lines once, in order, nothing counted lost.
func TestHostile67ContainerRestart(t *testing.T) {
	n := newLinkNode(t)
	t0, l0 := n.pod("ns", "web", "1")
	appendFile(t, t0, lines(0, 3))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first container's lines", func() bool { return hasSeq(r, 2) })
	appendFile(t, t0, lines(3, 5)) // its last lines
	t1 := filepath.Join(filepath.Dir(t0), "1.log")
	appendFile(t, t1, lines(100, 102))
	must(t, os.Symlink(t1, filepath.Join(n.containers, "web_ns_app-1b.log")))
	appendFile(t, t1, lines(102, 104))
	mustRename(t, t1, t1+".20261207-000001") // rotated at once
	appendFile(t, t1, lines(104, 106))
	waitFor(t, 5*time.Second, "the new container's lines", func() bool { return hasSeq(r, 105) && hasSeq(r, 4) })
	must(t, os.Remove(l0))
	must(t, os.Remove(t0))
	appendFile(t, t1, lines(106, 108))
	stopAfter(t, r, 107, 5*time.Second, "the last line")
	var old, cur []int
	for _, rc := range r.snapshot() {
		s, _ := seqOf(rc.body)
		if s >= 100 {
			cur = append(cur, s)
		} else {
			old = append(old, s)
		}
	}
	if !slices.Equal(old, upto(0, 5)) || !slices.Equal(cur, upto(100, 108)) {
		t.Errorf("lines %v and %v, want %v and %v", old, cur, upto(0, 5), upto(100, 108))
	}
	if got := hostile61Lost(t, r.reg); got != 0 {
		t.Errorf("%v counted lost", got)
	}
}

// TestHostile67LinkBeforeTarget: the link is made before its target
// exists (notified, and polled); the target then appears, is written and
// rotated before any rescan: its lines, the rotated file's first.
func TestHostile67LinkBeforeTarget(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "notified", true: "polled"}[pollOnly], func(t *testing.T) {
			n := newLinkNode(t)
			keep, _ := n.pod("ns", "keep", "1")
			appendFile(t, keep, lines(0, 1))
			cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
			cfg.StartAt = "end"
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.pollOnly = pollOnly })
			waitLooked(t, r)
			target := filepath.Join(n.pods, "ns_web_uid-2", "app", "0.log")
			must(t, os.Symlink(target, filepath.Join(n.containers, "web_ns_app-2.log")))
			waitLooked(t, r)
			must(t, os.MkdirAll(filepath.Dir(target), 0o755))
			appendFile(t, target, lines(100, 103))
			mustRename(t, target, target+".20261207-000001")
			appendFile(t, target, lines(103, 105))
			stopAfter(t, r, 104, 10*time.Second, "the target's lines")
			if got := seqs(r.snapshot()); !slices.Equal(got, upto(100, 105)) {
				t.Errorf("lines %v, want %v", got, upto(100, 105))
			}
		})
	}
}

// TestHostile67HostileTargets: links that must not be read through, each
// refused (counted) and none blocking: a relative target climbing out of
// the pods directory with "..", a target through a symlinked directory
// inside pods, a target that is a symlink inside pods to a file outside,
// a directory, a FIFO. A relative target inside pods is read.
func TestHostile67HostileTargets(t *testing.T) {
	n := newLinkNode(t)
	secretDir := filepath.Join(n.base, "secret")
	must(t, os.MkdirAll(filepath.Join(secretDir, "app"), 0o755))
	secret := filepath.Join(secretDir, "app", "0.log")
	appendFile(t, secret, lines(900, 903))
	// a relative link that stays inside pods
	good := filepath.Join(n.pods, "ns_good_uid-1", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(good), 0o755))
	appendFile(t, good, lines(0, 3))
	must(t, os.Symlink("../pods/ns_good_uid-1/app/../app/0.log", filepath.Join(n.containers, "good_ns_app-1.log")))
	// climbing out
	must(t, os.Symlink("../pods/../secret/app/0.log", filepath.Join(n.containers, "up_ns_app-2.log")))
	// through a symlinked pod directory
	must(t, os.Symlink(secretDir, filepath.Join(n.pods, "ns_dirlink_uid-3")))
	must(t, os.Symlink(filepath.Join(n.pods, "ns_dirlink_uid-3", "app", "0.log"), filepath.Join(n.containers, "dirlink_ns_app-3.log")))
	// a link to a link inside pods that leads out
	chain := filepath.Join(n.pods, "ns_chain_uid-4", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(chain), 0o755))
	must(t, os.Symlink(secret, chain))
	must(t, os.Symlink(chain, filepath.Join(n.containers, "chain_ns_app-4.log")))
	// a directory and a FIFO
	dir := filepath.Join(n.pods, "ns_dir_uid-5", "app")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.Symlink(dir, filepath.Join(n.containers, "dir_ns_app-5.log")))
	fifo := filepath.Join(n.pods, "ns_fifo_uid-6", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(fifo), 0o755))
	must(t, unix.Mkfifo(fifo, 0o644))
	must(t, os.Symlink(fifo, filepath.Join(n.containers, "fifo_ns_app-6.log")))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the good file", func() bool { return hasSeq(r, 2) })
	// the secret rotated beside where the symlinked directories lead
	mustRename(t, secret, secret+".20261207-000001")
	appendFile(t, secret, lines(903, 905))
	waitLooked(t, r)
	waitLooked(t, r)
	r.stop()
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 3)) {
		t.Errorf("lines %v, want %v", got, upto(0, 3))
	}
	for _, rc := range r.snapshot() {
		if rc.path != good {
			t.Errorf("a line read under %s, want %s", rc.path, good)
		}
	}
	if got := hostile67Skipped(r, skipOutside); got != 1 {
		t.Errorf("%v refused as outside, want 1", got)
	}
	if got := hostile67Skipped(r, skipSymlink); got != 2 {
		t.Errorf("%v refused as symlinks, want 2", got)
	}
	if got := hostile67Skipped(r, skipNotRegular); got != 2 {
		t.Errorf("%v refused as not regular, want 2", got)
	}
}

// TestHostile67ExcluderSeesPodsPath: the Excluder (a pod annotation,
// enrich.ParsePath reads the pods path) is asked about the file a link
// names under its pods path, at discovery and at a restart that finds the
// file rotated while no agent ran (the entry migrated from the link's
// name): none of the excluded pod's lines are read.
func TestHostile67ExcluderSeesPodsPath(t *testing.T) {
	n := newLinkNode(t)
	keep, keepLink := n.pod("keep", "web", "1")
	drop, dropLink := n.pod("drop", "web", "2")
	appendFile(t, keep, lines(0, 3))
	appendFile(t, drop, lines(100, 103))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "both files", func() bool { return hasSeq(r, 2) && hasSeq(r, 102) })
	stopClosed(t, r)
	hostile67Linkify(t, state, keep, keepLink, drop, dropLink)
	appendFile(t, drop, lines(103, 105))
	mustRename(t, drop, drop+".20261207-000001")
	appendFile(t, drop, lines(105, 107))
	appendFile(t, keep, lines(3, 5))
	var asked []string
	ex := excluder(func(p string) bool {
		asked = append(asked, p) // Run's goroutine only
		return strings.HasPrefix(p, filepath.Join(n.pods, "drop_"))
	})
	r2 := startRunner(t, cfg, Options{Excluder: ex})
	stopAfter(t, r2, 4, 5*time.Second, "the kept pod's new lines")
	if got := seqs(r2.snapshot()); !slices.Equal(got, upto(3, 5)) {
		t.Errorf("lines %v, want %v (none of the excluded pod)", got, upto(3, 5))
	}
	for _, p := range asked {
		if strings.HasPrefix(p, n.containers) {
			t.Errorf("the Excluder was asked about the link %s", p)
		}
	}
}

// TestHostile67LinkReplacedByFile: a link replaced (renamed over) by a
// regular file while the link's file is followed: the regular file is read
// under the link directory's path, as before links.go, and the target's
// lines written afterwards are still read (it is still followed, as the
// pods file it is), each once.
func TestHostile67LinkReplacedByFile(t *testing.T) {
	n := newLinkNode(t)
	target, link := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 3))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 2) })
	tmp := filepath.Join(n.containers, ".tmp")
	appendFile(t, tmp, lines(100, 102))
	mustRename(t, tmp, link)
	appendFile(t, target, lines(3, 5))
	waitFor(t, 5*time.Second, "both", func() bool { return hasSeq(r, 101) && hasSeq(r, 4) })
	waitLooked(t, r)
	r.stop()
	var a, b []int
	for _, rc := range r.snapshot() {
		s, _ := seqOf(rc.body)
		if s >= 100 {
			b = append(b, s)
			if rc.path != link {
				t.Errorf("the regular file read under %s", rc.path)
			}
		} else {
			a = append(a, s)
		}
	}
	if !slices.Equal(a, upto(0, 5)) || !slices.Equal(b, upto(100, 102)) {
		t.Errorf("lines %v and %v, want %v and %v", a, b, upto(0, 5), upto(100, 102))
	}
}

// TestHostile67LinkMadeAgainBeforeWatch: Run's start resolves the links
// the checkpoint names (an earlier agent's entries, loadState) before the
// link directory is watched. A link made again naming another file in
// between (TestLinkMadeAgain's hand or tool) sends no notification, and
// the first scan, the directory watched by then, must not take the
// target resolved before the watch for the link's.
func TestHostile67LinkMadeAgainBeforeWatch(t *testing.T) {
	n := newLinkNode(t)
	a, link := n.pod("ns", "web", "1")
	appendFile(t, a, lines(0, 3))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first file", func() bool { return hasSeq(r, 2) })
	stopClosed(t, r)
	hostile67Linkify(t, state, a, link)
	// The next agent's start, step by step as Run takes it.
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	b := filepath.Join(n.pods, "ns_other_uid-2", "app", "0.log")
	must(t, os.MkdirAll(filepath.Dir(b), 0o755))
	appendFile(t, b, lines(3, 6))
	must(t, os.Remove(link))
	must(t, os.Symlink(b, link))
	w, err := newNotifier()
	must(t, err)
	defer w.Close()
	tl.watcher, tl.dirs = w, newDirCache(w.Watching)
	tl.watch()
	tl.rescan(now, true)
	for range fullEvery - 1 { // the rescans before one reads every link again
		tl.dirs.rescan()
		tl.rescan(now, false)
	}
	if tl.byPath[b] == nil {
		t.Errorf("the file the link names now is not followed (followed: %v)", slices.Collect(maps.Keys(tl.byPath)))
	}
}

// TestHostile67SecondLinkRemovedStillIncluded: two links name one file;
// the notification of one's removal must not leave the file not included
// while the other still names it (the other's target taken from the
// cache, not read again, until every link is read again).
func TestHostile67SecondLinkRemovedStillIncluded(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	second := filepath.Join(n.containers, "web_ns_app-2.log")
	must(t, os.Symlink(target, second))
	appendFile(t, target, lines(0, 3))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	w, err := newNotifier()
	must(t, err)
	defer w.Close()
	tl.watcher, tl.dirs = w, newDirCache(w.Watching)
	tl.watch()
	tl.rescan(now, true)
	tl.rescan(now, false) // the links cached, read while watched
	if !tl.included(target) {
		t.Fatal("the target is not included")
	}
	must(t, os.Remove(second))
	drainSteps(t, tl, now, func() bool { _, ok := tl.links[second]; return !ok })
	tl.rescan(now, false)
	if !tl.included(target) {
		t.Errorf("the target is not included, though a link still names it")
	}
}
