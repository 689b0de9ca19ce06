package ship

import (
	"bytes"
	"testing"
	"time"
)

// TestArenaTrimSchedule: maybeTrim trims once a window has passed and no
// sooner, and asks for a wake-up only while free chunks are kept: the
// schedule the loop follows, with no loop and no clock.
func TestArenaTrimSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := arena{max: 100, every: 10 * time.Second}
	if next := a.maybeTrim(t0); !next.IsZero() {
		t.Fatalf("an empty arena asked to be woken at %v", next)
	}
	// A burst of 5 chunks, all resolved: 4 free beside the current one.
	var cs []*chunk
	for range 5 * 8 {
		_, c := a.alloc(make([]byte, chunkSize/8))
		cs = append(cs, c)
	}
	for _, c := range cs {
		a.release(c)
	}
	if len(a.free) != 4 {
		t.Fatalf("%d free after the burst; want 4", len(a.free))
	}
	steps := []struct {
		at       time.Duration // since t0
		wantFree int
		wantNext time.Duration // since t0; -1: none
	}{
		{3 * time.Second, 4, 10 * time.Second}, // within the first window: kept, wake at its end
		{9999 * time.Millisecond, 4, 10 * time.Second},
		{10 * time.Second, 4, 20 * time.Second}, // the burst's window needed them all
		{15 * time.Second, 4, 20 * time.Second},
		{20 * time.Second, 0, -1}, // a window that needed none beyond the current
		{45 * time.Second, 0, -1},
	}
	for _, s := range steps {
		next := a.maybeTrim(t0.Add(s.at))
		if len(a.free) != s.wantFree {
			t.Fatalf("at %v: %d free; want %d", s.at, len(a.free), s.wantFree)
		}
		switch {
		case s.wantNext < 0 && !next.IsZero():
			t.Fatalf("at %v: asked to be woken at %v with nothing free", s.at, next.Sub(t0))
		case s.wantNext >= 0 && !next.Equal(t0.Add(s.wantNext)):
			t.Fatalf("at %v: next trim at %v; want %v", s.at, next.Sub(t0), s.wantNext)
		}
	}
}

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
