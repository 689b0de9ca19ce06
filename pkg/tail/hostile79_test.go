package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCopyMadeBeforeOpenTruncatedAfter: logrotate's copytruncate of a
// file the checkpoint read to line 4 (lines 5-7 written since) as the
// agent starts: the copy is made before the start opens the file (born
// before it), the file truncated after, before the start looks at the
// rotated files; the path has an anchor (a finished file, plain or
// compressed), so the siblings after it are looked at. The copy is read
// from the checkpoint's offset (lines 5-7), never 0-4 again, and nothing
// is counted lost; after a restart with nothing acknowledged, 5-8 once
// each (randomized seed 120278: lines read before the restart came
// twice).
func TestCopyMadeBeforeOpenTruncatedAfter(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain anchor", true: "compressed anchor"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			old := path + ".20261206-000014"
			appendFile(t, old, lines(100, 103))
			anchor := dataEntry(t, path, old, lines(100, 103), true)
			if gz {
				mustGzip(t, old)
			}
			read := lines(0, 5)
			appendFile(t, path, read)
			if err := writeState(state, []stateEntry{anchor, dataEntry(t, path, path, read, false)}); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(5, 8))
			cp := path + ".20261206-000020"
			if err := os.WriteFile(cp, []byte(read+lines(5, 8)), 0o644); err != nil {
				t.Fatal(err)
			}
			b, ok := born(cp)
			if !ok {
				t.Skip("no birth times on this file system")
			}
			tl := newIdleTailerIn(t, dir, state)
			now := time.Now()
			tl.loadState(now)
			var saved []stateEntry
			for _, es := range tl.resume {
				saved = append(saved, es...)
			}
			tl.rescan(now, true)
			f := tl.byPath[path]
			if f == nil || f.off != int64(len(read)) {
				t.Fatalf("the file not resumed at its offset: %+v", f)
			}
			// Made before the open, in an earlier tick of the file
			// system's clock.
			f.opened, f.tick, f.took = b.Add(time.Millisecond), true, nil
			mustTruncate(t, path)
			tl.resumeRotated(now, saved)
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, upto(5, 8)) {
				t.Errorf("lines %v, want %v", got, upto(5, 8))
			}
			if lost := lostTruncatedOf(tl) + testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted)); lost != 0 {
				t.Errorf("lost %v bytes counted, want none", lost)
			}
			stop77(t, tl)
			appendFile(t, path, lines(8, 9))
			restartWant(t, tl.cfg, 5, 9)
		})
	}
}
