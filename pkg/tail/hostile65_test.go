package tail

import (
	"fmt"
	"os"
	"path/filepath"

	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostile65Look is one look of the tailer: a poll of every file, a
// rescan, then read turns (hostile64Turns).
func hostile65Look(t *testing.T, tl *Tailer) []int {
	t.Helper()
	for _, g := range slices.Clone(tl.order) {
		tl.check(g, time.Now())
	}
	tl.rescan(time.Now(), false)
	return hostile64Turns(t, tl)
}

// TestHostile65UndoOverNewFile: kubelet renames 0.log away and asks the
// runtime to reopen; the runtime creates the new 0.log, which the tailer
// finds and follows, but the reopen is reported failed (an error after the
// file's creation, or kubelet's request timing out on a loaded node), so
// kubelet renames the rotated file back over the new one (rename replaces
// it). The container writes on to its file, back at the path; kubelet's
// next rotation succeeds. Every line once, in order.
func TestHostile65UndoOverNewFile(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	hostile64Turns(t, tl)
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, "") // the runtime's new file
	hostile65Look(t, tl)
	if g := tl.byPath[path]; g == nil || g == f {
		t.Fatalf("the new file not followed: %+v", g)
	}
	mustRename(t, r1, path) // the reopen failed: renamed back over it
	appendFile(t, path, lines(5, 10))
	hostile65Look(t, tl)
	hostile65Look(t, tl)
	// The next rotation succeeds.
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(10, 15))
	hostile65Look(t, tl)
	hostile64Want(t, hostile65Look(t, tl), upto(0, 15))
}

// TestHostile65UndoAfterReopenTimedOut: as TestHostile65UndoOverNewFile,
// but the reopen did happen (kubelet's request timed out while the
// runtime completed it): the container's lines go to the new file, which
// kubelet's rename back unlinks; the tailer holds its descriptor. The
// next rotation renames the old file (back at the path) away and the
// runtime reopens onto a third file. The new file's lines come after the
// old one's and before the third's, once each, and nothing is lost.
func TestHostile65UndoAfterReopenTimedOut(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	hostile64Turns(t, tl)
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, lines(5, 7)) // the runtime's new file
	hostile65Look(t, tl)
	b := tl.byPath[path]
	if b == nil || b == f {
		t.Fatalf("the new file not followed: %+v", b)
	}
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustRename(t, r1, path) // kubelet undoes: the new file unlinked
	if _, err := w.WriteString(lines(7, 10)); err != nil {
		t.Fatal(err)
	}
	hostile65Look(t, tl)
	hostile65Look(t, tl)
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(10, 15))
	hostile65Look(t, tl)
	// The unlinked file is held open and read within delete_wait: nothing
	// is lost.
	hostile64Want(t, hostile65Look(t, tl), upto(0, 15))
	if lost := hostile65LostAll(tl); lost != 0 {
		t.Errorf("%v counted lost", lost)
	}
}

// hostile65Linked is a tailer (never run) that includes a kubelet-style
// link directory (containers/*.log, links to pods/<pod>/<c>/0.log), and
// the target of its one link, which holds first.
func hostile65Linked(t *testing.T, first string) (tl *Tailer, target, link, state string) {
	t.Helper()
	base := t.TempDir()
	pods, containers := filepath.Join(base, "pods"), filepath.Join(base, "containers")
	target = filepath.Join(pods, "ns_a_1", "c", "0.log")
	must(t, os.MkdirAll(filepath.Dir(target), 0o755))
	must(t, os.MkdirAll(containers, 0o755))
	appendFile(t, target, first)
	link = filepath.Join(containers, "a_ns_c-1.log")
	must(t, os.Symlink(target, link))
	state = t.TempDir()
	cfg := testConfig(base, state)
	cfg.Include = []string{filepath.Join(containers, "*.log")}
	tl, err := New(cfg, nil, make(chan []event.Log), Options{})
	must(t, err)
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	tl.rescan(now, true)
	return tl, target, link, state
}

// TestHostile65LinkDirTwoRotations: the include is kubelet's link
// directory (/var/log/containers/*.log, as many log agents are set up).
// Between two looks of the tailer (a read stall, notifications taken
// late), kubelet rotates the container's log twice: the file read
// (renamed, finished through its descriptor), a whole file after it
// (renamed too), then the current one. Every line once, in order, and
// nothing counted lost.
func TestHostile65LinkDirTwoRotations(t *testing.T) {
	tl, target, _, _ := hostile65Linked(t, lines(0, 5))
	if got := hostile64Turns(t, tl); !slices.Equal(got, upto(0, 5)) {
		t.Fatalf("first lines %v", got)
	}
	if tl.byPath[target] == nil {
		t.Fatal("the link's target is not followed")
	}
	appendFile(t, target, lines(5, 8))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(8, 12))
	mustRename(t, target, target+".20261207-000011")
	appendFile(t, target, lines(12, 14))
	hostile65Look(t, tl)
	// Followed under its target's path (links.go), the link's file has
	// its rotated files found beside it: nothing is lost.
	hostile64Want(t, hostile65Look(t, tl), upto(0, 14))
	if lost := hostile65LostAll(tl); lost != 0 {
		t.Errorf("%v counted lost", lost)
	}
}

