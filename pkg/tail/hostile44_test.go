package tail

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Attacks on busy.go: directories polled instead of watched.

// polledGauge is ferry_tail_polled_dirs of r.
func polledGauge(r *runner) float64 { return testutil.ToFloat64(r.tl.m.polledDirs) }

// lineWriter writes numbered CRI lines to files and waits for each to
// arrive, so that every poll sees every file it writes grow.
type lineWriter struct {
	t    *testing.T
	r    *runner
	next int
}

// write appends one line to each of paths and waits until all arrived.
func (w *lineWriter) write(paths ...string) {
	w.t.Helper()
	for _, p := range paths {
		appendFile(w.t, p, lines(w.next, w.next+1))
		w.next++
	}
	want := w.next
	waitFor(w.t, 10*time.Second, fmt.Sprintf("line %d", want-1), func() bool { return len(w.r.snapshot()) >= want })
}

// untilPolled writes to paths until the gauge reaches n.
func (w *lineWriter) untilPolled(n float64, paths ...string) {
	w.t.Helper()
	for i := 0; polledGauge(w.r) < n; i++ {
		if i == 5000 {
			w.t.Fatalf("ferry_tail_polled_dirs %v after %d rounds of writes, want %v", polledGauge(w.r), i, n)
		}
		w.write(paths...)
	}
}

// exactlyInOrder checks that recs are seqs 0..n-1, once each, in order
// (per file order is all the tests below need: one writer, one stream).
func exactlyInOrder(t *testing.T, recs []rec, n int) {
	t.Helper()
	got := seqs(recs)
	if len(got) != n {
		seen := make(map[int]int)
		for _, s := range got {
			seen[s]++
		}
		var missing, dup []int
		for i := 0; i < n; i++ {
			switch seen[i] {
			case 0:
				missing = append(missing, i)
			case 1:
			default:
				dup = append(dup, i)
			}
		}
		t.Fatalf("%d lines received, %d written; missing %v, duplicated %v", len(got), n, missing, dup)
	}
	for i, s := range got {
		if s != i {
			t.Fatalf("line %d is seq %d: %v", i, s, got[max(0, i-3):min(len(got), i+3)])
		}
	}
}

// TestHostile44RotationStormWhilePolled: a container rotated kubelet's way
// (rename, new file, older ones compressed then deleted) each time its
// directory has become polled, and twice back to back: every line arrives
// once, in order, and each rotation is counted.
func TestHostile44RotationStormWhilePolled(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, t.TempDir())
	cdir := filepath.Join(dir, "ns_pod_uid", "app")
	must(t, os.MkdirAll(cdir, 0o755))
	sw := &seqWriter{t: t, path: filepath.Join(cdir, "0.log")}
	sw.open()
	defer func() { _ = sw.f.Close() }()
	r := startRunner(t, cfg, Options{})
	write := func() {
		sw.next()
		want := sw.seq
		waitFor(t, 10*time.Second, fmt.Sprintf("seq %d", want-1), func() bool { return len(r.snapshot()) >= want })
	}
	for round := 0; round < 6; round++ {
		for i := 0; polledGauge(r) == 0; i++ {
			if i == 5000 {
				t.Fatalf("round %d: not polled after %d writes", round, i)
			}
			write()
		}
		sw.rotate()
		write()
		if round%2 == 1 {
			sw.rotate() // a second rotation before any poll could look
			write()
		}
	}
	for range 20 {
		write()
	}
	checkSeqs(t, sw, r.snapshot(), cfg.MaxLineBytes)
	waitFor(t, 10*time.Second, "every rotation counted", func() bool {
		return testutil.ToFloat64(r.tl.m.rotations) == float64(len(sw.rotated))
	})
	if lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostDeleted)); lost != 0 {
		t.Fatalf("%v bytes counted lost", lost)
	}
}

