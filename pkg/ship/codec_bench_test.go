package ship

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/ferry-dev/ferry/pkg/event"
)

// codecRequest returns the messages of one request of about maxBytes of
// realistic log records: the README's corpus mix (70 % short text lines
// with varying ids and latencies, 30 % JSON lines), from 20 pods whose
// metadata repeats in every record, as ship encodes them.
func codecRequest(maxBytes int) ([]message, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	metas := make([]*event.Meta, 20)
	for i := range metas {
		metas[i] = &event.Meta{Namespace: "shop", Pod: fmt.Sprintf("checkout-7d9f8-%05d", rng.IntN(99999)),
			PodUID: fmt.Sprintf("0b6d1f2e-%04x-4c1b-9a57-%012x", rng.IntN(1<<16), rng.Int64N(1<<48)), Container: "app",
			ContainerID: fmt.Sprintf("containerd://%064x", rng.Uint64()), Image: "registry.example/shop/checkout:1.42.0",
			Node: "node-1", Labels: map[string]string{"app": "checkout", "pod-template-hash": "7d9f8"},
			Owner: event.Owner{Kind: "ReplicaSet", Name: "checkout-7d9f8"}}
	}
	paths := []string{"GET /api/v1/cart", "POST /api/v1/checkout", "GET /healthz", "GET /api/v1/items"}
	enc := newEncoder()
	var msgs []message
	size := 0
	t0 := time.Date(2026, 11, 26, 3, 55, 9, 0, time.UTC)
	for i := 0; size < maxBytes-batchHeader; i++ {
		var body string
		if rng.IntN(10) < 7 {
			body = fmt.Sprintf("%s?id=%d %d %.3fs user=%08x", paths[rng.IntN(len(paths))], rng.IntN(100000),
				[]int{200, 200, 200, 201, 404, 500}[rng.IntN(6)], rng.Float64(), rng.Uint32())
		} else {
			body = fmt.Sprintf(`{"level":"info","ts":"%s","msg":"order placed","order_id":"%016x","items":%d,"total":%.2f,"trace_id":"%032x","span_id":"%016x"}`,
				t0.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), rng.Uint64(), rng.IntN(9)+1, rng.Float64()*300, rng.Uint64(), rng.Uint64())
		}
		m := metas[rng.IntN(len(metas))]
		l := event.Log{Time: t0.Add(time.Duration(i) * time.Millisecond), Stream: event.Stdout, Body: []byte(body),
			Path: "/var/log/pods/shop_" + m.Pod + "_" + m.PodUID + "/app/0.log", Cursor: event.Cursor{Source: 1, Offset: int64(i) * 200}, Meta: m}
		v := enc.appendLog(nil, &l)
		msgs = append(msgs, message{Key: []byte(m.PodUID), Value: v, Time: l.Time})
		size += len(v) + len(m.PodUID) + recordOverhead
	}
	return msgs, size
}

// BenchmarkCodec measures each codec on one full request (batch.max_bytes,
// 1 MiB) of realistic log records, its record batch (v2, with its
// compression) written two ways: as ship writes it (encodeBatch, batch.go)
// and as kafka-go's RecordSet writes it, which ship used before: CPU-s per
// GiB of records (key + value) and the bytes that go on the wire per
// record and per byte of records.
//
//	go test -run '^$' -bench BenchmarkCodec -benchtime 100x -count 5 -cpu 1 ./pkg/ship/
//
// CPU-s/GiB is measured with getrusage (the process's CPU time), so it
// holds on a busy machine where ns/op (wall time) does not.
func BenchmarkCodec(b *testing.B) {
	msgs, _ := codecRequest(1 << 20)
	raw := 0
	for _, m := range msgs {
		raw += len(m.Key) + len(m.Value)
	}
	for _, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		comp, err := codec(name)
		if err != nil {
			b.Fatal(err)
		}
		writers := []struct {
			name  string
			write func(*countWriter) error
		}{
			{"ship", func(cw *countWriter) error {
				bb := getBatchBuf()
				out, err := bb.encodeBatch(msgs, comp)
				cw.Write(out)
				putBatchBuf(bb)
				return err
			}},
			{"kafka-go", func(cw *countWriter) error {
				rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(comp) & 7, Records: &partRecords{msgs: msgs}}
				_, err := rs.WriteTo(cw)
				return err
			}},
		}
		for _, w := range writers {
			b.Run(name+"/"+w.name, func(b *testing.B) {
				var cw countWriter
				if err := w.write(&cw); err != nil {
					b.Fatal(err)
				}
				wire := cw.n
				b.SetBytes(int64(raw))
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				n := 0
				for b.Loop() {
					if err := w.write(&cw); err != nil {
						b.Fatal(err)
					}
					n++
				}
				// CPU time (user + system, GC included), not wall time:
				// the figure holds on a shared machine.
				perOp := (cpuTime(b) - cpu0).Seconds() / float64(n)
				b.ReportMetric(perOp/float64(raw)*(1<<30), "CPU-s/GiB")
				b.ReportMetric(float64(wire)/float64(len(msgs)), "wire_B/record")
				b.ReportMetric(float64(wire)/float64(raw), "wire/raw")
				b.ReportMetric(float64(len(msgs)), "records/request")
			})
		}
	}
}

// cpuTime is the process's user + system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// partRecords reads a request's messages as records, without copying
// them: each record and its key and value readers are reused (kafka-go
// encodes a record completely before it reads the next one).
type partRecords struct {
	msgs       []message
	next       int
	record     kafka.Record
	key, value bytesReadCloser
}

func (r *partRecords) ReadRecord() (*kafka.Record, error) {
	if r.next >= len(r.msgs) {
		return nil, io.EOF
	}
	m := &r.msgs[r.next]
	r.next++
	r.record = kafka.Record{Time: m.Time}
	if m.Key != nil {
		r.key.Reset(m.Key)
		r.record.Key = &r.key
	}
	if m.Value != nil {
		r.value.Reset(m.Value)
		r.record.Value = &r.value
	}
	return &r.record, nil
}

type bytesReadCloser struct{ bytes.Reader }

func (*bytesReadCloser) Close() error { return nil }
