package tail

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// podLogs makes n container logs under dir and returns their paths.
func podLogs(t *testing.T, dir string, n int) []string {
	t.Helper()
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("ns_pod%02d_%d", i, i), "c", "0.log")
		must(t, os.MkdirAll(filepath.Dir(paths[i]), 0o755))
	}
	return paths
}

// writeSeq appends lines seq=from..to-1 of file i to path.
func writeSeq(t *testing.T, path string, i, from, to int) {
	t.Helper()
	var b strings.Builder
	for s := from; s < to; s++ {
		b.WriteString(criLine("stdout", "F", fmt.Sprintf("seq=%d file=%d", s, i)))
	}
	appendFile(t, path, b.String())
}

// exactlyOnce checks that the lines of every file arrived, each once: want
// is the number of lines per file.
func exactlyOnce(t *testing.T, recs []rec, paths []string, want int) {
	t.Helper()
	got := make(map[string]map[int]int)
	for _, rc := range recs {
		s, ok := seqOf(rc.body)
		if !ok {
			t.Errorf("unexpected line %q from %s", rc.body, rc.path)
			continue
		}
		if got[rc.path] == nil {
			got[rc.path] = make(map[int]int)
		}
		got[rc.path][s]++
	}
	for _, p := range paths {
		for s := 0; s < want; s++ {
			if n := got[p][s]; n != 1 {
				t.Errorf("%s seq=%d arrived %d times, want once", p, s, n)
			}
		}
	}
}

func linesFrom(recs []rec, paths []string) int {
	in := make(map[string]bool, len(paths))
	for _, p := range paths {
		in[p] = true
	}
	n := 0
	for _, rc := range recs {
		if in[rc.path] {
			n++
		}
	}
	return n
}

// TestMaxOpenFilesTakesTurns follows 20 files with room for 3 open at
// once: files beyond the cap wait and take turns, so every line of every
// file arrives exactly once - also the lines written after a file was first
// read, which a parked file only sees after its next turn - and no more
// than 3 files are ever open.
func TestMaxOpenFilesTakesTurns(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files, cap_, lines = 20, 3, 50
	paths := podLogs(t, dir, files)
	for i, p := range paths {
		writeSeq(t, p, i, 0, lines/2)
	}
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = cap_
	cfg.PollInterval = 10 * time.Millisecond
	r := startRunner(t, cfg, Options{})
	waitFor(t, 20*time.Second, "the first half of every file", func() bool {
		return len(r.snapshot()) >= files*lines/2
	})
	if w := testutil.ToFloat64(r.tl.m.waits); w < files-cap_ {
		t.Errorf("descriptor waits = %v, want >= %d", w, files-cap_)
	}
	if w := testutil.ToFloat64(r.tl.m.waiting); w != files-cap_ {
		t.Errorf("waiting files = %v, want %d (all but the %d open)", w, files-cap_, cap_)
	}
	for i, p := range paths {
		writeSeq(t, p, i, lines/2, lines)
	}
	waitFor(t, 20*time.Second, "every line of every file", func() bool {
		return len(r.snapshot()) >= files*lines
	})
	r.stop()
	exactlyOnce(t, r.snapshot(), paths, lines)
	if peak := r.tl.m.openFiles.peak.Load(); peak > cap_ {
		t.Errorf("up to %d files were open at once, above max_open_files %d", peak, cap_)
	}
	if got := testutil.ToFloat64(r.tl.m.openLimit); got != cap_ {
		t.Errorf("open_files_limit = %v, want %d", got, cap_)
	}
}

// TestMaxOpenFilesRotatedWhileParked rotates every file the way kubelet
// does (rename to 0.log.<timestamp>, new 0.log) while most of them are
// parked: a parked file is found again among its rotated siblings and
// finished, then the new file is read, and nothing is lost or read twice.
func TestMaxOpenFilesRotatedWhileParked(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files, cap_ = 6, 2
	paths := podLogs(t, dir, files)
	for i, p := range paths {
		writeSeq(t, p, i, 0, 10)
	}
	logs := &captured{}
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = cap_
	cfg.PollInterval = 20 * time.Millisecond
	r := startRunnerLog(t, cfg, Options{}, slog.New(logs))
	waitFor(t, 20*time.Second, "the first lines of every file", func() bool {
		return len(r.snapshot()) >= files*10
	})
	// At any time at least files-cap_ files are parked: write more to
	// each, rotate it, and start its new file.
	for i, p := range paths {
		writeSeq(t, p, i, 10, 20)
		must(t, os.Rename(p, p+".20261204-010203"))
		writeSeq(t, p, i, 20, 30)
	}
	waitFor(t, 20*time.Second, "every line, before and after the rotations", func() bool {
		return len(r.snapshot()) >= files*30
	})
	r.stop()
	exactlyOnce(t, r.snapshot(), paths, 30)
	if peak := r.tl.m.openFiles.peak.Load(); peak > cap_+files {
		t.Errorf("up to %d files open at once", peak)
	}
	if !logs.has("unparked", "rotated", true) {
		t.Error("no parked file was found rotated: the test did not exercise what it is for")
	}
}

