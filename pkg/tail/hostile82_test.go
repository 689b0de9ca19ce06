package tail

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ackEmitted82 acknowledges every line a tailer driven step by step holds
// for its receiver, as a sink that stored them would.
func ackEmitted82(tl *Tailer) {
	var cs []event.Cursor
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			if !l.End {
				cs = append(cs, l.Cursor)
			}
		}
	}
	tl.Ack(cs)
}

// readRotated82 reads the rotated files the start opened (each after the
// one it waits for) to their ends, nothing at the path yet.
func readRotated82(tl *Tailer) {
	for range 3 {
		for _, g := range slices.Clone(tl.order) {
			if g.st != stClosed && (g.pred == nil || g.pred.st == stClosed) {
				tl.readFile(g, time.Now())
			}
		}
	}
}

// TestStartBetweenRenameAndCreateTwoStreamsPartial: as
// TestStartBetweenRenameAndCreatePartialLineReadFirst, but the newest
// rotated file ends with first fragments of a line on each stream
// (stdout 100, stderr 101), and the runtime's next 0.log ends them in the
// other order: both come once, whole; nothing cut.
func TestStartBetweenRenameAndCreateTwoStreamsPartial(t *testing.T) {
	tl, path, _, f2 := betweenRenameAndCreate80(t)
	appendFile(t, f2.path, criLine("stdout", "P", "seq=100 out first ")+criLine("stderr", "P", "seq=101 err first "))
	readRotated82(tl)
	appendFile(t, path, criLine("stderr", "F", "err end")+criLine("stdout", "P", "out more ")+criLine("stdout", "F", "out end")+lines(10, 12))
	tl.rescan(time.Now(), false)
	lingerOver(tl)
	readEvery77(t, tl)
	want := append(upto(5, 10), append([]int{101, 100}, upto(10, 12)...)...)
	wantMerged(t, tl, want, 100, "seq=100 out first out more out end")
	wantMerged(t, tl, want, 101, "seq=101 err first err end")
	stop77(t, tl)
	appendFile(t, path, lines(12, 13))
	restartWantList(t, tl.cfg, 12, append(upto(5, 10), append([]int{101, 100}, upto(10, 13)...)...))
}

// restartInWindow82 is a second start inside the same window: the agent
// before (tl) read the rotated files and its lines were acknowledged, then
// it stopped (gracefully: its final checkpoint; or killed: the last
// periodic one) before the runtime created the next 0.log. The next agent
// starts, step by step, with still no file at the path.
func restartInWindow82(t *testing.T, tl *Tailer, path string, kill bool) *Tailer {
	t.Helper()
	ackEmitted82(tl)
	if kill {
		if err := tl.commit(false); err != nil {
			t.Fatal(err)
		}
		tl.closeAll()
	} else {
		stop77(t, tl)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a file at the path")
	}
	dir := filepath.Dir(filepath.Dir(filepath.Dir(path)))
	tl2, saved, now := startSteps(t, dir, tl.cfg.StateDir)
	if tl2.byPath[path] != nil {
		t.Fatal("a file at the path")
	}
	tl2.resumeRotated(now, saved)
	return tl2
}

// TestStartBetweenRenameAndCreateRestartedInside: the agent that started
// between kubelet's rename and the runtime's create reads the rotated
// files (5-9, the newest ending, or not, with the first fragment of line
// 100), its lines acknowledged, and stops (SIGTERM, or a SIGKILL after a
// periodic checkpoint) still inside the window; the next agent starts
// there too, then the runtime's 0.log (the line's end, 10-11) comes.
// The second agent reads only what was not acknowledged: line 100 whole,
// then 10-11.
func TestStartBetweenRenameAndCreateRestartedInside(t *testing.T) {
	for _, kill := range []bool{false, true} {
		for _, partial := range []bool{false, true} {
			name := map[bool]string{false: "sigterm", true: "sigkill"}[kill] + map[bool]string{false: "", true: " partial"}[partial]
			t.Run(name, func(t *testing.T) {
				tl, path, _, f2 := betweenRenameAndCreate80(t)
				head := ""
				if partial {
					appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
					head = criLine("stdout", "F", "second half")
				}
				readRotated82(tl)
				if got := emitted(tl); !slices.Equal(got, upto(5, 10)) {
					t.Fatalf("first agent: lines %v, want %v", got, upto(5, 10))
				}
				tl2 := restartInWindow82(t, tl, path, kill)
				readRotated82(tl2)
				if got := emitted(tl2); len(got) != 0 {
					t.Errorf("second agent, in the window: lines %v, want none", got)
				}
				appendFile(t, path, head+lines(10, 12))
				nextFileFound(t, tl2, path)
				want := upto(10, 12)
				if partial {
					want = append([]int{100}, want...)
					wantMerged(t, tl2, want, 100, "seq=100 first half second half")
				} else if got := emitted(tl2); !slices.Equal(got, want) {
					t.Errorf("second agent: lines %v, want %v", got, want)
				}
				stop77(t, tl2)
				appendFile(t, path, lines(12, 13))
				restartWantList(t, tl2.cfg, 12, append(want, 12))
			})
		}
	}
}

