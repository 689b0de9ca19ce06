package tail

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCopytruncatedThenRotatedCopyCompressed: the followed file, with lines
// not read yet (or nothing read of it at all), is copytruncated, written
// again or not, then rotated by rename (a new file at the path) or not,
// and the copy compressed at once, all before the tailer looks; the
// copy's creation notice is taken after its compression. Every line
// arrives once, in order.
func TestCopytruncatedThenRotatedCopyCompressed(t *testing.T) {
	for _, tc := range []struct {
		name                string
		after, unread, keep bool
	}{
		{"truncated file empty", false, false, false},
		{"written after the truncation", true, false, false},
		{"nothing read of it", false, true, false},
		{"nothing read of it, written after", true, true, false},
		{"nothing read of it, not rotated", true, true, true},
	} {
		after := tc.after
		t.Run(tc.name, func(t *testing.T) {
			tl, path, take := outTailer(t)
			var now time.Time
			if tc.unread {
				now = firstRead(t, tl, path, "", take, 0)
				appendFile(t, path, lines(0, 40))
			} else {
				now = firstRead(t, tl, path, lines(0, 20), take, 20)
				appendFile(t, path, lines(20, 40)) // not read before the copy
			}
			cp := copyTo(t, path, "20261206-000001")
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			want := upto(0, 40)
			if after {
				appendFile(t, path, lines(40, 50))
				want = append(want, upto(40, 50)...)
			}
			if !tc.keep {
				mustRename(t, path, path+".20261206-000002")
				appendFile(t, path, lines(100, 105))
				want = append(want, upto(100, 105)...)
			}
			mustGzip(t, cp)
			tl.copyCreated(cp) // the copy's creation, notified, is taken now
			steps(tl, now, 6, true)
			if diff := cmp.Diff(want, hostile50Seqs(take())); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRenamedCompressedNotACopy: a notified creation of a rotated name
// that is gone when the notice is taken, and whose compressed file was
// born since the followed file's generation started, is not always a
// copy: kubelet's rename is notified as a creation too. Neither the
// followed file renamed and compressed (it holds the compressed bytes),
// nor the rotated file read before it (it starts as that file did), nor
// a copy of the file before, made before the new file at the path was
// opened and compressed after (it was there at the new file's start) is
// read again.
func TestRenamedCompressedNotACopy(t *testing.T) {
	t.Run("the followed file itself", func(t *testing.T) {
		tl, path, take := outTailer(t)
		now := firstRead(t, tl, path, "", take, 0)
		appendFile(t, path, lines(0, 10))
		rot := path + ".20261206-000001"
		mustRename(t, path, rot)
		appendFile(t, path, lines(100, 105))
		mustGzip(t, rot)
		tl.copyCreated(rot)
		steps(tl, now, 6, true)
		// The renamed file is read through its descriptor, once.
		if diff := cmp.Diff(append(upto(0, 10), upto(100, 105)...), hostile50Seqs(take())); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	})
	t.Run("the rotated file read before", func(t *testing.T) {
		tl, path, take := outTailer(t)
		now := firstRead(t, tl, path, lines(0, 10), take, 10)
		rot := path + ".20261206-000001"
		mustRename(t, path, rot)
		appendFile(t, path, "")
		now = steps(tl, now, 3, true)
		if _, ok := tl.lastRotated[path]; !ok {
			t.Fatal("the rotated file is not closed yet")
		}
		afterTick(t, time.Now())
		mustGzip(t, rot)
		tl.copyCreated(rot) // the rename's notice, taken late
		appendFile(t, path, lines(100, 105))
		steps(tl, now, 3, false)
		if diff := cmp.Diff(append(upto(0, 10), upto(100, 105)...), hostile50Seqs(take())); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	})
	t.Run("a copy of the file before", func(t *testing.T) {
		tl, path, take := outTailer(t)
		now := firstRead(t, tl, path, lines(0, 10), take, 10)
		appendFile(t, path, lines(10, 15)) // not read before the copy
		cp := copyTo(t, path, "20261206-000001")
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		mustRename(t, path, path+".20261206-000002")
		appendFile(t, path, "")
		now = steps(tl, now, 3, true)
		if f := tl.byPath[path]; f == nil || f.off != 0 {
			t.Fatalf("the new file is not followed, or was read: %+v", f)
		}
		afterTick(t, time.Now())
		mustGzip(t, cp)
		tl.copyCreated(cp) // the copy's creation notice, taken late
		appendFile(t, path, lines(100, 105))
		steps(tl, now, 3, false)
		if diff := cmp.Diff(append(upto(0, 15), upto(100, 105)...), hostile50Seqs(take())); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	})
}

// steps polls (and rescans, with rescan) and reads n times, a second
// apart from now; it returns the last step's time.
func steps(tl *Tailer, now time.Time, n int, rescan bool) time.Time {
	for range n {
		now = now.Add(time.Second)
		tl.poll(now)
		if rescan {
			tl.rescan(now, false)
		}
		tl.readTurn(now)
	}
	return now
}

// TestCompressedInTheStartsTickNotACopy: kubelet renamed the file and
// compressed it within the tick of the file system's clock in which the
// path's new file was opened, before that open (model seed 1100008): the
// .gz is born at or after the new file's generation start, yet was beside
// it then, and was read as a rotated file. The rename's notice, taken
// late, does not make it a copy of the new file: its lines arrive once.
func TestCompressedInTheStartsTickNotACopy(t *testing.T) {
	tl, path, take := outTailer(t)
	appendFile(t, path, lines(0, 10))
	rot := path + ".20261206-000001"
	mustRename(t, path, rot)
	appendFile(t, path, "")
	mustGzip(t, rot)
	now := time.Now()
	tl.rescan(now, true)
	tl.resumeRotated(now, nil)
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("the path is not followed")
	}
	// The start as genStart takes it in the .gz's tick: at its birth,
	// with the .gz among the files from before.
	b, ok := born(rot + ".gz")
	k, err := statKey(rot + ".gz")
	if !ok || err != nil {
		t.Skip("no birth times here")
	}
	f.opened, f.took, f.tick = b, []birth{{key: k, at: b}}, true
	// The rotated file read before (the anchor and the last rotated
	// file forgotten, as when they name another file by then).
	now = steps(tl, now, 2, false)
	delete(tl.lastRotated, path)
	tl.mu.Lock()
	delete(tl.anchors, path)
	tl.mu.Unlock()
	tl.copyCreated(rot) // the rename's notice, taken late
	steps(tl, now, 3, false)
	if diff := cmp.Diff(upto(0, 10), hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
