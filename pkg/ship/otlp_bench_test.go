package ship

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/ferry-dev/ferry/pkg/event"
)

// BenchmarkEncode compares the cost of the encodings (kafka.encoding) per
// byte of log line: bytes/s (MB/s) count the lines' bodies, and cpu_s/GiB
// is the process's CPU time (user + system, the garbage collector's
// included: getrusage, so the figure holds on a busy machine) per GiB of
// lines. The lines are the
// benchmark corpus's two shapes (bench/README.md): plain text and JSON.
//
//	go test -run '^$' -bench 'Encode$' -count 6 ./pkg/ship/
func BenchmarkEncode(b *testing.B) {
	bodies := []struct{ name, s string }{
		{"text120", "seq=123456 src=shop/svc-1-6c8f9b7d4-00002/app len=120 abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"},
		{"json330", `{"ts":"2026-11-26T00:00:01.234567Z","level":"info","logger":"http.server","msg":"request served","seq":42,"method":"GET","path":"/api/v1/cart?id=123456","status":200,"duration_ms":12.345,"bytes":65536,"trace_id":"0123456789abcdef0123456789abcdef","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}`},
	}
	for _, body := range bodies {
		for _, enc := range []string{encodingJSON, encodingOTLPProto, encodingOTLPJSON} {
			b.Run(body.name+"/"+enc, func(b *testing.B) {
				l := benchLog(body.s)
				l.ReadAt = l.Time.UnixNano()
				ll := &loop{enc: newEncoder()}
				if enc != encodingJSON {
					ll.otlp = newOTLPEncoder(enc)
				}
				buf := ll.appendLog(nil, &l)
				b.SetBytes(int64(len(body.s)))
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				for b.Loop() {
					buf = ll.appendLog(buf[:0], &l)
				}
				cpu := cpuTime(b) - cpu0
				b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(len(body.s))/(1<<30)), "cpu_s/GiB")
				b.ReportMetric(float64(len(buf)), "record_bytes")
			})
		}
	}
}

// BenchmarkEncodeMetrics compares the encodings of a host metric sample.
func BenchmarkEncodeMetrics(b *testing.B) {
	snap := event.Snapshot{Time: time.Now(), Node: "node-1", Metrics: []event.Metric{
		{Name: "node_cpu_seconds_total", Labels: []event.Label{{Name: "cpu", Value: "0"}, {Name: "mode", Value: "idle"}}, Value: 1234.5, Type: event.Counter},
		{Name: "node_memory_MemAvailable_bytes", Value: 1 << 30, Type: event.Gauge},
	}}
	for _, enc := range []string{encodingJSON, encodingOTLPProto, encodingOTLPJSON} {
		b.Run(enc, func(b *testing.B) {
			ll := &loop{enc: newEncoder()}
			if enc != encodingJSON {
				ll.otlp = newOTLPEncoder(enc)
				ll.otlp.snapshot(&snap)
			}
			var buf []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m := &snap.Metrics[i%len(snap.Metrics)]
				if ll.otlp != nil {
					buf = ll.otlp.appendMetric(buf[:0], m, snap.Time)
				} else {
					buf = appendMetric(buf[:0], m, snap.Time, snap.Node)
				}
			}
			b.ReportMetric(float64(len(buf)), "record_bytes")
		})
	}
}

// BenchmarkSendKafkaEncoding measures the whole path to Kafka (encode,
// batch, lz4, produce to an in-process broker that discards, confirm,
// ack) in each encoding: cpu_s/GiB is the process's CPU time (the broker's
// included) per GiB of log lines, the figure the 1.5x target is about.
//
//	go test -run '^$' -bench SendKafkaEncoding -count 6 ./pkg/ship/
func BenchmarkSendKafkaEncoding(b *testing.B) {
	for _, enc := range []string{encodingJSON, encodingOTLPProto, encodingOTLPJSON} {
		b.Run(enc, func(b *testing.B) {
			_, addr := startCluster(b, kfake.BlackholeProduce())
			cfg := testKafkaConfig(addr)
			cfg.Kafka.Encoding = enc
			const perSlice = 1000
			msg := []byte(strings.Repeat("GET /api/v1/cart?id=42 200 0.003s ", 6)[:200])
			ls := make([]event.Log, perSlice)
			for i := range ls {
				ls[i] = benchLog("")
				ls[i].Body = msg
			}
			ack := &countAcker{}
			logs := make(chan []event.Log, 4)
			s, err := New(cfg, nil, Options{Logs: logs, Acker: ack})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			errc := make(chan error, 1)
			b.SetBytes(int64(perSlice * len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			go func() { errc <- s.Run(context.Background()) }()
			n := 0
			for b.Loop() {
				logs <- ls // not of event.BatchCap: never recycled
				n++
			}
			close(logs)
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cpu := cpuTime(b) - cpu0
			if got := ack.n.Load(); got != int64(n*perSlice) {
				b.Fatalf("acked %d of %d", got, n*perSlice)
			}
			b.ReportMetric(cpu.Seconds()/(float64(n*perSlice*len(msg))/(1<<30)), "cpu_s/GiB")
		})
	}
}
