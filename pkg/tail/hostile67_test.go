package tail

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	waitFor(t, 5*time.Second, "the kept pod's new lines", func() bool { return hasSeq(r2, 4) })
	waitLooked(t, r2)
	r2.stop()
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
	waitFor(t, 5*time.Second, "the kept pod's lines", func() bool { return hasSeq(r, 2) })
	waitLooked(t, r)
	r.stop()
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
	waitFor(t, 5*time.Second, "the other pod's new lines", func() bool { return hasSeq(r2, 4) })
	waitLooked(t, r2)
	r2.stop()
	if got := hostile61Lost(t, r2.reg); got == 0 {
		t.Errorf("lines %v; the deleted pod's last lines lost, no loss counted", seqs(r2.snapshot()))
	}
}
