package tail

import "bytes"

// Unfinished lines: a file whose last line has no newline yet holds it in
// memory (the carry), and a CRI file holds the fragments of a partial line
// being merged, per stream. They are not lines yet, so they are not in the
// in-flight budget; on a node with many such files they would add up
// without bound. Their total is kept under a budget of its own, the size of
// memory.queue_bytes: when a read leaves it over, the file just read gives
// its unfinished bytes back (a spill) if it holds at least heldMin of them
// and is still being written to. It is rewound to where its unfinished
// data began, with the lines it already emitted after that point
// suppressed (as after a restart), and is not read again until what it
// grew by holds a newline (the new bytes are read once to look for one):
// the file on disk is the buffer, at the price of reading that part twice.

// heldMin is the least a file holds of unfinished lines before it may be
// spilled: short carries are cheap, and spilling them would cost reads.
const heldMin = 16 << 10

// heldBytes is what f's unfinished lines hold in memory: its carry (the
// whole chunk it pins, when it is not a copy) and its merges in progress.
func (f *follower) heldBytes() int64 {
	n := int64(len(f.carry))
	if !f.carryOwned {
		n = int64(cap(f.carry))
	}
	for i := range f.dec.pend {
		if f.dec.pend[i].active {
			n += int64(cap(f.dec.pend[i].buf))
		}
	}
	return n
}

// hold counts f's unfinished bytes after a read and spills f when the total
// is over the budget. A merge carried over a rotation (decode.go carrying)
// is not spilled: its first fragments were read from a file now closed. It
// is bounded by max_line_bytes like any merge.
func (t *Tailer) hold(f *follower) {
	h := f.heldBytes()
	t.held += h - f.held
	f.held = h
	if t.held > t.cfg.MaxInflightBytes && h >= heldMin && !f.more && !f.skip && f.st == stFollowing && !f.dec.carrying() {
		t.spill(f)
	}
	t.m.held.Set(float64(t.held))
}

// release forgets f's unfinished bytes (f is closed or starts over).
func (t *Tailer) release(f *follower) {
	t.held -= f.held
	f.held = 0
	t.m.held.Set(float64(t.held))
}

// spill drops f's unfinished bytes and rewinds it to where they began; the
// lines it emitted beyond that point are not emitted again when it is read
// again, which it is only once it grew past its size now.
func (t *Tailer) spill(f *follower) {
	to := f.dec.safeOffset(f.consumed)
	f.suppressTo = max(f.suppressTo, f.consumed)
	for i := range f.dec.pend {
		f.dec.pend[i] = pending{}
	}
	f.dropCarry()
	f.own = nil
	f.off, f.consumed = to, to
	f.spilledAt = f.size
	t.release(f)
	t.m.spills.Inc()
}

// spilledWait says whether f, spilled, has nothing new that can finish its
// line yet, so it is not read: it did not grow, or what it grew by holds
// no newline (that is read once, here, not the whole line again at every
// growth of a line written slowly).
func (t *Tailer) spilledWait(f *follower, size int64) bool {
	if f.spilledAt == 0 {
		return false
	}
	if f.st != stFollowing {
		f.spilledAt = 0
		return false
	}
	if size <= f.spilledAt {
		return true
	}
	var buf [16 << 10]byte
	for off := f.spilledAt; off < size; {
		n, _ := f.f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n <= 0 {
			break
		}
		t.m.bytesRead.Add(float64(n))
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			f.spilledAt = 0
			return false
		}
		off += int64(n)
	}
	f.spilledAt = size
	return true
}
