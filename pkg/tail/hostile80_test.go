package tail

import (
	"github.com/prometheus/client_golang/prometheus/testutil"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// betweenRenameAndCreate80 is startBetweenRenameAndCreate's start, up to
// resumeRotated: the checkpoint read 0.log to line 4, lines 5-7 were
// written and the file rotated (r1), lines 8-9 written to the next and
// that one rotated (r2), no 0.log as the start scans. It returns the
// tailer, the path and the rotated files' followers (r1's, r2's).
func betweenRenameAndCreate80(t *testing.T) (tl *Tailer, path string, f1, f2 *follower) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path = mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	r1, r2 := path+".20261206-000001", path+".20261206-000002"
	mustRename(t, path, r1)
	appendFile(t, path, lines(8, 10))
	mustRename(t, path, r2)
	tl, saved, now := startSteps(t, dir, state)
	if tl.byPath[path] != nil {
		t.Fatal("a file at the path")
	}
	tl.resumeRotated(now, saved)
	for _, g := range tl.order {
		switch g.path {
		case r1:
			f1 = g
		case r2:
			f2 = g
		}
	}
	if f1 == nil || f2 == nil {
		t.Fatalf("rotated files not opened: %v %v", f1, f2)
	}
	return tl, path, f1, f2
}

// TestStartBetweenRenameAndCreateOlderClosedFirst: as
// TestStartBetweenRenameAndCreate, but the older rotated file (lines 5-7)
// is read to its end and closed before the path's next 0.log is found,
// the newer one (8-9) not read yet: the next file's lines (10-11) still
// come after 8-9.
func TestStartBetweenRenameAndCreateOlderClosedFirst(t *testing.T) {
	tl, path, f1, _ := betweenRenameAndCreate80(t)
	for range 3 {
		if f1.st != stClosed {
			tl.readFile(f1, time.Now())
		}
	}
	if f1.st != stClosed {
		t.Fatalf("the older rotated file not closed: %v", f1.st)
	}
	appendFile(t, path, lines(10, 12))
	tl.rescan(time.Now(), false)
	c := tl.byPath[path]
	if c == nil {
		t.Fatal("the path's next file not found")
	}
	readNextIfFree(tl, path)
	readEvery77(t, tl)
	onceThenRestart(t, tl, path, 5, 12)
}

// TestStartBetweenRenameAndCreateThen: as
// TestStartBetweenRenameAndCreate, with something happening to the newest
// rotated file (r2, lines 8-9) before the path's next 0.log (lines 10-11,
// or 12-13 after r3) is found: lines 5 on come once each, in order, and a
// restart reads the same again (nothing acknowledged).
func TestStartBetweenRenameAndCreateThen(t *testing.T) {
	for _, tc := range []struct {
		name string
		// between runs after the start; it returns the lines written.
		between func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int
	}{
		{"r2 compressed", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			mustGzip(t, f2.path)
			appendFile(t, path, lines(10, 12))
			return 12
		}},
		{"r2 read and closed, then written on by the runtime", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			readEvery77(t, tl)
			if f2.st != stClosed {
				t.Fatalf("r2 not closed: %v", f2.st)
			}
			appendFile(t, f2.path, lines(10, 11))
			appendFile(t, path, lines(11, 12))
			return 12
		}},
		{"r2 written on by the runtime, unread", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			appendFile(t, f2.path, lines(10, 11))
			appendFile(t, path, lines(11, 12))
			return 12
		}},
		{"next file rotated before found, r1 closed", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			for range 3 {
				if f1.st != stClosed {
					tl.readFile(f1, time.Now())
				}
			}
			appendFile(t, path, lines(10, 12))
			mustRename(t, path, path+".20261206-000003")
			appendFile(t, path, lines(12, 14))
			return 14
		}},
		{"next file rotated before found", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			appendFile(t, path, lines(10, 12))
			mustRename(t, path, path+".20261206-000003")
			appendFile(t, path, lines(12, 14))
			return 14
		}},
		{"r2 renamed back (rotation undone)", func(t *testing.T, tl *Tailer, path string, f1, f2 *follower) int {
			mustRename(t, f2.path, path)
			appendFile(t, path, lines(10, 12))
			return 12
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, path, f1, f2 := betweenRenameAndCreate80(t)
			to := tc.between(t, tl, path, f1, f2)
			tl.rescan(time.Now(), false)
			readNextIfFree(tl, path)
			lingerOver(tl) // each rotated file's next read is its last
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, upto(5, to)) {
				t.Errorf("lines %v, want %v", got, upto(5, to))
			}
			stop77(t, tl)
			appendFile(t, path, lines(to, to+1))
			restartWant(t, tl.cfg, 5, to+1)
		})
	}
}

