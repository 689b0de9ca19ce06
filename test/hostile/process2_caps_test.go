package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/e2eharness"
)

// TestMultilineEndlessTrace: a workload in a crash loop prints one Java
// trace of 20 000 frames (a deep recursion), on stdout, while its stderr
// gets plain lines between the frames, some of them CRI partial lines.
// With max_lines 1000 the trace comes out in records of at most 1000
// lines, each cut one flagged truncated and counted; the frames after a
// cut go on being grouped (a cut does not turn the rest of the trace into
// one record per frame); nothing is lost, the stderr lines come out whole
// and one record each, and the counters balance.
func TestMultilineEndlessTrace(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, max_lines: 1000, flush_timeout: 500ms}\n", worldOpt{})
	const frames = 20000
	var b strings.Builder
	b.WriteString(criLines("stdout", trace(0)...))
	for i := range frames {
		fmt.Fprintf(&b, "2026-12-04T20:50:00.000000000Z stdout F \tat com.shop.Deep.recurse%d(Deep.java:%d)\n", i, i)
		if i%1000 == 500 {
			fmt.Fprintf(&b, "2026-12-04T20:50:00.000000000Z stderr P h-seq=%d part one, \n", 100+i/1000)
			b.WriteString("2026-12-04T20:50:00.000000000Z stderr F part two\n")
		}
	}
	b.WriteString(cri("stdout", "h-seq=1 done"))
	w.raw(w.path, b.String())
	lines := 2 + frames + 20 + 1
	p := w.agent.Start()
	w.waitSeqs(100, 120, 60*time.Second)
	bal, ok := w.procSettled(float64(lines), 60*time.Second)
	if !ok {
		t.Fatalf("counters do not balance: %s", bal)
	}
	var frameLines, recs, cut int
	for _, r := range fr.all() {
		if !strings.Contains(r.Message, "com.shop.Deep.recurse") {
			continue
		}
		recs++
		n := max(r.Lines, 1)
		if n > 1000 {
			t.Errorf("a record of %d lines with max_lines 1000", n)
		}
		if r.Truncated {
			cut++
		}
		frameLines += strings.Count(r.Message, "com.shop.Deep.recurse")
	}
	if frameLines != frames {
		t.Errorf("%d frames shipped, want %d", frameLines, frames)
	}
	if recs > frames/1000+2 {
		t.Errorf("the trace came out in %d records (%d cut): after a cut the frames are no longer grouped", recs, cut)
	}
	if n := w.metric("ferry_process_multiline_cut_total", `reason="lines"`); n != float64(cut) || cut == 0 {
		t.Errorf(`ferry_process_multiline_cut_total{reason="lines"} = %v, records flagged truncated %d`, n, cut)
	}
	for _, r := range fr.with("part one") {
		if !strings.HasSuffix(r.Message, "part one, part two") || r.Stream != "stderr" {
			t.Errorf("a partial stderr line came out as %q (%s)", r.Message, r.Stream)
		}
	}
	w.check(100, 120, false)
	stop(t, p)
	w.waitSeqs(1, 2, 10*time.Second)
}

// TestHostileMultilineMaxBytesOverMessage: a config author raises
// multiline.max_bytes to 2 MiB so that long traces stay whole (Fluent
// Bit's buffer is that size). The validation accepts it, although it
// refuses a logs.max_line_bytes over sink.kafka.max_message_bytes ("a line
// that long could never be sent"). A trace of 1000 frames of 1.3 KB then
// becomes one record of 1.3 MB, which the sink drops as too large: the
// whole trace is lost (counted), where the default cap would have shipped
// it in three cut records. Either the config is refused, naming
// multiline.max_bytes, or the trace arrives.
func TestHostileMultilineMaxBytesOverMessage(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, max_bytes: 2097152}\n", worldOpt{})
	out, err := exec.Command(e2eharness.Ferry(t), "validate", "--config", w.agent.Config).CombinedOutput()
	if err != nil && strings.Contains(string(out), "multiline.max_bytes") {
		return // refused, with the field named: fixed
	}
	var b strings.Builder
	b.WriteString(criLines("stdout", trace(0)...))
	for i := range 1000 {
		fmt.Fprintf(&b, "2026-12-04T20:50:00.000000000Z stdout F \tat com.shop.Frame%d.%s(Frame.java:%d)\n", i, strings.Repeat("m", 1250), i)
	}
	b.WriteString(cri("stdout", "h-seq=1 done"))
	w.raw(w.path, b.String())
	p := w.agent.Start()
	bal, _ := w.procSettled(1003, 30*time.Second)
	eventually(10*time.Second, func() bool { return len(fr.with("com.shop.Frame999.")) > 0 })
	if len(fr.with("com.shop.Frame0.")) == 0 || len(fr.with("com.shop.Frame999.")) == 0 {
		t.Errorf("multiline.max_bytes 2 MiB accepted (validate: %v, %s), and the 1.3 MB trace is not shipped: %s", err, strings.TrimSpace(string(out)), bal)
	}
	stop(t, p)
}

