package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAttackCopytruncateMidTrace: logrotate's copytruncate runs while the
// agent holds the first lines of a Java trace (flush_timeout ten minutes,
// so only the end of the file can finish it), and the workload wrote two
// more frames of it just before the copy. The copy takes over the file's
// lines; read to its end it is closed and its end marker finishes the
// trace at once: one record holds the header, the exception and the four
// frames. The lines read balance the records sent, the lines merged and
// the lines held (an end marker counted as a line would break it). Then
// the agent is killed right after and started again: nothing written
// after the truncation is lost, and the trace is not split.
func TestAttackCopytruncateMidTrace(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m}\n", worldOpt{})
	var b strings.Builder
	for i := range 10 {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d before", i)))
	}
	w.raw(w.path, b.String()+criLines("stdout", trace(7, "add", "put")...))
	p := w.agent.Start()
	w.waitSeqs(0, 10, 30*time.Second)
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 4
	})
	w.raw(w.path, criLines("stdout", "\tat com.shop.Cart.get(Cart.java:42)", "\tat com.shop.Cart.set(Cart.java:42)"))
	data, err := os.ReadFile(w.path)
	must(t, err)
	must(t, os.WriteFile(w.path+".1", data, 0o644))
	must(t, os.Truncate(w.path, 0))
	b.Reset()
	for i := 10; i < 20; i++ {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d after", i)))
	}
	w.raw(w.path, b.String())
	w.waitSeqs(10, 19, 30*time.Second) // h-seq=19 is held as a possible header
	recs := fr.waitWith(t, "boom 7", 1, 30*time.Second)
	if len(recs) != 1 || recs[0].Lines != 6 || !strings.Contains(recs[0].Message, "Cart.set") {
		for _, r := range recs {
			t.Logf("record of %d lines: %q", r.Lines, r.Message)
		}
		t.Errorf("the trace is not one record of its 6 lines")
	}
	var last procBalance
	if !eventually(20*time.Second, func() bool {
		m, err := w.agent.Scrape()
		if err != nil {
			return false
		}
		last = procBalanceOf(m)
		return last.read >= 26 && last.read == last.sent+last.shipDropped+last.procDropped+last.merged+last.held && last.held == 1
	}) {
		t.Errorf("lines read do not balance records sent + dropped + merged + held: %s", last)
	}
	w.commitAfter(1000, 1010)
	p.Kill()
	p = w.agent.Start()
	w.raw(w.path, cri("stdout", "h-seq=20 last"))
	w.waitSeqs(19, 20, 30*time.Second)
	stop(t, p) // sends h-seq=20, held
	w.waitSeqs(20, 21, 30*time.Second)
	w.check(0, 21, true)
	for _, r := range fr.all() {
		if strings.HasPrefix(r.Message, "\tat ") {
			t.Errorf("a frame of the trace shipped on its own: %q", r.Message)
		}
	}
}

// TestAttackParkedFileContinuesTrace: logs.max_open_files is 8 (its
// least) and nine containers log. The first holds the start of a Java
// trace (flush_timeout ten minutes) when the ninth writes: the first file,
// open longest, is parked for it (its descriptor closed, its state kept),
// then opened again, and the workload finishes the trace. A parked file
// is not at its end: no end marker may finish the trace early. One record
// holds the trace's six lines, and nothing is lost.
func TestAttackParkedFileContinuesTrace(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 10m}\n", worldOpt{logs: []string{"max_open_files: 8"},
		edit: func(y string) string { return strings.Replace(y, "level: info", "level: debug", 1) }})
	w.raw(w.path, cri("stdout", "h-seq=0 before")+criLines("stdout", trace(5, "add", "put")...))
	p := w.agent.Start()
	w.waitSeqs(0, 1, 30*time.Second)
	waitFor(t, "the trace held", 20*time.Second, func() bool {
		return w.metric("ferry_process_multiline_held_lines") == 4
	})
	var others []string
	for i := 1; i <= 8; i++ {
		o := filepath.Join(w.root, fmt.Sprintf("ns_other%d_uid%d", i, i), "app", "0.log")
		mkdirFor(t, o)
		others = append(others, o)
		// The last line of a file is held as a possible header.
		w.raw(o, criLines("stdout", fmt.Sprintf("h-seq=%d other", 100+i), "held"))
		if i == 7 {
			w.waitSeqs(101, 108, 30*time.Second) // every descriptor taken
		}
	}
	waitFor(t, "a file parked for the ninth", 30*time.Second, func() bool {
		return w.metric("ferry_tail_descriptor_waits_total") >= 1
	})
	w.waitSeqs(108, 109, 30*time.Second)
	w.raw(w.path, criLines("stdout", "\tat com.shop.Cart.get(Cart.java:42)", "\tat com.shop.Cart.set(Cart.java:42)", "h-seq=1 after"))
	recs := fr.waitWith(t, "boom 5", 1, 30*time.Second)
	if len(recs) != 1 || recs[0].Lines != 6 {
		for _, r := range recs {
			t.Logf("record of %d lines: %q", r.Lines, r.Message)
		}
		t.Errorf("the trace of a parked file is not one record of its 6 lines")
	}
	if !strings.Contains(grepLines(p.Output(), `"parked for a waiting file"`), `"path":"`+w.path+`"`) {
		t.Errorf("the first file was never parked: the attack did not happen\n%s", grepLines(p.Output(), "parked"))
	}
	stop(t, p)
	w.waitSeqs(0, 2, 30*time.Second)
	for _, r := range fr.all() {
		if strings.HasPrefix(r.Message, "\tat ") {
			t.Errorf("a frame of the trace shipped on its own: %q", r.Message)
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