// TestStartBetweenRenameAndCreateRestartedInsideUnread: as
// TestStartBetweenRenameAndCreateRestartedInside, but the first agent
// read nothing (or only the older rotated file) before it stopped: the
// second reads 5 on once each, in order.
func TestStartBetweenRenameAndCreateRestartedInsideUnread(t *testing.T) {
	for _, kill := range []bool{false, true} {
		for _, older := range []bool{false, true} {
			name := map[bool]string{false: "sigterm", true: "sigkill"}[kill] + map[bool]string{false: " nothing read", true: " older read"}[older]
			t.Run(name, func(t *testing.T) {
				tl, path, f1, _ := betweenRenameAndCreate80(t)
				from := 5
				if older {
					for range 3 {
						if f1.st != stClosed {
							tl.readFile(f1, time.Now())
						}
					}
					from = 8
				}
				tl2 := restartInWindow82(t, tl, path, kill)
				appendFile(t, path, lines(10, 12))
				nextFileFound(t, tl2, path)
				onceThenRestart(t, tl2, path, from, 12)
			})
		}
	}
}

// TestStartBetweenRenameAndCreateUndonePartial: the newest rotated file
// the start opened ends with the first fragment of line 100; kubelet's
// rotation is undone (the runtime could not reopen the log: 0.log.<ts>
// renamed back to 0.log) and the container writes the line's end and
// 10-11 to it. Line 100 comes once, whole; nothing cut; after a restart
// nothing again.
func TestStartBetweenRenameAndCreateUndonePartial(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "unread", true: "read first"}[readFirst], func(t *testing.T) {
			tl, path, _, f2 := betweenRenameAndCreate80(t)
			appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
			if readFirst {
				readRotated82(tl)
			}
			mustRename(t, f2.path, path)
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
			nextFileFound(t, tl, path)
			want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			stop77(t, tl)
			appendFile(t, path, lines(12, 13))
			restartWantList(t, tl.cfg, 12, append(want, 12))
		})
	}
}

// TestStartBetweenRenameAndCreateNextRotatedNewestCompressed: the
// runtime's next 0.log (10-11) is created, then rotated in turn by
// kubelet, which gzips the newest rotated file the start opened (r2, its
// lines read or not) before it renames, and a new 0.log (12-13) is
// written, all before the tailer looks: 5-13 once each, in order.
func TestStartBetweenRenameAndCreateNextRotatedNewestCompressed(t *testing.T) {
	for _, read := range []bool{false, true} {
		t.Run(map[bool]string{false: "r2 unread", true: "r2 read"}[read], func(t *testing.T) {
			tl, path, _, f2 := betweenRenameAndCreate80(t)
			if read {
				readRotated82(tl)
			}
			appendFile(t, path, lines(10, 12))
			mustGzip(t, f2.path)
			mustRename(t, path, path+".20261206-000003")
			appendFile(t, path, lines(12, 14))
			nextFileFound(t, tl, path)
			onceThenRestart(t, tl, path, 5, 14)
		})
	}
}