// TestStartBetweenRenameAndCreateStopWhileWaiting: as
// TestStartBetweenRenameAndCreate, but the agent stops while the path's
// next file (lines 10-11) waits for the rotated files: before any is
// read, after the older one only, or with the newer one ending with the
// first fragment of a CRI line the next file ends (line 100). The next
// agent reads what was not acknowledged once each, in order.
func TestStartBetweenRenameAndCreateStopWhileWaiting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		partial bool
		read    func(tl *Tailer, f1, f2 *follower)
		gz      bool // r1 and r2 compressed while stopped
	}{
		{"nothing read, compressed while stopped", false, func(*Tailer, *follower, *follower) {}, true},
		{"older read, compressed while stopped", false, func(tl *Tailer, f1, _ *follower) {
			for range 3 {
				if f1.st != stClosed {
					tl.readFile(f1, time.Now())
				}
			}
		}, true},
		{"nothing read", false, func(*Tailer, *follower, *follower) {}, false},
		{"older read", false, func(tl *Tailer, f1, _ *follower) {
			for range 3 {
				if f1.st != stClosed {
					tl.readFile(f1, time.Now())
				}
			}
		}, false},
		{"partial line, rotated ones read", true, func(tl *Tailer, f1, f2 *follower) {
			for range 3 {
				for _, g := range []*follower{f1, f2} {
					if g.st != stClosed && (g.pred == nil || g.pred.st == stClosed) {
						tl.readFile(g, time.Now())
					}
				}
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl, path, f1, f2 := betweenRenameAndCreate80(t)
			head := ""
			if tc.partial {
				appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
				head = criLine("stdout", "F", "second half")
			}
			tc.read(tl, f1, f2)
			appendFile(t, path, head+lines(10, 12))
			tl.rescan(time.Now(), false)
			if c := tl.byPath[path]; c == nil || (c.pred == nil && !tc.partial) {
				t.Fatalf("the path's next file not found, or not waiting: %+v", c)
			}
			stop77(t, tl)
			if tc.gz {
				mustGzip(t, f1.path)
				mustGzip(t, f2.path)
			}
			appendFile(t, path, lines(12, 13))
			want := upto(5, 13)
			if tc.partial {
				want = append(upto(5, 10), append([]int{100}, upto(10, 13)...)...)
			}
			restartWantList(t, tl.cfg, 12, want)
		})
	}
}

