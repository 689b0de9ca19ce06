package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// BenchmarkTurn measures what taking turns costs: one op parks a file that
// was read (closing its descriptor) and opens a waiting one (by the safe
// open of open.go, and its identity checks). 1,000 files share 64
// descriptors.
func BenchmarkTurn(b *testing.B) {
	dir := b.TempDir()
	const files, cap_ = 1000, 64
	for i := range files {
		p := filepath.Join(dir, fmt.Sprintf("ns_pod%04d_%d", i, i), "c", "0.log")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(criLine("stdout", "F", "seq=0 x")), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := testConfig(dir, "")
	cfg.MaxOpenFiles = cap_
	tl, err := New(cfg, nil, make(chan []event.Log, 1), Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tl.rescan(now, true)
	defer tl.closeAll()
	if tl.openNow() != cap_ || len(tl.lim.queue) != files-cap_ {
		b.Fatalf("%d open, %d waiting", tl.openNow(), len(tl.lim.queue))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for turned := 0; turned < b.N; turned += cap_ {
		for _, f := range tl.order {
			f.lastRead = now // read since it was opened: may be parked
		}
		tl.rebalance(now)
	}
	b.StopTimer()
	if tl.openNow() != cap_ {
		b.Fatalf("%d open after the turns, want %d", tl.openNow(), cap_)
	}
}