// TestStartBetweenRenameAndCreatePodDeleted: the pod is deleted (its log
// directory removed) while the start reads its rotated files, before the
// runtime made the next 0.log: what was read is not read again, nothing
// waits for the path, and the tailer forgets it.
func TestStartBetweenRenameAndCreatePodDeleted(t *testing.T) {
	tl, path, f1, f2 := betweenRenameAndCreate80(t)
	appendFile(t, f2.path, criLine("stdout", "P", "seq=100 first half "))
	readRotated82(tl)
	if err := os.RemoveAll(filepath.Dir(filepath.Dir(path))); err != nil {
		t.Fatal(err)
	}
	nextFileFound(t, tl, path)
	for _, g := range []*follower{f1, f2} {
		if g.st != stClosed {
			t.Errorf("%s not closed: %v", g.path, g.st)
		}
	}
	if _, ok := tl.lastRotated[path]; ok {
		t.Error("the deleted path's last rotated file kept")
	}
	got := emitted(tl)
	if !slices.Equal(got, append(upto(5, 10), 100)) {
		t.Errorf("lines %v, want %v", got, append(upto(5, 10), 100))
	}
}

// TestStartBetweenRenameAndCreateLongPartial: the newest rotated file ends
// with first fragments of a line longer than max_line_bytes: the line is
// cut at max_line_bytes as within one file, once; 10-11 after it.
func TestStartBetweenRenameAndCreateLongPartial(t *testing.T) {
	tl, path, _, f2 := betweenRenameAndCreate80(t)
	max := tl.cfg.MaxLineBytes
	frag := strings.Repeat("a", 16<<10)
	var tail strings.Builder
	tail.WriteString(criLine("stdout", "P", "seq=100 "+frag))
	for range max/len(frag) + 1 {
		tail.WriteString(criLine("stdout", "P", frag))
	}
	appendFile(t, f2.path, tail.String())
	readRotated82(tl)
	appendFile(t, path, criLine("stdout", "F", "end")+lines(10, 12))
	tl.rescan(time.Now(), false)
	lingerOver(tl)
	readEvery77(t, tl)
	want := append(upto(5, 10), append([]int{100}, upto(10, 12)...)...)
	if got := emitted(tl); !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	for _, b := range append(slices.Clone(tl.ready), tl.batch) {
		for _, l := range b {
			if n, _ := seqOf(string(l.Body)); n == 100 && len(l.Body) > max {
				t.Errorf("line 100 %d bytes, over max_line_bytes %d", len(l.Body), max)
			}
		}
	}
	if cut := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); cut != 0 {
		t.Errorf("%v partial lines cut at the rotation, want none", cut)
	}
}

// TestStartBetweenRenameAndCreateSeveralContainersFewDescriptors: run,
// with max_open_files 1 or 2: several containers' logs are each found by
// the start between kubelet's rename and the runtime's next 0.log, each
// newest rotated file ending with the first fragment of a line whose end
// the next 0.log begins with. Every line of each path comes once, in
// order for its path, each split line whole, soon (not cut after
// rotatedLinger).
func TestStartBetweenRenameAndCreateSeveralContainersFewDescriptors(t *testing.T) {
	for _, tc := range []struct{ max, pods int }{{1, 2}, {1, 3}, {2, 3}} {
		t.Run(strings.Join([]string{"max", string(rune('0' + tc.max)), "pods", string(rune('0' + tc.pods))}, " "), func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			var paths []string
			var entries []stateEntry
			for k := range tc.pods {
				path := mkContainer(t, dir, "ns_pod"+string(rune('a'+k))+"_uid")
				paths = append(paths, path)
				base := 1000 * (k + 1)
				read := lines(base, base+5)
				appendFile(t, path, read)
				entries = append(entries, dataEntry(t, path, path, read, false))
			}
			if err := writeState(state, entries); err != nil {
				t.Fatal(err)
			}
			for k, path := range paths {
				base := 1000 * (k + 1)
				appendFile(t, path, lines(base+5, base+8))
				mustRename(t, path, path+".20261206-000001")
				appendFile(t, path, lines(base+8, base+10)+criLine("stdout", "P", "seq="+itoa82(base+100)+" first half "))
				mustRename(t, path, path+".20261206-000002")
			}
			cfg := testConfig(dir, state)
			cfg.MaxOpenFiles = tc.max
			r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = time.Hour })
			waitFor(t, 10*time.Second, "the rotated files", func() bool {
				for k := range paths {
					if !hasSeq(r, 1000*(k+1)+9) {
						return false
					}
				}
				return true
			})
			for k, path := range paths {
				base := 1000 * (k + 1)
				appendFile(t, path, criLine("stdout", "F", "second half")+lines(base+10, base+12))
			}
			waitFor(t, 20*time.Second, "the next files", func() bool {
				for k := range paths {
					if !hasSeq(r, 1000*(k+1)+11) {
						return false
					}
				}
				return true
			})
			r.settle()
			r.stop()
			recs := r.snapshot()
			for k, path := range paths {
				base := 1000 * (k + 1)
				var got []int
				for _, x := range recs {
					if x.path == path {
						n, _ := seqOf(x.body)
						got = append(got, n)
					}
				}
				want := append(upto(base+5, base+10), append([]int{base + 100}, upto(base+10, base+12)...)...)
				if !slices.Equal(got, want) {
					t.Errorf("%s: lines %v, want %v", path, got, want)
				}
				if x, n := recOf(r, "seq="+itoa82(base+100)+" "); n != 1 || x.body != "seq="+itoa82(base+100)+" first half second half" || x.truncated {
					t.Errorf("line %d %+v (%d of them), want it once, whole", base+100, x, n)
				}
			}
		})
	}
}

