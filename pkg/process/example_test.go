package process_test

import (
	"fmt"
	"log/slog"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/ferry-dev/ferry/pkg/process"
)

type printAcker struct{}

func (printAcker) Ack(cs []event.Cursor) { fmt.Printf("tailer gets %d cursors\n", len(cs)) }

// A Processor with the java rule: the four lines of a trace become one
// record, which the sink acknowledges with one cursor; the Processor hands
// the tailer the cursors of all four lines. The last line is held until
// its next line or the flush timeout (Run).
func Example() {
	cfg := process.DefaultConfig()
	cfg.Multiline.Rule = "java"
	p, err := process.New(cfg, slog.Default(), process.Options{Acker: printAcker{}})
	if err != nil {
		panic(err)
	}
	var batch []event.Log
	for i, l := range []string{
		"2026-12-04 20:50:00 ERROR request failed",
		"java.lang.IllegalStateException: boom",
		"\tat Main.main(Main.java:6)",
		"\t... 9 more",
		"next line",
	} {
		batch = append(batch, event.Log{Body: []byte(l), Cursor: event.Cursor{Source: 1, Offset: int64(i + 1)}})
	}
	out := p.Process(batch)
	rec := out[0]
	fmt.Printf("%d record(s) out, the first of %d lines, cursor at %d\n", len(out), rec.Lines, rec.Cursor.Offset)
	p.Ack([]event.Cursor{rec.Cursor}) // what the sink does once the record is delivered
	// Output:
	// 1 record(s) out, the first of 4 lines, cursor at 4
	// tailer gets 4 cursors
}
