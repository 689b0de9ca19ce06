package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// BenchmarkTailFiles reads a corpus of 200 CRI files of 256 KiB each from
// disk (page cache) to a consumer that acknowledges every batch, and
// reports throughput and the peak heap in use while doing it.
func BenchmarkTailFiles(b *testing.B) { benchTailFiles(b, nil) }

// BenchmarkTailFilesLimited is BenchmarkTailFiles with a rate limit on
// every container that is never reached (policy defer): what counting
// and charging the lines of every read costs.
func BenchmarkTailFilesLimited(b *testing.B) {
	benchTailFiles(b, func(c *Config) { c.RateLimit.Default = RateLimit{LinesPerSecond: 1e12, BytesPerSecond: 1e15} })
}

func benchTailFiles(b *testing.B, tune func(*Config)) {
	dir := b.TempDir()
	corpus := benchCorpus(formatCRI)[:256<<10]
	corpus = corpus[:lastNL(corpus)]
	const files = 200
	var lines int64
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("ns_pod%03d_uid", i), "app")
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "0.log"), corpus, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range corpus {
		if c == '\n' {
			lines++
		}
	}
	// lines holds partials too; count what the decoder emits.
	d := &decoder{maxLine: 256 << 10}
	d.splitLines(append([]byte(nil), corpus...), 0)
	want := int64(len(d.logs)) * files

	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	b.SetBytes(int64(len(corpus)) * files)
	b.ReportAllocs()
	for b.Loop() {
		cfg := DefaultConfig()
		cfg.Include = []string{filepath.Join(dir, "*", "*", "*.log")}
		cfg.StateDir = b.TempDir()
		if tune != nil {
			tune(&cfg)
		}
		out := make(chan []event.Log, 16)
		tl, err := New(cfg, nil, out, Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- tl.Run(ctx) }()
		var got int64
		for got < want {
			batch := <-out
			cs := make([]event.Cursor, len(batch))
			for i := range batch {
				cs[i] = batch[i].Cursor
			}
			got += int64(len(batch))
			tl.Ack(cs)
		}
		cancel()
		for range out {
		}
		<-done
		_ = tl.Close()
	}
	close(stop)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

func lastNL(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return 0
}
