package tail

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
// so (the tailer then polls and rescans instead of trusting events), and
// after it events are counted exactly again.
func TestNotifierOverflow(t *testing.T) {
	limit := readSysInt(t, "/proc/sys/fs/inotify/max_queued_events")
	if limit > 1<<17 {
		t.Skipf("max_queued_events is %d: overflowing it takes too long", limit)
	}
	dir := t.TempDir()
	n := newTestNotifier(t, dir)
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
	// Drain takes what fsnotify's goroutine offers; it may stop before the
	// goroutine has read the kernel's whole queue, so take until done says
	// so (bounded).
	var (
		w    int
		over bool
	)
	drainUntil := func(what string, done func() bool) {
		t.Helper()
		w, over = 0, false
		deadline := time.Now().Add(10 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d write events, overflow %v when the deadline passed", what, w, over)
			}
			if n.Drain(16, func([]byte) { w++ }, func(notifyEvent) {}) {
				over = true
			}
		}
	}

	writes(100)
	drainUntil("100 writes", func() bool { return w >= 100 || over })
	if w != 100 || over {
		t.Fatalf("100 alternating writes: %d write events, overflow %v; want 100, false", w, over)
	}
	// fsnotify's goroutine reads what is queued when the first write comes
	// (at most 64 KiB of events, 2048 here) and then waits to hand it over:
	// the kernel's queue fills behind it.
	const readAhead = 64 << 10 / 32
	total := limit + readAhead + 100
	writes(total)
	drainUntil("an overflow", func() bool { return over })
	// Everything queued before the overflow came before it.
	if w < limit || w >= total {
		t.Fatalf("%d writes past a queue of %d: %d write events before the overflow; want at least %d and fewer than %d", total, limit, w, limit, total)
	}
	writes(10)
	drainUntil("10 writes", func() bool { return w >= 10 || over })
	if w != 10 || over {
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
	n := newTestNotifier(t, dir, sub)
	file := filepath.Join(dir, "file")
	appendFile(t, file, "")
	if err := n.Add(filepath.Join(sub, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("watching a missing directory: %v, want ENOENT", err)
	}
	if err := n.Add(file); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("watching a file: %v, want ENOTDIR", err)
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
	want := []string{
		"create " + file,
		"create " + f,
		"write " + f,
		"remove " + f,
		"create " + f + ".1",
		"remove " + f + ".1",
		"remove " + sub,
	}
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < len(want) && time.Now().Before(deadline) {
		n.Drain(16, func(p []byte) { got = append(got, "write "+string(p)) }, func(ev notifyEvent) {
			op := map[notifyOp]string{opCreate: "create", opRemove: "remove"}[ev.Op]
			got = append(got, op+" "+ev.Name)
		})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if n.Watching(sub) || !n.Watching(dir) || !slices.Equal(n.Dirs(), []string{dir}) {
		t.Fatalf("after the directory's removal: watching %v", n.Dirs())
	}
}

// TestNotifierWake: an armed notifier wakes the tailer on the next event,
// and the event the waiter took is the first Drain hands over, in order
// with the rest; a Drain while armed leaves the waiter armed if it took
// nothing, takes its event if it did, and leaves no stale wake-up.
func TestNotifierWake(t *testing.T) {
	dir := t.TempDir()
	n := newTestNotifier(t, dir)
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "")
	appendFile(t, b, "")
	var got []string
	drain := func(want int) []string {
		t.Helper()
		got = got[:0]
		deadline := time.Now().Add(10 * time.Second)
		for {
			n.Drain(16, func(p []byte) { got = append(got, string(p)) }, func(ev notifyEvent) { got = append(got, "entry "+ev.Name) })
			if len(got) >= want || time.Now().After(deadline) {
				return got
			}
		}
	}
	if diff := cmp.Diff([]string{"entry " + a, "entry " + b}, drain(2)); diff != "" {
		t.Fatalf("creates (-want +got):\n%s", diff)
	}
	noWake := func(when string) {
		t.Helper()
		select {
		case <-n.Wake():
			t.Fatalf("%s: a stale wake-up", when)
		default:
		}
	}

	// Idle and armed: the first write wakes it.
	n.Arm()
	appendFile(t, a, "1\n")
	appendFile(t, b, "1\n")
	select {
	case <-n.Wake():
		n.Woken()
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up after a write")
	}
	if diff := cmp.Diff([]string{a, b}, drain(2)); diff != "" {
		t.Fatalf("after the wake-up (-want +got):\n%s", diff)
	}

	// Armed, nothing happens, then a read is due: Drain takes nothing, and
	// the waiter stays armed for the next write.
	n.Arm()
	if got := drain(0); len(got) != 0 {
		t.Fatalf("nothing written: %v", got)
	}
	noWake("after a Drain while armed and nothing was written")
	appendFile(t, b, "2\n")
	select {
	case <-n.Wake():
		n.Woken()
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up after a write, once a Drain found nothing")
	}
	if diff := cmp.Diff([]string{b}, drain(1)); diff != "" {
		t.Fatalf("after the second wake-up (-want +got):\n%s", diff)
	}

	// Armed, the waiter took an event and signalled, but the tailer did not
	// look (it was woken by something else): Drain gets the event first.
	n.Arm()
	appendFile(t, a, "2\n")
	waitFor(t, 10*time.Second, "the waiter's signal", func() bool { return len(n.wake) == 1 })
	appendFile(t, b, "3\n")
	if diff := cmp.Diff([]string{a, b}, drain(2)); diff != "" {
		t.Fatalf("with a wake-up nobody took (-want +got):\n%s", diff)
	}
	noWake("after a Drain that took the waiter's event")
}

// newTestNotifier watches dirs; it is closed when the test ends.
func newTestNotifier(t *testing.T, dirs ...string) *notifier {
	t.Helper()
	n, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, d := range dirs {
		if err := n.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	return n
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
