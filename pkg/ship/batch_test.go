package ship

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEncodeBatch decodes what encodeBatch writes with franz-go's record
// batch decoder (an implementation apart from kafka-go's) and reads its
// records back: the header's fields, the CRC over the batch from its
// attributes on, and each record's time, key (a null one too) and value, for a
// batch uncompressed and one in LZ4 frames (decompressed by the LZ4
// library's reader), with records past a 64 KiB block.
func TestEncodeBatch(t *testing.T) {
	at := time.Date(2026, 12, 6, 8, 0, 0, 123_000_000, time.UTC)
	var msgs []message
	for i := range 300 {
		m := message{Value: bytes.Repeat([]byte{byte('a' + i%26)}, i*7%900), Time: at.Add(time.Duration(i%9) * time.Second)}
		if i%5 != 0 {
			m.Key = fmt.Appendf(nil, "pod-%d", i%7)
		}
		msgs = append(msgs, m)
	}
	msgs[3].Value = []byte{}   // empty, not null
	msgs[4].Time = time.Time{} // none: the first's
	for _, comp := range []kafka.Compression{0, kafka.Lz4} {
		t.Run(fmt.Sprint(comp), func(t *testing.T) {
			b := getBatchBuf()
			out, err := b.encodeBatch(msgs, comp)
			if err != nil {
				t.Fatal(err)
			}
			if size := binary.BigEndian.Uint32(out); int(size) != len(out)-4 {
				t.Fatalf("records field size %d, batch %d bytes", size, len(out)-4)
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(out[4:]); err != nil {
				t.Fatal(err)
			}
			if rb.Magic != 2 || int(rb.Length) != len(out)-4-12 || rb.Attributes != int16(comp) ||
				rb.LastOffsetDelta != 299 || rb.NumRecords != 300 || rb.FirstTimestamp != at.UnixMilli() ||
				rb.MaxTimestamp != at.Add(8*time.Second).UnixMilli() || rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 ||
				rb.PartitionLeaderEpoch != -1 || rb.FirstOffset != 0 {
				t.Errorf("header %+v", rb)
			}
			if crc := crc32.Checksum(out[4+21:], crc32.MakeTable(crc32.Castagnoli)); uint32(rb.CRC) != crc {
				t.Errorf("crc %x, want %x", uint32(rb.CRC), crc)
			}
			records := rb.Records
			if comp == kafka.Lz4 {
				records, err = io.ReadAll(lz4.NewReader(bytes.NewReader(rb.Records)))
				if err != nil {
					t.Fatal(err)
				}
				if len(records) <= 64<<10 {
					t.Fatalf("%d bytes of records: not past one LZ4 block", len(records))
				}
			}
			for i, m := range msgs {
				var key, value []byte
				var offsetDelta, tsDelta int64
				records, offsetDelta, tsDelta, key, value = readRecord(t, records)
				want := int64(0)
				if !m.Time.IsZero() {
					want = m.Time.Sub(at).Milliseconds()
				}
				if offsetDelta != int64(i) || tsDelta != want {
					t.Fatalf("record %d: offset delta %d, timestamp delta %d", i, offsetDelta, tsDelta)
				}
				if (key == nil) != (m.Key == nil) || !bytes.Equal(key, m.Key) || (value == nil) != (m.Value == nil) || !bytes.Equal(value, m.Value) {
					t.Fatalf("record %d: key %q value %d bytes, want %q and %d", i, key, len(value), m.Key, len(m.Value))
				}
			}
			if len(records) != 0 {
				t.Errorf("%d bytes after the last record", len(records))
			}
		})
	}
}

// readRecord reads one record of a batch (Kafka's DefaultRecord) from b.
func readRecord(t *testing.T, b []byte) (rest []byte, offsetDelta, tsDelta int64, key, value []byte) {
	t.Helper()
	varint := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			t.Fatalf("bad varint at %x", b[:min(len(b), 10)])
		}
		b = b[n:]
		return v
	}
	nullable := func() []byte {
		n := varint()
		if n < 0 {
			return nil
		}
		v := b[:n:n]
		b = b[n:]
		return v
	}
	length := varint()
	end := len(b) - int(length)
	if b[0] != 0 {
		t.Fatalf("record attributes %d", b[0])
	}
	b = b[1:]
	tsDelta, offsetDelta = varint(), varint()
	key, value = nullable(), nullable()
	if h := varint(); h != 0 {
		t.Fatalf("%d headers", h)
	}
	if len(b) != end {
		t.Fatalf("record length %d, %d bytes read", length, int(length)-(len(b)-end))
	}
	return b, offsetDelta, tsDelta, key, value
}