// TestMaxOpenFilesParkedDeleted deletes pods while their files wait for
// a descriptor: a file gone when its turn comes is counted as lost
// (reason waiting), leaves the queue, and the file still there is read on.
func TestMaxOpenFilesParkedDeleted(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files, cap_ = 4, 1
	paths := podLogs(t, dir, files)
	for i, p := range paths {
		writeSeq(t, p, i, 0, 5)
	}
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = cap_
	cfg.PollInterval = 20 * time.Millisecond
	r := startRunner(t, cfg, Options{})
	waitFor(t, 20*time.Second, "every file's lines", func() bool { return len(r.snapshot()) >= files*5 })
	// At most one of the three is open: at least two are parked.
	for _, p := range paths[1:] {
		must(t, os.RemoveAll(filepath.Dir(filepath.Dir(p))))
	}
	waiting := r.tl.m.lostFiles.WithLabelValues(lostWaiting)
	waitFor(t, 20*time.Second, "the parked deleted files counted, the queue empty", func() bool {
		return testutil.ToFloat64(waiting) >= files-1-cap_ && testutil.ToFloat64(r.tl.m.waiting) == 0
	})
	writeSeq(t, paths[0], 0, 5, 10)
	waitFor(t, 20*time.Second, "the remaining file read on", func() bool {
		return linesFrom(r.snapshot(), paths[:1]) >= 10
	})
	r.stop()
	exactlyOnce(t, r.snapshot(), paths[:1], 10)
	exactlyOnce(t, r.snapshot(), paths[1:], 5)
	if got := testutil.ToFloat64(waiting); got > files-1 {
		t.Errorf("lost files (waiting) = %v, more than the %d deleted", got, files-1)
	}
}

// TestOpenEMFILE fails opens with EMFILE whenever a log file is open
// already, as a process whose descriptor limit leaves room for one file
// sees them: the failures are counted, the files take turns with the one
// descriptor there is (none waits for good behind the file that holds it),
// and once opens succeed again every file is held open and none waits.
func TestOpenEMFILE(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	paths := podLogs(t, dir, 3)
	writeSeq(t, paths[0], 0, 0, 5)
	var starved atomic.Bool
	cfg := testConfig(dir, state)
	cfg.PollInterval = 20 * time.Millisecond
	logs := &captured{}
	r := startRunnerTuned(t, cfg, Options{}, slog.New(logs), func(tl *Tailer) {
		tl.openFault = func(string) error {
			if starved.Load() && tl.openNow() >= 1 {
				return syscall.EMFILE
			}
			return nil
		}
	})
	waitFor(t, 10*time.Second, "the first file", func() bool { return len(r.snapshot()) >= 5 })
	starved.Store(true)
	for i, p := range paths[1:] {
		writeSeq(t, p, i+1, 0, 5)
	}
	writeSeq(t, paths[0], 0, 5, 10)
	emfile := r.tl.m.openErrors.WithLabelValues(openEMFILE)
	waitFor(t, 10*time.Second, "EMFILE counted", func() bool { return testutil.ToFloat64(emfile) >= 1 })
	waitFor(t, 10*time.Second, "every file read, taking turns with one descriptor", func() bool {
		return linesFrom(r.snapshot(), paths[:1]) >= 10 && linesFrom(r.snapshot(), paths[1:]) >= 10
	})
	if peak := r.tl.m.openFiles.peak.Load(); peak > 1 {
		t.Errorf("%d files open at once under a limit of one", peak)
	}
	starved.Store(false)
	waitFor(t, 10*time.Second, "every file open, none waiting, once descriptors are back", func() bool {
		return testutil.ToFloat64(r.tl.m.openFiles) == 3 && testutil.ToFloat64(r.tl.m.waiting) == 0
	})
	writeSeq(t, paths[0], 0, 10, 15)
	for i, p := range paths[1:] {
		writeSeq(t, p, i+1, 5, 10)
	}
	waitFor(t, 10*time.Second, "the lines written since", func() bool { return len(r.snapshot()) >= 15+2*10 })
	r.stop()
	exactlyOnce(t, r.snapshot(), paths[:1], 15)
	exactlyOnce(t, r.snapshot(), paths[1:], 10)
	if got := testutil.ToFloat64(r.tl.m.openErrors.WithLabelValues(openENFILE)); got != 0 {
		t.Errorf("enfile = %v, want 0", got)
	}
	// One episode: warned once (not once per refused open), and its end
	// said once.
	if n, e := logs.count("out of file descriptors"), testutil.ToFloat64(emfile); n != 1 || e < 2 {
		t.Errorf("%d warnings for %v refused opens, want 1 for several", n, e)
	}
	if n := logs.count("file descriptors available again"); n != 1 {
		t.Errorf("%d notes of descriptors back, want 1", n)
	}
}

