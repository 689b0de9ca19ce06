package process

import (
	"bytes"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// FuzzGroup feeds arbitrary lines to every rule: no group exceeds the
// caps, no line is lost or duplicated, and every line's cursor is given
// back once its record is acknowledged.
func FuzzGroup(f *testing.F) {
	f.Add([]byte(javaTrace), uint8(0), uint8(3))
	f.Add([]byte("panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\n\n"), uint8(2), uint8(1))
	f.Add([]byte("/a.js:1\nx\n^\n\nError: y\n    at z\n\nNode.js v20"), uint8(4), uint8(7))
	f.Add(bytes.Repeat([]byte("\tat x\n"), 50), uint8(6), uint8(2))
	rules := append(builtinNames(), "custom")
	f.Fuzz(func(t *testing.T, text []byte, rule, batch uint8) {
		cfg := DefaultConfig()
		cfg.Multiline.Rule = rules[int(rule)%len(rules)]
		cfg.Multiline.Custom = []CustomRule{{Name: "custom", Continuation: `^\s`}}
		cfg.Multiline.MaxLines, cfg.Multiline.MaxBytes = 5, 1024
		p, a := newTest(t, cfg)
		lines := linesOf(text, nil, event.Stream(rule>>7))
		for i := range lines {
			if len(lines[i].Body) > 1024 {
				lines[i].Body = lines[i].Body[:1024] // the tailer's cap
			}
		}
		var recs []event.Log
		n := int(batch)%8 + 1
		for i := 0; i < len(lines); i += n {
			b := append([]event.Log(nil), lines[i:min(i+n, len(lines))]...)
			recs = append(recs, p.Process(b)...)
			if i%3 == 0 {
				recs = append(recs, p.flush(time.Now().Add(time.Hour))...)
			}
		}
		recs = append(recs, p.flush(time.Time{})...)
		total := 0
		var cursors []event.Cursor
		for _, r := range recs {
			k := int(max(r.Lines, 1))
			if k > cfg.Multiline.MaxLines {
				t.Fatalf("a record of %d lines", k)
			}
			if k > 1 && len(r.Body) > cfg.Multiline.MaxBytes {
				t.Fatalf("a record of %d bytes", len(r.Body))
			}
			if k > 1 && bytes.Count(r.Body, []byte("\n")) != k-1 {
				t.Fatalf("%d lines in a body of %d", k, bytes.Count(r.Body, []byte("\n"))+1)
			}
			total += k
			cursors = append(cursors, r.Cursor)
		}
		if total != len(lines) {
			t.Fatalf("%d lines out of %d", total, len(lines))
		}
		p.Ack(cursors)
		got := a.got()
		if len(got) != len(lines) {
			t.Fatalf("%d cursors acknowledged for %d lines", len(got), len(lines))
		}
		seen := map[event.Cursor]bool{}
		for _, c := range got {
			seen[c] = true
		}
		for _, l := range lines {
			if !seen[l.Cursor] {
				t.Fatalf("line at %d never acknowledged", l.Cursor.Offset)
			}
		}
		if p.heldN != 0 || p.npend.Load() != 0 {
			t.Fatalf("held %d lines, %d records pending after everything was flushed and acknowledged", p.heldN, p.npend.Load())
		}
	})
}