// hostile65LostAll is every loss tl counted (bytes and files).
func hostile65LostAll(tl *Tailer) float64 {
	sum := 0.0
	for _, r := range []string{lostDeleted, lostTruncated, lostRotatedUnread, lostWaiting, lostVanished, lostCorrupt} {
		sum += testutil.ToFloat64(tl.m.lost.WithLabelValues(r)) + testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(r))
	}
	return sum
}

// TestHostile65LinkDirRotatedWhileStopped: the link directory included,
// a graceful stop, then kubelet rotates the log (lines written to it
// after the stop) and the container writes the new one before the next
// agent starts. The rotated file's lines come once, before the new
// file's, and no loss is counted.
func TestHostile65LinkDirRotatedWhileStopped(t *testing.T) {
	base := t.TempDir()
	pods, containers := filepath.Join(base, "pods"), filepath.Join(base, "containers")
	target := filepath.Join(pods, "ns_a_1", "c", "0.log")
	must(t, os.MkdirAll(filepath.Dir(target), 0o755))
	must(t, os.MkdirAll(containers, 0o755))
	appendFile(t, target, lines(0, 5))
	must(t, os.Symlink(target, filepath.Join(containers, "a_ns_c-1.log")))
	cfg := testConfig(base, t.TempDir())
	cfg.Include = []string{filepath.Join(containers, "*.log")}
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	r.stop()
	must(t, r.tl.Close())
	first := r.snapshot()
	appendFile(t, target, lines(5, 8))
	mustRename(t, target, target+".20261207-000001")
	appendFile(t, target, lines(8, 10))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 9, 5*time.Second, "the last line")
	got := seqs(append(first, r2.snapshot()...))
	if !slices.Equal(got, upto(0, 10)) || hostile61Lost(t, r2.reg) != 0 {
		// Followed as its target (links.go), the link's file has its
		// rotated siblings found as the pods glob's do: nothing lost.
		t.Errorf("lines %v, want %v once each, in order, and no loss (counted: %v)", got, upto(0, 10), hostile61Lost(t, r2.reg))
	}
}

// TestHostile65PartialAcrossTwoRotationsWhileStopped: containerd cuts a
// long stdout line into 16 KiB fragments (P, P, F); kubelet's rotation
// lands between the first two, with stderr lines interleaved on both
// sides. The agent reads up to the second fragment (the merge carried
// into the new file, its stderr lines delivered and acknowledged) and is
// stopped gracefully. While no agent runs the final fragment and a
// stderr line are written, kubelet compresses the first rotated file and
// rotates the second, and the container writes the third. The long line
// arrives once, whole, before the third file's lines; every other line
// once.
func TestHostile65PartialAcrossTwoRotationsWhileStopped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	long := "seq=100 " + strings.Repeat("L", 40<<10)
	p1, p2, p3 := long[:16<<10], long[16<<10:32<<10], long[32<<10:]
	errLine := func(n int) string { return criLine("stderr", "F", fmt.Sprintf("seq=%d e", n)) }
	appendFile(t, path, lines(0, 5)+criLine("stdout", "P", p1)+errLine(5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 5) })
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, errLine(6)+criLine("stdout", "P", p2)+errLine(7))
	stopAfter(t, r, 7, 5*time.Second, "the new file's lines")
	must(t, r.tl.Close())
	first := r.snapshot()
	appendFile(t, path, criLine("stdout", "F", p3)+errLine(8))
	mustGzip(t, r1)
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(9, 12))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 11, 5*time.Second, "the last line")
	all := append(first, r2.snapshot()...)
	count := map[int]int{}
	var out []int
	for _, x := range all {
		n, _ := seqOf(x.body)
		count[n]++
		if x.stream == event.Stdout {
			out = append(out, n)
		}
		if n == 100 && (x.body != long || x.truncated) {
			t.Errorf("the long line cut or changed: %d bytes (want %d), truncated %v", len(x.body), len(long), x.truncated)
		}
	}
	for _, n := range append(upto(0, 12), 100) {
		if count[n] != 1 {
			t.Errorf("line %d delivered %d times", n, count[n])
		}
	}
	if want := []int{0, 1, 2, 3, 4, 100, 9, 10, 11}; !slices.Equal(out, want) {
		t.Errorf("stdout lines %v, want %v", out, want)
	}
	if lost := hostile61Lost(t, r2.reg); lost != 0 {
		t.Errorf("a loss counted: %v", lost)
	}
}

