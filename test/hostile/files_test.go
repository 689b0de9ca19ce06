package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/simnode"
)

// TestTruncateRegrow: between two looks of the agent (poll_interval 10m,
// so only inotify tells it), the file is truncated and written again past
// the old offset with other lines. Every line of both generations arrives
// once; the truncation is counted.
func TestTruncateRegrow(t *testing.T) {
	w := newWorld(t, worldOpt{logs: []string{"poll_interval: 10m", "rescan_interval: 10m"}})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	old := fileSize(t, w.path)
	// Truncate and regrow in one go: the second generation is longer.
	var b strings.Builder
	for i := 100; i < 400; i++ {
		b.WriteString(line(i, "2026-11-26T03:55:10.000000000Z"))
	}
	must(t, os.WriteFile(w.path, []byte(b.String()), 0o644))
	if fileSize(t, w.path) <= old {
		t.Fatal("the second generation must be longer")
	}
	w.waitSeqs(100, 400, 30*time.Second)
	m := w.settled(400, 20*time.Second)
	w.check(0, 400, false)
	if v := m.Sum("ferry_tail_truncations_total"); v != 1 {
		t.Errorf("ferry_tail_truncations_total = %v, want 1", v)
	}
	stop(t, p)
}

// TestManyRotationsWhileKilled: the agent is SIGKILLed; while it is down
// kubelet rotates 0.log five times, gzips every rotated file but the
// newest and keeps four (the file the checkpoint names is compressed, the
// oldest ones deleted). Lines of deleted files are counted lost
// (ferry_tail_lost_files_total), every line still on disk arrives, and
// duplicates are bounded by what came after the last checkpoint.
func TestManyRotationsWhileKilled(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	size := fileSize(t, w.path)
	waitFor(t, "a checkpoint after the lines", 10*time.Second, func() bool {
		off, ok := w.checkpoint(w.path)
		return ok && off == size
	})
	w.lines(w.path, 100, 120) // read or not before the kill
	p.Kill()
	next := 120
	var rotated []string
	for r := 0; r < 5; r++ {
		w.lines(w.path, next, next+100)
		next += 100
		name := fmt.Sprintf("%s.20261126-0355%02d", w.path, 10+r)
		must(t, os.Rename(w.path, name))
		rotated = append(rotated, name)
		// kubelet: gzip all but the newest rotated file, keep 4.
		for i, f := range rotated[:len(rotated)-1] {
			if !strings.HasSuffix(f, ".gz") {
				must(t, simnode.GzipFile(f))
				rotated[i] = f + ".gz"
			}
		}
		for len(rotated) > 4 {
			must(t, os.Remove(rotated[0]))
			rotated = rotated[1:]
		}
	}
	w.lines(w.path, next, next+100)
	next += 100
	p = w.agent.Start()
	// The first rotated file (lines 120..219) was deleted; the file the
	// checkpoint named (0.log, lines 0..219) is gone with it.
	w.waitSeqs(220, next, 30*time.Second)
	w.lines(w.path, next, next+1)
	w.waitSeqs(next, next+1, 30*time.Second)
	m := w.settled(float64(next-220+1), 20*time.Second)
	lost, dup := w.count(0, next+1)
	t.Logf("lost %d (lines 100..219 were only in the deleted file), duplicates %d; lost files %v", lost, dup,
		m.Sum("ferry_tail_lost_files_total"))
	w.check(220, next+1, false)
	if v := m.Sum("ferry_tail_lost_files_total"); v != 1 {
		t.Errorf("ferry_tail_lost_files_total = %v, want 1 (the checkpointed file deleted while down)", v)
	}
	stop(t, p)
}

// TestTenThousandFiles: 10,000 container logs of 3 lines each exist when
// the agent starts. Every line arrives within a minute, the process stays
// responsive, and SIGTERM ends it.
func TestTenThousandFiles(t *testing.T) {
	guarded(t)
	w := newWorld(t, worldOpt{})
	const n = 10000
	for i := 0; i < n; i++ {
		p := filepath.Join(w.root, fmt.Sprintf("ns_pod%05d_uid%05d", i, i), "app", "0.log")
		mkdirFor(t, p)
		w.lines(p, i*10, i*10+3)
	}
	start := time.Now()
	p := w.agent.Start()
	for i := 0; i < n; i++ {
		w.waitSeqs(i*10, i*10+3, time.Until(start.Add(90*time.Second)))
	}
	t.Logf("%d files, %d lines delivered in %s", n, 3*n, time.Since(start).Round(time.Millisecond))
	w.agent.WaitHTTP("/healthz", 200, 5*time.Second)
	m := w.settled(3*n, 30*time.Second)
	t.Logf("open files %v, RSS %.1f MiB", m.Sum("ferry_tail_open_files"), m.Sum("process_resident_memory_bytes")/(1<<20))
	lost, dup := 0, 0
	for i := 0; i < n; i++ {
		l, d := w.count(i*10, i*10+3)
		lost, dup = lost+l, dup+d
	}
	if lost > 0 || dup > 0 {
		t.Errorf("lost %d, duplicated %d", lost, dup)
	}
	stop(t, p)
}

