package event

import "sync"

// BatchCap is the capacity of a batch from NewBatch. The tailer closes a
// batch at 1024 lines (pkg/tail maxBatchLines); the rest is room for the
// end-of-file markers a batch may take after its last line. A batch is
// 168 bytes a line: at 4096 lines, three quarters of each batch (516 KiB)
// were never filled, and the four or so batches in flight at a steady rate
// held 2 MiB of heap for nothing.
const BatchCap = 1088

// batches holds *[]Log of capacity BatchCap, each empty.
var batches sync.Pool

// NewBatch returns an empty batch of capacity BatchCap, recycled when one
// was given back. At full speed the tailer emits a batch every few
// milliseconds: recycling spares the allocation (and the garbage
// collection) of about 180 KiB each.
func NewBatch() []Log {
	if p, ok := batches.Get().(*[]Log); ok {
		return *p
	}
	return make([]Log, 0, BatchCap)
}

// Recycle gives back a batch its last holder is done with: nothing refers
// to the slice, its lines or their bodies any more. Lines beyond len(b)
// must be zero (a holder that shortens a batch it passes on clears what it
// cut). Batches of another capacity are left to the garbage collector.
func Recycle(b []Log) {
	if cap(b) != BatchCap {
		return
	}
	clear(b)
	b = b[:0]
	batches.Put(&b)
}