// TestHostile65MaxFilesTwo: kubelet with containerLogMaxFiles 2 keeps no
// rotated file at a rotation: it deletes every rotated file, then renames
// 0.log. Between two looks of the tailer, the file it reads (half read)
// is rotated, the next one written, and rotated in turn, the first one
// deleted then; the third written. Lines once, in order: the first
// through its descriptor, the second from its rotated name.
func TestHostile65MaxFilesTwo(t *testing.T) {
	tl, path, _ := followNew(t)
	appendFile(t, path, lines(0, 5))
	hostile64Turns(t, tl)
	appendFile(t, path, lines(5, 8))
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, lines(8, 12))
	must(t, os.Remove(r1))
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(12, 14))
	hostile65Look(t, tl)
	got := hostile65Look(t, tl)
	hostile64Want(t, got, upto(0, 14))
}

// TestHostile65MaxFilesTwoAcrossStop: as TestHostile65MaxFilesTwo, the
// second rotation (the first file deleted) while no agent runs after a
// graceful stop that had read everything of the first file but what it
// got after the stop. The rest of the first file is lost with it
// (counted); the second and third files' lines come once, in order.
func TestHostile65MaxFilesTwoAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	appendFile(t, path, lines(0, 5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 4) })
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, lines(5, 8))
	stopAfter(t, r, 7, 5*time.Second, "the second file's lines")
	must(t, r.tl.Close())
	first := r.snapshot()
	appendFile(t, path, lines(8, 10))
	must(t, os.Remove(r1))
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(10, 12))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 11, 5*time.Second, "the last line")
	got := seqs(append(first, r2.snapshot()...))
	if !slices.Equal(got, upto(0, 12)) {
		t.Errorf("lines %v, want %v once each, in order", got, upto(0, 12))
	}
	if lost := hostile61Lost(t, r2.reg); lost != 0 {
		t.Errorf("a loss counted, nothing lost: %v", lost)
	}
}

// TestHostile65PodDeletedBehind: the tailer is behind on a container's
// log (it read part of it) when kubelet rotates it and the runtime's new
// file (found, not read yet: it waits for the rotated one) gets lines;
// then the pod is deleted, its whole directory removed. Both files are
// read to their ends through their descriptors, in order, once.
func TestHostile65PodDeletedBehind(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 5))
	hostile64Turns(t, tl)
	appendFile(t, path, lines(5, 8))
	mustRename(t, path, path+".20261207-000001")
	appendFile(t, path, lines(8, 12))
	tl.check(f, time.Now())
	tl.rescan(time.Now(), false)
	if g := tl.byPath[path]; g == nil || g == f {
		t.Fatalf("the new file not followed: %+v", g)
	}
	must(t, os.RemoveAll(filepath.Dir(filepath.Dir(path))))
	hostile65Look(t, tl)
	got := hostile65Look(t, tl)
	hostile64Want(t, got, upto(0, 12))
	if lost := hostile65LostAll(tl); lost != 0 {
		t.Errorf("a loss counted, nothing lost: %v", lost)
	}
}

// TestHostile65PartialAcrossRotationKilled: the order of
// TestHostile65PartialAcrossTwoRotationsWhileStopped with a SIGKILL (no
// final checkpoint: the next agent starts from the last one written)
// instead of a graceful stop. Lines may come twice, but none is lost, and
// the long line is never cut or mixed (each copy whole).
func TestHostile65PartialAcrossRotationKilled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	long := "seq=100 " + strings.Repeat("L", 40<<10)
	p1, p2, p3 := long[:16<<10], long[16<<10:32<<10], long[32<<10:]
	errLine := func(n int) string { return criLine("stderr", "F", fmt.Sprintf("seq=%d e", n)) }
	appendFile(t, path, lines(0, 5)+criLine("stdout", "P", p1)+errLine(5))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the first lines", func() bool { return hasSeq(r, 5) })
	r1 := path + ".20261207-000001"
	mustRename(t, path, r1)
	appendFile(t, path, errLine(6)+criLine("stdout", "P", p2)+errLine(7))
	waitFor(t, 5*time.Second, "the new file's lines", func() bool { return hasSeq(r, 7) })
	r.stop() // no Close: the checkpoint is the last one written
	first := r.snapshot()
	appendFile(t, path, criLine("stdout", "F", p3)+errLine(8))
	mustGzip(t, r1)
	mustRename(t, path, path+".20261207-000011")
	appendFile(t, path, lines(9, 12))
	r2 := startRunner(t, cfg, Options{})
	stopAfter(t, r2, 11, 5*time.Second, "the last line")
	count := map[int]int{}
	for _, x := range append(first, r2.snapshot()...) {
		n, _ := seqOf(x.body)
		count[n]++
		if (n == 100 || strings.Contains(x.body, "LLL")) && (x.body != long || x.truncated) {
			t.Errorf("the long line cut or changed: %d bytes (want %d), truncated %v", len(x.body), len(long), x.truncated)
		}
	}
	for _, n := range append(upto(0, 12), 100) {
		if count[n] == 0 {
			t.Errorf("line %d lost", n)
		}
	}
	t.Logf("copies: %v", count)
}
