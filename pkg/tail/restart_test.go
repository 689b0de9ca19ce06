package tail

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// bgWriter runs a seqWriter in a goroutine, rotating every 256 KiB, until
// stopped.
type bgWriter struct {
	w         *seqWriter
	stop      chan struct{}
	done      chan struct{}
	rotations atomic.Int64 // rotations made
}

func startWriter(w *seqWriter) *bgWriter {
	b := &bgWriter{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				_ = w.f.Close()
				return
			default:
			}
			w.next()
			if w.size >= 256<<10 {
				w.rotate()
				b.rotations.Add(1)
			}
			time.Sleep(200 * time.Microsecond) // a pace, not a wait
		}
	}()
	return b
}

func (b *bgWriter) halt() { close(b.stop); <-b.done }

// rotated waits until the writer has rotated n more times.
func (b *bgWriter) rotated(t *testing.T, n int64) {
	t.Helper()
	from := b.rotations.Load()
	waitFor(t, 30*time.Second, "rotations", func() bool { return b.rotations.Load() >= from+n })
}

func restartSetup(t *testing.T) (dir, state string, w *seqWriter, cfg Config) {
	dir, state = t.TempDir(), t.TempDir()
	cdir := filepath.Join(dir, "ns_pod_uid", "app")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		t.Fatal(err)
	}
	w = &seqWriter{t: t, path: filepath.Join(cdir, "0.log"), keep: true}
	w.open()
	w.next()
	cfg = testConfig(dir, state)
	cfg.MaxInflightBytes = 512 << 10
	return dir, state, w, cfg
}

// TestRestartExactlyOnce stops a tailer mid-stream the graceful way (cancel,
// acknowledge what was delivered, Close), lets the writer go on and rotate
// while no tailer runs, and starts a new tailer on the same state: every
// line arrives exactly once, in order.
func TestRestartExactlyOnce(t *testing.T) {
	_, _, w, cfg := restartSetup(t)
	// The writer starts once the first tailer follows the file: a fresh
	// tailer reads the live file from its start, not what was rotated
	// before it began (the writer rotates every 256 KiB, a few lines).
	r1 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the first line", func() bool { return len(r1.snapshot()) > 0 })
	bg := startWriter(w)
	waitFor(t, 10*time.Second, "some lines", func() bool { return len(r1.snapshot()) > 300 })
	r1.stop() // the consumer acknowledges everything it received
	if err := r1.tl.Close(); err != nil {
		t.Fatal(err)
	}
	bg.rotated(t, 2) // while no tailer runs
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "lines after the restart", func() bool { return len(r2.snapshot()) > 0 })
	bg.rotated(t, 2) // while the second one runs
	bg.halt()
	r2.settle()
	r2.stop()
	t.Logf("%d lines before the restart, %d after, %d rotations", len(r1.snapshot()), len(r2.snapshot()), len(w.rotated))
	if len(w.rotated) < 2 {
		t.Fatalf("only %d rotations", len(w.rotated))
	}
	checkSeqs(t, w, append(r1.snapshot(), r2.snapshot()...), cfg.MaxLineBytes)
	// Rotated files, read and acknowledged, are pruned from the checkpoint
	// but for the newest one, kept as the path's anchor (done).
	if err := r2.tl.Close(); err != nil {
		t.Fatal(err)
	}
	st := readState(t, cfg.StateDir)
	var live, done int
	for _, e := range st.Files {
		switch {
		case e.Path != w.path:
			t.Errorf("entry of another path: %+v", e)
		case e.Done:
			done++
		default:
			live++
		}
	}
	if live != 1 || done != 1 {
		t.Fatalf("checkpoint not pruned to the current file and one anchor: %+v", st.Files)
	}
}

// TestCrashNoLoss abandons a tailer without Close, as a crash would: the new
// tailer resumes from the last periodic checkpoint, so nothing is lost and
// what repeats is a suffix of what the first one delivered.
func TestCrashNoLoss(t *testing.T) {
	_, state, w, cfg := restartSetup(t)
	cfg.CommitInterval = 200 * time.Millisecond
	// The writer starts once the first tailer follows the file: a fresh
	// tailer reads the live file from its start, not what was rotated
	// before it began (the writer rotates every 256 KiB, a few lines).
	r1 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the first line", func() bool { return len(r1.snapshot()) > 0 })
	bg := startWriter(w)
	waitFor(t, 10*time.Second, "some lines", func() bool { return len(r1.snapshot()) > 300 })
	r1.stop() // no Close: the state file is whatever the last periodic commit wrote
	if err := os.WriteFile(filepath.Join(state, stateName+".tmp"), []byte("half-written"), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "lines after the restart", func() bool { return len(r2.snapshot()) > 0 })
	bg.rotated(t, 2) // while the second one runs
	bg.halt()
	r2.settle()
	r2.stop()
	first := seqs(r1.snapshot())
	second := r2.snapshot()
	defer func() {
		t.Logf("r1 last %v r2 first %v", first[len(first)-3:], seqs(second)[:min(3, len(second))])
	}()
	// The second run starts at or before where the first one stopped.
	n, _ := seqOf(second[0].body)
	dups := len(first) - n
	t.Logf("first run %d lines, duplicates %d", len(first), dups)
	if dups < 0 || dups >= len(first) {
		t.Fatalf("resumed at a bad place: %d duplicates of %d lines", dups, len(first))
	}
	all := append(r1.snapshot()[:n], second...)
	// Everything after the first run's resume point is the second run, in
	// order and complete; the duplicates are exactly the first run's tail.
	checkSeqs(t, w, all, cfg.MaxLineBytes)
	r1tail := seqs(r1.snapshot()[len(first)-dups:])
	r2head := seqs(r2.snapshot()[:dups])
	for i := range r1tail {
		if r1tail[i] != r2head[i] {
			t.Fatalf("duplicates are not the first run's tail: %v vs %v", r1tail, r2head)
		}
	}
}
