package simnode

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Writer is a container log written by hand, one call at a time, for
// scenarios that must control every byte: hostile input mixed with
// sequenced lines, a file deleted at a chosen moment. Its sequenced lines
// are checked like a Node's (Container().Source(), Written()); other bytes
// written with Raw are not counted as lines.
type Writer struct {
	c    *Container
	path string
	f    *os.File
	off  int64
	ends []int64 // ends[i] is the file offset just past line seq i+1
}

// NewWriter creates <root>/<ns>_<pod>_<uid>/<name>/0.log.
func NewWriter(root, ns, pod, uid, name string) (*Writer, error) {
	c := &Container{Namespace: ns, Pod: pod, UID: uid, Name: name,
		Dir: filepath.Join(root, ns+"_"+pod+"_"+uid, name)}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("simnode: %w", err)
	}
	path := filepath.Join(c.Dir, "0.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("simnode: %w", err)
	}
	return &Writer{c: c, path: path, f: f}, nil
}

// Container is the writer's container, for Checker.Report.
func (w *Writer) Container() *Container { return w.c }

// Path is the log file's path.
func (w *Writer) Path() string { return w.path }

// Size is how many bytes were written to the file.
func (w *Writer) Size() int64 { return w.off }

// LineEnd is the file offset just past the CRI line(s) of sequence number
// seq (1-based); 0 for seq 0.
func (w *Writer) LineEnd(seq int64) int64 {
	if seq <= 0 {
		return 0
	}
	return w.ends[seq-1]
}

// Lines appends n sequenced lines of the given message length (split into
// partials above PartialSize) in one write.
func (w *Writer) Lines(n, length int) error {
	var buf []byte
	seq := w.c.Written()
	ends := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		seq++
		buf = appendCRI(buf, time.Now(), "stdout", Line(w.c.Source(), seq, length))
		ends = append(ends, w.off+int64(len(buf)))
	}
	if err := w.Raw(buf); err != nil {
		return err
	}
	w.ends = append(w.ends, ends...)
	w.c.written.Add(int64(n))
	return nil
}

// Raw appends b as it is: no sequence number, not counted as a line.
func (w *Writer) Raw(b []byte) error {
	n, err := w.f.Write(b)
	w.off += int64(n)
	if err != nil {
		return fmt.Errorf("simnode: %s: %w", w.path, err)
	}
	return nil
}

// Close closes the file (it stays on disk).
func (w *Writer) Close() error { return w.f.Close() }
