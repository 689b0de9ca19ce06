package ship

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-dev/ferry/pkg/event"
)

type countAcker struct{ n atomic.Int64 }

func (a *countAcker) Ack(c []event.Cursor) { a.n.Add(int64(len(c))) }

// BenchmarkSendKafka measures the whole path (encode, batch, compress,
// produce, confirm, ack) to an in-process kfake broker that discards what
// it receives. Bytes are the encoded JSON records (~200-byte messages).
// Run with -cpu 1 for a per-core figure.
func BenchmarkSendKafka(b *testing.B) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		b.Run(codec, func(b *testing.B) {
			_, addr := startCluster(b, kfake.BlackholeProduce())
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Compression = codec
			const perSlice = 1000
			ls := make([]event.Log, perSlice)
			msg := []byte(strings.Repeat("GET /api/v1/cart?id=42 200 0.003s ", 6)[:200])
			for i := range ls {
				ls[i] = benchLog("")
				ls[i].Body = msg
			}
			enc := newEncoder()
			size := 0
			for i := range ls {
				size += len(enc.appendLog(nil, &ls[i])) + len(ls[i].Meta.PodUID)
			}
			ack := &countAcker{}
			logs := make(chan []event.Log, 4)
			s, err := New(cfg, nil, Options{Logs: logs, Acker: ack})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			errc := make(chan error, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			go func() { errc <- s.Run(context.Background()) }()
			n := 0
			for b.Loop() {
				logs <- ls
				n++
			}
			close(logs)
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if got := ack.n.Load(); got != int64(n*perSlice) {
				b.Fatalf("acked %d of %d", got, n*perSlice)
			}
			b.ReportMetric(float64(size)/perSlice, "B/record")
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(n*perSlice)/sec, "lines/s")
			b.ReportMetric(float64(n*perSlice*len(msg))/sec/(1<<20), "line_MiB/s")
		})
	}
}

// BenchmarkPipelineStdout measures ship's own work per record (encode,
// route, batch, ack) with a sink that discards: allocations here are ship's,
// not kafka-go's.
func BenchmarkPipelineStdout(b *testing.B) {
	const perSlice = 1000
	ls := make([]event.Log, perSlice)
	for i := range ls {
		ls[i] = benchLog(strings.Repeat("GET /api/v1/cart?id=42 200 0.003s ", 6)[:200])
	}
	enc := newEncoder()
	size := 0
	for i := range ls {
		size += len(enc.appendLog(nil, &ls[i]))
	}
	ack := &countAcker{}
	logs := make(chan []event.Log, 4)
	s, err := New(Config{Stdout: &StdoutConfig{}}, nil, Options{Logs: logs, Acker: ack, Stdout: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 1)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	go func() { errc <- s.Run(context.Background()) }()
	for b.Loop() {
		logs <- ls
	}
	close(logs)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}
