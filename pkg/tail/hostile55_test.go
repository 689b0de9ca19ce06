package tail

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostile55Debug has a tailer driven step by step log what it does, with
// TAIL_DEBUG set.
func hostile55Debug(tl *Tailer) {
	if testLogLevel == slog.LevelDebug {
		tl.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// hostile55Lost is what the tailer counted lost to truncations.
func hostile55Lost(tl *Tailer) float64 {
	return testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated))
}

// TestHostile55SecondCopyAfterOneReadBefore: a fresh agent's scan opens
// 0.log, and logrotate copytruncates it before the rotated files are
// looked at (dateext): that copy, born after the file's start, is read
// whole before it (readBefore). The file is written and copytruncated
// again, and written, before the tailer looks at it again, and the
// truncation is found before the second copy's creation is taken (a
// polled directory, or a busy node: the notification comes late): by a
// poll while the first copy is still to be read, or by the file's read
// once it was. The truncation is accounted for by the copy read before
// (nothing counted lost: its bytes are read); the second copy, made after
// it, holds the generation between: its lines are owed all the same,
// once, after the first copy's and before the file's.
//
// On bd03008 the poll skipped the first copy as a file open (findCopy):
// the truncation was taken for one without a copy, gen1's bytes counted
// lost (they were read), and the second copy's lost uncounted; the read
// found the first copy read before, and the second was lost uncounted
// (laterCopies runs only for a copy taken).
func TestHostile55SecondCopyAfterOneReadBefore(t *testing.T) {
	for _, poll := range []bool{true, false} {
		name := "read"
		if poll {
			name = "poll"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 30)) // longer than the first bytes taken
			c1, c2 := path+".20261206-000001", path+".20261206-000002"
			tl, got, now := hostile54Start(t, dir, t.TempDir(), func() {
				hostile51CopyTo(t, path, c1)
				appendFile(t, path, lines(100, 130))
			})
			f := tl.byPath[path]
			// Read before the file, or left to the file's truncation as a
			// copy the file holds (made since its start: holds).
			if f == nil || (f.pred != nil && (f.pred.path != c1 || !slices.ContainsFunc(f.took, func(b birth) bool { return b.read }))) {
				t.Fatalf("premise: the first copy is read before the file, or held: %+v", f)
			}
			hostile55Debug(tl)
			hostile51CopyTo(t, path, c2)
			appendFile(t, path, lines(200, 230))
			now = now.Add(time.Second)
			if poll {
				tl.poll(now) // the truncation, the first copy still open
			} else {
				tl.readTurn(now) // the first copy, then the file: its truncation
			}
			tl.copyCreated(c2) // taken late
			hostile51Steps(tl, now)
			hostile51Once(t, append(append(upto(0, 30), upto(100, 130)...), upto(200, 230)...), got())
			if n := hostile55Lost(tl); n != 0 {
				t.Errorf("lost %v bytes, want 0", n)
			}
		})
	}
}

// TestHostile55CopiedWhileWaitingAfterEMFILE: a fresh agent's scan finds
// a container's 0.log, and its open fails for want of descriptors (the
// kernel's EMFILE, below logs.max_open_files): it waits for a descriptor,
// never opened, nothing of it read. While it waits it is copytruncated
// and written again. When its turn comes the copy's lines are read, then
// the file's: every line once, nothing lost. (A file that waits because
// the cap was reached is known from when it was queued, and TestHostile53
// CopiedWhileWaitingAtStart passes; on bd03008 one refused by the kernel
// was known from its open only: the copy, born before, was taken for
// older and its lines lost uncounted.)
func TestHostile55CopiedWhileWaitingAfterEMFILE(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 10))
	tl, take := outTailerIn(t, dir, t.TempDir())
	hostile55Debug(tl)
	refuse := true
	tl.openFault = func(p string) error {
		if refuse && p == path {
			return syscall.EMFILE
		}
		return nil
	}
	now := time.Now()
	var saved []stateEntry
	tl.rescan(now, true)
	tl.resumeRotated(now, saved)
	if tl.byPath[path] != nil || len(tl.lim.queue) != 1 {
		t.Fatal("premise: the file waits for a descriptor")
	}
	afterTick(t, time.Now())
	hostile51CopyTo(t, path, path+".20261206-040000")
	appendFile(t, path, lines(10, 20))
	refuse = false
	tl.lim.ceiling = 0
	if !tl.admitUpTo(100, now) || tl.byPath[path] == nil {
		t.Fatal("the file was not opened in its turn")
	}
	tl.copyCreated(path + ".20261206-040000") // its notification, taken now
	hostile51Steps(tl, now)
	hostile51Once(t, upto(0, 20), hostile50Seqs(take()))
	if n := hostile55Lost(tl); n != 0 {
		t.Errorf("lost %v bytes, want 0", n)
	}
}

