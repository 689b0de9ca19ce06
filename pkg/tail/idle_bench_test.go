package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// BenchmarkIdlePoll measures what an idle node costs the tailer: one op is
// one poll of 1,000 open files that nothing writes to, followed by the read
// turn it leads to (as Run does once per poll_interval). Reported per file.
func BenchmarkIdlePoll(b *testing.B) {
	dir := b.TempDir()
	const files = 1000
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("ns_pod%04d_%d", i, i), "c", "0.log")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(criLine("stdout", "F", "seq=0 an idle container's only line")), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := make(chan []event.Log, 1024)
	tl, err := New(testConfig(dir, ""), nil, out, Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tl.rescan(now, true)
	defer tl.closeAll()
	tl.readTurn(now) // the one line of each file
	for len(tl.nextBatch()) > 0 {
		tl.batchSent()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now = now.Add(tl.cfg.PollInterval)
		tl.poll(now)
		tl.readTurn(now)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*files), "ns/file")
	if tl.openNow() != files {
		b.Fatalf("%d open, want %d", tl.openNow(), files)
	}
}
