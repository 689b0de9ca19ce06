package tail

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestNotificationsAlone: with polling and rescans an hour apart, only
// notifications can find a new pod, read its writes and follow its
// rotation.
func TestNotificationsAlone(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, t.TempDir())
	cfg.PollInterval, cfg.RescanInterval = time.Hour, time.Hour
	first := mkContainer(t, dir, "ns_first_uid")
	appendFile(t, first, lines(0, 1))
	r := startRunner(t, cfg, Options{})
	// Its first scan found this file: what comes next, only notifications
	// can find.
	waitFor(t, 5*time.Second, "the first scan", func() bool { return len(r.snapshot()) == 1 })

	path := mkContainer(t, dir, "ns_pod_uid") // a new pod: directory, container directory, file
	appendFile(t, path, lines(1, 10))
	waitFor(t, 5*time.Second, "the new pod's lines", func() bool { return len(r.snapshot()) == 10 })
	appendFile(t, path, lines(10, 20))
	waitFor(t, 5*time.Second, "a write", func() bool { return len(r.snapshot()) == 20 })
	if opened := testutil.ToFloat64(r.tl.m.openFiles); opened != 2 {
		t.Fatalf("%v files open, want 2", opened)
	}

	// kubelet's rotation: rename, then a new 0.log.
	if err := os.Rename(path, path+".20261126-100000"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(20, 30))
	waitFor(t, 5*time.Second, "the new file after rotation", func() bool { return len(r.snapshot()) == 30 })
	r.stop()
	if diff := cmp.Diff(upto(0, 30), seqs(r.snapshot())); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestNotifierOverflow: when the kernel's event queue overflows, Drain says
// so (the tailer then polls and rescans instead of trusting events).
func TestNotifierOverflow(t *testing.T) {
	limit := readSysInt(t, "/proc/sys/fs/inotify/max_queued_events")
	if limit > 1<<17 {
		t.Skipf("max_queued_events is %d: overflowing it takes too long", limit)
	}
	dir := t.TempDir()
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Add(dir); err != nil {
		t.Fatal(err)
	}
	// The kernel merges an event with an identical one at the queue's
	// tail: alternate two files so that every write queues an event.
	var fs [2]*os.File
	for i := range fs {
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)+".log"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fs[i] = f
	}
	writes := func(k int) {
		for i := range k {
			if _, err := fs[i%2].WriteString("x\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() (w int, overflow bool) {
		overflow = n.Drain(1<<20, func([]byte) { w++ }, func(notifyEvent) {})
		return w, overflow
	}

	writes(100)
	if w, over := count(); w != 100 || over {
		t.Fatalf("100 alternating writes: %d write events, overflow %v; want 100, false", w, over)
	}
	writes(limit + 100)
	if w, over := count(); !over || w > limit {
		t.Fatalf("%d writes past a queue of %d: %d write events, overflow %v; want at most %d and an overflow", limit+100, limit, w, over, limit)
	}
	writes(10)
	if w, over := count(); w != 10 || over {
		t.Fatalf("after the overflow was reported: %d write events, overflow %v; want 10, false", w, over)
	}
}

// TestNotifierEntries: entry events carry full paths; a removed directory's
// watch is forgotten.
func TestNotifierEntries(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "pod")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, d := range []string{dir, sub} {
		if err := n.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Add(filepath.Join(sub, "missing")); err == nil {
		t.Fatal("watching a missing directory: no error")
	}
	f := filepath.Join(sub, "0.log")
	appendFile(t, f, "a\n")
	if err := os.Rename(f, f+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f + ".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	var got []string
	n.Drain(16, func(p []byte) { got = append(got, "write "+string(p)) }, func(ev notifyEvent) {
		op := map[notifyOp]string{opCreate: "create", opRemove: "remove"}[ev.Op]
		got = append(got, op+" "+ev.Name)
	})
	want := []string{
		"create " + f,
		"write " + f,
		"remove " + f,
		"create " + f + ".1",
		"remove " + f + ".1",
		"remove " + sub,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if n.Watching(sub) || !n.Watching(dir) || !slices.Equal(n.Dirs(), []string{dir}) {
		t.Fatalf("after the directory's removal: watching %v", n.Dirs())
	}
}

func readSysInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skip(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Skip(err)
	}
	return v
}
