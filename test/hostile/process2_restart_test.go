package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trace is the first part of a Java trace whose header is h-seq=seq.
func trace(seq int, frames ...string) []string {
	out := []string{fmt.Sprintf("h-seq=%d ERROR request failed", seq), "java.lang.IllegalStateException: boom " + itoa(seq)}
	for _, f := range frames {
		out = append(out, "\tat com.shop.Cart."+f+"(Cart.java:42)")
	}
	return out
}

// holdTrace starts the agent on a world (java rule, a flush_timeout of
// ten minutes) with the first part of a trace on stdout and plain lines
// on stderr after it, in the same file, and a second pod's file fully
// shipped and committed after both: the held group is the only thing
// that keeps the first file's checkpoint back.
func holdTrace(t *testing.T) (*world, *fullRecords, int64) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m}\n", worldOpt{})
	w.raw(w.path, criLines("stdout", trace(0, "add", "put")...))
	held := fileSize(t, w.path)
	var b strings.Builder
	for i := 100; i < 110; i++ {
		b.WriteString(cri("stderr", fmt.Sprintf("h-seq=%d stderr line", i)))
	}
	w.raw(w.path, b.String())
	return w, fr, held
}

// commitAfter writes a second pod's lines and waits until they are shipped
// and its checkpoint reaches the start of its last line (held by the
// multiline rule as a possible group start): a commit happened after
// everything written before.
func (w *world) commitAfter(from, to int) {
	w.t.Helper()
	other := filepath.Join(w.root, "ns_other_uid2", "app", "0.log")
	mkdirFor(w.t, other)
	w.lines(other, from, to-1)
	size := fileSize(w.t, other)
	w.lines(other, to-1, to)
	w.waitSeqs(from, to-1, 30*time.Second)
	waitFor(w.t, "the other pod's checkpoint at its last line", 30*time.Second, func() bool {
		off, ok := w.checkpoint(other)
		return ok && off == size
	})
}

// TestMultilineSIGKILLMidGroup: the agent is killed (OOM, node pressure)
// while it holds the first four lines of a Java trace; plain stderr lines
// of the same file after the trace were shipped and acknowledged. The
// README: "a restart in the middle of a group reads the group again
// whole". After the restart the trace is finished: one record holds its
// five lines, none is lost, and the stderr lines are not lost either.
func TestMultilineSIGKILLMidGroup(t *testing.T) {
	w, fr, _ := holdTrace(t)
	p := w.agent.Start()
	w.waitSeqs(100, 109, 30*time.Second) // the last stderr line is itself held
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 5
	})
	w.commitAfter(1000, 1010)
	if off, _ := w.checkpoint(w.path); off != 0 {
		t.Errorf("checkpoint of the file is %d while the group of its first lines is held: want 0", off)
	}
	p.Kill()
	w.raw(w.path, criLines("stdout", "\tat com.shop.Cart.checkout(Cart.java:42)", "h-seq=1 done"))
	p = w.agent.Start()
	want := strings.Join(append(trace(0, "add", "put"), "\tat com.shop.Cart.checkout(Cart.java:42)"), "\n")
	got := fr.waitWith(t, "IllegalStateException: boom 0", 1, 30*time.Second)
	stop(t, p) // flushes the held "h-seq=1 done" and h-seq=109
	w.waitSeqs(1, 2, 10*time.Second)
	w.waitSeqs(109, 110, 10*time.Second)
	got = fr.with("IllegalStateException: boom 0")
	var whole bool
	for _, r := range got {
		whole = whole || (r.Message == want && r.Lines == 5)
	}
	if !whole {
		t.Errorf("no record holds the whole trace after SIGKILL mid-group; records with it:\n%v", got)
	}
	w.check(100, 110, true)
	w.check(0, 2, true)
}

// TestMultilineSIGTERMMidGroup: SIGTERM while a trace is held sends it as
// it is (the input closed), acknowledges and commits it; the next agent
// neither ships it again nor loses what follows.
func TestMultilineSIGTERMMidGroup(t *testing.T) {
	w, fr, _ := holdTrace(t)
	p := w.agent.Start()
	w.waitSeqs(100, 109, 30*time.Second)
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 5
	})
	stop(t, p)
	if got := fr.with("IllegalStateException: boom 0"); len(got) != 1 || got[0].Lines != 4 {
		t.Fatalf("after SIGTERM: want one record of the 4 held lines, got %v", got)
	}
	size := fileSize(t, w.path)
	if off, _ := w.checkpoint(w.path); off != size {
		t.Errorf("checkpoint after SIGTERM is %d, want the end of the file %d", off, size)
	}
	w.raw(w.path, criLines("stdout", "h-seq=1 after"))
	p = w.agent.Start()
	stop(t, p)
	w.waitSeqs(1, 2, 10*time.Second)
	if got := fr.with("IllegalStateException: boom 0"); len(got) != 1 {
		t.Errorf("the trace was shipped %d times", len(got))
	}
	w.check(0, 2, false)
	w.check(100, 110, false)
}

