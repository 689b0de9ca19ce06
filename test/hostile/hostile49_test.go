package hostile

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostile49CarryKilledBeforeTheEnd: containerd wrote the first
// fragment of a line, kubelet rotated 0.log, the runtime reopened it and
// wrote nothing yet: the agent closed the rotated file and carried the
// fragment into the empty new file's merge. The agent is SIGKILLed there;
// the line's end and more lines are written while it is down. The next
// agent reads the fragment again from the rotated file (its checkpoint
// held it there) and merges it: the line arrives once, whole, and nothing
// is counted cut.
func TestHostile49CarryKilledBeforeTheEnd(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 10)
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	head := "h-seq=10 " + strings.Repeat("a", 1000)
	tail := strings.Repeat("b", 1000)
	w.raw(w.path, "2026-11-26T03:55:09.123456789Z stdout P "+head+"\n")
	waitFor(t, "the P fragment read", 10*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_read_bytes_total") >= float64(fileSize(t, w.path))
	})
	rotIno := inode(t, w.path)
	must(t, os.Rename(w.path, w.path+".20261126-035509"))
	w.raw(w.path, "")
	newIno := inode(t, w.path)
	waitFor(t, "the new file checkpointed and the rotated one closed", 20*time.Second, func() bool {
		var rot, nw bool
		for _, e := range w.entries() {
			rot = rot || (e.Ino == rotIno && e.Offset < fileSize(t, w.path+".20261126-035509"))
			nw = nw || e.Ino == newIno
		}
		m, err := w.agent.Scrape()
		return rot && nw && err == nil && m.Sum("ferry_tail_open_files") == 1
	})
	p.Kill()
	w.raw(w.path, "2026-11-26T03:55:09.223456789Z stdout F "+tail+"\n")
	w.lines(w.path, 11, 20)
	p = w.agent.Start()
	w.waitSeqs(11, 20, 60*time.Second)
	m := w.settled(10, 20*time.Second)
	if v := m.Sum("ferry_tail_partial_lines_cut_total"); v != 0 {
		t.Errorf("ferry_tail_partial_lines_cut_total = %v, want 0", v)
	}
	var got []string
	whole := 0
	for _, r := range w.records() {
		if strings.HasPrefix(r.Message, "h-seq=10 ") || strings.HasPrefix(r.Message, "bbb") {
			got = append(got, fmt.Sprintf("%.12q...(%d bytes, truncated=%v)", r.Message, len(r.Message), r.Truncated))
		}
		if r.Message == head+tail && !r.Truncated {
			whole++
		}
	}
	if len(got) != 1 || whole != 1 {
		t.Errorf("the line split by rotation arrived as %v, want it once, whole and not flagged", got)
	}
	w.check(0, 20, true)
	stop(t, p)
}
