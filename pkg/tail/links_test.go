package tail

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// linkNode is a node's /var/log with a pods directory and the kubelet's
// containers link directory beside it.
type linkNode struct {
	t                      *testing.T
	base, pods, containers string
}

func newLinkNode(t *testing.T) *linkNode {
	t.Helper()
	base := t.TempDir()
	n := &linkNode{t: t, base: base, pods: filepath.Join(base, "pods"), containers: filepath.Join(base, "containers")}
	must(t, os.MkdirAll(n.pods, 0o755))
	must(t, os.MkdirAll(n.containers, 0o755))
	return n
}

// pod makes pod's container log (empty) and its link, named as the
// kubelet names them; it returns the log's path and the link's.
func (n *linkNode) pod(ns, pod, id string) (target, link string) {
	n.t.Helper()
	target = filepath.Join(n.pods, ns+"_"+pod+"_uid-"+id, "app", "0.log")
	must(n.t, os.MkdirAll(filepath.Dir(target), 0o755))
	appendFile(n.t, target, "")
	link = filepath.Join(n.containers, pod+"_"+ns+"_app-"+id+".log")
	must(n.t, os.Symlink(target, link))
	return target, link
}

func (n *linkNode) config(state string, include ...string) Config {
	cfg := testConfig(n.pods, state)
	cfg.Include = include
	return cfg
}

// TestLinkFollowedAsTarget: a link directory's entry is read under its
// target's path (the pods path, which names namespace, pod, uid and
// container for enrichment, where the link's name has no uid), and kubelet's
// rotations beside the target are followed: two rotations between two
// looks lose nothing, and every line comes once, in order.
func TestLinkFollowedAsTarget(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 5))
	r := startRunner(t, n.config(t.TempDir(), filepath.Join(n.containers, "*.log")), Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	appendFile(t, target, lines(5, 8))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(8, 12))
	mustRename(t, target, target+".20261207-000011")
	appendFile(t, target, lines(12, 14))
	stopAfter(t, r, 13, 5*time.Second, "the last line")
	recs := r.snapshot()
	if got := seqs(recs); !slices.Equal(got, upto(0, 14)) {
		t.Errorf("lines %v, want %v", got, upto(0, 14))
	}
	for _, rc := range recs {
		if !strings.HasPrefix(rc.path, filepath.Dir(target)+"/") {
			t.Fatalf("a line read under %s, not beside the link's target %s", rc.path, target)
		}
	}
	if got := hostile61Lost(t, r.reg); got != 0 {
		t.Errorf("%v counted lost", got)
	}
}

// TestLinkCheckpointOfAnEarlierAgent: an agent before links were followed
// as their targets checkpointed a link's file under the link's path. The
// next agent takes that entry for the target's: it reads on from its
// offset (nothing again) and finds the file rotated while no agent ran.
func TestLinkCheckpointOfAnEarlierAgent(t *testing.T) {
	n := newLinkNode(t)
	target, link := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 5))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	first := stopClosed(t, r)
	// The checkpoint as the earlier agent wrote it.
	sp := filepath.Join(state, stateName)
	b, err := os.ReadFile(sp)
	must(t, err)
	if !strings.Contains(string(b), `"`+target+`"`) {
		t.Fatalf("the checkpoint does not name the target:\n%s", b)
	}
	must(t, os.WriteFile(sp, []byte(strings.ReplaceAll(string(b), `"`+target+`"`, `"`+link+`"`)), 0o600))
	appendFile(t, target, lines(5, 8))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(8, 10))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 9, 5*time.Second, "the last line")
	if got := append(first, seqs(r2.snapshot())...); !slices.Equal(got, upto(0, 10)) {
		t.Errorf("lines %v, want %v", got, upto(0, 10))
	}
	if got := hostile61Lost(t, r2.reg); got != 0 {
		t.Errorf("%v counted lost", got)
	}
}