// TestStartBetweenRenameAndCreatePartialLineReadFirst: as
// TestStartBetweenRenameAndCreatePartialLine, but the rotated files are
// read to their end before the path's next 0.log (which ends the CRI line
// r2 began) is created: the line comes once, whole, after 9 and before
// 10; nothing cut.
func TestStartBetweenRenameAndCreatePartialLineReadFirst(t *testing.T) {
	tl, path, _, f2 := betweenRenameAndCreate80(t)
	appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
	readEvery77(t, tl)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
	tl.rescan(time.Now(), false)
	lingerOver(tl) // each rotated file's next read is its last
	readEvery77(t, tl)
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// copyBeforeOpen80 is TestCopyMadeBeforeOpenTruncatedAfter's start up to
// the truncation: the checkpoint read 0.log to line 4 (an anchor before
// it), lines 5-7 written since, and a copy of lines 0-7 made before the
// start opened the file (logrotate's copy, or copytruncate's before it
// truncates). It returns the tailer, the file's follower, the path, the
// copy and the entries to resume.
func copyBeforeOpen80(t *testing.T) (*Tailer, *follower, string, string, []stateEntry) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old := path + ".20261206-000014"
	appendFile(t, old, lines(200, 203))
	anchor := dataEntry(t, path, old, lines(200, 203), true)
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{anchor, dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	cp := path + ".20261206-000020"
	if err := os.WriteFile(cp, []byte(read+lines(5, 8)), 0o644); err != nil {
		t.Fatal(err)
	}
	b, ok := born(cp)
	if !ok {
		t.Skip("no birth times on this file system")
	}
	tl, saved, _ := startSteps(t, dir, state)
	f := tl.byPath[path]
	if f == nil || f.off != int64(len(read)) {
		t.Fatalf("the file not resumed at its offset: %+v", f)
	}
	f.opened, f.tick, f.took = b.Add(time.Millisecond), true, nil // made in an earlier tick
	return tl, f, path, cp, saved
}

// TestCopyBeforeOpenTruncatedThenGrew: the file is truncated after the
// start opened it and written past its old offset (lines 100-111) before
// the start looks at its siblings: the copy is read from the offset
// (5-7), then the new generation from 0; nothing counted lost, nothing
// twice.
func TestCopyBeforeOpenTruncatedThenGrew(t *testing.T) {
	tl, _, path, _, saved := copyBeforeOpen80(t)
	mustTruncate(t, path)
	appendFile(t, path, lines(100, 112))
	tl.resumeRotated(time.Now(), saved)
	readEvery77(t, tl)
	want := append(upto(5, 8), upto(100, 112)...)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(112, 113))
	restartWantList(t, tl.cfg, 112, append(upto(5, 8), upto(100, 113)...))
}

// TestCopyBeforeOpenTruncatedInPlaceSameBanner: logrotate's copy (no
// truncation) made before the start opened the file; after the open the
// file is truncated in place (`> 0.log`) and the container writes the
// same first line again (line 0, a banner) and 100: lines 5-7, in the
// copy, come once (none of 0-4 again), then 0 and 100 of the new
// generation.
func TestCopyBeforeOpenTruncatedInPlaceSameBanner(t *testing.T) {
	tl, _, path, _, saved := copyBeforeOpen80(t)
	mustTruncate(t, path)
	appendFile(t, path, lines(0, 1)+lines(100, 101))
	tl.resumeRotated(time.Now(), saved)
	readEvery77(t, tl)
	want := []int{5, 6, 7, 0, 100}
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	stop77(t, tl)
	appendFile(t, path, lines(101, 102))
	restartWantList(t, tl.cfg, 101, []int{5, 6, 7, 0, 100, 101})
}

// TestCopyBeforeOpenTruncatedCopyCompressed: as
// TestCopyMadeBeforeOpenTruncatedAfter, but logrotate compresses the copy
// (compress without delaycompress) before the start looks at the
// siblings: lines 5-7 come once, never 0-4 again, nothing counted lost.
func TestCopyBeforeOpenTruncatedCopyCompressed(t *testing.T) {
	tl, f, path, cp, saved := copyBeforeOpen80(t)
	mustTruncate(t, path)
	tickAfter80(t, filepath.Dir(path), f.opened) // compressed after the open
	mustGzip(t, cp)
	tl.resumeRotated(time.Now(), saved)
	readEvery77(t, tl)
	if got := emitted(tl); !slices.Equal(got, upto(5, 8)) {
		t.Errorf("lines %v, want %v", got, upto(5, 8))
	}
	if lost := lostTruncatedOf(tl); lost != 0 {
		t.Errorf("lost %v bytes counted, want none", lost)
	}
	stop77(t, tl)
	appendFile(t, path, lines(8, 9))
	restartWant(t, tl.cfg, 5, 9)
}

// tickAfter80 waits until the file system's clock, as birth times read it
// in dir, is past at: a file made after it is born after at.
func tickAfter80(t *testing.T, dir string, at time.Time) {
	t.Helper()
	probe := filepath.Join(dir, ".probe80")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := os.WriteFile(probe, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b, ok := born(probe)
		_ = os.Remove(probe)
		if !ok || b.After(at) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's clock did not pass the open")
		}
	}
}

