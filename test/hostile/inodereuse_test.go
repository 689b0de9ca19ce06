package hostile

import (
	"os"
	"testing"
	"time"
)

// TestHostileEmptyLogInodeReused: kubelet rotates 0.log just before a
// graceful stop, so the checkpoint names the new 0.log while it is still
// empty (no fingerprint). While the agent is stopped the container writes
// into it, kubelet rotates it and gzips it (its plain inode is freed), and
// the next new 0.log gets that inode again, as ext4 readily does. The
// README promises that a reused inode never resumes at a stale offset and
// that rotation while the agent was down is finished: the lines of the
// rotated files must arrive, or be counted lost.
func TestHostileEmptyLogInodeReused(t *testing.T) {
	w := newWorld(t, worldOpt{})
	emptyIno := stopOnEmptyLog(t, w)
	rotateWhileStopped(t, w) // the checkpoint's inode is free now
	// The runtime reopens: a new 0.log, on the freed inode if the
	// filesystem gives it (a few tries: each leaves a file behind).
	reused, tries := false, 0
	for ; tries < 20 && !reused; tries++ {
		w.raw(w.path, "")
		if reused = inode(t, w.path) == emptyIno; !reused {
			must(t, os.Rename(w.path, w.path+".tmp"+itoa(tries)))
		}
	}
	if !reused {
		t.Skip("the filesystem did not reuse the inode")
	}
	t.Logf("inode reused after %d tries", tries)
	w.lines(w.path, 200, 250)
	p := w.agent.Start()
	w.waitSeqs(200, 250, 30*time.Second)
	m := w.settled(50, 20*time.Second)
	lost, dup := w.count(0, 250)
	counted := m.Sum("ferry_tail_lost_files_total") + m.Sum("ferry_tail_lost_bytes_total")
	if lost > 0 {
		t.Errorf("%d lines of the files rotated while stopped never arrived (%s), %d duplicates; lost counters %v",
			lost, w.missing(0, 250), dup, counted)
	}
	stop(t, p)
}
