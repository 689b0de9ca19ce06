package ship

import (
	"bytes"
	"testing"
)

// TestArenaTrim: after a burst had many chunks out, the free chunks kept
// fall to what the next window needed; a steady window keeps enough that
// it allocates no new chunk.
func TestArenaTrim(t *testing.T) {
	a := arena{max: 100}
	rec := bytes.Repeat([]byte("x"), chunkSize/8) // 8 records a chunk
	type held struct {
		c    *chunk
		data []byte
	}
	// A burst: 10 chunks' worth of records out at once, then all resolved.
	var burst []held
	for range 80 {
		d, c := a.alloc(rec)
		burst = append(burst, held{c, d})
	}
	if a.out != 10 || a.high != 10 {
		t.Fatalf("burst: %d chunks out, peak %d; want 10 and 10", a.out, a.high)
	}
	for _, h := range burst {
		a.release(h.c)
	}
	if a.out != 1 || len(a.free) != 9 {
		t.Fatalf("after the burst: %d out, %d free; want 1 (the current) and 9", a.out, len(a.free))
	}
	a.trim() // the burst's window: it needed all of them
	if len(a.free) != 9 {
		t.Fatalf("first trim kept %d free chunks; the window's peak needs 9", len(a.free))
	}

	// Steady: at most 2 chunks' worth of records out at once.
	known := map[*chunk]bool{a.cur: true}
	for _, c := range a.free {
		known[c] = true
	}
	steady := func() {
		var q []held
		for i := range 200 {
			d, c := a.alloc(rec)
			if c == nil || !known[c] {
				t.Fatalf("record %d: a chunk allocated in the steady state", i)
			}
			q = append(q, held{c, d})
			if len(q) > 12 {
				a.release(q[0].c)
				q = q[1:]
			}
		}
		for _, h := range q {
			a.release(h.c)
		}
	}
	steady()
	a.trim()
	if len(a.free) > 3 {
		t.Fatalf("after a steady window %d free chunks kept; it needed at most 3", len(a.free))
	}
	// The kept ones serve the next steady window without allocating.
	known = map[*chunk]bool{a.cur: true}
	for _, c := range a.free {
		known[c] = true
	}
	steady()
	a.trim()
	if a.out != 1 {
		t.Fatalf("%d chunks out after every record was resolved; want the current one", a.out)
	}
}

// TestArenaBytesSurvive: a record's bytes are its own until released,
// whatever else goes in beside it.
func TestArenaBytesSurvive(t *testing.T) {
	a := arena{max: 4}
	var got [][]byte
	var want []string
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%700)
		d, _ := a.alloc(p)
		got = append(got, d)
		want = append(want, string(p))
	}
	for i := range got {
		if string(got[i]) != want[i] {
			t.Fatalf("record %d changed", i)
		}
	}
	big := bytes.Repeat([]byte("y"), chunkSize/4+1)
	d, c := a.alloc(big)
	if c != nil || !bytes.Equal(d, big) {
		t.Fatal("a record over a quarter chunk must get memory of its own")
	}
}
