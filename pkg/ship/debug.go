package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// ndjson is the producer of the file and stdout sinks: each call writes its
// records' values, one per line, with a single Write, then syncs (files).
// A failed Write or sync fails the whole call, which is retried: a record
// may then appear twice, never zero times. A regular file is cut back to
// its size before a failed call (a Write that ran out of space part way,
// ENOSPC), so the file holds whole lines only. It has one destination, so
// calls never overlap.
type ndjson struct {
	w    io.Writer
	sync func() error
	file sizedFile // the regular file written, or nil
	buf  []byte
}

// sizedFile is what ndjson needs of a regular file to undo a failed write.
type sizedFile interface {
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
}

var _ producer = (*ndjson)(nil)

var oneSink = []int{0}

func (n *ndjson) partitions(context.Context, string) ([]int, error) { return oneSink, nil }

func (n *ndjson) produce(ctx context.Context, _ dest, msgs []message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.buf = n.buf[:0]
	for i := range msgs {
		n.buf = append(n.buf, msgs[i].Value...)
		n.buf = append(n.buf, '\n')
	}
	before := int64(-1)
	if n.file != nil {
		if fi, err := n.file.Stat(); err == nil {
			before = fi.Size()
		}
	}
	_, err := n.w.Write(n.buf)
	if err == nil && n.sync != nil {
		err = n.sync()
	}
	if err != nil && before >= 0 {
		if terr := n.file.Truncate(before); terr != nil {
			err = errors.Join(err, fmt.Errorf("cut the partial write back: %w", terr))
		}
	}
	return err
}