// TestHostile44CopytruncateWhilePolled: logrotate's copytruncate of a file
// in a polled directory (copy to 0.log.1, truncate, the container writes
// on), twice, the second time with the first copy shifted to 0.log.2:
// every line arrives once, in order, none counted lost.
func TestHostile44CopytruncateWhilePolled(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	w := &lineWriter{t: t, r: r}
	copyTruncate := func() {
		if _, err := os.Stat(path + ".1"); err == nil {
			mustRename(t, path+".1", path+".2")
		}
		data, err := os.ReadFile(path)
		must(t, err)
		must(t, os.WriteFile(path+".1", data, 0o644))
		mustTruncate(t, path)
	}
	for round := 0; round < 2; round++ {
		w.untilPolled(1, path)
		copyTruncate()
		for range 10 {
			w.write(path)
		}
	}
	waitFor(t, 10*time.Second, "watched again", func() bool { return polledGauge(r) == 0 })
	exactlyInOrder(t, r.snapshot(), w.next)
	if lost := testutil.ToFloat64(r.tl.m.lost.WithLabelValues(lostTruncated)); lost != 0 {
		t.Fatalf("%v bytes counted lost to truncation", lost)
	}
}

// TestHostile44PodRecreatedWhilePolled: a pod's directory, polled, is
// removed and made again under the same name with a new log before any
// poll looked: every line of both files arrives once, the gauge comes back
// to 0, and the new directory is watched: a file created there once it is
// quiet is found without a periodic rescan (an hour away).
func TestHostile44PodRecreatedWhilePolled(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := startRunnerTuned(t, testConfig(dir, t.TempDir()), Options{}, nil, func(tl *Tailer) {
		tl.cfg.RescanInterval = time.Hour
	})
	w := &lineWriter{t: t, r: r}
	w.write(path)
	w.untilPolled(1, path)
	must(t, os.RemoveAll(filepath.Join(dir, "ns_pod_uid")))
	path = mkContainer(t, dir, "ns_pod_uid")
	for range 20 {
		w.write(path)
	}
	waitFor(t, 10*time.Second, "the gauge back to 0", func() bool { return polledGauge(r) == 0 })
	// Quiet now: a second container log there is found by its creation.
	second := filepath.Join(filepath.Dir(path), "1.log")
	w.write(second)
	exactlyInOrder(t, r.snapshot(), w.next)
}

// TestHostile44FlatDirPartlyBusy: a flat directory of logs (include
// root/*.log) where two files are busy and a third idle stays watched;
// once the idle one is deleted the directory is polled; a new file
// created there is then found (by the rescan) and the directory is
// watched again when the writes stop.
func TestHostile44FlatDirPartlyBusy(t *testing.T) {
	root := t.TempDir()
	cfg := testConfig(root, t.TempDir())
	cfg.Include = []string{filepath.Join(root, "*.log")}
	a, b, idle := filepath.Join(root, "a.log"), filepath.Join(root, "b.log"), filepath.Join(root, "idle.log")
	appendFile(t, idle, "")
	r := startRunner(t, cfg, Options{})
	w := &lineWriter{t: t, r: r}
	for range 30 {
		w.write(a, b)
	}
	if g := polledGauge(r); g != 0 {
		t.Fatalf("a directory with an idle file polled: gauge %v", g)
	}
	must(t, os.Remove(idle))
	w.untilPolled(1, a, b)
	c := filepath.Join(root, "c.log")
	for range 40 {
		w.write(a, b, c)
	}
	waitFor(t, 10*time.Second, "the gauge back to 0", func() bool { return polledGauge(r) == 0 })
	got := r.snapshot()
	if len(got) != w.next {
		t.Fatalf("%d lines received, %d written", len(got), w.next)
	}
	seen := make(map[int]bool)
	for _, s := range seqs(got) {
		if seen[s] {
			t.Fatalf("seq %d twice", s)
		}
		seen[s] = true
	}
}

// TestHostile44DirRenamedAwayAndBack: a polled container directory is
// renamed away and back between two polls, then away, written to there,
// and back: nothing is lost or read twice, and the gauge ends at 0.
func TestHostile44DirRenamedAwayAndBack(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cdir := filepath.Dir(path)
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	w := &lineWriter{t: t, r: r}
	w.untilPolled(1, path)
	mustRename(t, cdir, cdir+".away")
	mustRename(t, cdir+".away", cdir)
	for range 10 {
		w.write(path)
	}
	w.untilPolled(1, path)
	mustRename(t, cdir, cdir+".away")
	// Written while away: the follower still reads it by its descriptor.
	appendFile(t, filepath.Join(cdir+".away", "0.log"), lines(w.next, w.next+1))
	w.next++
	want := w.next
	waitFor(t, 10*time.Second, "the line written while away", func() bool { return len(r.snapshot()) >= want })
	mustRename(t, cdir+".away", cdir)
	for range 20 {
		w.write(path)
	}
	waitFor(t, 10*time.Second, "the gauge back to 0", func() bool { return polledGauge(r) == 0 })
	exactlyInOrder(t, r.snapshot(), w.next)
}

