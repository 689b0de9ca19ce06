package ship

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// lz4Sample is log-like: JSON records that repeat keys but not values.
func lz4Sample(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"time":"2026-11-26T09:%02d:%02d.%09dZ","stream":"stdout","message":"GET /api/v1/items/%d 200 %dms","kubernetes":{"namespace":"shop","pod":"web-7d9f-%05d"}}`+"\n",
			i/60%60, i%60, i*7919%1000000000, i*31, i%997, i%4096)
	}
	return b.Bytes()[:n]
}

// TestLZ4Frames: ship's LZ4 frames have 64 KiB blocks and no content
// checksum, as Kafka's Java producer writes them, and decode with kafka-go's
// table, the reference library and the codec itself, over and over
// (writers and readers are pooled).
func TestLZ4Frames(t *testing.T) {
	codec := compress.Lz4.Codec()
	if _, ok := codec.(*lz4Codec); !ok {
		t.Fatalf("kafka-go's table holds %T for lz4, not ship's codec", codec)
	}
	for _, size := range []int{0, 1, 1000, 64 << 10, 300 << 10, 1 << 20} {
		for round := range 3 {
			src := lz4Sample(size)
			var frame bytes.Buffer
			w := codec.NewWriter(&frame)
			if _, err := w.Write(src); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			b := frame.Bytes()
			if len(b) < 7 || !bytes.Equal(b[:4], []byte{0x04, 0x22, 0x4d, 0x18}) {
				t.Fatalf("%d bytes: not an LZ4 frame: % x", size, b[:min(len(b), 8)])
			}
			flg, bd := b[4], b[5]
			if flg&0x04 != 0 || flg&0x10 != 0 {
				t.Errorf("%d bytes: FLG %08b asks for a content or block checksum", size, flg)
			}
			if bd>>4&7 != 4 {
				t.Errorf("%d bytes: BD %08b: block size index %d, want 4 (64 KiB)", size, bd, bd>>4&7)
			}
			for name, r := range map[string]io.Reader{
				"codec":                codec.NewReader(bytes.NewReader(b)),
				"pierrec":              lz4.NewReader(bytes.NewReader(b)),
				"kafka-go's own codec": (&compress.Lz4Codec).NewReader(bytes.NewReader(b)),
			} {
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatalf("%d bytes, round %d, %s: %v", size, round, name, err)
				}
				if !bytes.Equal(got, src) {
					t.Fatalf("%d bytes, round %d, %s: decoded %d bytes that differ", size, round, name, len(got))
				}
				if c, ok := r.(io.Closer); ok {
					_ = c.Close()
				}
			}
		}
	}
}

// BenchmarkLZ4 compresses a 1 MiB batch of records with ship's codec and
// with kafka-go's default one.
func BenchmarkLZ4(b *testing.B) {
	src := lz4Sample(1 << 20)
	for _, c := range []struct {
		name  string
		codec compress.Codec
	}{{"ship", compress.Lz4.Codec()}, {"kafka-go", &compress.Lz4Codec}} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				w := c.codec.NewWriter(&out)
				_, _ = w.Write(src)
				_ = w.Close()
			}
			b.ReportMetric(float64(out.Len())/float64(len(src)), "ratio")
		})
	}
}
