package ship

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
)

// A produce request's record batches are encoded here, not by kafka-go.
//
// kafka-go encodes a RecordSet record by record into its compressor: a
// varint, a byte, the key, the value, each a Write through its encoder
// (which keeps a CRC of what it writes) into the codec's writer, which
// copies it into its block buffer. Per record that is a dozen calls, and
// the value is copied once more than it needs to be. Here the records are
// appended to a buffer and handed to the codec in whole 64 KiB blocks,
// which LZ4 compresses where they lie, and the batch goes out through
// kafka-go's raw produce request (protocol/rawproduce), which sends its
// bytes as they are. kafka-go still routes, sends and answers the
// request, and the codecs are kafka-go's (compress.Codecs; LZ4 is ship's
// own, lz4.go). BenchmarkCodec compares the two: for a 1 MiB request of
// log records, LZ4's batch costs about a quarter less CPU, an
// uncompressed one less than half.
//
// The batch is the message format v2 (magic 2), which Kafka brokers take
// since 0.11 (produce request version 3 and later); kafka-go asks for a
// version its broker supports, and every version from 3 on carries it. A
// broker older than 0.11 (produce version 2 at most) would get batches it
// cannot read, where kafka-go's RecordSet wrote the older format: such
// brokers are not supported (TestHostile52KafkaProduceBeforeV3, skipped,
// says what happens).