// TestCopyTruncateWhileStopped: logrotate's copytruncate runs while the
// agent is stopped (SIGTERM, a clean checkpoint): 0.log is copied to
// 0.log.<ts> and truncated in place (same inode), then the container
// writes new lines. The README promises that copytruncate is detected and
// the copy finished first; after a graceful stop nothing should be lost or
// repeated, and no file counted lost.
func TestCopyTruncateWhileStopped(t *testing.T) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	stop(t, p)
	w.lines(w.path, 100, 150) // written after the stop, before the copy
	data, err := os.ReadFile(w.path)
	must(t, err)
	must(t, os.WriteFile(w.path+".20261126-035509", data, 0o644))
	must(t, os.Truncate(w.path, 0))
	var b strings.Builder
	for i := 150; i < 200; i++ {
		b.WriteString(line(i, "2026-11-26T03:56:00.000000000Z"))
	}
	w.raw(w.path, b.String())
	p = w.agent.Start()
	w.waitSeqs(100, 200, 30*time.Second)
	w.lines(w.path, 200, 201)
	w.waitSeqs(200, 201, 30*time.Second)
	m := w.settled(101, 20*time.Second)
	lost, dup := w.count(0, 201)
	t.Logf("lost %d, duplicates %d, lost files %v, truncations %v", lost, dup, m.Sum("ferry_tail_lost_files_total"), m.Sum("ferry_tail_truncations_total"))
	w.check(0, 201, false)
	if v := m.Sum("ferry_tail_lost_files_total"); v != 0 {
		t.Errorf("ferry_tail_lost_files_total = %v, want 0: nothing was lost", v)
	}
	stop(t, p)
}

// TestSIGTERMDuringOutage: the broker is down and lines are waiting when
// SIGTERM comes. The agent must exit within shutdown_timeout (3 s here)
// and commit only what was confirmed: after the broker and a new agent
// start, every line arrives.
func TestSIGTERMDuringOutage(t *testing.T) {
	w := newWorld(t, worldOpt{edit: func(s string) string {
		return strings.Replace(s, "shutdown_timeout: 15s", "shutdown_timeout: 3s", 1)
	}})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	w.broker.Stop()
	w.lines(w.path, 100, 300)
	waitFor(t, "the new lines read", 10*time.Second, func() bool {
		m, err := w.agent.Scrape()
		return err == nil && m.Sum("ferry_tail_lines_read_total") >= 300
	})
	start := time.Now()
	err := p.Term(20 * time.Second)
	d := time.Since(start)
	t.Logf("SIGTERM with the broker down: exit %v after %s", err, d.Round(time.Millisecond))
	if d > 8*time.Second {
		t.Errorf("exit took %s with shutdown_timeout 3s", d.Round(time.Millisecond))
	}
	w.broker.Start()
	p = w.agent.Start()
	w.waitSeqs(100, 300, 30*time.Second)
	w.lines(w.path, 300, 301)
	w.waitSeqs(300, 301, 30*time.Second)
	w.check(0, 301, false)
	stop(t, p)
}

// TestInodeReuseWhileStopped: while the agent is stopped, 0.log is replaced
// by a new file of other lines, longer than the old checkpoint offset:
// deleted and created again (the filesystem may give it the old inode), or
// rewritten in place (the same inode for sure, as a reused one looks).
// The new file is read from its start: nothing of it is skipped.
func TestInodeReuseWhileStopped(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		name := "recreated"
		if inPlace {
			name = "in-place"
		}
		t.Run(name, func(t *testing.T) { inodeReuse(t, inPlace) })
	}
}

func inodeReuse(t *testing.T, inPlace bool) {
	w := newWorld(t, worldOpt{})
	w.lines(w.path, 0, 100)
	p := w.agent.Start()
	w.waitSeqs(0, 100, 30*time.Second)
	stop(t, p)
	oldIno := inode(t, w.path)
	if inPlace {
		must(t, os.Truncate(w.path, 0))
	} else {
		must(t, os.Remove(w.path))
	}
	var b strings.Builder
	for i := 100; i < 400; i++ {
		b.WriteString(line(i, "2026-11-26T04:00:00.000000000Z"))
	}
	w.raw(w.path, b.String())
	t.Logf("inode reused: %v", inode(t, w.path) == oldIno)
	p = w.agent.Start()
	w.waitSeqs(100, 400, 30*time.Second)
	m := w.settled(300, 20*time.Second)
	w.check(0, 400, false)
	if v := m.Sum("ferry_tail_lost_files_total"); v != 0 && inPlace {
		t.Logf("ferry_tail_lost_files_total = %v", v)
	}
	stop(t, p)
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	must(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}
