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
	lines := b[:2] // the same array, seen after Recycle
	Recycle(b)
	// Recycle cleared the lines it was given, so a pooled batch refers to
	// no body or metadata.
	for i, l := range lines {
		if l.Body != nil || l.Meta != nil || l.Path != "" || !l.Time.IsZero() {
			t.Fatalf("recycled line %d not cleared: %+v", i, l)
		}
	}
	for range 3 {
		if c := NewBatch(); len(c) != 0 || cap(c) != BatchCap {
			t.Fatalf("batch after recycling: len %d cap %d", len(c), cap(c))
		}
	}
	// A batch of another capacity is neither cleared nor pooled.
	other := []Log{{Path: "/q"}}
	Recycle(other)
	if other[0].Path != "/q" {
		t.Fatal("a batch of another capacity was cleared")
	}
}
