package event

import (
	"sync"
	"sync/atomic"
)

// Holdback is how the sink tells the reader which sources (Cursor.Source,
// one per file) to stop reading for now: their records go to a destination
// that does not take them, and what the sink holds of them reached its
// share of its budget. The reader skips a held source until it is
// released; its lines wait on disk, and the other sources go on. Hold and
// Release count: a source is held while it was held more often than
// released. The zero value is ready; a nil *Holdback holds nothing.
type Holdback struct {
	mu    sync.Mutex
	held  map[uint64]int
	n     atomic.Int64 // len(held), read without the lock
	wake  chan struct{}
	wake1 sync.Once
}

// Hold holds src back (once more).
func (h *Holdback) Hold(src uint64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		h.held = make(map[uint64]int)
	}
	if h.held[src] == 0 {
		h.n.Add(1)
	}
	h.held[src]++
}

// Release takes back one Hold of src; when none is left, the reader is
// woken (Released).
func (h *Holdback) Release(src uint64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	c := h.held[src]
	switch {
	case c > 1:
		h.held[src] = c - 1
	case c == 1:
		delete(h.held, src)
		h.n.Add(-1)
	}
	h.mu.Unlock()
	if c == 1 {
		select {
		case h.ch() <- struct{}{}:
		default:
		}
	}
}

// Held says whether src is held back. It takes no lock while nothing is.
func (h *Holdback) Held(src uint64) bool {
	if h == nil || h.n.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held[src] > 0
}

// Len is how many sources are held back.
func (h *Holdback) Len() int {
	if h == nil {
		return 0
	}
	return int(h.n.Load())
}

// Released receives after a source was released (coalesced); nil for a nil
// Holdback, which never releases anything.
func (h *Holdback) Released() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.ch()
}

func (h *Holdback) ch() chan struct{} {
	h.wake1.Do(func() { h.wake = make(chan struct{}, 1) })
	return h.wake
}
