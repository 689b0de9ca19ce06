package tail

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// TestHostile59EndMarkersKeepBatchCap: with end markers on (processing
// configured), every file a turn closes adds two records to the batch
// being filled. A node whose pods go away together (a drain, a namespace
// deleted) closes hundreds of files read to their end in one turn: the
// batch must still be closed at maxBatchLines, so that it stays within
// the pooled capacity (event.BatchCap) and is recycled, rather than
// reallocated by append into a slice the pool refuses.
func TestHostile59EndMarkersKeepBatchCap(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files = 700 // 1400 markers: more than a pooled batch holds
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 2 * files
	out := make(chan []event.Log, 10*files)
	tl, err := New(cfg, nil, out, Options{EndMarkers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	tl.loadState(time.Now())
	var paths []string
	for i := range files {
		p := mkContainer(t, dir, fmt.Sprintf("ns_pod%d_uid%d", i, i))
		appendFile(t, p, lines(i, i+1))
		paths = append(paths, p)
	}
	var batches [][]event.Log
	take := func() {
		for {
			select {
			case b := <-out:
				batches = append(batches, b)
			default:
				return
			}
		}
	}
	now := time.Now()
	tl.rescan(now, true)
	for range 10 {
		now = now.Add(time.Second)
		tl.readTurn(now)
	}
	take()
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	if n != files {
		t.Fatalf("%d lines read; want %d", n, files)
	}
	batches = nil
	for _, p := range paths {
		must(t, os.RemoveAll(filepath.Dir(filepath.Dir(p))))
	}
	for range 10 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		tl.readTurn(now)
	}
	take()
	markers := 0
	for _, b := range append(append(batches, tl.ready...), tl.batch) {
		for _, l := range b {
			if !l.End {
				t.Fatalf("a line after the files were deleted: %q", l.Body)
			}
			markers++
		}
		if len(b) > event.BatchCap || (b != nil && cap(b) != event.BatchCap) {
			t.Errorf("a batch of %d records, capacity %d: the pool's batches hold %d", len(b), cap(b), event.BatchCap)
		}
	}
	if markers != 2*files {
		t.Fatalf("%d end markers; want %d", markers, 2*files)
	}
}
