package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// bgWriter runs a seqWriter in a goroutine, rotating every 256 KiB, until
// stopped.
type bgWriter struct {
	w    *seqWriter
	stop chan struct{}
	done chan struct{}
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
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return b
}

func (b *bgWriter) halt() { close(b.stop); <-b.done }

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
	time.Sleep(300 * time.Millisecond) // the writer rotates meanwhile
	r2 := startRunner(t, cfg, Options{})
	time.Sleep(300 * time.Millisecond)
	bg.halt()
	total := func() int { return len(r1.snapshot()) + len(r2.snapshot()) }
	for deadline := time.Now().Add(30 * time.Second); total() < w.seq && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
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
	time.Sleep(300 * time.Millisecond)
	bg.halt()
	first := seqs(r1.snapshot())
	defer func() { t.Logf("r1 last %v r2 first %v", first[len(first)-3:], seqs(r2.snapshot())[:3]) }()
	dups := 0
	var all []rec
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		second := r2.snapshot()
		if len(second) == 0 {
			continue
		}
		// The second run starts at or before where the first one stopped.
		n, _ := seqOf(second[0].body)
		dups = len(first) - n
		if len(first)+len(second)-dups >= w.seq {
			all = append(r1.snapshot()[:n], second...)
			break
		}
	}
	r2.stop()
	t.Logf("first run %d lines, duplicates %d", len(first), dups)
	if dups < 0 || dups >= len(first) {
		t.Fatalf("resumed at a bad place: %d duplicates of %d lines", dups, len(first))
	}
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