func itoa82(n int) string { return strconv.Itoa(n) }

// TestCopyInProgressAtStartShorterThanOffset: logrotate's copytruncate of
// a file the checkpoint read to line 4 (lines 5-7 written since) is under
// way as the agent starts: the copy holds lines 0-2 only (shorter than the
// checkpoint's offset) when the start opens the file; it is finished
// (0-7) and the file truncated, and 100-101 written, before the start
// looks at the siblings, or after; the copy compressed at once
// (compress without delaycompress), or not. Lines 5-7 come once (none of 0-4
// again), then 100-101; nothing counted lost.
func TestCopyInProgressAtStartShorterThanOffset(t *testing.T) {
	for _, tc := range []struct{ after, gz bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		after := tc.after
		name := map[bool]string{false: "finished before the look", true: "finished after the look"}[after] + map[bool]string{false: "", true: ", compressed"}[tc.gz]
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			read := lines(0, 5)
			appendFile(t, path, read)
			if err := writeState(state, []stateEntry{dataEntry(t, path, path, read, false)}); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(5, 8))
			cp := path + ".1"
			appendFile(t, cp, lines(0, 3))
			tl, saved, now := startSteps(t, dir, state)
			f := tl.byPath[path]
			if f == nil || f.off != int64(len(read)) {
				t.Fatalf("the file not resumed at its offset: %+v", f)
			}
			finish := func() {
				appendFile(t, cp, lines(3, 8))
				mustTruncate(t, path)
				if tc.gz {
					tickAfter80(t, filepath.Dir(path), f.opened) // compressed after the open
					mustGzip(t, cp)
				}
				appendFile(t, path, lines(100, 102))
			}
			if !after {
				finish()
			}
			tl.resumeRotated(now, saved)
			if after {
				finish()
			}
			readEvery77(t, tl)
			want := append(upto(5, 8), upto(100, 102)...)
			if got := emitted(tl); !slices.Equal(got, want) {
				t.Errorf("lines %v, want %v", got, want)
			}
			if lost := lostTruncatedOf(tl); lost != 0 {
				t.Errorf("lost %v bytes counted, want none", lost)
			}
			stop77(t, tl)
			appendFile(t, path, lines(102, 103))
			restartWantList(t, tl.cfg, 102, append(upto(5, 8), upto(100, 103)...))
		})
	}
}

// TestStartBetweenRenameAndCreateNewestBackRotatedAgain: the newest
// rotated file the start opened (r2, read from 0, lines 8-9) is renamed
// back to 0.log (kubelet undid the rotation), written (10), rotated again
// under a new name (the runtime writes 11 to it before it reopens, maybe
// ending with the first fragment of line 100) and the next 0.log made
// (the line's end, 12-13), before the tailer looks, r2 read or not
// meanwhile: 5-13 once each, in order, line 100 whole before 12.
func TestStartBetweenRenameAndCreateNewestBackRotatedAgain(t *testing.T) {
	for _, tc := range []struct{ partial, read bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		name := map[bool]string{false: "plain", true: "partial"}[tc.partial] + map[bool]string{false: "", true: ", r2 read first"}[tc.read]
		t.Run(name, func(t *testing.T) {
			tl, path, _, f2 := betweenRenameAndCreate80(t)
			if tc.read {
				readRotated82(tl)
			}
			mustRename(t, f2.path, path)
			appendFile(t, path, lines(10, 11))
			if tc.read {
				readRotated82(tl)
			}
			r3 := path + ".20261206-000003"
			mustRename(t, path, r3)
			tail, head := "", ""
			want := upto(5, 14)
			if tc.partial {
				tail, head = criLine("stdout", "P", "seq=100 first half "), criLine("stdout", "F", "second half")
				want = append(upto(5, 12), append([]int{100}, upto(12, 14)...)...)
			}
			appendFile(t, r3, lines(11, 12)+tail)
			appendFile(t, path, head+lines(12, 14))
			nextFileFound(t, tl, path)
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			stop77(t, tl)
			appendFile(t, path, lines(14, 15))
			restartWantList(t, tl.cfg, 14, append(want, 14))
		})
	}
}