// TestHostile55CopyOfGrownFileAtStart: a fresh agent's scan opens 0.log;
// before its rotated files are looked at (a node's scan opens every file
// first), 0.log is written on and copied (logrotate's copytruncate, its
// truncation still to come, or its copy directive). The copy is longer
// than 0.log was at its open, but 0.log still holds it: its lines are
// 0.log's own, read from there, once. On bd03008 the copy was read apart
// (holds compared it with the size 0.log had at its open), and its lines
// came twice.
func TestHostile55CopyOfGrownFileAtStart(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 30))
	tl, got, now := hostile54Start(t, dir, t.TempDir(), func() {
		appendFile(t, path, lines(30, 40))
		copyTo(t, path, "20261206-000001")
	})
	hostile55Debug(tl)
	hostile51Steps(tl, now)
	appendFile(t, path, lines(40, 45))
	hostile51Steps(tl, now.Add(10*time.Second))
	hostile51Once(t, upto(0, 45), got())
}

// BenchmarkHostile55GenStart is the cost of a generation's start
// (genStart: a file's open, a truncation handled, a file queued for a
// descriptor) in a directory of n other files and 5 rotated siblings:
// quiet (its last change a tick or more before: a listing for the names),
// or changed in the current tick (a statx per rotated sibling too).
func BenchmarkHostile55GenStart(b *testing.B) {
	for _, n := range []int{0, 500} {
		for _, changed := range []bool{false, true} {
			name := fmt.Sprintf("others=%d/quiet", n)
			if changed {
				name = fmt.Sprintf("others=%d/changed", n)
			}
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				path := filepath.Join(dir, "0.log")
				for i := range 5 {
					if err := os.WriteFile(fmt.Sprintf("%s.2026120%d-000000", path, i), nil, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				for i := range n {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("other%d.log", i)), nil, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				if changed {
					// A directory stamped in the future is one changed
					// in every tick.
					at := time.Now().Add(time.Hour)
					if err := os.Chtimes(dir, at, at); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for b.Loop() {
					genStart(path)
				}
			})
		}
	}
}

// TestHostile55CopyReadBeforeThenCompressed: logrotate's copytruncate
// with compress (no delaycompress: the copy is gzipped at once, and the
// plain copy removed) between a fresh agent's scan of 0.log and its look
// at the rotated files. The look finds the plain copy and reads it before
// 0.log (readBefore); it is compressed after, before 0.log's truncation
// is found. The truncation is accounted for by the copy read: its .gz is
// that copy, not one to read again. Every line once, nothing counted lost.
// On bd03008 the truncation found the .gz (findCopy) and read it from 0:
// the copy's lines twice (the plain copy still open when the truncation
// was found, or read to its end and closed before). The same when the
// copy was compressed before the look, read as its .gz: the truncation
// found it still being read (skipped: the bytes it holds counted lost, and
// a .gz longer than the first bytes may hold nothing else), or read
// (taken again: twice).
func TestHostile55CopyReadBeforeThenCompressed(t *testing.T) {
	for _, poll := range []bool{true, false} {
		for _, early := range []bool{false, true} {
			name := "read"
			if poll {
				name = "poll"
			}
			if early {
				name += ",gzipped-before-the-look"
			}
			t.Run(name, func(t *testing.T) { copyReadBeforeThenCompressed(t, poll, early) })
		}
	}
}

func copyReadBeforeThenCompressed(t *testing.T, poll, early bool) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 30))
	c1 := path + ".1"
	tl, got, now := hostile54Start(t, dir, t.TempDir(), func() {
		hostile51CopyTo(t, path, c1)
		appendFile(t, path, lines(100, 130))
		if early {
			mustGzip(t, c1)
			c1 += ".gz"
		}
	})
	f := tl.byPath[path]
	if f == nil || (f.pred != nil && f.pred.path != c1) {
		t.Fatalf("premise: the copy is read before the file, or held (holds): %+v", f)
	}
	hostile55Debug(tl)
	now = now.Add(time.Second)
	if !poll && f.pred != nil {
		// The copy read to its end and closed, the file not read
		// yet.
		for c := f.pred; c.st != stClosed; {
			tl.readFile(c, now)
			now = now.Add(time.Second)
		}
	}
	if !early {
		mustGzip(t, c1)
	}
	if poll {
		tl.poll(now) // the truncation, the copy still open
	}
	hostile51Steps(tl, now)
	hostile51Once(t, append(upto(0, 30), upto(100, 130)...), got())
	if n := hostile55Lost(tl); n != 0 {
		t.Errorf("lost %v bytes, want 0", n)
	}
}

