package tail

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// watchedStepTailer is stepTailer with notifications: a notifier watches
// the include globs' directories, but nothing drains it, so only the
// test's polls and read turns tell the tailer anything.
func watchedStepTailer(t *testing.T, first string) (*Tailer, string, time.Time) {
	t.Helper()
	tl, path, now := stepTailer(t, first)
	watchSteps(t, tl)
	return tl, path, now
}

func watchSteps(t *testing.T, tl *Tailer) {
	t.Helper()
	w, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	tl.watcher, tl.dirs = w, newDirCache(w.Watching)
	tl.watch()
}

// polledStepTailer is watchedStepTailer after busyPolls busy steps: its
// container's directory is polled; next is the next line to write.
func polledStepTailer(t *testing.T) (*Tailer, string, time.Time, int) {
	t.Helper()
	tl, path, now := watchedStepTailer(t, lines(0, 5))
	next := 5
	for i := 0; i < busyPolls; i++ {
		busyStep(t, tl, path, &next, &now)
	}
	if !tl.isPolled(filepath.Dir(path)) {
		t.Fatal("not polled")
	}
	return tl, path, now, next
}

// busyStep appends lines [*next, *next+5) to path, then polls and reads a
// second later.
func busyStep(t *testing.T, tl *Tailer, path string, next *int, now *time.Time) bool {
	t.Helper()
	if path != "" {
		appendFile(t, path, lines(*next, *next+5))
		*next += 5
	}
	*now = now.Add(time.Second)
	rescan := tl.poll(*now)
	tl.readTurn(*now)
	return rescan
}

// TestBusyDirPolledThenWatchedAgain: a container directory whose file grew
// at busyPolls polls in a row is no longer watched, and its file is read
// every read_interval without any notification; the first poll at which
// it did not grow watches it again and asks for a rescan.
func TestBusyDirPolledThenWatchedAgain(t *testing.T) {
	tl, path, now := watchedStepTailer(t, lines(0, 5))
	dir := filepath.Dir(path)
	if !tl.watcher.Watching(dir) {
		t.Fatal("the container directory is not watched")
	}
	next := 5
	for i := 1; i < busyPolls; i++ {
		busyStep(t, tl, path, &next, &now)
		if !tl.watcher.Watching(dir) {
			t.Fatalf("unwatched after %d busy polls, want %d", i, busyPolls)
		}
	}
	busyStep(t, tl, path, &next, &now)
	if tl.watcher.Watching(dir) || !tl.isPolled(dir) {
		t.Fatalf("after %d busy polls: watching %v, polled %v", busyPolls, tl.watcher.Watching(dir), tl.isPolled(dir))
	}
	if g := testutil.ToFloat64(tl.m.polledDirs); g != 1 {
		t.Fatalf("ferry_tail_polled_dirs = %v, want 1", g)
	}
	f := tl.byPath[path]
	if !f.polled {
		t.Fatal("the file of the polled directory is not marked polled")
	}
	// A rescan leaves it unwatched.
	tl.watch()
	if tl.watcher.Watching(dir) {
		t.Fatal("watch() watched the polled directory again")
	}
	// Read again after read_interval with no poll and no notification.
	appendFile(t, path, lines(next, next+5))
	next += 5
	off := f.off
	now = now.Add(tl.cfg.ReadInterval)
	tl.readTurn(now)
	if f.off == off {
		t.Fatal("a file of a polled directory was not read at its next read turn")
	}
	// Two polls without growth: the first still counts the read above.
	if busyStep(t, tl, "", &next, &now) {
		t.Fatal("a rescan asked while still busy")
	}
	if !busyStep(t, tl, "", &next, &now) {
		t.Fatal("watching the directory again did not ask for a rescan")
	}
	if !tl.watcher.Watching(dir) || tl.isPolled(dir) || f.polled {
		t.Fatalf("after a quiet poll: watching %v, polled %v, file polled %v", tl.watcher.Watching(dir), tl.isPolled(dir), f.polled)
	}
	if g := testutil.ToFloat64(tl.m.polledDirs); g != 0 {
		t.Fatalf("ferry_tail_polled_dirs = %v, want 0", g)
	}
}

// TestBusyDirIdleSiblingStaysWatched: a directory is polled only when every
// file followed in it grows; an idle one there (a restarted container's
// previous log) keeps the watch, and with it its write notifications.
func TestBusyDirIdleSiblingStaysWatched(t *testing.T) {
	tl, path, now := watchedStepTailer(t, lines(0, 5))
	idle := filepath.Join(filepath.Dir(path), "1.log")
	appendFile(t, idle, lines(1000, 1001))
	tl.rescan(now, false)
	if tl.byPath[idle] == nil {
		t.Fatal("the second file is not followed")
	}
	next := 5
	for i := 0; i < 2*busyPolls; i++ {
		busyStep(t, tl, path, &next, &now)
	}
	if !tl.watcher.Watching(filepath.Dir(path)) {
		t.Fatal("a directory with an idle file was unwatched")
	}
}

