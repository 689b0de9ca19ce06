package hostile

import (
	"os"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
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
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	rot := func(n string) string { return w.path + ".20261126-0355" + n }
	must(t, os.Rename(w.path, rot("01")))
	w.raw(w.path, "") // the runtime reopens: a new, empty 0.log
	emptyIno := inode(t, w.path)
	waitFor(t, "a checkpoint naming only the new, empty 0.log", 20*time.Second, func() bool {
		es := w.entries()
		return len(es) == 1 && es[0].Ino == emptyIno && es[0].Offset == 0
	})
	stop(t, p)
	// While stopped: the container writes, kubelet rotates and gzips.
	w.lines(w.path, 100, 150)
	must(t, os.Rename(w.path, rot("02")))
	must(t, simnode.GzipFile(rot("01")))
	w.lines(w.path, 150, 200)
	must(t, os.Rename(w.path, rot("03")))
	must(t, simnode.GzipFile(rot("02"))) // the checkpoint's inode is free now
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
	p = w.agent.Start()
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