// TestEncodeBatchAsKafkaGo: for every codec, the batch encodeBatch writes
// is byte for byte the one kafka-go's RecordSet writes for the same
// messages (what ship sent before it encoded batches itself), on a
// request of realistic log records (BenchmarkCodec's).
func TestEncodeBatchAsKafkaGo(t *testing.T) {
	msgs, _ := codecRequest(1 << 20)
	msgs[7].Key = nil
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		comp, err := codec(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := getBatchBuf().encodeBatch(msgs, comp)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(comp) & 7, Records: &partRecords{msgs: msgs}}
		if _, err := rs.WriteTo(&want); err != nil {
			t.Fatal(err)
		}
		if name == "snappy" {
			// Its framing cuts a chunk per Write, and kafka-go writes
			// piece by piece: the frames differ, what they hold may not.
			got, wantB := decompressBatch(t, got, comp), decompressBatch(t, want.Bytes(), comp)
			if !bytes.Equal(got, wantB) {
				t.Errorf("snappy: the batch holds other bytes than kafka-go's (%d, %d decompressed)", len(got), len(wantB))
			}
			continue
		}
		if !bytes.Equal(got, want.Bytes()) {
			i := 0
			for i < min(len(got), want.Len()) && got[i] == want.Bytes()[i] {
				i++
			}
			t.Errorf("%s: %d bytes, kafka-go's %d; first difference at byte %d", name, len(got), want.Len(), i)
		}
	}
}

// decompressBatch is a records field's batch with its records
// decompressed, without the fields that depend on the compressed size
// (the field's size, the batch length, the CRC).
func decompressBatch(t *testing.T, b []byte, comp kafka.Compression) []byte {
	t.Helper()
	out := append([]byte(nil), b[batchAttrsOffset:4+61]...)
	records, err := io.ReadAll(comp.Codec().NewReader(bytes.NewReader(b[4+61:])))
	if err != nil {
		t.Fatal(err)
	}
	return append(out, records...)
}

// TestAppendBatchesInOneBuffer: a request's batches, appended one after
// the other into one buffer (one per partition of the request), are each
// the batch encodeBatch writes alone.
func TestAppendBatchesInOneBuffer(t *testing.T) {
	msgs, _ := codecRequest(256 << 10)
	parts := [][]message{msgs[:10], msgs[10:200], msgs[200:]}
	for _, name := range []string{"none", "lz4", "zstd"} {
		comp, err := codec(name)
		if err != nil {
			t.Fatal(err)
		}
		b := &batchBuf{}
		var starts []int
		for _, p := range parts {
			s, err := b.appendBatch(p, comp)
			if err != nil {
				t.Fatal(err)
			}
			starts = append(starts, s)
		}
		starts = append(starts, len(b.out))
		for i, p := range parts {
			alone, err := (&batchBuf{}).encodeBatch(p, comp)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.out[starts[i]:starts[i+1]]; !bytes.Equal(got, alone) {
				t.Errorf("%s: batch %d in the shared buffer (%d bytes) is not the batch alone (%d bytes)", name, i, len(got), len(alone))
			}
		}
	}
}

// encodeBatch is appendBatch into an empty buffer: the batch alone (the
// tests' and BenchmarkCodec's; a request appends its batches, produce.go).
func (b *batchBuf) encodeBatch(msgs []message, comp kafka.Compression) ([]byte, error) {
	b.out = b.out[:0]
	start, err := b.appendBatch(msgs, comp)
	if err != nil {
		return nil, err
	}
	return b.out[start:], nil
}
