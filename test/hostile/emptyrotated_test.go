package hostile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestHostileEmptyLogGzippedWhileStopped: kubelet rotates 0.log just
// before a graceful stop, so the checkpoint names the new 0.log while it is
// still empty (no fingerprint). While the agent is stopped the container
// writes, kubelet rotates twice more and gzips all but the newest rotated
// file, the kubelet way: the file the checkpoint names now exists only as
// a .gz. The README promises that a graceful restart loses and duplicates
// nothing and that rotation (also into .gz) while the agent was down is
// finished: no line may arrive twice, and nothing was lost so no file may
// be counted lost.
func TestHostileEmptyLogGzippedWhileStopped(t *testing.T) {
	w := newWorld(t, worldOpt{})
	stopOnEmptyLog(t, w)
	rotateWhileStopped(t, w)
	w.lines(w.path, 200, 250)
	p := w.agent.Start()
	w.waitSeqs(100, 250, 30*time.Second)
	w.lines(w.path, 250, 251)
	w.waitSeqs(250, 251, 30*time.Second)
	m := w.settled(151, 20*time.Second)
	lost, dup := w.count(0, 251)
	if lost > 0 || dup > 0 {
		t.Errorf("after a graceful restart: %d lines lost (%s), %d delivered twice (the rotated file read before the stop, read again)",
			lost, w.missing(0, 251), dup)
	}
	if v := m.Sum("ferry_tail_lost_files_total"); v != 0 {
		t.Errorf("ferry_tail_lost_files_total = %v, want 0: no file was deleted", v)
	}
	stop(t, p)
}

// rot is the name kubelet gives 0.log's rotation number n.
func (w *world) rot(n string) string { return w.path + ".20261126-0355" + n }

// stopOnEmptyLog runs the agent on lines 0-99, has kubelet rotate 0.log
// (to rot("01")) and the runtime reopen an empty one, waits until the
// checkpoint names only that empty 0.log (the rotated file read to its end
// and forgotten), and stops the agent gracefully. It returns the empty
// file's inode.
func stopOnEmptyLog(t *testing.T, w *world) uint64 {
	t.Helper()
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	must(t, os.Rename(w.path, w.rot("01")))
	w.raw(w.path, "") // the runtime reopens: a new, empty 0.log
	ino := inode(t, w.path)
	waitFor(t, "a checkpoint naming only the new, empty 0.log", 20*time.Second, func() bool {
		es := w.entries()
		return len(es) == 1 && es[0].Ino == ino && es[0].Offset == 0
	})
	stop(t, p)
	return ino
}

// rotateWhileStopped is kubelet going on while no agent runs: lines
// 100-149 into 0.log, rotated to rot("02") with rot("01") gzipped, lines
// 150-199, rotated to rot("03") with rot("02") gzipped (the inode of the
// checkpointed 0.log is free then).
func rotateWhileStopped(t *testing.T, w *world) {
	t.Helper()
	w.lines(w.path, 100, 150)
	must(t, os.Rename(w.path, w.rot("02")))
	must(t, simnode.GzipFile(w.rot("01")))
	w.lines(w.path, 150, 200)
	must(t, os.Rename(w.path, w.rot("03")))
	must(t, simnode.GzipFile(w.rot("02")))
}

type stateEntry struct {
	Path   string `json:"path"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	Done   bool   `json:"done"`
}

// entries are the entries of the state file for files still to be read
// (nil if unreadable): anchors (done: the newest finished rotated file of a
// path) are left out.
func (w *world) entries() []stateEntry {
	data, err := os.ReadFile(filepath.Join(w.cfg.StateDir, "tail.json"))
	if err != nil {
		return nil
	}
	var st struct {
		Files []stateEntry `json:"files"`
	}
	if json.Unmarshal(data, &st) != nil {
		return nil
	}
	var out []stateEntry
	for _, e := range st.Files {
		if !e.Done {
			out = append(out, e)
		}
	}
	return out
}