// TestLoopHeartbeat blocks Run's loop: LastLoop stops moving while it is
// blocked and moves again once it is released.
func TestLoopHeartbeat(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	var block atomic.Bool
	release := make(chan struct{})
	cfg := testConfig(dir, state)
	tl, err := New(cfg, nil, make(chan []event.Log, 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl.loopHook = func() {
		if block.Load() {
			<-release
		}
	}
	if !tl.LastLoop().IsZero() {
		t.Fatal("LastLoop before Run is not zero")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	waitFor(t, 10*time.Second, "a first round", func() bool { return !tl.LastLoop().IsZero() })
	block.Store(true)
	bound := 3 * cfg.PollInterval
	waitFor(t, 10*time.Second, "the heartbeat to go stale", func() bool { return time.Since(tl.LastLoop()) > bound })
	stale := tl.LastLoop()
	block.Store(false)
	close(release)
	waitFor(t, 10*time.Second, "the heartbeat again", func() bool {
		return tl.LastLoop().After(stale) && time.Since(tl.LastLoop()) < bound
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !tl.LastLoop().IsZero() {
		t.Error("LastLoop after Run returned is not zero")
	}
}

// captured is a slog handler that keeps the records, at every level.
type captured struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (c *captured) Enabled(context.Context, slog.Level) bool { return true }
func (c *captured) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r.Clone())
	c.mu.Unlock()
	return nil
}
func (c *captured) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *captured) WithGroup(string) slog.Handler      { return c }

// count is the number of records whose message starts with prefix.
func (c *captured) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.recs {
		if strings.HasPrefix(r.Message, prefix) {
			n++
		}
	}
	return n
}

// has says whether a record with message msg had the attribute key=v.
func (c *captured) has(msg, key string, v any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.Message != msg {
			continue
		}
		found := false
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key && a.Value.Any() == v {
				found = true
				return false
			}
			return true
		})
		if found {
			return true
		}
	}
	return false
}