// TestStartBetweenRenameAndCreateNewestClosedThenWritten: the newest
// rotated file the start opened (r2) is read to its end and closed (no
// line left unfinished), then the runtime, which had not reopened yet,
// writes 10 to it, maybe ending with the first fragment of line 100;
// the next 0.log (the line's end, 11-12) is made, and maybe rotated in
// turn, r2 compressed by kubelet before that rename, and a new 0.log
// (13) made, all before the tailer looks: each line once, in order, line
// 100 whole. The agent then stops with nothing acknowledged: the next
// reads it all again, none counted lost (r2's .gz was taken for a file
// read from where the continuation began, r2's own entry counted
// vanished, and 8-9 were lost).
func TestStartBetweenRenameAndCreateNewestClosedThenWritten(t *testing.T) {
	for _, tc := range []struct{ partial, again bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		name := map[bool]string{false: "plain", true: "partial"}[tc.partial] + map[bool]string{false: "", true: ", rotated again, r2 compressed"}[tc.again]
		t.Run(name, func(t *testing.T) {
			tl, path, _, f2 := betweenRenameAndCreate80(t)
			readRotated82(tl)
			if f2.st != stClosed {
				t.Fatalf("r2 not closed: %v", f2.st)
			}
			tail, head := "", ""
			want := upto(5, 13)
			if tc.partial {
				tail, head = criLine("stdout", "P", "seq=100 first half "), criLine("stdout", "F", "second half")
				want = append(upto(5, 11), append([]int{100}, upto(11, 13)...)...)
			}
			appendFile(t, f2.path, lines(10, 11)+tail)
			appendFile(t, path, head+lines(11, 13))
			last := 13
			if tc.again {
				mustGzip(t, f2.path)
				mustRename(t, path, path+".20261206-000003")
				appendFile(t, path, lines(13, 14))
				want = append(want, 13)
				last = 14
			}
			nextFileFound(t, tl, path)
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			stop77(t, tl)
			appendFile(t, path, lines(last, last+1))
			// Nothing acknowledged: the next agent reads it all again,
			// r2's lines before its close too, and counts nothing lost.
			r := startRunner(t, tl.cfg, Options{})
			waitFor(t, 5*time.Second, "the lines", func() bool { return hasSeq(r, last) })
			r.stop()
			if got := seqs(r.snapshot()); !slices.Equal(got, append(want, last)) {
				t.Errorf("after the restart, lines %v, want %v", got, append(want, last))
			}
			if n := hostile61Lost(t, r.reg); n != 0 {
				t.Errorf("after the restart, %v losses counted, want none", n)
			}
		})
	}
}

