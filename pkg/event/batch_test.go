package event

import (
	"testing"
	"time"
)

func TestBatchRecycle(t *testing.T) {
	b := NewBatch()
	if len(b) != 0 || cap(b) != BatchCap {
		t.Fatalf("NewBatch: len %d cap %d, want 0 and %d", len(b), cap(b), BatchCap)
	}
	meta := &Meta{Namespace: "shop"}
	b = append(b, Log{Body: []byte("x"), Path: "/p", Meta: meta, Time: time.Unix(1, 0)}, Log{Body: []byte("y")})
	Recycle(b)
	// Whatever comes back (the pool may or may not return b) is empty and
	// holds no reference to recycled lines.
	for range 3 {
		c := NewBatch()
		if len(c) != 0 || cap(c) != BatchCap {
			t.Fatalf("recycled batch: len %d cap %d", len(c), cap(c))
		}
		for i, l := range c[:2] {
			if l.Body != nil || l.Meta != nil || l.Path != "" || !l.Time.IsZero() {
				t.Fatalf("recycled batch line %d not cleared: %+v", i, l)
			}
		}
	}
	// A batch of another capacity is not pooled.
	Recycle(make([]Log, 3, 10))
	if c := NewBatch(); cap(c) != BatchCap {
		t.Fatalf("cap %d after recycling a foreign batch", cap(c))
	}
}