// TestHostile44PartialLinesWhilePolled: a file that grows at every poll
// by CRI partial fragments only (one long line being written) is polled;
// the line arrives once, whole, when its last fragment comes.
func TestHostile44PartialLinesWhilePolled(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, t.TempDir())
	r := startRunner(t, cfg, Options{})
	appendFile(t, path, criLine("stdout", "F", "seq=0 first"))
	waitFor(t, 10*time.Second, "the first line", func() bool { return len(r.snapshot()) == 1 })
	body := []byte("seq=1 ")
	appendFile(t, path, criLine("stdout", "P", string(body)))
	reads := func() float64 { return testutil.ToFloat64(r.tl.m.reads) }
	for i := 0; polledGauge(r) == 0; i++ {
		if i == 5000 {
			t.Fatal("a file growing by fragments was not polled")
		}
		frag := fmt.Sprintf("<%d>", i)
		body = append(body, frag...)
		n := reads()
		appendFile(t, path, criLine("stdout", "P", frag))
		// Wait for a read that took it (bytes read moved past it).
		waitFor(t, 10*time.Second, "a read", func() bool { return reads() > n })
	}
	if len(body) > cfg.MaxLineBytes {
		t.Skip("the line grew past max_line_bytes before the directory was polled")
	}
	appendFile(t, path, criLine("stdout", "F", "end"))
	body = append(body, "end"...)
	waitFor(t, 10*time.Second, "the long line", func() bool { return len(r.snapshot()) >= 2 })
	appendFile(t, path, criLine("stdout", "F", "seq=2 last"))
	waitFor(t, 10*time.Second, "the last line", func() bool { return len(r.snapshot()) >= 3 })
	got := r.snapshot()
	if len(got) != 3 || got[1].body != string(body) || got[1].truncated {
		t.Fatalf("got %d lines; the long one %d bytes (want %d), truncated %v", len(got), len(got[1].body), len(body), got[1].truncated)
	}
}

// TestHostile44StopWhilePolled: the agent is stopped while the directory
// is polled and started again on its checkpoint: the lines written in
// between and after arrive, none of those delivered before again.
func TestHostile44StopWhilePolled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	r1 := startRunner(t, cfg, Options{})
	w := &lineWriter{t: t, r: r1}
	w.untilPolled(1, path)
	r1.stop()
	must(t, r1.tl.Close())
	first := r1.snapshot()
	appendFile(t, path, lines(w.next, w.next+5))
	w.next += 5
	r2 := startRunner(t, cfg, Options{})
	w.r = r2
	for range 10 {
		appendFile(t, path, lines(w.next, w.next+1))
		w.next++
		want := w.next - len(first)
		waitFor(t, 10*time.Second, "a line after the restart", func() bool { return len(r2.snapshot()) >= want })
	}
	exactlyInOrder(t, append(first, r2.snapshot()...), w.next)
}

// drainSteps takes the notifications queued for a step tailer as Run does
// (takeEvents), once, then, while cond does not hold, waits for the next
// notification as an idle Run does (the notifier's waiter) and takes it.
func drainSteps(t *testing.T, tl *Tailer, now time.Time, cond func() bool) {
	t.Helper()
	handle := func(ev notifyEvent) {
		tl.dirs.changed(ev.Name)
		tl.handleEvent(ev, now)
	}
	tl.watcher.Drain(16, tl.fileWritten, handle)
	for !cond() {
		awaitNotification(t, tl)
		tl.watcher.Drain(16, tl.fileWritten, handle)
	}
}

// awaitNotification blocks until the notifier's waiter holds a
// notification (or an error), which the next Drain takes.
func awaitNotification(t *testing.T, tl *Tailer) {
	t.Helper()
	tl.watcher.Arm()
	select {
	case <-tl.watcher.Wake():
		tl.watcher.Woken()
	case <-time.After(10 * time.Second):
		t.Fatal("no notification came")
	}
}

// waitBornAfter waits until a file created now is born after at by the
// file system's (coarse) clock.
func waitBornAfter(t *testing.T, at time.Time) {
	t.Helper()
	probe := filepath.Join(t.TempDir(), "probe")
	for {
		appendFile(t, probe, "")
		if b, ok := born(probe); !ok {
			t.Skip("no birth times on this file system")
		} else if b.After(at) {
			return
		}
		must(t, os.Remove(probe))
		if time.Since(at) > 10*time.Second {
			t.Fatal("the file system's clock does not pass the tailer's")
		}
	}
}