// TestStartBetweenRenameAndCreateNextWaitedRenamed: with max_open_files 1
// (the rotated files the start opened hold descriptors beyond it), the
// runtime's next 0.log (the end of line 100, whose first fragment ends
// the newest rotated file r2, then 10-11) is found before r2 was read to
// its end and waits for a descriptor; kubelet rotates it (r3) before its
// turn, and the runtime's next 0.log (12-13) is made before that turn,
// or after it (r3 then ending, or not, with the first fragment of line
// 101, which that 0.log ends). Its turn comes as r2, read, waits for it
// with the line's first fragment (admitAwaited): r2, then r3, then 0.log;
// 5-13 once each, in order, lines 100 and 101 whole (r3 was read before
// r2, line 100's end read alone and its first fragment merged with line
// 12, or r3 read twice).
func TestStartBetweenRenameAndCreateNextWaitedRenamed(t *testing.T) {
	for _, tc := range []struct{ created, partial bool }{{true, false}, {false, false}, {false, true}} {
		created := tc.created
		name := map[bool]string{true: "next made before the turn", false: "next made after the turn"}[created] + map[bool]string{false: "", true: ", r3 ending with a first fragment"}[tc.partial]
		t.Run(name, func(t *testing.T) {
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
			appendFile(t, path, lines(8, 10)+criLine("stdout", "P", "seq=100 first half "))
			mustRename(t, path, r2)
			tl := newIdleTailerIn(t, dir, state)
			if testLogLevel == slog.LevelDebug {
				tl.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			tl.lim.max = 1
			now := time.Now()
			tl.loadState(now)
			var saved []stateEntry
			for _, es := range tl.resume {
				saved = append(saved, es...)
			}
			tl.rescan(now, true)
			tl.resumeRotated(now, saved)
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(10, 12))
			tl.rescan(time.Now(), false)
			if _, ok := tl.lim.queued[path]; !ok {
				t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
			}
			tail, head := "", ""
			if tc.partial {
				tail, head = criLine("stdout", "P", "seq=101 first half "), criLine("stdout", "F", "second half")
			}
			appendFile(t, path, tail)
			mustRename(t, path, path+".20261206-000003")
			if created {
				appendFile(t, path, lines(12, 14))
			}
			for range 3 {
				readRotated82(tl)
				tl.rebalance(time.Now())
			}
			if !created {
				appendFile(t, path, head+lines(12, 14))
			}
			nextFileFound(t, tl, path)
			tl.rebalance(time.Now())
			nextFileFound(t, tl, path)
			want := append(upto(5, 10), append([]int{100}, upto(10, 14)...)...)
			if tc.partial {
				want = append(upto(5, 10), append([]int{100}, append(upto(10, 12), append([]int{101}, upto(12, 14)...)...)...)...)
				wantMerged(t, tl, want, 101, "seq=101 first half second half")
			}
			wantMerged(t, tl, want, 100, "seq=100 first half second half")
			stop77(t, tl)
			appendFile(t, path, lines(14, 15))
			restartWantList(t, tl.cfg, 14, append(want, 14))
		})
	}
}

// TestNextWaitedRenamedEndingWithFirstFragment: running, max_open_files
// 1: 0.log (0-4) is followed; kubelet rotates it (r1), and the runtime's
// next 0.log (5-6, then the first fragment of line 100) waits for the
// descriptor r1 holds; kubelet rotates that one (r2) before its turn, and
// its turn comes before the runtime made the next 0.log (the line's end,
// 7-8). r2 waits for it as the path's last file: line 100 whole, not cut
// at r2's end with its end read as a line of its own.
func TestNextWaitedRenamedEndingWithFirstFragment(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 5))
	tl := oneDescriptorRead(t, dir)
	mustRename(t, path, path+".20261206-000001")
	appendFile(t, path, lines(5, 7))
	tl.poll(time.Now())
	tl.rescan(time.Now(), false)
	if _, ok := tl.lim.queued[path]; !ok {
		t.Fatalf("the next file not waiting for a descriptor: %+v", tl.byPath[path])
	}
	appendFile(t, path, criLine("stdout", "P", "seq=100 first half "))
	mustRename(t, path, path+".20261206-000002")
	lingerOver(tl) // r1 final
	for range 3 {
		readEvery77(t, tl)
		tl.rebalance(time.Now())
	}
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(7, 9))
	nextFileFound(t, tl, path)
	tl.rebalance(time.Now())
	nextFileFound(t, tl, path)
	want := append(upto(0, 7), append([]int{100}, upto(7, 9)...)...)
	wantMerged(t, tl, want, 100, "seq=100 first half second half")
}

// oneDescriptorRead is a tailer on dir with one descriptor
// (max_open_files 1; its log at debug level with testLogLevel), its files
// found and read.
func oneDescriptorRead(t *testing.T, dir string) *Tailer {
	t.Helper()
	tl := newIdleTailer(t, dir)
	if testLogLevel == slog.LevelDebug {
		tl.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tl.lim.max = 1
	tl.loadState(time.Now())
	tl.rescan(time.Now(), true)
	readEvery77(t, tl)
	return tl
}
