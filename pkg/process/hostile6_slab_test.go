package process

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/pkg/event"
)

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHostile6FieldSlabPinsNoMessages: the fields of many records share
// one slab, and a field points into its record's parsed message. The
// messages of records long gone must not stay alive through the slab: not
// through the Processor (which keeps carving its current slab), nor
// through one record kept (ship holds a record until the sink confirms it,
// for as long as a destination fails). Those bytes are outside the
// in-flight budget the tailer counts (memory.queue_bytes): 256 lines of
// 64 KiB, each with one field, pinned 16 MiB that no record used.
func TestHostile6FieldSlabPinsNoMessages(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep_original=%v", keep), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Parser.Format, cfg.Parser.KeepOriginal = "json", keep
			p, _ := newTest(t, cfg)
			const n, size = 256, 64 << 10
			pad := strings.Repeat("x", size)
			before := heapAfterGC()
			var kept event.Log
			for i := range n {
				// One line per batch, as a slow container writes them; every
				// record is gone once the next one comes, but the last.
				line := linesOf(fmt.Appendf(nil, `{"msg":"%d %s","n":%d}`, i, pad, i), nil, event.Stdout)
				out := p.Process(line)
				if len(out) != 1 {
					t.Fatalf("line %d: %d records", i, len(out))
				}
				kept = out[0]
			}
			after := heapAfterGC()
			// What may stay: the kept record's own line (twice with its
			// parsed copy), a slab, and slack; not 16 MiB of others'.
			if grew := int64(after) - int64(before); grew > 4*size+(1<<20) {
				t.Errorf("the live heap grew by %d KiB after %d lines of %d KiB, of which one record is kept: the field slab keeps the messages of records long gone",
					grew>>10, n, size>>10)
			}
			if f := fieldNamed(kept.Fields, "n"); f == nil || f.Value != fmt.Sprint(n-1) {
				t.Errorf("the kept record's fields %+v", kept.Fields)
			}
			runtime.KeepAlive(kept)
			runtime.KeepAlive(p)
		})
	}
}
