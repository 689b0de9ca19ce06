package ship

import (
	"slices"
	"time"
)

// arena holds the encoded bytes of records in chunks that are recycled
// once every record in them was resolved, so that ship allocates nothing
// per record in the steady state (the chunks play the part the recycled
// batch buffers played before records were held per destination).
//
// A record of a failing destination can wait for hours; it must not keep
// a whole chunk of other, long delivered records alive. So the records of
// a destination that starts failing, and those placed in it while it
// fails, are moved to memory of their own (own): the chunks stay bounded
// by what the healthy destinations hold for a round trip.
//
// The free chunks kept for reuse follow what the last window needed: a
// catch-up that had many chunks in flight must not keep them (megabytes
// of heap, and twice that in RSS under Go's GC goal) through the hours of
// steady state that follow it. The arena keeps its own schedule: at
// every turn the loop calls maybeTrim, which trims once a window
// (arenaTrimEvery) has passed, keeping as many as the window's peak had
// beyond those still out, and says when the loop must wake for the next
// trim while free chunks are kept.
type arena struct {
	cur  *chunk
	free []*chunk
	max  int // chunks kept for reuse, at most
	out  int // chunks handed out and not yet recycled (cur among them)
	high int // the most out at once since the last trim

	every     time.Duration // the window; 0: arenaTrimEvery (tests set it)
	trimmedAt time.Time     // the current window's start (zero: none yet)
}

// arenaTrimEvery is the arena's default trim window.
const arenaTrimEvery = 10 * time.Second

// maybeTrim trims the free chunks when the window that started at the last
// trim has passed at now (the first call starts the first window). It
// returns when the next trim is due, or the zero time when no free chunk
// is kept: then nothing waits for a trim, and the next chunk recycled is
// seen at the loop's next turn.
func (a *arena) maybeTrim(now time.Time) time.Time {
	every := a.every
	if every == 0 {
		every = arenaTrimEvery
	}
	if a.trimmedAt.IsZero() {
		a.trimmedAt = now
	} else if now.Sub(a.trimmedAt) >= every {
		a.trim()
		a.trimmedAt = now
	}
	if len(a.free) == 0 {
		return time.Time{}
	}
	return a.trimmedAt.Add(max(every, 0))
}

// chunk is a slab of record bytes and the count of its live records.
type chunk struct {
	buf  []byte
	live int
	full bool // no more records go in
}

// chunkSize is the size of a chunk; records over a quarter of it get
// memory of their own.
const chunkSize = 256 << 10

// alloc copies p into the arena and returns the copy and its chunk (nil
// when p got memory of its own).
func (a *arena) alloc(p []byte) ([]byte, *chunk) {
	if len(p) > chunkSize/4 {
		return slices.Clone(p), nil
	}
	if a.cur == nil || len(a.cur.buf)+len(p) > cap(a.cur.buf) {
		if c := a.cur; c != nil {
			c.full = true
			if c.live == 0 {
				a.recycle(c)
			}
		}
		a.cur = a.get()
	}
	c := a.cur
	off := len(c.buf)
	c.buf = append(c.buf, p...)
	c.live++
	return c.buf[off:len(c.buf):len(c.buf)], c
}

// release ends one record of c (nil: nothing to do).
func (a *arena) release(c *chunk) {
	if c == nil {
		return
	}
	c.live--
	if c.live == 0 && c.full {
		a.recycle(c)
	}
}

func (a *arena) get() *chunk {
	a.out++
	a.high = max(a.high, a.out)
	if n := len(a.free); n > 0 {
		c := a.free[n-1]
		a.free = a.free[:n-1]
		return c
	}
	return &chunk{buf: make([]byte, 0, chunkSize)}
}

func (a *arena) recycle(c *chunk) {
	c.buf, c.full, c.live = c.buf[:0], false, 0
	a.out--
	if len(a.free) < a.max {
		a.free = append(a.free, c)
	}
}

// trim lets go of the free chunks the last window did not need: it keeps
// the window's peak less what is still out (the window before it had that
// many more in flight at once), and starts the next window.
func (a *arena) trim() {
	keep := max(a.high-a.out, 0)
	if len(a.free) > keep {
		clear(a.free[keep:])
		a.free = a.free[:keep]
	}
	a.high = a.out
}

// own moves r's bytes to memory of its own, releasing its chunk.
func (a *arena) own(r *rec) {
	if r.chunk == nil {
		return
	}
	r.data = slices.Clone(r.data)
	a.release(r.chunk)
	r.chunk = nil
}