// TestBusyDirTruncatedWatchedAgain: a truncation in a polled directory,
// found by a read turn and read past before the next poll, watches it
// again at that poll (a copytruncate's copy, made before anything of the
// new generation is read, is found by its creation).
func TestBusyDirTruncatedWatchedAgain(t *testing.T) {
	tl, path, now, _ := polledStepTailer(t)
	dir := filepath.Dir(path)
	// Rewritten in place, longer than what was read: the next read turn
	// finds the truncation by the file's first bytes, the one after reads.
	if err := os.WriteFile(path, []byte(lines(5000, 5100)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := tl.byPath[path]
	truncs := testutil.ToFloat64(tl.m.truncations)
	for i := 0; i < 2; i++ {
		now = now.Add(tl.cfg.ReadInterval)
		tl.readTurn(now)
	}
	if testutil.ToFloat64(tl.m.truncations) != truncs+1 || f.off == 0 {
		t.Fatalf("the read turns did not find the truncation and read on: truncations %v -> %v, offset %d",
			truncs, testutil.ToFloat64(tl.m.truncations), f.off)
	}
	now = now.Add(time.Second)
	tl.poll(now)
	if !tl.watcher.Watching(dir) || tl.isPolled(dir) {
		t.Fatalf("after a truncation: watching %v, polled %v", tl.watcher.Watching(dir), tl.isPolled(dir))
	}
}

// TestBusyDirWithWatchedSubdirStaysWatched: a directory that holds followed
// files and directories the globs watch is never unwatched: a new
// directory there would go unseen until a rescan.
func TestBusyDirWithWatchedSubdirStaysWatched(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig(root, t.TempDir())
	cfg.Include = []string{filepath.Join(root, "*.log"), filepath.Join(root, "*", "*.log")}
	tl, err := New(cfg, nil, make(chan []event.Log, 100000), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "a.log")
	appendFile(t, path, lines(0, 5))
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	tl.readTurn(now)
	watchSteps(t, tl)
	if !tl.watcher.Watching(filepath.Join(root, "sub")) {
		t.Fatal("the subdirectory is not watched")
	}
	next := 5
	for i := 0; i < 2*busyPolls; i++ {
		busyStep(t, tl, path, &next, &now)
	}
	if !tl.watcher.Watching(root) || tl.isPolled(root) {
		t.Fatal("a directory with a watched subdirectory was unwatched")
	}
}

// TestBusyDirRotatesWhilePolled runs the tailer on a container that writes
// without pause until its directory is polled, then rotates (kubelet's
// rename and a new 0.log) and writes on, then stops: every line arrives
// once and in order while the directory is polled, the rotation is found
// without notifications, and the directory is watched again once quiet.
func TestBusyDirRotatesWhilePolled(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	polled := func() float64 { return testutil.ToFloat64(r.tl.m.polledDirs) }
	nextp, write := writeUntilPolled(t, r, path)
	t.Logf("polled after %d lines", *nextp)
	// Renamed while no watch is on the directory: only the poll can find
	// it (the old file stops growing, which watches the directory again).
	mustRename(t, path, path+".20261206-020000")
	for range 100 {
		write()
	}
	waitFor(t, 10*time.Second, "the directory watched again", func() bool { return polled() == 0 })
	write()
	got := seqs(r.snapshot())
	if next := *nextp; len(got) != next {
		t.Fatalf("%d lines received, %d written", len(got), next)
	}
	for i, s := range got {
		if s != i {
			t.Fatalf("line %d is seq %d: %v", i, s, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	if r := testutil.ToFloat64(r.tl.m.rotations); r != 1 {
		t.Fatalf("%v rotations counted, want 1", r)
	}
}

// TestBusyDirNewEntryRescansAtPoll: a file created in a polled directory
// brings a rescan at the next poll (the directory's modification time
// moved), not only at rescan_interval, so a short-lived file there is
// still found.
func TestBusyDirNewEntryRescansAtPoll(t *testing.T) {
	tl, path, now, next := polledStepTailer(t)
	dir := filepath.Dir(path)
	if busyStep(t, tl, path, &next, &now) {
		t.Fatal("a rescan asked with nothing created")
	}
	appendFile(t, filepath.Join(dir, "1.log"), lines(2000, 2001))
	if !busyStep(t, tl, path, &next, &now) {
		t.Fatal("a file created in a polled directory did not ask for a rescan at the next poll")
	}
	if busyStep(t, tl, path, &next, &now) {
		t.Fatal("a rescan asked again with nothing more created")
	}
}

// TestBusyDirStaysPolledWhenWatchFails: a polled directory that cannot be
// watched again (here: fsnotify closed; on a node, the watch limit) stays
// polled, its file read at every read turn, rather than being left with
// neither a watch nor a read each read_interval.
func TestBusyDirStaysPolledWhenWatchFails(t *testing.T) {
	tl, path, now, next := polledStepTailer(t)
	dir := filepath.Dir(path)
	if err := tl.watcher.w.Close(); err != nil {
		t.Fatal(err)
	}
	busyStep(t, tl, "", &next, &now) // counts the last read
	busyStep(t, tl, "", &next, &now) // quiet: the watch is tried, and fails
	if !tl.isPolled(dir) || tl.watcher.Watching(dir) {
		t.Fatalf("after a failed watch: polled %v, watching %v", tl.isPolled(dir), tl.watcher.Watching(dir))
	}
	if g := testutil.ToFloat64(tl.m.polledDirs); g != 1 {
		t.Fatalf("ferry_tail_polled_dirs = %v, want 1", g)
	}
	f := tl.byPath[path]
	appendFile(t, path, lines(next, next+5))
	off := f.off
	now = now.Add(tl.cfg.ReadInterval)
	tl.readTurn(now)
	if f.off == off {
		t.Fatal("the file of a directory that could not be watched again was not read at its next read turn")
	}
}
