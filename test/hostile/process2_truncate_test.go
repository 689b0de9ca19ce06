package hostile

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostileMultilineSourceEndsMidGroup: the file is truncated
// (copytruncate, or an operator's "> 0.log"), or rotated (renamed, a new
// 0.log created) and the rotated file deleted, while the agent holds the
// first lines of a trace; the workload goes on writing into the new file. The lines of
// the old file can never be continued (the tailer itself flushes its
// partial lines of a truncated or rotated file for that reason), yet the
// group is held on until flush_timeout (ten minutes here; a second by
// default, so the window is smaller, not closed), and the tailer commits
// the new file's lines meanwhile. The agent is killed in that window
// (OOM, node pressure) and started again: the truncated trace cannot be
// read again (its file is empty or gone), so it is lost, with no counter moved. Without processing the
// lines would have been shipped when read. The user sees a stack trace
// that never arrives while every line after it does.
func TestHostileMultilineSourceEndsMidGroup(t *testing.T) {
	for _, how := range []string{"truncate", "delete"} {
		t.Run(how, func(t *testing.T) { sourceEndsMidGroup(t, how) })
	}
}

func sourceEndsMidGroup(t *testing.T, how string) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m}\n", worldOpt{})
	var b strings.Builder
	for i := 100; i < 130; i++ {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d before the truncation %s", i, strings.Repeat("y", 200))))
	}
	w.raw(w.path, b.String()+criLines("stdout", trace(0, "add", "put")...))
	p := w.agent.Start()
	w.waitSeqs(100, 130, 30*time.Second)
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 4
	})
	if how == "truncate" {
		must(t, os.Truncate(w.path, 0))
		waitFor(t, "the truncation seen", 20*time.Second, func() bool {
			return w.metric("ferry_tail_truncations_total") >= 1
		})
	} else {
		must(t, os.Rename(w.path, w.path+".20261204-205000"))
	}
	rotated := w.path + ".20261204-205000"
	b.Reset()
	b.WriteString(cri("stdout", "\tat com.shop.Cart.checkout(Cart.java:42)"))
	for i := 1; i < 31; i++ {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d after the truncation", i)))
	}
	w.raw(w.path, b.String())
	w.waitSeqs(1, 30, 30*time.Second) // h-seq=30 is held as a possible header
	if how == "delete" {
		must(t, os.Remove(rotated))
	}
	w.commitAfter(1000, 1010)
	p.Kill()
	p = w.agent.Start()
	w.raw(w.path, cri("stdout", "h-seq=31 last"))
	w.waitSeqs(30, 31, 30*time.Second)
	stop(t, p)
	if m := w.missing(1, 32); m != "" {
		t.Errorf("lines written after the %s: %s", how, m)
	}
	if len(fr.with("IllegalStateException: boom 0")) == 0 {
		t.Errorf("the trace held when its file was %sd is lost after a SIGKILL, nothing counted (the new file was committed before the kill)", how)
	}
	w.check(100, 130, true)
}