// copyTruncate copies path to dst and truncates path, as logrotate's
// copytruncate does.
func copyTruncate(t *testing.T, path, dst string) {
	t.Helper()
	src, err := os.Open(path)
	must(t, err)
	defer src.Close()
	out, err := os.Create(dst)
	must(t, err)
	_, err = io.Copy(out, src)
	must(t, err)
	must(t, out.Close())
	mustTruncate(t, path)
}

// TestHostile44NewFileCopiedInPolledDir: a flat directory of logs is polled
// (its one file grows at every poll). A new log appears there, empty, and
// is followed by the rescan; it is written and copytruncated before the
// tailer's next read of it. In a watched directory the copy's creation
// notification makes the next read take the copy first (copy.go); the
// polled directory gets none, so the copy's lines must not depend on it.
func TestHostile44NewFileCopiedInPolledDir(t *testing.T) {
	t.Run("polled", func(t *testing.T) { testNewFileCopied(t, true) })
	// The same in a directory kept watched by an idle file: the copy is
	// taken by its creation notification.
	t.Run("watched", func(t *testing.T) { testNewFileCopied(t, false) })
}

func testNewFileCopied(t *testing.T, polled bool) {
	root := t.TempDir()
	cfg := testConfig(root, t.TempDir())
	cfg.Include = []string{filepath.Join(root, "*.log")}
	out := make(chan []event.Log, 100000)
	tl, err := New(cfg, nil, out, Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	a := filepath.Join(root, "a.log")
	appendFile(t, a, lines(0, 5))
	if !polled {
		appendFile(t, filepath.Join(root, "idle.log"), "")
	}
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	tl.readTurn(now)
	watchSteps(t, tl)
	next := 5
	for i := 0; i < busyPolls; i++ {
		busyStep(t, tl, a, &next, &now)
	}
	if tl.isPolled(root) != polled {
		t.Fatalf("the directory polled %v, want %v", tl.isPolled(root), polled)
	}
	// b.log appears empty; the rescan follows it and a read turn reads
	// nothing of it.
	b := filepath.Join(root, "b.log")
	appendFile(t, b, "")
	now = now.Add(cfg.ReadInterval)
	tl.rescan(now, false)
	fb := tl.byPath[b]
	if fb == nil {
		t.Fatal("b.log not followed")
	}
	appendFile(t, a, lines(next, next+1))
	next++
	tl.readTurn(now)
	// Written, copied and truncated, then written again, before b.log's
	// next read; the copy is born a tick of the file system's clock after
	// b.log was opened (copy.go bornSince).
	waitBornAfter(t, fb.opened)
	appendFile(t, b, lines(1000, 1010))
	copyTruncate(t, b, b+".1")
	appendFile(t, b, lines(1010, 1012))
	// What Run would do now: take the notifications, poll, read.
	drainSteps(t, tl, now, func() bool { return len(fb.copied) > 0 })
	for range 4 {
		now = now.Add(time.Second)
		if tl.poll(now) {
			tl.rescan(now, false)
		}
		drainSteps(t, tl, now, func() bool { return true })
		for range 3 {
			now = now.Add(cfg.ReadInterval)
			tl.readTurn(now)
		}
	}
	missing := notOnce(out, 1000, 1012)
	if len(missing) > 0 {
		t.Fatalf("lines of b.log's copy not received once: %v; counted lost: %v bytes, truncations %v",
			missing, testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)), testutil.ToFloat64(tl.m.truncations))
	}
}

// TestHostile44LinkDirNewContainerRotated: include the kubelet's
// /var/log/containers links (a link directory). Writes to the linked files
// are never notified there (inotify reports them to the directory of the
// target), so unwatching it saves no wakeup; polled, it loses the
// notification of a new link. A new container's link appears and its log
// is rotated before the next rescan: watched, the link was followed at
// once and the rotated file is finished through its descriptor; polled,
// the rescan finds only the new file (a link's rotated siblings are not
// beside it), and the first file's lines are lost without a count.
func TestHostile44LinkDirNewContainerRotated(t *testing.T) {
	t.Run("busy", func(t *testing.T) { testLinkDirNewContainer(t, false) })
	// The same with an idle linked file, which keeps the directory
	// watched.
	t.Run("idle", func(t *testing.T) { testLinkDirNewContainer(t, true) })
}

