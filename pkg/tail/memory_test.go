package tail

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestInflightCountsLineCost: a line costs its file bytes plus its record
// and its acknowledgement entry, so a file of tiny lines cannot hold many
// times the in-flight budget in memory.
func TestInflightCountsLineCost(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := startRunner(t, testConfig(dir, state), Options{})
	r.setHold(true)
	data := lines(0, 100)
	appendFile(t, path, data)
	waitFor(t, 5*time.Second, "lines", func() bool { return len(r.snapshot()) == 100 })
	want := float64(int64(len(data)) + 100*lineOverhead)
	if got := testutil.ToFloat64(r.tl.m.inflight); got != want {
		t.Errorf("inflight = %v, want %v (%d file bytes + 100 lines x %d)", got, want, len(data), lineOverhead)
	}
	r.setHold(false)
	waitFor(t, 5*time.Second, "acknowledged", func() bool { return testutil.ToFloat64(r.tl.m.inflight) == 0 })
	r.stop()
}

// TestLongLineCopiedOnce: a line without newline that grows over many reads
// is not copied again on each read: after it passed 64 KiB, its buffer has
// room for the longest line and later reads extend it in place.
func TestLongLineCopiedOnce(t *testing.T) {
	tl, err := New(testConfig(t.TempDir(), ""), nil, make(chan<- []event.Log), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &follower{}
	var bufs []*byte
	pending := 0
	for i := 0; i < 10; i++ { // 10 reads of 8 KiB of one line
		chunk := tl.chunkFor(f, len(f.carry)+8<<10)
		copy(chunk[len(f.carry):], strings.Repeat("x", 8<<10))
		pending += 8 << 10
		f.off += 8 << 10
		tl.consume(f, chunk)
		if len(f.carry) != pending {
			t.Fatalf("carry %d bytes, want %d", len(f.carry), pending)
		}
		if len(bufs) == 0 || &f.carry[0] != bufs[len(bufs)-1] {
			bufs = append(bufs, &f.carry[0])
		}
	}
	// Up to 4 KiB in the own buffer, then a buffer per read while short
	// (< 64 KiB), then one buffer for the rest of the line.
	if n := len(bufs); n > 10 {
		t.Errorf("the pending line moved %d times in 10 reads", n)
	}
	last := bufs[len(bufs)-1]
	for i := 0; i < 10; i++ { // 80 KiB more, still below the raw limit (192 KiB)
		chunk := tl.chunkFor(f, len(f.carry)+8<<10)
		copy(chunk[len(f.carry):], strings.Repeat("y", 8<<10))
		f.off += 8 << 10
		tl.consume(f, chunk)
		if &f.carry[0] != last {
			t.Fatalf("the pending line (%d bytes) was copied again", len(f.carry))
		}
	}
}

// TestBatchesBounded: a batch holds at most maxBatchLines lines and about
// maxBatchBytes, however much one read turn reads: a file of tiny lines,
// and many files of long lines read in the same turn.
func TestBatchesBounded(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxInflightBytes = 64 << 20
	r := startRunner(t, cfg, Options{})
	r.setHold(true) // the consumer takes batches but reading is not slowed by acks
	tiny := mkContainer(t, dir, "ns_tiny_uid")
	var b strings.Builder
	for i := 0; i < 5000; i++ {
		b.WriteString(criLine("stdout", "F", "seq="+strconv.Itoa(i)))
	}
	want := 5000
	long := strings.Repeat("z", 5000)
	for p := 0; p < 10; p++ {
		path := mkContainer(t, dir, "ns_long"+strconv.Itoa(p)+"_uid")
		var lb strings.Builder
		for i := 0; i < 100; i++ {
			lb.WriteString(criLine("stdout", "F", "seq="+strconv.Itoa(10000+i)+" "+long))
		}
		appendFile(t, path, lb.String())
		want += 100
	}
	appendFile(t, tiny, b.String())
	waitFor(t, 10*time.Second, "every line", func() bool { return len(r.snapshot()) == want })
	r.mu.Lock()
	lines, body := r.maxBatch, r.maxBatchBody
	r.mu.Unlock()
	r.setHold(false)
	r.stop()
	if lines > maxBatchLines {
		t.Errorf("a batch of %d lines, bound %d", lines, maxBatchLines)
	}
	if body > (1<<20)+len(long)+100 {
		t.Errorf("a batch of %d body bytes, bound %d plus one line", body, 1<<20)
	}
	t.Logf("largest batch: %d lines, %d body bytes", lines, body)
}

// TestMergeBufferGrowsOnce: the fragments of a long CRI line are merged into
// a buffer that, once past 64 KiB, has room for the longest line: they are
// not copied again and again as the line grows.
func TestMergeBufferGrowsOnce(t *testing.T) {
	d := decoder{maxLine: 1 << 20}
	frag := strings.Repeat("m", 16<<10)
	var at *byte
	moves := 0
	for i := 0; i < 40; i++ { // 640 KiB in 16 KiB fragments
		d.line([]byte("2026-11-26T03:55:09.123456789Z stdout P "+frag), 0, 0, false)
		if b := d.pend[event.Stdout].buf; &b[0] != at {
			moves++
			at = &b[0]
		}
	}
	if moves > 6 {
		t.Errorf("the merge buffer moved %d times for 40 fragments", moves)
	}
	d.line([]byte("2026-11-26T03:55:09.123456789Z stdout F end"), 0, 1, false)
	if len(d.logs) != 1 || len(d.logs[0].Body) != 40*(16<<10)+3 || d.marks[0].heap < int64(len(d.logs[0].Body)) {
		t.Fatalf("merged line: %d records, %d bytes, heap %d", len(d.logs), len(d.logs[0].Body), d.marks[0].heap)
	}
}