// Offsets in what encodeBatch returns: the request's records field (its
// int32 size, then the record batch v2 of Kafka's DefaultRecordBatch).
const (
	batchLengthOffset = 4 + 8  // after the size and baseOffset
	batchCRCOffset    = 4 + 17 // after partitionLeaderEpoch and magic
	batchAttrsOffset  = 4 + 21 // what the CRC covers starts here
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// message is one record of a produce request as the producers take it: a
// key (nil: none), a value and a time (zero: the batch's). It is what ship
// used kafka-go's Message for, in 72 bytes, not 152: a request's messages
// are made from its records at every attempt (loop.prepare), and at full
// speed that array was one of the larger ones the loop wrote.
type message struct {
	Key, Value []byte
	Time       time.Time
}

// codecBlock is how much of the uncompressed records is handed to the
// codec at once: LZ4's block size (lz4.go).
const codecBlock = 64 << 10

// batchBufs are the buffers of the requests' batches, kept across GC
// cycles (a sync.Pool is emptied by them, and the agent runs one every
// few requests at full speed): one per request, holding the batches of
// all its partitions one after the other, and the records of the one
// being compressed. A buffer goes back only after its request was
// answered (kafka-go's connection goroutine may still read the request of
// an attempt that gave up). Four are kept: at full speed up to four
// requests are in flight at once, to one broker too (the benchmark's
// in-process run of a 1 GiB corpus to one broker made a new buffer for
// 436 of 3,468 requests when two were kept, 233 MB of allocations, and
// for 3 with four). More are left to the GC, and so are buffers grown
// past two default requests (kafka.batch.max_bytes is 1 MiB): at most
// 16 MiB kept, four buffers of that size; compressed log records keep a
// quarter of that or less.
var batchBufs = make(chan *batchBuf, 4)

type batchBuf struct {
	out, records []byte
}

func getBatchBuf() *batchBuf {
	select {
	case b := <-batchBufs:
		b.out = b.out[:0]
		return b
	default:
		return &batchBuf{}
	}
}

// putBatchBuf returns b for reuse unless it grew past what a usual
// request needs.
func putBatchBuf(b *batchBuf) {
	if cap(b.out) > 2<<20 || cap(b.records) > 2<<20 {
		return
	}
	select {
	case batchBufs <- b:
	default:
	}
}

// appendTo is an io.Writer that appends to b.out: the codec writes the
// compressed records after the batch's header.
type appendTo struct{ b *batchBuf }

func (w appendTo) Write(p []byte) (int, error) {
	w.b.out = append(w.b.out, p...)
	return len(p), nil
}

// recordsSize is about the size of msgs' records (their keys and values
// and 16 bytes each, about what a record's varints take), so that their buffer grows once.
func recordsSize(msgs []message) int {
	n := 0
	for i := range msgs {
		n += len(msgs[i].Key) + len(msgs[i].Value) + 16
	}
	return n
}

// appendBatch appends to b.out msgs as one record batch compressed with
// comp, preceded by its size (the produce request's records field, as
// kafka-go's raw record set sends it whole). None has headers; a record's
// time is its message's (ship gives a request's messages one), or, when
// zero, the first's (as kafka-go stamps those with the time of encoding:
// the batch's time, here the first's), and the first's, when zero, the
// time of encoding. The batch is b.out[start:] after it; a later append
// may move b.out.
func (b *batchBuf) appendBatch(msgs []message, comp kafka.Compression) (start int, err error) {
	first, maxTS := int64(0), int64(0)
	if len(msgs) > 0 {
		if first = msgTime(&msgs[0]); first == 0 {
			// kafka-go's stamp: the time of encoding, not the epoch
			// (a 1970 record is past any retention at once).
			first = time.Now().UnixMilli()
		}
		maxTS = max(maxTS, first)
	}
	for i := range msgs {
		maxTS = max(maxTS, msgTime(&msgs[i]))
	}
	delta := func(i int) int64 {
		if t := msgTime(&msgs[i]); t != 0 {
			return t - first
		}
		return 0
	}
	start = len(b.out)
	h := b.out
	if comp == 0 {
		h = slices.Grow(h, 61+4+recordsSize(msgs))
	}
	h = binary.BigEndian.AppendUint32(h, 0)          // the field's size, set below
	h = binary.BigEndian.AppendUint64(h, 0)          // baseOffset
	h = binary.BigEndian.AppendUint32(h, 0)          // batchLength, set below
	h = binary.BigEndian.AppendUint32(h, 0xffffffff) // partitionLeaderEpoch: -1
	h = append(h, 2)                                 // magic
	h = binary.BigEndian.AppendUint32(h, 0)          // crc, set below
	h = binary.BigEndian.AppendUint16(h, uint16(comp)&7)
	h = binary.BigEndian.AppendUint32(h, uint32(max(len(msgs)-1, 0))) // lastOffsetDelta
	h = binary.BigEndian.AppendUint64(h, uint64(first))               // firstTimestamp
	h = binary.BigEndian.AppendUint64(h, uint64(maxTS))               // maxTimestamp
	h = binary.BigEndian.AppendUint64(h, 0xffffffffffffffff)          // producerId: -1
	h = binary.BigEndian.AppendUint16(h, 0xffff)                      // producerEpoch: -1
	h = binary.BigEndian.AppendUint32(h, 0xffffffff)                  // baseSequence: -1
	h = binary.BigEndian.AppendUint32(h, uint32(len(msgs)))           // records
	if comp == 0 {
		// Uncompressed: the records follow the header.
		for i := range msgs {
			h = appendRecord(h, i, delta(i), msgs[i].Key, msgs[i].Value)
		}
		b.out = h
	} else {
		// The records go to the codec in whole 64 KiB blocks (LZ4's
		// block size here, lz4.go), which it compresses where they lie;
		// only what overshoots a block (less than a record) moves to the
		// front. So the uncompressed records never take more than a
		// block and a record.
		b.out = h
		zw := comp.Codec().NewWriter(appendTo{b})
		records := b.records[:0]
		for i := range msgs {
			records = appendRecord(records, i, delta(i), msgs[i].Key, msgs[i].Value)
			if len(records) >= codecBlock {
				k := len(records) / codecBlock * codecBlock
				if _, err := zw.Write(records[:k]); err != nil {
					_ = zw.Close()
					return start, err
				}
				records = records[:copy(records, records[k:])]
			}
		}
		_, err := zw.Write(records)
		b.records = records[:0]
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return start, err
		}
	}
	out := b.out[start:]
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	binary.BigEndian.PutUint32(out[batchLengthOffset:], uint32(len(out)-batchLengthOffset-4))
	binary.BigEndian.PutUint32(out[batchCRCOffset:], crc32.Checksum(out[batchAttrsOffset:], castagnoli))
	return start, nil
}

// msgTime is m's time in Kafka's milliseconds (0: none).
func msgTime(m *message) int64 {
	if m.Time.IsZero() {
		return 0
	}
	return m.Time.UnixMilli()
}

// appendRecord appends record i (offset delta i, timestamp delta ts) with
// key and value (nil: null) and no headers.
func appendRecord(dst []byte, i int, ts int64, key, value []byte) []byte {
	n := 1 + varintLen(ts) + varintLen(int64(i)) + bytesLen(key) + bytesLen(value) + varintLen(0)
	dst = binary.AppendVarint(dst, int64(n))
	dst = append(dst, 0)                     // attributes
	dst = binary.AppendVarint(dst, ts)       // timestampDelta
	dst = binary.AppendVarint(dst, int64(i)) // offsetDelta
	dst = appendNullableBytes(dst, key)
	dst = appendNullableBytes(dst, value)
	return binary.AppendVarint(dst, 0) // headers
}

func appendNullableBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return append(binary.AppendVarint(dst, int64(len(b))), b...)
}

// bytesLen is the encoded size of nullable bytes b.
func bytesLen(b []byte) int {
	if b == nil {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
