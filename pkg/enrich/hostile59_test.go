package enrich

import (
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/ferry-dev/ferry/internal/kubefake"
	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHostile59EndMarkersAreNoMisses: with processing on, the tailer puts
// two end markers after the last line of every file it closes. They go
// through enrichment in their file's order (parked behind its lines), but
// they are not lines: ferry_enrich_misses_total counts the log lines
// shipped with only their path's metadata, and a file of a pod gone from
// the cache that closes adds none. A node where short-lived pods end all
// day would otherwise show misses for lines that never existed.
func TestHostile59EndMarkersAreNoMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.MissWait = 2 * time.Second
		h := start(t, cfg, kubefake.Client{Interface: fake.NewClientset()})
		h.waitSynced()
		p := "/var/log/pods/shop_gone_uid-gone/app/0.log"
		q := "/var/log/pods/shop_done_uid-done/app/0.log"
		end := func(path string, s event.Stream) event.Log {
			return event.Log{Path: path, Stream: s, End: true, Cursor: event.Cursor{Source: 1}}
		}
		h.send(line(p, 1), line(p, 2), end(p, event.Stdout), end(p, event.Stderr))
		synctest.Wait()
		got := h.recv() // after the wait: the lines, then the markers
		if len(got) != 4 || got[0].End || !got[2].End || !got[3].End {
			t.Fatalf("released %d records, want the 2 lines then the 2 markers: %+v", len(got), got)
		}
		// A file closed with nothing new since its lines went out (its
		// file state swept meanwhile): markers alone.
		h.send(end(q, event.Stdout), end(q, event.Stderr))
		synctest.Wait()
		if got := h.recv(); len(got) != 2 {
			t.Fatalf("%d records, want the 2 markers", len(got))
		}
		if m := counterValue(t, h.e.m.misses.WithLabelValues(reasonNotInCache)); m != 2 {
			t.Errorf("ferry_enrich_misses_total{not_in_cache} = %v, want 2 (the lines; markers are not lines)", m)
		}
	})
}
