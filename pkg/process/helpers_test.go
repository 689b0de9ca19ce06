package process

import (
	"bufio"
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// recAcker records the cursors it is given.
type recAcker struct {
	mu sync.Mutex
	cs []event.Cursor
}

func (a *recAcker) Ack(cs []event.Cursor) {
	a.mu.Lock()
	a.cs = append(a.cs, cs...)
	a.mu.Unlock()
}

func (a *recAcker) got() []event.Cursor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]event.Cursor(nil), a.cs...)
}

func newTest(t testing.TB, cfg Config) (*Processor, *recAcker) {
	t.Helper()
	a := &recAcker{}
	p, err := New(cfg, nil, Options{Acker: a})
	if err != nil {
		t.Fatal(err)
	}
	return p, a
}

// linesOf turns text into lines of one file (source 1), each with its
// cursor (the offset past its newline).
func linesOf(text []byte, meta *event.Meta, stream event.Stream) []event.Log {
	var out []event.Log
	var off int64
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b := append([]byte(nil), sc.Bytes()...)
		off += int64(len(b)) + 1
		out = append(out, event.Log{Time: time.Unix(1, 0), Body: b, Path: "/var/log/pods/ns_p_u/c/0.log",
			Cursor: event.Cursor{Source: 1, Offset: off}, Meta: meta, Stream: stream})
	}
	return out
}

// runAll processes lines in batches of size n, then flushes what is held.
func runAll(p *Processor, lines []event.Log, n int) []event.Log {
	var out []event.Log
	for i := 0; i < len(lines); i += n {
		b := append([]event.Log(nil), lines[i:min(i+n, len(lines))]...)
		out = append(out, p.Process(b)...)
	}
	return append(out, p.flush(time.Time{})...)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
