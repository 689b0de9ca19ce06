package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ferry-dev/ferry/internal/e2eharness"
	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestHostileInput mixes, beside 20 well-behaved containers:
//   - a 100 MiB line without newline (written in 1 MiB chunks, then ended):
//     cut to max_line_bytes, flagged truncated, counted once in
//     ferry_tail_lines_truncated_total; the lines around it arrive;
//   - binary garbage lines and malformed CRI lines: each shipped raw and
//     counted once in ferry_tail_parse_errors_total;
//   - a 24 MiB file deleted while the agent reads it slowly (produce
//     delayed, 1 MiB queue, delete_wait 1s): its unread bytes are counted in
//     ferry_tail_lost_bytes_total{reason="deleted"}, exactly: the file's
//     size minus the end of the last line that reached the broker.
//
// The well-behaved containers lose nothing and nothing is duplicated.
func TestHostileInput(t *testing.T) {
	const maxLine = 256 << 10
	e := newEnv(t, simnode.Config{Pods: 10, ContainersPerPod: 2, LinesPerSecond: 100, LongEvery: 50, LongBytes: 20 << 10,
		Seed: 6}, func(c *e2eharness.AgentConfig) {
		c.QueueBytes = 1 << 20
		c.Logs = append(c.Logs, "delete_wait: 1s", fmt.Sprintf("max_line_bytes: %d", maxLine))
	})
	e.hostile = true
	root := e.dir + "/pods"
	newWriter := func(pod string) *simnode.Writer {
		w, err := simnode.NewWriter(root, "hostile", pod, "0b1e2c3d-0000-4a6b-8c7d-"+fmt.Sprintf("%012d", len(e.extra)), "app")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		e.extra = append(e.extra, w.Container())
		return w
	}
	var (
		mu       sync.Mutex
		huge     []e2eharness.Record
		markers  = map[string]int{}
		slow     atomic.Bool
		delayed  atomic.Int64
		deletedW *simnode.Writer
	)
	e.cons.Foreign = func(r e2eharness.Record) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(r.Message, "HUGE "):
			huge = append(huge, r)
		case strings.HasPrefix(r.Message, "GARBAGE-"), strings.Contains(r.Message, "MALFORMED-"):
			markers[markerRE.FindString(r.Message)]++
		}
	}
	c := e.broker.Cluster()
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if slow.Load() {
			delayed.Add(1)
			c.SleepControl(func() { time.Sleep(500 * time.Millisecond) })
		}
		return nil, nil, false
	})
	e.cons.Start()
	p := e.agent.Start()
	e.write()

	// The 100 MiB line, between sequenced lines.
	hw := newWriter("huge-0")
	must(t, hw.Lines(10, 100))
	must(t, hw.Raw(simnode.AppendCRI(nil, time.Now(), "stdout", []byte("HUGE "))[:0]))
	prefix := simnode.AppendCRI(nil, time.Now(), "stdout", []byte("HUGE "))
	must(t, hw.Raw(prefix[:len(prefix)-1])) // no newline yet
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	const hugeLen = 100 << 20
	for n := 0; n < hugeLen; n += len(chunk) {
		must(t, hw.Raw(chunk))
	}
	must(t, hw.Raw([]byte("\n")))
	must(t, hw.Lines(10, 100))

	// Binary garbage and malformed CRI lines, between sequenced lines.
	gw := newWriter("garbage-0")
	must(t, gw.Lines(3, 100))
	rng := rand.New(rand.NewPCG(6, 6))
	const garbage = 40
	for i := 0; i < garbage; i++ {
		b := []byte(fmt.Sprintf("GARBAGE-%d ", i))
		for j := 0; j < 50+rng.IntN(300); j++ {
			c := byte(rng.IntN(256))
			if c == '\n' {
				c = 0
			}
			b = append(b, c)
		}
		must(t, gw.Raw(append(b, '\n')))
		must(t, gw.Lines(1, 80))
	}
	mw := newWriter("malformed-0")
	must(t, mw.Lines(3, 100))
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	malformed := []string{
		ts + " stdout X MALFORMED-%d bad tag",
		ts + " stdboth F MALFORMED-%d bad stream",
		"26/11/2026 stdout F MALFORMED-%d bad time",
		ts + " MALFORMED-%d missing stream and tag",
		ts + " stdout FMALFORMED-%d no space after tag",
		"MALFORMED-%d",
	}
	for i := 0; i < 10*len(malformed); i++ {
		must(t, mw.Raw([]byte(fmt.Sprintf(malformed[i%len(malformed)], i)+"\n")))
		must(t, mw.Lines(1, 80))
	}
	arrived := func() string {
		mu.Lock()
		n := len(markers)
		mu.Unlock()
		return fmt.Sprintf("markers %d/%d, huge file %d/20, garbage file %d/%d, malformed file %d/%d", n, garbage+10*len(malformed),
			e.cons.Checker.Prefix(hw.Container().Source()),
			e.cons.Checker.Prefix(gw.Container().Source()), gw.Container().Written(),
			e.cons.Checker.Prefix(mw.Container().Source()), mw.Container().Written())
	}
	want := fmt.Sprintf("markers %d/%d, huge file 20/20, garbage file %d/%d, malformed file %d/%d", garbage+10*len(malformed), garbage+10*len(malformed),
		gw.Container().Written(), gw.Container().Written(), mw.Container().Written(), mw.Container().Written())
	deadline := time.Now().Add(60 * time.Second)
	for arrived() != want {
		if time.Now().After(deadline) {
			t.Fatalf("hostile files not shipped within 60s: %s; counters %s", arrived(), e2eharness.BalanceOf(e.scrape()))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A big file, deleted while it is read slowly.
	slow.Store(true)
	deletedW = newWriter("deleted-0")
	for i := 0; i < 100; i++ {
		must(t, deletedW.Lines(1000, 200))
	}
	src := deletedW.Container().Source()
	waitFor(t, "the agent to start reading the big file", 30*time.Second, func() bool {
		return e.cons.Checker.Prefix(src) > 0
	})
	must(t, os.Remove(deletedW.Path()))
	deletedAt := time.Now()
	waitFor(t, "the deleted file to be given up", 30*time.Second, func() bool {
		return e.scrape().Sum("ferry_tail_lost_bytes_total", `reason="deleted"`) > 0
	})
	t.Logf("deleted file (%d bytes) given up %.1fs after deletion; %d produce requests delayed",
		deletedW.Size(), time.Since(deletedAt).Seconds(), delayed.Load())
	slow.Store(false)
	// The deleted file's lines are checked below, not with the others.
	e.extra = e.extra[:len(e.extra)-1]

	time.Sleep(2 * time.Second)
	e.stop()
	e.drain("hostile", 0, 90*time.Second)
	m := e.balanced()

	// Memory does not grow with line length (1 MiB queue, 256 KiB lines).
	if rss := m.Sum("process_resident_memory_bytes"); rss > 128<<20 {
		t.Errorf("agent RSS %.1f MiB after a 100 MiB line", rss/(1<<20))
	}
	// The 100 MiB line: one record, cut to max_line_bytes, flagged.
	mu.Lock()
	defer mu.Unlock()
	if len(huge) != 1 {
		t.Errorf("the 100 MiB line arrived as %d records, want 1", len(huge))
	} else if !huge[0].Truncated || len(huge[0].Message) != maxLine {
		t.Errorf("the 100 MiB line arrived with %d bytes, truncated %v; want %d, true", len(huge[0].Message), huge[0].Truncated, maxLine)
	}
	if got := m.Sum("ferry_tail_lines_truncated_total"); got != 1 {
		t.Errorf("ferry_tail_lines_truncated_total %v, want 1", got)
	}
	// Garbage and malformed lines: each shipped raw, once, and counted.
	for k, n := range markers {
		if n != 1 {
			t.Errorf("%s arrived %d times", k, n)
		}
	}
	if len(markers) != garbage+10*len(malformed) {
		t.Errorf("%d garbage or malformed lines arrived, want %d", len(markers), garbage+10*len(malformed))
	}
	if got := m.Sum("ferry_tail_parse_errors_total"); got != float64(garbage+10*len(malformed)) {
		t.Errorf("ferry_tail_parse_errors_total %v, want %d", got, garbage+10*len(malformed))
	}
	// The deleted file: what arrived is a prefix of it, and exactly the
	// rest is counted lost.
	got, distinct := e.cons.Checker.Prefix(src), e.cons.Checker.Distinct(src)
	wantLost := deletedW.Size() - deletedW.LineEnd(got)
	lost := m.Sum("ferry_tail_lost_bytes_total", `reason="deleted"`)
	t.Logf("deleted file: %d of %d lines arrived, %d bytes counted lost", got, deletedW.Container().Written(), int64(lost))
	if distinct != got {
		t.Errorf("the deleted file's lines that arrived are not a prefix: %d distinct, prefix %d", distinct, got)
	}
	if got == deletedW.Container().Written() || lost == 0 {
		t.Errorf("the deleted file was read to its end: the scenario lost nothing to count")
	}
	if int64(lost) != wantLost {
		t.Errorf("ferry_tail_lost_bytes_total{reason=\"deleted\"} %v, want %d (size %d - end of line %d)", lost, wantLost, deletedW.Size(), got)
	}
	if tr := m.Sum("ferry_tail_lost_bytes_total", `reason="truncated"`); tr != 0 {
		t.Errorf("lost bytes (truncated) %v, want 0", tr)
	}
	if !strings.Contains(p.Output(), "deleted log file closed before it was read to its end") {
		t.Errorf("no warning about the deleted file")
	}
	e.term(p)
}

var markerRE = regexp.MustCompile(`(GARBAGE|MALFORMED)-[0-9]+`)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