// TestStartBetweenRenameAndCreatePartialLineOneDescriptor: as
// TestStartBetweenRenameAndCreatePartialLineReadFirst, run, with
// max_open_files 1: the newest rotated file, ending with the first
// fragment of line 100, holds the only descriptor while it waits for the
// path's next file (awaitsNext), which waits for a descriptor. The line
// still comes whole, soon (not cut after rotatedLinger).
func TestStartBetweenRenameAndCreatePartialLineOneDescriptor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := lines(0, 5)
	appendFile(t, path, read)
	if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(5, 8))
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, lines(8, 10)+criLine("stdout", "P", "seq=100 first half "))
	mustRename(t, path, path+".20261206-000002")
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = time.Hour })
	waitFor(t, 5*time.Second, "the rotated files", func() bool { return hasSeq(r, 9) })
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
	waitFor(t, 10*time.Second, "the next file", func() bool { return hasSeq(r, 11) })
	r.stop()
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	if got := seqs(r.snapshot()); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if x, n := recOf(r, "seq=100 "); n != 1 || x.body != "seq=100 first half second half" {
		t.Errorf("line 100 %+v (%d of them), want it once, whole", x, n)
	}
}

// TestStartBetweenRenameAndCreatePartialLineNextRotated: as
// TestStartBetweenRenameAndCreatePartialLineReadFirst, but the path's next
// 0.log (the line's end, 10-11) is rotated in turn, and another written
// (12), before the tailer looks: line 100 comes once, whole, after 9 and
// before 10; nothing cut.
func TestStartBetweenRenameAndCreatePartialLineNextRotated(t *testing.T) {
	tl, path, _, f2 := betweenRenameAndCreate80(t)
	appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
	readEvery77(t, tl)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
	mustRename(t, path, path+".20261206-000003")
	appendFile(t, path, lines(12, 13))
	tl.rescan(time.Now(), false)
	lingerOver(tl) // each rotated file's next read is its last
	readEvery77(t, tl)
	want := append(upto(5, 10), append([]int{100}, upto(10, 13)...)...)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	if cut := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); cut != 0 {
		t.Errorf("%v partial lines cut, want none", cut)
	}
	stop77(t, tl)
	appendFile(t, path, lines(13, 14))
	restartWantList(t, tl.cfg, 13, append(upto(5, 10), append([]int{100}, upto(10, 14)...)...))
}

// TestStartBetweenRenameAndCreateNewestEmpty: the start finds no file at
// the path; the newest rotated file (r2) was renamed while still empty.
// The older one (5-7) is read and closed, r2 is compressed (empty), or
// written on by the runtime (8-9) before it reopens, and the path's next
// 0.log (10-11) is found: each line once, in order.
func TestStartBetweenRenameAndCreateNewestEmpty(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "written on", true: "compressed"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			read := lines(0, 5)
			appendFile(t, path, read)
			if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(5, 8))
			r1, r2 := path+".20261206-000001", path+".20261206-000002"
			mustRename(t, path, r1)
			appendFile(t, path, "")
			mustRename(t, path, r2)
			tl, saved, now := startSteps(t, dir, state)
			tl.resumeRotated(now, saved)
			var f1 *follower
			for _, g := range tl.order {
				if g.path == r1 {
					f1 = g
				}
			}
			if f1 == nil {
				t.Fatal("r1 not opened")
			}
			for range 3 {
				if f1.st != stClosed {
					tl.readFile(f1, time.Now())
				}
			}
			want := append(upto(5, 8), upto(10, 12)...)
			if gz {
				mustGzip(t, r2)
			} else {
				appendFile(t, r2, lines(8, 10))
				want = upto(5, 12)
			}
			appendFile(t, path, lines(10, 12))
			tl.rescan(time.Now(), false)
			readNextIfFree(tl, path)
			lingerOver(tl) // each rotated file's next read is its last
			readEvery77(t, tl)
			if got := emitted(tl); !slices.Equal(got, want) {
				t.Errorf("lines %v, want %v", got, want)
			}
		})
	}
}
