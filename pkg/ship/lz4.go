package ship

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// lz4Codec writes LZ4 frames as Kafka's Java producer does: 64 KiB
// independent blocks and no content checksum (each record batch has its
// own CRC). kafka-go's own LZ4 codec uses the library's defaults, 4 MiB
// blocks and an xxHash of the content: the blocks keep about 16 MiB of
// buffers resident and the checksum costs about a fifth of the
// compression time, for nothing a Kafka consumer checks. Frames from
// either decode the same way in every client.
type lz4Codec struct {
	writers, readers sync.Pool
}

// The codec table is kafka-go's extension point for codecs; ship installs
// its LZ4 codec there once, before any writer exists.
func init() { compress.Codecs[compress.Lz4] = &lz4Codec{} }

func (c *lz4Codec) Code() int8   { return int8(compress.Lz4) }
func (c *lz4Codec) Name() string { return "lz4" }

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Both options are valid constants: Apply cannot fail.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
	}
	z.Reset(w)
	return &lz4Writer{z: z, pool: &c.writers}
}

func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	z, _ := c.readers.Get().(*lz4.Reader)
	if z == nil {
		z = lz4.NewReader(r)
	}
	z.Reset(r)
	return &lz4Reader{z: z, pool: &c.readers}
}

type lz4Writer struct {
	z    *lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Write(p []byte) (int, error) { return w.z.Write(p) }

// Close ends the frame and returns the compressor to the pool.
func (w *lz4Writer) Close() error {
	if w.z == nil {
		return nil
	}
	err := w.z.Close()
	w.z.Reset(nil)
	w.pool.Put(w.z)
	w.z = nil
	return err
}

type lz4Reader struct {
	z    *lz4.Reader
	pool *sync.Pool
}

func (r *lz4Reader) Read(p []byte) (int, error) { return r.z.Read(p) }

func (r *lz4Reader) Close() error {
	if r.z != nil {
		r.z.Reset(nil)
		r.pool.Put(r.z)
		r.z = nil
	}
	return nil
}
