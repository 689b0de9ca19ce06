package tail

import (
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestCopyWithinATickOfTheOpen: files copytruncated within microseconds
// of their opening, before anything of them was read. A copy's birth time
// comes from the kernel's coarse clock, a tick (4 ms at 250 Hz) behind the
// clock the agent reads: compared with time.Now taken at the open, the
// copy was taken for older than the file and its lines were lost
// uncounted. The generation now starts by the file system's clock
// (copy.go genStart). Six files, as one may pass by chance (a tick
// between the open and the copy, or a fine-grained birth time).
func TestCopyWithinATickOfTheOpen(t *testing.T) { copyWithinATick(t, false) }

// TestCopyWithinATickOfTheFirstScan: the same for files the first scan
// opens. Their siblings are read at the start (rotated.go resumePath),
// the copy among them: it is not a copy made after the file's start to be
// read again when its creation's notification is taken.
func TestCopyWithinATickOfTheFirstScan(t *testing.T) { copyWithinATick(t, true) }

func copyWithinATick(t *testing.T, atStart bool) {
	dir, state := t.TempDir(), t.TempDir()
	const pods = 6
	var mu sync.Mutex
	var errs []error
	done := make(map[string]bool)
	sentinel := mkContainer(t, dir, "ns_sentinel_uid")
	appendFile(t, sentinel, lines(0, 1))
	done[sentinel] = true
	followed = func(path string) {
		mu.Lock()
		defer mu.Unlock()
		if done[path] {
			return
		}
		done[path] = true
		base := 100 * (len(done) - 1)
		// Written, copied and truncated, then written again, as the
		// tailer has just opened it.
		for _, step := range []func() error{
			func() error { return writeAppend(path, lines(base, base+5)) },
			func() error { return copyTruncateErr(path, path+".20261206-000001") },
			func() error { return writeAppend(path, lines(base+5, base+8)) },
		} {
			if err := step(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	t.Cleanup(func() { followed = nil })
	mkPods := func() {
		for i := range pods {
			mkContainer(t, dir, fmt.Sprintf("ns_pod%d_uid", i))
			appendFile(t, filepath.Join(dir, fmt.Sprintf("ns_pod%d_uid", i), "app", "0.log"), "")
		}
	}
	if atStart {
		mkPods()
	}
	r := startRunner(t, testConfig(dir, state), Options{})
	if !atStart {
		// Found at runtime, after the first scan.
		waitFor(t, 10*time.Second, "the first scan's file", func() bool { return hasSeq(r, 0) })
		mkPods()
	}
	want := []int{0}
	for p := 1; p <= pods; p++ {
		want = append(want, upto(100*p, 100*p+8)...)
	}
	waitFor(t, 20*time.Second, "every pod's lines", func() bool {
		got := seqs(r.snapshot())
		return !slices.ContainsFunc(want, func(n int) bool { return !slices.Contains(got, n) })
	})
	r.stop()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := seqsSorted(r); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// emptyCheckpointed has an agent follow an empty 0.log and stop, its final
// checkpoint naming the file at offset 0 with no first bytes.
func emptyCheckpointed(t *testing.T) (string, Config) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, "")
	if _, ok := born(path); !ok {
		t.Skip("no birth times on this file system")
	}
	cfg := testConfig(dir, state)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the file followed", func() bool { return testutil.ToFloat64(r.tl.m.openFiles) == 1 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

// writeAppend and copyTruncateErr are appendFile and hostile51CopyTo for
// the followed hook, which runs on the tailer's goroutine (no t.Fatal).
func writeAppend(path, data string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	return errors.Join(err, f.Close())
}

func copyTruncateErr(path, to string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		return err
	}
	return os.Truncate(path, 0)
}

// TestUndoneByBirth: a file at a path with the inode of the path's last
// rotated file is that file renamed back (an undone rotation, read on
// from where it was) only if it was born when that file was. A file
// closed empty has no first bytes to tell a new file that got its inode
// from it (compressed and deleted since; the next file created takes the
// freed inode at once): taken for it, the path lost its last rotated file
// and the files rotated after it were never read.
func TestUndoneByBirth(t *testing.T) {
	k := fileKey{dev: 1, ino: 7}
	at := time.Unix(1_796_000_000, 123_456_789)
	later := at.Add(40 * time.Millisecond)
	full := rotated{key: k, off: 4, fpLen: 4, born: at}
	copy(full.fp[:], "abcd")
	empty := rotated{key: k, born: at}
	unknown := rotated{key: k}
	for _, c := range []struct {
		name string
		r    rotated
		key  fileKey
		fp   string
		size int64
		born time.Time
		want bool
	}{
		{"renamed back", full, k, "abcdef", 6, at, true},
		{"renamed back, empty", empty, k, "", 0, at, true},
		{"its inode reused, empty before", empty, k, "", 0, later, false},
		{"its inode reused, written since", empty, k, "xyz", 3, later, false},
		{"its inode reused, other first bytes", full, k, "xbcdef", 6, later, false},
		{"another inode", full, fileKey{dev: 1, ino: 8}, "abcdef", 6, at, false},
		{"shorter than read", full, k, "abc", 3, at, false},
		{"no birth times: by inode and first bytes", unknown, k, "", 0, time.Time{}, true},
	} {
		if got := c.r.undoneBy(c.key, []byte(c.fp), c.size, c.born); got != c.want {
			t.Errorf("%s: undone %v, want %v", c.name, got, c.want)
		}
	}
}

// TestCopiedAsTheAgentStarts: the agent starts (its checkpoint in the
// middle of 0.log) and 0.log is copytruncated just after the first scan
// opened it, before its rotated siblings are looked at: the copy holds
// what the last agent read. It is the scan's file's copy, read from the
// checkpoint's offset when the truncation is found, not a rotated file
// read whole (test/model seed 730121: 38 lines twice).
func TestCopiedAsTheAgentStarts(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	// An older copy, read by the last agent: its checkpoint names it.
	appendFile(t, path, lines(0, 5))
	hostile51CopyTo(t, path, path+".20261206-000000")
	appendFile(t, path, lines(5, 10))
	cfg := testConfig(dir, state)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the first lines", func() bool { return hasSeq(r, 9) && hasSeq(r, 4) })
	r.stop()
	if err := r.tl.Close(); err != nil { // the final checkpoint
		t.Fatal(err)
	}
	appendFile(t, path, lines(10, 20)) // while stopped
	var mu sync.Mutex
	var errs []error
	once := false
	followed = func(p string) {
		mu.Lock()
		defer mu.Unlock()
		if p != path || once {
			return
		}
		once = true
		errs = append(errs, copyTruncateErr(path, path+".20261206-000001"), writeAppend(path, lines(20, 25)))
	}
	t.Cleanup(func() { followed = nil })
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the lines after the copy", func() bool { return hasSeq(r2, 24) })
	r2.stop()
	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(errs...); err != nil || !once {
		t.Fatalf("premise: copied at the scan's open %v, %v", once, err)
	}
	if got := seqsSorted(r2); !slices.Equal(got, upto(10, 25)) {
		t.Errorf("lines after the restart %v, want %v", got, upto(10, 25))
	}
}

// TestEmptyCheckpointedCopiedWhileStopped: the checkpoint has 0.log empty
// (offset 0, no first bytes); while no agent runs, it is written,
// copytruncated and written again. The file at the path is the one the
// checkpoint names (its inode, born before the checkpoint): nothing
// vanished, and no loss is counted. Every line arrives once.
func TestEmptyCheckpointedCopiedWhileStopped(t *testing.T) {
	path, cfg := emptyCheckpointed(t)
	appendFile(t, path, lines(0, 5))
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(5, 8))
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "every line", func() bool { return hasSeq(r2, 7) && hasSeq(r2, 0) })
	r2.stop()
	if got := seqsSorted(r2); !slices.Equal(got, upto(0, 8)) {
		t.Errorf("lines %v, want %v", got, upto(0, 8))
	}
	if n := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); n != 0 {
		t.Errorf("%v files counted vanished, want 0", n)
	}
}