// TestMultilineHugeTraceMemory: one container prints a single trace of
// 100 MiB (a recursion of 800 000 frames). The caps bound what a group
// holds (max_bytes, 512 KiB by default), memory.queue_bytes what is in
// flight: the agent's resident memory stays under the chart's 256 MiB,
// every frame arrives, and the counters balance.
func TestMultilineHugeTraceMemory(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java}\n", worldOpt{})
	w.agent.Env = []string{fmt.Sprintf("FERRY_MEMORY_LIMIT=%d", 256<<20)}
	p := w.agent.Start()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	must(t, err)
	var b strings.Builder
	b.WriteString(criLines("stdout", trace(0)...))
	frames, lines := 0, 2
	for size := 0; size < 100<<20; {
		for range 1000 {
			fmt.Fprintf(&b, "2026-12-04T20:50:00.000000000Z stdout F \tat com.shop.Deep.recurse%d(Deep.java:%d) %s\n", frames, frames, strings.Repeat("r", 60))
			frames++
		}
		lines += 1000
		size += b.Len()
		_, err := f.WriteString(b.String())
		must(t, err)
		b.Reset()
	}
	_, err = f.WriteString(cri("stdout", "h-seq=1 done") + cri("stdout", "h-seq=2 done"))
	must(t, err)
	must(t, f.Close())
	lines += 2
	w.waitSeqs(1, 2, 5*time.Minute)
	bal, ok := w.procSettled(float64(lines-1), time.Minute)
	if !ok {
		t.Errorf("counters do not balance: %s", bal)
	}
	m, err := w.agent.Scrape()
	must(t, err)
	var got int
	for _, r := range fr.all() {
		got += strings.Count(r.Message, "com.shop.Deep.recurse")
	}
	peak := peakRSS(t, p.Cmd.Process.Pid)
	t.Logf("%d frames in %d records; RSS %.0f MiB (peak %.0f MiB), heap in use %.0f MiB", got, len(fr.all()),
		m.Sum("process_resident_memory_bytes")/(1<<20), peak/(1<<20), m.Sum("go_memstats_heap_inuse_bytes")/(1<<20))
	if got != frames {
		t.Errorf("%d frames shipped, want %d", got, frames)
	}
	if peak > 256<<20 {
		t.Errorf("peak resident memory %.0f MiB with a 100 MiB trace", peak/(1<<20))
	}
	stop(t, p)
}

// peakRSS is the highest resident memory of process pid so far (VmHWM).
func peakRSS(t *testing.T, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			must(t, err)
			return float64(kb) * 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestMultilineInterleavedStreams: two traces written line by line in
// turn on stdout and stderr of one container, and a workload whose every
// line looks like a trace header ("ERROR ... Exception"). Each stream's
// trace comes out whole as one record; every header line comes out once,
// alone, in order; nothing is lost and the counters balance.
func TestMultilineInterleavedStreams(t *testing.T) {
	w, fr := procWorld(t, "  multiline: {rule: java, flush_timeout: 300ms}\n", worldOpt{})
	out, errs := trace(0, "a", "b", "c"), trace(1, "d", "e", "f")
	var b strings.Builder
	for i := range out {
		b.WriteString(cri("stdout", out[i]))
		b.WriteString(cri("stderr", errs[i]))
	}
	for i := 100; i < 200; i++ {
		b.WriteString(cri("stdout", fmt.Sprintf("h-seq=%d ERROR java.lang.RuntimeException: header %d", i, i)))
	}
	w.raw(w.path, b.String())
	p := w.agent.Start()
	w.waitSeqs(100, 200, 30*time.Second)
	w.waitSeqs(0, 2, 30*time.Second)
	if bal, ok := w.procSettled(float64(2*len(out)+100), 20*time.Second); !ok {
		t.Errorf("counters do not balance: %s", bal)
	}
	for i, tr := range [][]string{out, errs} {
		got := fr.with(tr[1])
		if len(got) != 1 || got[0].Message != strings.Join(tr, "\n") || got[0].Lines != len(tr) {
			t.Errorf("trace %d: want one record of its %d lines, got %v", i, len(tr), got)
		}
	}
	last := -1
	for _, r := range fr.with("RuntimeException: header") {
		var n int
		if _, err := fmt.Sscanf(r.Message, "h-seq=%d", &n); err != nil || n <= last || r.Lines > 1 {
			t.Errorf("header records out of order or grouped: %q after h-seq=%d", r.Message, last)
		}
		last = n
	}
	w.check(100, 200, false)
	stop(t, p)
}