func testLinkDirNewContainer(t *testing.T, idle bool) {
	base := t.TempDir()
	pods, containers := filepath.Join(base, "pods"), filepath.Join(base, "containers")
	must(t, os.MkdirAll(containers, 0o755))
	pod := func(name string) (target, link string) {
		target = filepath.Join(pods, "ns_"+name+"_1", "c", "0.log")
		must(t, os.MkdirAll(filepath.Dir(target), 0o755))
		appendFile(t, target, "")
		link = filepath.Join(containers, name+"_ns_c-1.log")
		must(t, os.Symlink(target, link))
		return target, link
	}
	a, _ := pod("a")
	appendFile(t, a, lines(0, 5))
	if idle {
		pod("idle")
	}
	cfg := testConfig(base, t.TempDir())
	cfg.Include = []string{filepath.Join(containers, "*.log")}
	out := make(chan []event.Log, 100000)
	tl, err := New(cfg, nil, out, Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	tl.readTurn(now)
	watchSteps(t, tl)
	next := 5
	for i := 0; i < 2*busyPolls; i++ {
		busyStep(t, tl, a, &next, &now)
	}
	t.Logf("link directory polled: %v", tl.isPolled(containers))
	// A new container: its link and its first lines.
	b, _ := pod("b")
	appendFile(t, b, lines(1000, 1010))
	drainSteps(t, tl, now, func() bool { return tl.byPath[b] != nil }) // followed as its target (links.go)
	// kubelet rotates it before the next rescan.
	mustRename(t, b, b+".20261206-020000")
	appendFile(t, b, lines(1010, 1012))
	for range 4 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		drainSteps(t, tl, now, func() bool { return true })
		for range 3 {
			now = now.Add(cfg.ReadInterval)
			tl.readTurn(now)
		}
		now = now.Add(tl.rotatedLinger) // the rotated file is final
		tl.readTurn(now)
	}
	missing := notOnce(out, 1000, 1012)
	if len(missing) > 0 {
		t.Fatalf("lines of the new container not received once: %v (link directory polled: %v); counted lost: %v bytes, %v files",
			missing, tl.isPolled(containers), testutil.ToFloat64(tl.m.lost.WithLabelValues(lostDeleted)),
			testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostWaiting)))
	}
}

// inotifyWatches counts the inotify watches the process holds (every
// inotify descriptor's, from /proc/self/fdinfo).
func inotifyWatches(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err != nil || l != "anon_inode:inotify" {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if strings.HasPrefix(line, "inotify wd:") {
				n++
			}
		}
	}
	return n
}

// TestHostile44PodChurnWatchesAndGauge: pods come, get busy (their
// directories polled), and are deleted while polled, some recreated under
// the same name, others renamed away; at the end the gauge is 0 and the
// kernel holds exactly one watch per directory the globs want (root, pod
// and container directories), none for a directory gone.
func TestHostile44PodChurnWatchesAndGauge(t *testing.T) {
	dir := t.TempDir()
	base := inotifyWatches(t)
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	w := &lineWriter{t: t, r: r}
	written := 0
	for round := 0; round < 3; round++ {
		var paths []string
		for i := 0; i < 4; i++ {
			paths = append(paths, mkContainer(t, dir, fmt.Sprintf("ns_p%d_%d", i, round%2)))
		}
		w.untilPolled(4, paths...)
		for i, p := range paths {
			pod := filepath.Dir(filepath.Dir(p))
			switch i % 3 {
			case 0:
				must(t, os.RemoveAll(pod))
			case 1:
				must(t, os.RemoveAll(pod))
				must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			case 2:
				mustRename(t, pod, pod+".gone")
				must(t, os.RemoveAll(pod+".gone"))
			}
		}
		written = w.next
		waitFor(t, 10*time.Second, "the gauge back to 0", func() bool { return polledGauge(r) == 0 })
	}
	// One watch for the root, and one per pod and container directory
	// left, once a rescan has looked.
	want := 1
	pods, _ := os.ReadDir(dir)
	for _, p := range pods {
		want++
		cs, _ := os.ReadDir(filepath.Join(dir, p.Name()))
		want += len(cs)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("%d watches", want), func() bool { return inotifyWatches(t)-base == want })
	if got := len(r.snapshot()); got != written {
		t.Fatalf("%d lines received, %d written", got, written)
	}
}