// TestMultilineReloadMidGroup: the processing section is changed (a
// ConfigMap update: another flush_timeout, a redaction rule added) while
// a trace is held. The reload drains as SIGTERM does: the held group goes
// out once, whole as it was, and nothing is read twice or lost.
func TestMultilineReloadMidGroup(t *testing.T) {
	w, fr, _ := holdTrace(t)
	p := w.agent.Start()
	w.waitSeqs(100, 109, 30*time.Second)
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 5
	})
	y, err := os.ReadFile(w.agent.Config)
	must(t, err)
	s := strings.Replace(string(y), "flush_timeout: 10m}", "flush_timeout: 9m}\n  redact: {builtins: [email]}", 1)
	if s == string(y) {
		t.Fatal("flush_timeout not found in the config")
	}
	must(t, os.WriteFile(w.agent.Config, []byte(s), 0o644))
	waitFor(t, "the reload applied", 30*time.Second, func() bool {
		return w.metric("ferry_config_reload_total", `result="applied"`) >= 1
	})
	w.raw(w.path, criLines("stdout", "h-seq=1 after the reload", "h-seq=2 last"))
	w.waitSeqs(1, 2, 30*time.Second)
	stop(t, p)
	if got := fr.with("IllegalStateException: boom 0"); len(got) != 1 || got[0].Lines != 4 {
		t.Errorf("want the held trace once, 4 lines; got %v", got)
	}
	w.check(0, 3, false)
	w.check(100, 110, false)
}

// TestMultilinePartialFrameSIGKILL: a trace's frame longer than 16 KiB is
// written by containerd as CRI partial lines (P fragments, then F). The
// agent holds the first lines of the trace and the first fragments of the
// long frame when it is killed; the rest is written while it is down. The
// next agent ships the trace once whole, the long frame merged into one
// line of it, every fragment in place and none a line of its own.
func TestMultilinePartialFrameSIGKILL(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m}\n", worldOpt{})
	long := "\tat com.shop.Cart.generated$" + strings.Repeat("L", 40<<10) + "(Cart.java:1)"
	frags := []string{long[:16<<10], long[16<<10 : 32<<10], long[32<<10:]}
	w.raw(w.path, criLines("stdout", trace(0, "add")...)+
		"2026-12-04T20:50:00.000000000Z stdout P "+frags[0]+"\n"+
		"2026-12-04T20:50:00.000000000Z stdout P "+frags[1]+"\n")
	size := fileSize(t, w.path)
	p := w.agent.Start()
	waitFor(t, "the trace held and the fragments read", 20*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_process_multiline_held_lines") == 3 && m.Sum("ferry_tail_read_bytes_total") >= float64(size)
	})
	p.Kill()
	w.raw(w.path, "2026-12-04T20:50:00.000000000Z stdout F "+frags[2]+"\n"+
		criLines("stdout", "\tat com.shop.Cart.checkout(Cart.java:42)", "h-seq=1 done"))
	p = w.agent.Start()
	fr.waitWith(t, "IllegalStateException: boom 0", 1, 30*time.Second)
	stop(t, p)
	w.waitSeqs(1, 2, 10*time.Second)
	want := strings.Join(append(trace(0, "add"), long, "\tat com.shop.Cart.checkout(Cart.java:42)"), "\n")
	got := fr.with("IllegalStateException: boom 0")
	if len(got) != 1 || got[0].Message != want || got[0].Lines != 5 || got[0].Truncated {
		for _, r := range got {
			t.Errorf("record of %d lines, %d bytes (want %d), truncated %v", r.Lines, len(r.Message), len(want), r.Truncated)
		}
		t.Errorf("want the trace once, whole, 5 lines; got %d records", len(got))
	}
	if n := len(fr.with("LLLLLLLL")); n != 1 {
		t.Errorf("the long frame is in %d records, want 1", n)
	}
}
