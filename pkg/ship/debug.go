package ship

import (
	"context"
	"io"

	"github.com/segmentio/kafka-go"
)

// ndjson is the producer of the file and stdout sinks: each call writes its
// records' values, one per line, with a single Write, then syncs (files).
// A failed Write or sync fails the whole call, which is retried: a record
// may then appear twice, never zero times. It has one destination, so
// calls never overlap.
type ndjson struct {
	w    io.Writer
	sync func() error
	buf  []byte
}

var _ producer = (*ndjson)(nil)

var oneSink = []int{0}

func (n *ndjson) partitions(context.Context, string) ([]int, error) { return oneSink, nil }

func (n *ndjson) produce(ctx context.Context, _ dest, msgs []kafka.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.buf = n.buf[:0]
	for i := range msgs {
		n.buf = append(n.buf, msgs[i].Value...)
		n.buf = append(n.buf, '\n')
	}
	if _, err := n.w.Write(n.buf); err != nil {
		return err
	}
	if n.sync != nil {
		return n.sync()
	}
	return nil
}