// TestHostile44ParkedInPolledDirs: more busy containers than descriptors
// (max_open_files 5 for 6 files, each in its own directory): a file is
// parked at every poll and files take turns while their directories are
// polled and watched again; every line arrives once, and the gauge ends
// at 0.
func TestHostile44ParkedInPolledDirs(t *testing.T) {
	dir := t.TempDir()
	const files = 6
	paths := podLogs(t, dir, files)
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxOpenFiles = 5
	r := startRunner(t, cfg, Options{})
	polledSeen := 0.0
	for s := 0; s < 150; s++ {
		for i, p := range paths {
			writeSeq(t, p, i, s, s+1)
		}
		want := (s + 1) * files
		waitFor(t, 20*time.Second, fmt.Sprintf("round %d", s), func() bool { return len(r.snapshot()) >= want })
		polledSeen = max(polledSeen, polledGauge(r))
	}
	t.Logf("at most %v directories polled at once", polledSeen)
	waitFor(t, 10*time.Second, "the gauge back to 0", func() bool { return polledGauge(r) == 0 })
	if polledSeen == 0 {
		t.Fatal("no directory was polled: the attack did not happen")
	}
	exactlyOnce(t, r.snapshot(), paths, 150)
}

// TestHostile44CrashWhilePolled: the agent dies (no Close, only the
// periodic checkpoint) while the directory is polled; the next one
// resumes at or before where the first stopped: nothing is lost.
func TestHostile44CrashWhilePolled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	r1 := startRunner(t, cfg, Options{})
	w := &lineWriter{t: t, r: r1}
	w.untilPolled(1, path)
	// A line after the count is read: its acknowledgement is a change
	// the next checkpoint writes (with every line acknowledged before it
	// already written, there may be no other).
	commits := testutil.ToFloat64(r1.tl.m.commits)
	w.write(path)
	waitFor(t, 10*time.Second, "a checkpoint", func() bool { return testutil.ToFloat64(r1.tl.m.commits) > commits })
	r1.stop() // no Close
	first := seqs(r1.snapshot())
	appendFile(t, path, lines(w.next, w.next+5))
	w.next += 5
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the lines after the crash", func() bool {
		got := seqs(r2.snapshot())
		return len(got) > 0 && got[len(got)-1] == w.next-1
	})
	second := seqs(r2.snapshot())
	if second[0] > len(first) {
		t.Fatalf("resumed at seq %d after %d lines delivered: lines lost", second[0], len(first))
	}
	for i, s := range second {
		if s != second[0]+i {
			t.Fatalf("after the crash, line %d is seq %d: %v", i, s, second)
		}
	}
}

// TestHostile44OddIntervals: poll_interval longer than rescan_interval, and
// read_interval equal to poll_interval: a container that writes, is
// rotated (twice back to back) and restarted (1.log beside its 0.log)
// loses and repeats nothing.
func TestHostile44OddIntervals(t *testing.T) {
	for _, c := range []struct {
		name               string
		read, poll, rescan time.Duration
	}{
		{"poll>rescan", 10 * time.Millisecond, 150 * time.Millisecond, 40 * time.Millisecond},
		{"read=poll", 50 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond},
		{"read>poll", 80 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			cfg := testConfig(dir, t.TempDir())
			cfg.ReadInterval, cfg.PollInterval, cfg.RescanInterval = c.read, c.poll, c.rescan
			r := startRunner(t, cfg, Options{})
			w := &lineWriter{t: t, r: r}
			for round := 0; round < 3; round++ {
				for range 30 {
					w.write(path)
				}
				mustRename(t, path, fmt.Sprintf("%s.20261206-0200%02d", path, 2*round))
				w.write(path)
				mustRename(t, path, fmt.Sprintf("%s.20261206-0200%02d", path, 2*round+1))
				w.write(path)
			}
			restarted := filepath.Join(filepath.Dir(path), "1.log")
			for range 20 {
				w.write(restarted)
			}
			exactlyInOrder(t, r.snapshot(), w.next)
			t.Logf("polled at the end: %v", polledGauge(r))
		})
	}
}

