package tail

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type excluder func(path string) bool

func (e excluder) Excluded(path string) bool { return e(path) }

// checkpointOf returns the committed offset the checkpoint in state holds
// for path.
func checkpointOf(t *testing.T, state, path string) (int64, bool) {
	t.Helper()
	m, _, _, err := loadState(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		if e.Path == path {
			return e.Offset, true
		}
	}
	return 0, false
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestExcludedKeepsCheckpoint: a file read by one tailer and excluded by
// the next (logs.exclude, or the Excluder) keeps its checkpoint entry
// through the commits of the tailer that excludes it, as long as it
// exists; the tailer that includes it again resumes from it. A file
// deleted while excluded loses its entry.
func TestExcludedKeepsCheckpoint(t *testing.T) {
	for _, how := range []string{"exclude", "excluder"} {
		t.Run(how, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			a, b := mkContainer(t, dir, "ns_a_uid1"), mkContainer(t, dir, "ns_b_uid2")
			gone := mkContainer(t, dir, "ns_c_uid3")
			appendFile(t, a, lines(0, 50))
			appendFile(t, b, lines(100, 150))
			appendFile(t, gone, lines(200, 210))
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 110 })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			sizeA := fileSize(t, a)

			cfg, opts := testConfig(dir, state), Options{}
			if how == "exclude" {
				cfg.Exclude = []string{a, gone}
			} else {
				opts.Excluder = excluder(func(p string) bool { return p == a || p == gone })
			}
			r2 := startRunner(t, cfg, opts)
			if err := os.Remove(gone); err != nil {
				t.Fatal(err)
			}
			appendFile(t, b, lines(150, 160))
			waitFor(t, 5*time.Second, "new lines of b", func() bool { return len(r2.snapshot()) == 10 })
			sizeB := fileSize(t, b)
			waitFor(t, 5*time.Second, "a checkpoint after them without the deleted file", func() bool {
				off, ok := checkpointOf(t, state, b)
				_, goneKept := checkpointOf(t, state, gone)
				return ok && off == sizeB && !goneKept
			})
			if off, ok := checkpointOf(t, state, a); !ok || off != sizeA {
				t.Errorf("checkpoint of the excluded file: %d (present %v), want %d", off, ok, sizeA)
			}
			r2.stop()
			if err := r2.tl.Close(); err != nil {
				t.Fatal(err)
			}
			if off, ok := checkpointOf(t, state, a); !ok || off != sizeA {
				t.Errorf("final checkpoint of the excluded file: %d (present %v), want %d", off, ok, sizeA)
			}

			appendFile(t, a, lines(50, 60))
			r3 := startRunner(t, testConfig(dir, state), Options{})
			sizeA = fileSize(t, a)
			// Lines of a file are emitted in order: once its checkpoint is at
			// its end, every line read again would have come already.
			waitFor(t, 5*time.Second, "a checkpoint at the end of a", func() bool {
				off, ok := checkpointOf(t, state, a)
				return ok && off == sizeA
			})
			r3.stop()
			if diff := cmp.Diff(upto(50, 60), seqs(r3.snapshot())); diff != "" {
				t.Errorf("lines read when the file is included again (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExcludedRotatedWhileStopped: a file excluded by the next tailer
// (logs.exclude, or the Excluder) and rotated while no tailer ran is not
// read through its rotated copy either: the checkpoint's entry for it is
// no reason to read what the config now excludes.
func TestExcludedRotatedWhileStopped(t *testing.T) {
	for _, how := range []string{"exclude", "excluder"} {
		t.Run(how, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			a, b := mkContainer(t, dir, "ns_a_uid1"), mkContainer(t, dir, "ns_b_uid2")
			appendFile(t, a, lines(0, 50))
			appendFile(t, b, lines(100, 150))
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 100 })
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			appendFile(t, a, lines(50, 60))
			if err := os.Rename(a, a+".20261204-101500"); err != nil {
				t.Fatal(err)
			}
			appendFile(t, a, lines(60, 70))

			cfg, opts := testConfig(dir, state), Options{}
			if how == "exclude" {
				cfg.Exclude = []string{a}
			} else {
				opts.Excluder = excluder(func(p string) bool { return p == a })
			}
			r2 := startRunner(t, cfg, opts)
			appendFile(t, b, lines(150, 160))
			sizeB := fileSize(t, b)
			waitFor(t, 5*time.Second, "b's new lines and a checkpoint after them", func() bool {
				off, ok := checkpointOf(t, state, b)
				return ok && off == sizeB
			})
			r2.stop()
			if diff := cmp.Diff(upto(150, 160), seqs(r2.snapshot())); diff != "" {
				t.Errorf("lines read with a excluded (-want +got):\n%s", diff)
			}
		})
	}
}