// TestCopyCompressedBeforeItsRead: a file nothing was read of is
// copytruncated, the copy's creation is noted, and the copy is compressed
// (logrotate's compress without delaycompress) before the read the note
// brings looks at it. The copy was seen plain, made since the file's
// start: its .gz is read whole before the file. A rotated file from before
// the file, noted (a notification taken late) and compressed the same
// way, is not taken: read already, it came twice.
func TestCopyCompressedBeforeItsRead(t *testing.T) {
	tl, path, f := followNew(t)
	appendFile(t, path, lines(0, 8))
	cp := path + ".20261206-000002"
	hostile51CopyTo(t, path, cp)
	appendFile(t, path, lines(8, 10))
	tl.copyCreated(cp)
	mustGzip(t, cp)
	if !tl.takeCopy(f, time.Now()) || f.pred == nil || f.pred.gz != cp+".gz" {
		t.Fatalf("the compressed copy was not taken: its lines are lost (pred %+v)", f.pred)
	}

	dir := t.TempDir()
	tl2 := newIdleTailer(t, dir)
	tl2.loadState(time.Now())
	path2 := mkContainer(t, dir, "ns_pod_uid")
	older := path2 + ".20261206-000001" // rotated before the file was made
	appendFile(t, older, lines(100, 108))
	f2 := followEmptyWith(t, tl2, path2) // reads older first (discover: rotatedSince)
	before := f2.pred
	tl2.copyCreated(older) // a notification taken late
	mustGzip(t, older)
	if tl2.takeCopy(f2, time.Now()) || f2.pred != before {
		t.Errorf("an older rotated file, compressed, was taken for a copy: read twice (pred %s)", f2.pred.path)
	}
}

// TestEmptyCheckpointedCopiedTwiceWhileStopped: as
// TestEmptyCheckpointedCopiedWhileStopped, with two copytruncates while
// no agent runs, the first copy compressed at the second (logrotate's
// delaycompress). Both copies' lines arrive (test/model seed 820085 with
// -poll 100ms -more: the compressed one was not read, 4 lines lost
// uncounted).
func TestEmptyCheckpointedCopiedTwiceWhileStopped(t *testing.T) {
	path, cfg := emptyCheckpointed(t)
	appendFile(t, path, lines(0, 5))
	c1 := path + ".20261206-000001"
	hostile51CopyTo(t, path, c1)
	appendFile(t, path, lines(5, 10))
	hostile51CopyTo(t, path, path+".20261206-000002")
	mustGzip(t, c1)
	appendFile(t, path, lines(10, 12))
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "every line", func() bool {
		got := seqs(r2.snapshot())
		return !slices.ContainsFunc(upto(0, 12), func(n int) bool { return !slices.Contains(got, n) })
	})
	r2.stop()
	if got := seqsSorted(r2); !slices.Equal(got, upto(0, 12)) {
		t.Errorf("lines %v, want %v", got, upto(0, 12))
	}
}