// TestHostile44OverflowWhilePolled: the kernel's notification queue
// overflows (writes to files of a watched directory nothing drains) while
// another directory is polled and a file is created there. As Run does on
// a loss, the listings are dropped and a poll and a rescan come at once:
// the new file is followed and read, the polled directory is watched
// again (a new file followed there) and the gauge agrees.
func TestHostile44OverflowWhilePolled(t *testing.T) {
	tl, path, now := watchedStepTailer(t, lines(0, 5))
	dir := filepath.Dir(path)
	quiet := mkContainer(t, filepath.Dir(filepath.Dir(dir)), "ns_quiet_uid")
	appendFile(t, quiet, lines(500, 501))
	tl.rescan(now, false)
	tl.watch()
	next := 5
	for i := 0; i < busyPolls; i++ {
		busyStep(t, tl, path, &next, &now)
	}
	if !tl.isPolled(dir) {
		t.Fatal("not polled")
	}
	// Flood the quiet directory's watch: two files written in turn (the
	// kernel merges a repeat of the last event only).
	var noise [2]*os.File
	for i := range noise {
		f, err := os.Create(filepath.Join(filepath.Dir(quiet), fmt.Sprintf("noise%d", i)))
		must(t, err)
		defer f.Close()
		noise[i] = f
	}
	for i := 0; i < 40000; i++ {
		_, err := noise[i%2].Write([]byte{'x'})
		must(t, err)
	}
	restarted := filepath.Join(dir, "1.log")
	appendFile(t, restarted, lines(1000, 1003))
	overflowed := false
	writes := 0
	defer func() { t.Logf("writes drained %d", writes) }()
	for i := 0; i < 2000 && !overflowed; i++ {
		if i > 0 {
			awaitNotification(t, tl) // the overflow comes as an error, which wakes too
		}
		overflowed = tl.watcher.Drain(16, func(p []byte) { writes++; tl.fileWritten(p) }, func(ev notifyEvent) {
			tl.dirs.changed(ev.Name)
			tl.handleEvent(ev, now)
		})
	}
	if !overflowed {
		t.Fatal("the queue did not overflow: the attack did not happen")
	}
	tl.dirs.clear()
	now = now.Add(time.Second)
	tl.poll(now)
	tl.rescan(now, false)
	tl.watch()
	for range 3 {
		now = now.Add(tl.cfg.ReadInterval)
		tl.readTurn(now)
	}
	f := tl.byPath[restarted]
	if f == nil || f.off == 0 {
		t.Fatalf("the file created in the polled directory during the overflow is not followed and read: %+v", f)
	}
	if g := testutil.ToFloat64(tl.m.polledDirs); g != 0 || tl.isPolled(dir) || !tl.watcher.Watching(dir) {
		t.Fatalf("after the overflow: gauge %v, polled %v, watched %v", g, tl.isPolled(dir), tl.watcher.Watching(dir))
	}
}

// TestHostile44RestartBesideBusyLog: a container restarts while its
// directory is polled: 1.log appears beside 0.log, which goes on growing
// for a while (the old instance's last output), then only 1.log grows.
// Every line of both arrives once, each file's in order, and once 0.log
// is idle the directory is watched again and stays so.
func TestHostile44RestartBesideBusyLog(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	w := &lineWriter{t: t, r: r}
	w.untilPolled(1, path)
	restarted := filepath.Join(filepath.Dir(path), "1.log")
	for range 20 {
		w.write(path, restarted)
	}
	for range 40 {
		w.write(restarted)
	}
	waitFor(t, 10*time.Second, "watched again", func() bool { return polledGauge(r) == 0 })
	for range 10 {
		w.write(restarted)
	}
	if g := polledGauge(r); g != 0 {
		t.Fatalf("a directory with an idle log polled: gauge %v", g)
	}
	got := r.snapshot()
	if len(got) != w.next {
		t.Fatalf("%d lines received, %d written", len(got), w.next)
	}
	last := map[string]int{}
	for _, rc := range got {
		s, _ := seqOf(rc.body)
		if p, ok := last[rc.path]; ok && s <= p {
			t.Fatalf("%s: seq %d after %d", rc.path, s, p)
		}
		last[rc.path] = s
	}
}

// notOnce drains out (a step-driven tailer's channel) and lists the
// sequence numbers in [from, to) not received exactly once.
func notOnce(out chan []event.Log, from, to int) []int {
	got := map[int]int{}
	for len(out) > 0 {
		for _, l := range <-out {
			if n, ok := seqOf(string(l.Body)); ok {
				got[n]++
			}
		}
	}
	var missing []int
	for s := from; s < to; s++ {
		if got[s] != 1 {
			missing = append(missing, s)
		}
	}
	return missing
}