// TestHostile55TwoCopiesReadBefore: two copytruncates between a fresh
// agent's scan of 0.log and its look at the rotated files: both copies
// are read before 0.log (readBefore), and are read to their ends before
// 0.log's truncation is found, or not. The truncation is accounted for by
// the first; the second, after it, was read already: not again. (The case
// that reads the copies after the one read before, found by
// TestHostile55SecondCopyAfterOneReadBefore, must not read those read
// before too: drained is the case that read the second copy twice before
// copiesAfter knew them, gzipped the same with the second copy compressed
// since it was read.) On bd03008 the truncation found while the first copy
// was open counted its bytes lost.
func TestHostile55TwoCopiesReadBefore(t *testing.T) {
	for _, mode := range []string{"open", "drained", "gzipped"} {
		drained := mode != "open"
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 30))
			c1, c2 := path+".20261206-000001", path+".20261206-000002"
			tl, got, now := hostile54Start(t, dir, t.TempDir(), func() {
				hostile51CopyTo(t, path, c1)
				appendFile(t, path, lines(100, 130))
				hostile51CopyTo(t, path, c2)
				appendFile(t, path, lines(200, 230))
			})
			f := tl.byPath[path]
			if f == nil || (f.pred != nil && (f.pred.path != c2 || f.pred.pred == nil || f.pred.pred.path != c1)) {
				t.Fatalf("premise: both copies are read before the file, or held (holds): %+v", f)
			}
			hostile55Debug(tl)
			now = now.Add(time.Second)
			if drained && f.pred != nil {
				for _, c := range []*follower{f.pred.pred, f.pred} {
					for c.st != stClosed {
						tl.readFile(c, now)
						now = now.Add(time.Second)
					}
				}
			}
			if mode == "gzipped" {
				mustGzip(t, c2)
			}
			tl.poll(now)
			hostile51Steps(tl, now)
			hostile51Once(t, append(append(upto(0, 30), upto(100, 130)...), upto(200, 230)...), got())
			if n := hostile55Lost(tl); n != 0 {
				t.Errorf("lost %v bytes, want 0", n)
			}
		})
	}
}

// TestHostile55CopyBornBeforeTheOpenReadBefore: logrotate copies 0.log
// just before a fresh agent's scan opens it, and truncates it just after
// (its copy and its truncation straddle the open): the copy is born
// before the file's start, and is read before the file as a rotated file
// (the file no longer holds it). The file's truncation is accounted for by
// it, whether it is still being read when the truncation is found (on
// bd03008: skipped as a file open, its bytes counted lost though they were
// read) or read to its end (on bd03008: found again, its lines twice; the
// case seen in TestCopytruncatesInARow's runs).
func TestHostile55CopyBornBeforeTheOpenReadBefore(t *testing.T) {
	for _, drained := range []bool{false, true} {
		name := "open"
		if drained {
			name = "drained"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 30))
			c1 := copyTo(t, path, "20261206-000001")
			afterTick(t, time.Now()) // the copy born a tick before the start
			tl, got, now := hostile54Start(t, dir, t.TempDir(), func() {
				mustTruncate(t, path)
				appendFile(t, path, lines(100, 130))
			})
			f := tl.byPath[path]
			if f == nil || f.pred == nil || f.pred.path != c1 {
				t.Fatalf("premise: the copy is read before the file: %+v", f)
			}
			hostile55Debug(tl)
			now = now.Add(time.Second)
			if drained {
				for c := f.pred; c.st != stClosed; {
					tl.readFile(c, now)
					now = now.Add(time.Second)
				}
			}
			tl.poll(now)
			hostile51Steps(tl, now)
			hostile51Once(t, append(upto(0, 30), upto(100, 130)...), got())
			if n := hostile55Lost(tl); n != 0 {
				t.Errorf("lost %v bytes, want 0", n)
			}
		})
	}
}

// TestHostile55CopyCompressedAsTheTruncationLooks: logrotate's
// copytruncate with compress (the copy gzipped at once) of a file read
// halfway: the tailer finds the truncation and lists the directory as the
// copy is being compressed, so it lists the plain copy and opens it after
// gzip removed it (the .gz was not there at the listing). The copy, as its
// .gz, holds the lines not read: they are read, not counted lost. On
// bd03008 the copy was taken for gone: its unread lines were lost (and
// counted), and, with the file empty and known by no first bytes after,
// its .gz was read again when the path's next file came (TestCopytruncates
// InARow's runs).
func TestHostile55CopyCompressedAsTheTruncationLooks(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 10), take, 10)
	appendFile(t, path, lines(10, 20))
	c := copyTo(t, path, "20261206-000001")
	mustTruncate(t, path)
	appendFile(t, path, lines(20, 25))
	once := false
	tl.openFault = func(p string) error {
		if p == c && !once {
			once = true
			mustGzip(t, c) // between the listing and the open
		}
		return nil
	}
	hostile55Debug(tl)
	hostile51Steps(tl, now)
	if !once {
		t.Fatal("premise: the truncation's look opened the copy")
	}
	hostile51Once(t, upto(0, 25), hostile50Seqs(take()))
	if n := hostile55Lost(tl); n != 0 {
		t.Errorf("lost %v bytes, want 0", n)
	}
}
