package process

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/multiline")

// TestBuiltinRules groups real traces, as each runtime printed them
// (testdata/multiline/<rule>.log), and compares the records with
// <rule>.golden (records separated by a line "=====").
func TestBuiltinRules(t *testing.T) {
	for _, rule := range builtinNames() {
		t.Run(rule, func(t *testing.T) {
			in := readFile(t, filepath.Join("testdata/multiline", rule+".log"))
			cfg := DefaultConfig()
			cfg.Multiline.Rule = rule
			for _, batch := range []int{1, 3, 1000} {
				p, _ := newTest(t, cfg)
				var recs []string
				for _, r := range runAll(p, linesOf(in, nil, event.Stdout), batch) {
					recs = append(recs, string(r.Body))
				}
				got := strings.Join(recs, "\n=====\n") + "\n"
				golden := filepath.Join("testdata/multiline", rule+".golden")
				if *update && batch == 1 {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if diff := cmp.Diff(string(readFile(t, golden)), got); diff != "" {
					t.Errorf("batches of %d: records differ (-golden +got):\n%s", batch, diff)
				}
			}
		})
	}
}

// TestHeldLineOwnsItsBody: a line still held when its batch is done is
// copied out of the tailer's buffer (whose other bytes memory.queue_bytes
// no longer counts), alone or at the head of a group; lines that go out
// within their batch are not copied.
func TestHeldLineOwnsItsBody(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Multiline.Rule = "java"
	p, _ := newTest(t, cfg)
	chunk := []byte("first line\nsecond line\nERROR x\n\tat A.b(A.java:1)\n")
	lines := linesOf(chunk, nil, event.Stdout)
	inChunk := func(b []byte) bool {
		for i := range chunk {
			if len(b) > 0 && &b[0] == &chunk[i] {
				return true
			}
		}
		return false
	}
	// Point the bodies into the one chunk, as the tailer does.
	off := 0
	for i := range lines {
		n := len(lines[i].Body)
		lines[i].Body = chunk[off : off+n]
		off += n + 1
	}
	out := p.Process(lines[:2])
	if len(out) != 1 || !inChunk(out[0].Body) {
		t.Fatalf("the first line, not held past its batch, should go out as read: %d records", len(out))
	}
	st := p.streams[streamKey{1, event.Stdout}]
	if inChunk(st.g.first.Body) || string(st.g.first.Body) != "second line" {
		t.Errorf("the held line still points into the chunk: %q", st.g.first.Body)
	}
	p.Process(lines[2:])
	if inChunk(st.g.first.Body) || string(st.g.first.Body) != "ERROR x" {
		t.Errorf("the held group's first line still points into the chunk: %q", st.g.first.Body)
	}
	rest := p.flush(time.Time{})
	if len(rest) != 1 || string(rest[0].Body) != "ERROR x\n\tat A.b(A.java:1)" {
		t.Errorf("the group: %d records", len(rest))
	}
}

// TestEndMarkerSendsHeldGroup: the tailer's marker that a file's stream
// has ended sends the group held for it at once (no flush timeout), and
// only that one; the marker itself is not passed on.
func TestEndMarkerSendsHeldGroup(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Multiline.Rule = "java"
	cfg.Multiline.FlushTimeout = time.Hour
	p, _ := newTest(t, cfg)
	trace := linesOf([]byte("ERROR x\n\tat A.b(A.java:1)\n"), nil, event.Stdout)
	other := linesOf([]byte("ERROR y\n"), nil, event.Stderr) // the same file's other stream
	if out := p.Process(append(trace, other...)); len(out) != 0 {
		t.Fatalf("%d records before the end", len(out))
	}
	out := p.Process([]event.Log{{End: true, Stream: event.Stdout, Cursor: event.Cursor{Source: 1}}})
	if len(out) != 1 || out[0].End || out[0].Lines != 2 || string(out[0].Body) != "ERROR x\n\tat A.b(A.java:1)" {
		t.Fatalf("after the end of stdout: %d records, first %+v", len(out), out)
	}
	if n := testutil.ToFloat64(p.m.endFlushes); n != 1 {
		t.Errorf("end flushes %v, want 1", n)
	}
	if out := p.Process([]event.Log{{End: true, Stream: event.Stdout, Cursor: event.Cursor{Source: 2}}}); len(out) != 0 {
		t.Errorf("another file's end sent %d records", len(out))
	}
	if rest := p.flush(time.Time{}); len(rest) != 1 || string(rest[0].Body) != "ERROR y" {
		t.Errorf("stderr's group: %d records", len(rest))
	}
}
