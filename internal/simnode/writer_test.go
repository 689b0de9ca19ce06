package simnode

import (
	"os"
	"testing"
)

// TestWriterOffsetsAndPrefix: LineEnd names the exact byte offsets of the
// lines written, raw bytes in between are not lines, and a Checker that saw
// only the first lines reports that prefix.
func TestWriterOffsetsAndPrefix(t *testing.T) {
	w, err := NewWriter(t.TempDir(), "ns", "pod", "uid", "app")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Lines(3, 50); err != nil {
		t.Fatal(err)
	}
	if err := w.Raw([]byte("garbage\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Lines(2, 40000); err != nil { // partials
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != w.Size() || w.Container().Written() != 5 {
		t.Fatalf("size %d (file %d), written %d", w.Size(), len(data), w.Container().Written())
	}
	for seq := int64(1); seq <= 5; seq++ {
		end := w.LineEnd(seq)
		if data[end-1] != '\n' {
			t.Errorf("line %d does not end at %d", seq, end)
		}
	}
	if w.LineEnd(0) != 0 || w.LineEnd(5) != w.Size() || w.LineEnd(4)-w.LineEnd(3) < int64(40000+len("garbage\n")) {
		t.Errorf("offsets %d %d %d, size %d", w.LineEnd(3), w.LineEnd(4), w.LineEnd(5), w.Size())
	}
	chk := NewChecker()
	src := w.Container().Source()
	for _, seq := range []int64{1, 2, 4} {
		chk.Observe(Line(src, seq, 50))
	}
	if p, d := chk.Prefix(src), chk.Distinct(src); p != 2 || d != 3 {
		t.Errorf("prefix %d, distinct %d; want 2, 3", p, d)
	}
}