// TestLinkGlobSelects: a glob on the links' names selects a namespace.
// The files of the other namespace are not read: not when they rotate,
// not at the next start, though they lie in the same pods directory as
// the files read.
func TestLinkGlobSelects(t *testing.T) {
	n := newLinkNode(t)
	mine, _ := n.pod("mine", "web", "1")
	other, _ := n.pod("other", "web", "2")
	appendFile(t, mine, lines(0, 3))
	appendFile(t, other, lines(100, 103))
	state := t.TempDir()
	cfg := n.config(state, filepath.Join(n.containers, "*_mine_*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "mine", func() bool { return hasSeq(r, 2) })
	for _, p := range []string{mine, other} {
		mustRename(t, p, p+".20261207-000001")
		appendFile(t, p, "")
	}
	appendFile(t, other, lines(103, 105))
	appendFile(t, mine, lines(3, 5))
	waitFor(t, 5*time.Second, "mine after its rotation", func() bool { return hasSeq(r, 4) })
	first := stopClosed(t, r)
	appendFile(t, other, lines(105, 107))
	appendFile(t, mine, lines(5, 7))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 6, 5*time.Second, "mine after the restart")
	if got := append(first, seqs(r2.snapshot())...); !slices.Equal(got, upto(0, 7)) {
		t.Errorf("lines %v, want %v (the other namespace's none)", got, upto(0, 7))
	}
}

// TestLinkMadeAgain: a link removed and made again naming another file
// (the kubelet never does; a hand or a tool may) has the new file read,
// also when notifications are off (the rescan reads links again).
func TestLinkMadeAgain(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "notified", true: "polled"}[pollOnly], func(t *testing.T) {
			n := newLinkNode(t)
			a, link := n.pod("ns", "web", "1")
			appendFile(t, a, lines(0, 3))
			cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.pollOnly = pollOnly })
			waitFor(t, 5*time.Second, "the first file", func() bool { return hasSeq(r, 2) })
			b := filepath.Join(n.pods, "ns_other_uid-2", "app", "0.log")
			must(t, os.MkdirAll(filepath.Dir(b), 0o755))
			appendFile(t, b, lines(3, 6))
			must(t, os.Remove(link))
			must(t, os.Symlink(b, link))
			waitFor(t, 10*time.Second, "the file the link names now", func() bool { return hasSeq(r, 5) })
			r.stop()
			if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 6)) {
				t.Errorf("lines %v, want %v", got, upto(0, 6))
			}
		})
	}
}

// TestLinkAndPodsGlobOnePath: with both the pods glob and the link
// directory included, each file is read once, under its pods path, however
// the two are found first.
func TestLinkAndPodsGlobOnePath(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 3))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"), filepath.Join(n.pods, "*", "*", "*.log"))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, 2) })
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(3, 6))
	stopAfter(t, r, 5, 5*time.Second, "the new file's lines")
	recs := r.snapshot()
	if got := seqs(recs); !slices.Equal(got, upto(0, 6)) {
		t.Errorf("lines %v, want %v", got, upto(0, 6))
	}
	for _, rc := range recs {
		if filepath.Dir(rc.path) != filepath.Dir(target) {
			t.Errorf("a line read under %s", rc.path)
		}
	}
}

// TestLinkNewContainerRotatedBeforeFound: without notifications, a new
// container's link is found by a rescan after kubelet rotated its log:
// the rotated file, beside the target, is read first, as a pods glob's
// would be.
func TestLinkNewContainerRotatedBeforeFound(t *testing.T) {
	n := newLinkNode(t)
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	cfg.StartAt = "end" // a running agent's start: history is not read, new paths are
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.pollOnly = true })
	waitLooked(t, r)
	target, _ := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 5))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(5, 8))
	stopAfter(t, r, 7, 10*time.Second, "the new file's lines")
	if got := seqs(r.snapshot()); !slices.Equal(got, upto(0, 8)) {
		t.Errorf("lines %v, want %v", got, upto(0, 8))
	}
}

// TestLinkTargetDirectoryWatched: the directory of a file followed through
// a link is watched (no glob names it): a write there is notified and
// read, without a poll; busy, it is polled as any container directory,
// and watched again when quiet.
func TestLinkTargetDirectoryWatched(t *testing.T) {
	n := newLinkNode(t)
	target, _ := n.pod("ns", "web", "1")
	appendFile(t, target, lines(0, 5))
	cfg := n.config(t.TempDir(), filepath.Join(n.containers, "*.log"))
	out := make(chan []event.Log, 100000)
	tl, err := New(cfg, nil, out, Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	watchSteps(t, tl)
	dir := filepath.Dir(target)
	if !tl.watcher.Watching(dir) {
		t.Fatalf("the link's target directory %s is not watched (watched: %v)", dir, tl.watcher.Dirs())
	}
	tl.readTurn(now)
	appendFile(t, target, lines(5, 6))
	f := tl.byPath[target]
	drainSteps(t, tl, now, func() bool { return f.dirty })
	now = now.Add(cfg.ReadInterval)
	tl.readTurn(now)
	next := 6
	for i := 0; i < busyPolls; i++ {
		busyStep(t, tl, target, &next, &now)
	}
	if !tl.isPolled(dir) || tl.watcher.Watching(dir) {
		t.Fatalf("busy, the target directory is not polled (polled %v, watched %v)", tl.isPolled(dir), tl.watcher.Watching(dir))
	}
	if !tl.watcher.Watching(n.containers) {
		t.Fatal("the link directory is no longer watched")
	}
	// A rescan leaves it unwatched.
	tl.watch()
	if tl.watcher.Watching(dir) {
		t.Fatal("watch() watched the polled target directory again")
	}
	// Two polls without growth (the first still counts the last read):
	// watched again.
	busyStep(t, tl, "", &next, &now)
	busyStep(t, tl, "", &next, &now)
	if tl.isPolled(dir) || !tl.watcher.Watching(dir) {
		t.Fatalf("quiet, the target directory is not watched again (polled %v, watched %v)", tl.isPolled(dir), tl.watcher.Watching(dir))
	}
	if missing := notOnce(out, 0, next); len(missing) > 0 {
		t.Fatalf("lines not received once: %v", missing)
	}
}