// TestOpenRealDescriptorLimit lowers this process's RLIMIT_NOFILE to a few
// descriptors above those already open, as `ulimit -n` would, with 30 files
// to follow and max_open_files well above the limit: the kernel's EMFILE
// is counted, the files take turns with the descriptors there are, so every
// line of every file arrives under the limit, and once the limit is raised
// again every file is held open and none waits.
func TestOpenRealDescriptorLimit(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	const files = 30
	paths := podLogs(t, dir, files)
	for i, p := range paths {
		writeSeq(t, p, i, 0, 5)
	}
	var orig syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig))
	restore := func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	}
	defer restore()

	cfg := testConfig(dir, state)
	cfg.StateDir = "" // the checkpoint would need descriptors too
	cfg.PollInterval = 20 * time.Millisecond
	var lowered atomic.Bool
	r := startRunnerTuned(t, cfg, Options{}, slog.New(slog.DiscardHandler), func(tl *Tailer) {
		// Lower the limit at the first open of a log file, once the
		// tailer's own descriptors (inotify) are open and the first scan
		// listed the files.
		tl.openFault = func(string) error {
			if !lowered.Swap(true) {
				ents, err := os.ReadDir("/proc/self/fd")
				if err != nil {
					return err
				}
				lim := syscall.Rlimit{Cur: uint64(len(ents) + 6), Max: orig.Max}
				if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
					return err
				}
			}
			return nil
		}
	})
	emfile := r.tl.m.openErrors.WithLabelValues(openEMFILE)
	waitFor(t, 20*time.Second, "EMFILE from the kernel", func() bool { return testutil.ToFloat64(emfile) >= 1 })
	waitFor(t, 30*time.Second, "every line, under the limit", func() bool { return len(r.snapshot()) >= files*5 })
	if peak := r.tl.m.openFiles.peak.Load(); peak >= files {
		t.Errorf("%d files open at once under a limit of a few descriptors", peak)
	}
	restore()
	waitFor(t, 20*time.Second, "every file open, none waiting, once the limit is raised", func() bool {
		return testutil.ToFloat64(r.tl.m.openFiles) == files && testutil.ToFloat64(r.tl.m.waiting) == 0
	})
	for i, p := range paths {
		writeSeq(t, p, i, 5, 10)
	}
	waitFor(t, 20*time.Second, "the lines written since", func() bool { return len(r.snapshot()) >= files*10 })
	r.stop()
	exactlyOnce(t, r.snapshot(), paths, 10)
}

// TestWaiterMovedOrGone: a file found while the descriptors were taken
// waits without being opened. Renamed (rotated) before its turn, it is read
// where it went, before the new file at its path; deleted before its turn,
// it is counted as lost (reason waiting).
func TestWaiterMovedOrGone(t *testing.T) {
	dir := t.TempDir()
	paths := podLogs(t, dir, 3)
	for i, p := range paths {
		writeSeq(t, p, i, 0, 5)
	}
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxOpenFiles = 1
	tl, err := New(cfg, nil, make(chan []event.Log, 16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	if len(tl.lim.queue) != 2 {
		t.Fatalf("%d files wait, want 2", len(tl.lim.queue))
	}
	moved, gone := tl.lim.queue[0], tl.lim.queue[1]
	must(t, os.Rename(moved.path, moved.path+".20261204-010203"))
	writeSeq(t, moved.path, 9, 0, 5)
	must(t, os.Remove(gone.path))
	if !tl.admit(moved, now) {
		t.Fatal("admit refused")
	}
	cur := tl.byPath[moved.path]
	if cur == nil || cur.pred == nil || filepath.Base(cur.pred.path) != "0.log.20261204-010203" || cur.pred.off != 0 {
		t.Fatalf("the renamed file is not read first, from 0: current %+v", cur)
	}
	tl.admit(gone, now)
	if got := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostWaiting)); got != 1 {
		t.Errorf("lost files (waiting) = %v, want 1", got)
	}
}

// TestStartupScanHeartbeat: the start-up scan beats once per file it takes
// up, so a scan that blocks on one file (a hung mount) goes stale like a
// stuck loop, and one that makes progress does not.
func TestStartupScanHeartbeat(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	paths := podLogs(t, dir, 3)
	for i, p := range paths {
		writeSeq(t, p, i, 0, 1)
	}
	hung := paths[1]
	release := make(chan struct{})
	var blocked atomic.Bool
	cfg := testConfig(dir, state)
	tl, err := New(cfg, nil, make(chan []event.Log, 16), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tl.openFault = func(path string) error {
		if path == hung && !blocked.Swap(true) {
			<-release
		}
		return nil
	}
	var rounds atomic.Int64
	tl.loopHook = func() { rounds.Add(1) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	waitFor(t, 10*time.Second, "the scan to reach the hung file", func() bool { return blocked.Load() })
	if tl.LastLoop().IsZero() {
		t.Fatal("LastLoop is zero during the start-up scan: a scan that hangs never fails /healthz")
	}
	bound := 3 * cfg.PollInterval
	waitFor(t, 10*time.Second, "the heartbeat to go stale", func() bool { return time.Since(tl.LastLoop()) > bound })
	if n := rounds.Load(); n != 0 {
		t.Fatalf("%d rounds of the loop before the scan ended", n)
	}
	stale := tl.LastLoop()
	close(release)
	waitFor(t, 10*time.Second, "the loop's first round", func() bool {
		return rounds.Load() > 0 && tl.LastLoop().After(stale) && time.Since(tl.LastLoop()) < bound
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
