package event

import "testing"

// A source is held while it was held more often than released; the last
// release wakes the reader; a nil Holdback holds nothing.
func TestHoldback(t *testing.T) {
	var h Holdback
	if h.Held(1) || h.Len() != 0 {
		t.Fatal("a new Holdback holds something")
	}
	h.Hold(1)
	h.Hold(1)
	h.Hold(2)
	if !h.Held(1) || !h.Held(2) || h.Held(3) || h.Len() != 2 {
		t.Fatalf("held 1: %v, 2: %v, 3: %v, len %d", h.Held(1), h.Held(2), h.Held(3), h.Len())
	}
	h.Release(1)
	select {
	case <-h.Released():
		t.Fatal("woken while 1 is still held once")
	default:
	}
	if !h.Held(1) {
		t.Fatal("1 released after one of two releases")
	}
	h.Release(1)
	select {
	case <-h.Released():
	default:
		t.Fatal("the last release of 1 did not wake the reader")
	}
	h.Release(1) // one too many: nothing happens
	if h.Held(1) || h.Len() != 1 {
		t.Fatalf("after release: held 1 %v, len %d", h.Held(1), h.Len())
	}
	var nilH *Holdback
	nilH.Hold(1)
	nilH.Release(1)
	if nilH.Held(1) || nilH.Len() != 0 || nilH.Released() != nil {
		t.Fatal("a nil Holdback holds something")
	}
}
