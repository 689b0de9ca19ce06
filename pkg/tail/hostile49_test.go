package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Attacks on a CRI partial line merged across a rotation (carryOver,
// settle) and on the newline check folded into the data read (readFile
// lead).

// copyState copies the checkpoint on disk now to a new directory: what a
// killed agent leaves.
func copyState(t *testing.T, state string) string {
	t.Helper()
	cp := t.TempDir()
	for _, n := range []string{stateName, sinceName} {
		data, err := os.ReadFile(filepath.Join(state, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

// bodiesJoined is every received body, joined by "|".
func bodiesJoined(r *runner) string {
	var b []string
	for _, x := range r.snapshot() {
		if !x.end {
			b = append(b, x.body)
		}
	}
	return strings.Join(b, "|")
}

// TestHostile49CarryIntoEmptyNextRestart: the rotation lands between two
// fragments, the runtime reopens 0.log but writes nothing to it yet; the
// rotated file is closed and its fragment carried into the empty new
// file's decoder. The agent stops (or dies) there; kubelet may compress
// the rotated file meanwhile. The line's end is written while no agent
// runs. The next agent reads the fragment again and merges it: the line
// arrives once, whole, and the lines before it are not repeated.
func TestHostile49CarryIntoEmptyNextRestart(t *testing.T) {
	for _, tc := range []struct {
		name            string
		crash, compress bool
	}{{"stop", false, false}, {"crash", true, false}, {"stop_compressed", false, true}, {"crash_compressed", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			head := lines(0, 3)
			appendFile(t, path, head)
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "lines 0-2 checkpointed", func() bool {
				o, ok := checkpointOf(t, state, path)
				return ok && o == int64(len(head))
			})
			frag := criLine("stdout", "P", "seq=3 first half ")
			appendFile(t, path, frag)
			readUpTo(t, r, int64(len(head)+len(frag)), "the fragment read")
			oldIno := inoOf(t, path)
			rot := path + ".20261126-035509"
			mustRename(t, path, rot)
			appendFile(t, path, "")
			newIno := inoOf(t, path)
			waitFor(t, 5*time.Second, "the new file followed and the rotated one closed", func() bool {
				_, okNew := inoEntry(t, state, newIno)
				o, okOld := inoEntry(t, state, oldIno)
				return okNew && okOld && !o.Done && o.Offset == int64(len(head)) &&
					testutil.ToFloat64(r.tl.m.openFiles) == 1
			})
			if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
				t.Fatalf("partials cut by rotation = %v, want 0 (carried)", got)
			}
			if tc.crash {
				if err := r.tl.commit(true); err != nil {
					t.Fatal(err)
				}
				state = copyState(t, state)
			}
			r.stop()
			if !tc.crash {
				if err := r.tl.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if _, n := recOf(r, "seq=3 "); n != 0 {
				t.Fatalf("the unfinished line was emitted before its end: %q", bodiesJoined(r))
			}
			if e, ok := inoEntry(t, state, oldIno); !ok || e.Offset != int64(len(head)) || e.Done {
				t.Fatalf("rotated file in the checkpoint after the stop: %+v (found %v), want it at %d", e, ok, len(head))
			}
			if tc.compress {
				mustGzip(t, rot)
			}
			appendFile(t, path, criLine("stdout", "F", "second half")+lines(4, 6))
			r2 := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 5) })
			r2.stop()
			if diff := cmp.Diff(upto(3, 6), seqs(r2.snapshot())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
			if x, n := recOf(r2, "seq=3 "); n != 1 || x.body != "seq=3 first half second half" || x.truncated {
				t.Errorf("line after the restart %+v (%d of them), want it once, whole; got %q", x, n, bodiesJoined(r2))
			}
		})
	}
}

// TestHostile49CarryOneDescriptor: max_open_files 1. The rotated file,
// ending with a fragment, holds the only descriptor while it waits for the
// new file to be followed (awaitsNext); the new file waits for a
// descriptor. The line must still be merged (and soon), not cut after
// rotatedLinger.
func TestHostile49CarryOneDescriptor(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 first half ")
	appendFile(t, path, one)
	r := startRunnerTuned(t, cfg, Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 2 * time.Second })
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(3, 5))
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 4) })
	r.stop()
	if diff := cmp.Diff(upto(0, 5), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if x, n := recOf(r, "seq=2 "); n != 1 || x.body != "seq=2 first half second half" || x.truncated {
		t.Errorf("line across the rotation %+v (%d of them), want it once, whole; got %q", x, n, bodiesJoined(r))
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}

// TestHostile49RotationUndoneMidLine: kubelet renames 0.log away between
// two fragments, the runtime cannot reopen, and kubelet renames it back;
// the line's end then lands in the same file. It is merged once, nothing
// cut, and the file is committed at its end.
func TestHostile49RotationUndoneMidLine(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 first half ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	rot := path + ".20261126-035509"
	mustRename(t, path, rot)
	waitFor(t, 5*time.Second, "the rotation seen", func() bool { return testutil.ToFloat64(r.tl.m.rotations) == 1 })
	mustRename(t, rot, path)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(3, 5))
	waitFor(t, 5*time.Second, "the rest", func() bool { return hasSeq(r, 4) })
	size := fileSize(t, path)
	waitFor(t, 5*time.Second, "the checkpoint at the end", func() bool {
		o, ok := checkpointOf(t, state, path)
		return ok && o == size
	})
	r.stop()
	if diff := cmp.Diff(upto(0, 5), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if x, n := recOf(r, "seq=2 "); n != 1 || x.body != "seq=2 first half second half" || x.truncated {
		t.Errorf("line %+v (%d of them), want it once, whole; got %q", x, n, bodiesJoined(r))
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}

// TestHostile49CarryOverlongEnd: the line's end, in the new file, is one
// raw line longer than any line may be (the tailer cuts it and skips the
// rest of it). The merged line arrives once, flagged, the lines after it
// arrive, and once all is acknowledged neither file holds the checkpoint
// back: the rotated file is done at its end, the new one at its end. A
// restart then emits nothing again.
func TestHostile49CarryOverlongEnd(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 first ")
	appendFile(t, path, one)
	r := startRunner(t, cfg, Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	oldIno := inoOf(t, path)
	rot := path + ".20261126-035509"
	mustRename(t, path, rot)
	appendFile(t, path, criLine("stdout", "F", strings.Repeat("z", cfg.MaxLineBytes+(8<<10)))+lines(3, 5))
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the lines after the long one", func() bool { return hasSeq(r, 4) })
	oldSize, newSize := fileSize(t, rot), fileSize(t, path)
	waitFor(t, 5*time.Second, "both files committed at their end", func() bool {
		o, ok1 := inoEntry(t, state, oldIno)
		n, ok2 := inoEntry(t, state, newIno)
		return (!ok1 || (o.Done && o.Offset == oldSize)) && ok2 && n.Offset == newSize
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(upto(0, 5), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if x, n := recOf(r, "seq=2 "); n != 1 || !strings.HasPrefix(x.body, "seq=2 first zzz") || !x.truncated {
		t.Errorf("merged long line (%d bytes, truncated %v, %d of them), want it once, flagged", len(x.body), x.truncated, n)
	}
	if n := r.tl.inflight.Load(); n != 0 {
		t.Errorf("in-flight bytes after every line was acknowledged: %d", n)
	}
	r2 := startRunner(t, testConfig(dir, state), Options{})
	appendFile(t, path, lines(5, 6))
	waitFor(t, 5*time.Second, "the line after the restart", func() bool { return hasSeq(r2, 5) })
	r2.stop()
	if diff := cmp.Diff([]int{5}, seqs(r2.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
}

// TestHostile49CarryThenCopytruncate: after a carry into the new file, that
// file is rotated by copytruncate before the line's end came (a logrotate
// on top of kubelet's rotation). Every byte arrives at least once, and once
// all is acknowledged the first rotated file does not hold the checkpoint.
func TestHostile49CarryThenCopytruncate(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 first ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	oldIno := inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stderr", "F", "seq=3 other stream")
	appendFile(t, path, two)
	waitFor(t, 5*time.Second, "the new file's line", func() bool { return hasSeq(r, 3) })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".20261126-035510", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, criLine("stdout", "F", "end")+lines(4, 6))
	waitFor(t, 5*time.Second, "the lines after the truncation", func() bool { return hasSeq(r, 5) })
	waitFor(t, 5*time.Second, "the first rotated file released", func() bool {
		e, ok := inoEntry(t, state, oldIno)
		return !ok || e.Done
	})
	r.stop()
	all := bodiesJoined(r)
	for _, want := range []string{"seq=2 first ", "end", "seq=3 other stream"} {
		if !strings.Contains(all, want) {
			t.Errorf("%q never delivered; got %q", want, all)
		}
	}
	for _, n := range []int{0, 1, 4, 5} {
		if !hasSeq(r, n) {
			t.Errorf("line %d never delivered", n)
		}
	}
}

// TestHostile49RewrittenKeepingNewlineAtOffset: the file is rewritten in
// place keeping its first KiB and a newline at the byte before the read
// offset, but with other bytes after it (truncated to exactly the offset,
// then written again): indistinguishable from an append, the new bytes are
// read once, not lost. Then it is truncated one byte short of the offset
// and regrown past it: the newline check in the data read sees the
// rewrite and the file is read again from its start: nothing is lost.
func TestHostile49RewrittenKeepingNewlineAtOffset(t *testing.T) {
	for _, docker := range []bool{false, true} {
		name := "cri"
		if docker {
			name = "docker"
		}
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			line := func(n int, pad string) string {
				msg := "seq=" + strings.Repeat("0", 0) + itoa(n) + " " + pad
				if docker {
					return `{"log":"` + msg + `\n","stream":"stdout","time":"2026-11-26T03:55:09.1Z"}` + "\n"
				}
				return criLine("stdout", "F", msg)
			}
			head := line(0, strings.Repeat("h", 1500)) + line(1, "b")
			appendFile(t, path, head)
			r := startRunner(t, testConfig(dir, state), Options{})
			readUpTo(t, r, int64(len(head)), "the head read")
			if err := os.Truncate(path, int64(len(head))); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, line(2, "c"))
			waitFor(t, 5*time.Second, "line 2", func() bool { return hasSeq(r, 2) })
			size := fileSize(t, path)
			if err := os.Truncate(path, size-1); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, "X\n"+line(3, "d"))
			waitFor(t, 5*time.Second, "line 3", func() bool { return hasSeq(r, 3) })
			r.stop()
			if got := testutil.ToFloat64(r.tl.m.truncations); got < 1 {
				t.Errorf("truncations = %v, want the rewrite seen", got)
			}
			got := seqs(r.snapshot())
			for _, n := range []int{0, 1, 2, 3} {
				if !hasSeq(r, n) {
					t.Errorf("line %d lost; got %v", n, got)
				}
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestHostile49RotatedWhileDown: the agent stops (or dies) after reading
// the first fragment of a line; while no agent runs, kubelet rotates the
// file once or twice (the middle file holding another fragment), and may
// compress the rotated files, and the line's end lands in the newest file.
// The next agent merges the line across the files: once, whole; the
// lines before it are not repeated.
func TestHostile49RotatedWhileDown(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		crash, twice, compress bool
	}{
		{"stop", false, false, false}, {"crash", true, false, false}, {"stop_compressed", false, false, true},
		{"twice", false, true, false}, {"twice_crash_compressed", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			head := lines(0, 3)
			appendFile(t, path, head)
			r := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "lines 0-2 checkpointed", func() bool {
				o, ok := checkpointOf(t, state, path)
				return ok && o == int64(len(head))
			})
			frag := criLine("stdout", "P", "seq=3 one ")
			appendFile(t, path, frag)
			readUpTo(t, r, int64(len(head)+len(frag)), "the fragment read")
			if tc.crash {
				if err := r.tl.commit(true); err != nil {
					t.Fatal(err)
				}
				state = copyState(t, state)
			}
			r.stop()
			if !tc.crash {
				if err := r.tl.Close(); err != nil {
					t.Fatal(err)
				}
			}
			want := "seq=3 one "
			rot := []string{path + ".20261126-035509"}
			mustRename(t, path, rot[0])
			if tc.twice {
				appendFile(t, path, criLine("stderr", "F", "seq=4 other")+criLine("stdout", "P", "two "))
				rot = append(rot, path+".20261126-035510")
				mustRename(t, path, rot[1])
				want += "two "
			}
			appendFile(t, path, criLine("stdout", "F", "end")+lines(5, 7))
			want += "end"
			if tc.compress {
				for _, p := range rot {
					mustGzip(t, p)
				}
			}
			r2 := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 6) })
			r2.stop()
			wantSeqs := []int{3, 5, 6}
			if tc.twice {
				wantSeqs = []int{4, 3, 5, 6}
			}
			if diff := cmp.Diff(wantSeqs, seqs(r2.snapshot())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s\n%q", diff, bodiesJoined(r2))
			}
			if x, n := recOf(r2, "seq=3 "); n != 1 || x.body != want || x.truncated {
				t.Errorf("line after the restart %+v (%d of them), want %q once, whole", x, n, want)
			}
			if got := testutil.ToFloat64(r2.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
				t.Errorf("partials cut by rotation = %v, want 0", got)
			}
		})
	}
}

// TestHostile49PodDeletedWhileCarried: the fragment was carried into the
// new file, and the pod is deleted (its directory removed) before the
// line's end was written. The fragment is delivered (flagged, counted),
// and once it is acknowledged nothing of either file stays in the
// checkpoint or the in-flight budget.
func TestHostile49PodDeletedWhileCarried(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 dangling ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	oldIno := inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stderr", "F", "seq=3 other")
	appendFile(t, path, two)
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the new file's line", func() bool { return hasSeq(r, 3) })
	waitFor(t, 5*time.Second, "the rotated file closed", func() bool { return testutil.ToFloat64(r.tl.m.openFiles) == 1 })
	if err := os.RemoveAll(filepath.Join(dir, "ns_pod_uid")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the fragment delivered", func() bool { _, n := recOf(r, "seq=2 "); return n == 1 })
	waitFor(t, 5*time.Second, "both files out of the checkpoint", func() bool {
		o, ok1 := inoEntry(t, state, oldIno)
		n, ok2 := inoEntry(t, state, newIno)
		return (!ok1 || o.Done) && (!ok2 || n.Done)
	})
	r.stop()
	if x, _ := recOf(r, "seq=2 "); x.body != "seq=2 dangling " || !x.truncated {
		t.Errorf("fragment %+v, want it flagged truncated", x)
	}
	if n := r.tl.inflight.Load(); n != 0 {
		t.Errorf("in-flight bytes after every line was acknowledged: %d", n)
	}
}

// TestHostile49CarryRateLimited: the container is over its rate limit
// when the line's end comes. With policy drop the merged line is dropped
// and counted, and its acknowledgement still releases the rotated file's
// fragment (the rotated file is done in the checkpoint); with policy
// defer it arrives once, whole, later.
func TestHostile49CarryRateLimited(t *testing.T) {
	for _, policy := range []string{PolicyDrop, PolicyDefer} {
		t.Run(policy, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 5, BurstLines: 3, Policy: policy})
			cfg.CommitInterval = 50 * time.Millisecond
			path := mkContainer(t, dir, "ns_pod_uid")
			one := lines(0, 2) + criLine("stdout", "P", "seq=2 first ")
			appendFile(t, path, one)
			r := startRunner(t, cfg, Options{})
			readUpTo(t, r, int64(len(one)), "the first file read")
			oldIno := inoOf(t, path)
			rot := path + ".20261126-035509"
			mustRename(t, path, rot)
			// The burst went to the first file: the end is over the limit.
			appendFile(t, path, criLine("stdout", "F", "end")+lines(3, 12))
			newIno := inoOf(t, path)
			oldSize, newSize := fileSize(t, rot), fileSize(t, path)
			waitFor(t, 10*time.Second, "both files committed at their end", func() bool {
				o, ok1 := inoEntry(t, state, oldIno)
				n, ok2 := inoEntry(t, state, newIno)
				return (!ok1 || (o.Done && o.Offset == oldSize)) && ok2 && n.Offset == newSize
			})
			r.stop()
			x, n := recOf(r, "seq=2 ")
			switch policy {
			case PolicyDrop:
				if n > 1 || (n == 1 && (x.body != "seq=2 first end" || x.truncated)) {
					t.Errorf("line %+v (%d of them), want it whole once or dropped", x, n)
				}
				if got := testutil.ToFloat64(r.tl.m.linesDropped.WithLabelValues(dropRateLimit)); got == 0 {
					t.Errorf("nothing dropped by the rate limit: the premise failed")
				}
			default:
				if n != 1 || x.body != "seq=2 first end" || x.truncated {
					t.Errorf("line %+v (%d of them), want it once, whole", x, n)
				}
				if diff := cmp.Diff(upto(0, 12), seqsSorted(r)); diff != "" {
					t.Errorf("lines (-want +got):\n%s", diff)
				}
			}
			if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
				t.Errorf("partials cut by rotation = %v, want 0", got)
			}
		})
	}
}

func seqsSorted(r *runner) []int {
	s := seqs(r.snapshot())
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// TestHostile49LeadSmallBudgets: reads end mid-line (read_bytes_per_turn
// at its least, lines that straddle it) and a rate limit (policy defer)
// cuts reads at a line; reads that start with nothing carried check the
// newline before them in their own pread. No read takes the file for
// rewritten: every line arrives once, no truncation is counted, and a
// docker json-file does the same.
func TestHostile49LeadSmallBudgets(t *testing.T) {
	for _, docker := range []bool{false, true} {
		name := "cri"
		if docker {
			name = "docker"
		}
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			cfg := limitConfig(dir, state, RateLimit{LinesPerSecond: 400, BurstLines: 37})
			cfg.ReadInterval = 10 * time.Millisecond
			cfg.ReadBytesPerTurn = 4096
			path := mkContainer(t, dir, "ns_pod_uid")
			var b strings.Builder
			for i := range 300 {
				msg := "seq=" + itoa(i) + " " + strings.Repeat("p", 100+(i*37)%300)
				if docker {
					b.WriteString(`{"log":"` + msg + `\n","stream":"stdout","time":"2026-11-26T03:55:09.1Z"}` + "\n")
				} else {
					b.WriteString(criLine("stdout", "F", msg))
				}
			}
			appendFile(t, path, b.String())
			r := startRunner(t, cfg, Options{})
			waitFor(t, 10*time.Second, "every line", func() bool { return len(r.snapshot()) >= 300 })
			r.stop()
			if diff := cmp.Diff(upto(0, 300), seqs(r.snapshot())); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if got := testutil.ToFloat64(r.tl.m.truncations); got != 0 {
				t.Errorf("truncations = %v, want 0", got)
			}
		})
	}
}

// TestHostile49CarriedRotatedDeletedWhileDown: the fragment was carried
// into the empty new file when the agent stopped; while no agent runs the
// rotated file is deleted (not compressed). The fragment cannot be read
// again: it is lost, but not silently: the checkpoint's file is counted
// vanished, and the line's end is flagged as the rest of a cut line (the
// new file's entry names the stream carried into it, stateEntry.Cont).
func TestHostile49CarriedRotatedDeletedWhileDown(t *testing.T) {
	dir, state, path, _ := carriedThenDeleted(t, "stdout")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(4, 6))
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 5) })
	r2.stop()
	vanished := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished))
	x, n := recOf(r2, "second half")
	t.Logf("vanished %v; end of the line %+v (%d)", vanished, x, n)
	if n != 1 {
		t.Errorf("the line's end delivered %d times, want once", n)
	}
	if vanished != 1 {
		t.Errorf("files counted vanished = %v, want 1 (the rotated file and its fragment)", vanished)
	}
	if !x.truncated {
		t.Errorf("the end of the carried line was shipped as a whole line, not flagged truncated")
	}
}

// TestHostile49CopytruncateMidLine: a copytruncate (logrotate) lands
// between two fragments: the copy takes the fragment over and, drained to
// its end, hands it to the truncated file, whose first line ends it. The
// line arrives once, whole, and once acknowledged the copy does not hold
// the checkpoint.
func TestHostile49CopytruncateMidLine(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 first ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := path + ".1"
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, criLine("stdout", "F", "end")+lines(3, 5))
	waitFor(t, 5*time.Second, "the lines after the truncation", func() bool { return hasSeq(r, 4) })
	cpIno := inoOf(t, cp)
	waitFor(t, 5*time.Second, "the copy released", func() bool {
		e, ok := inoEntry(t, state, cpIno)
		return !ok || e.Done
	})
	r.stop()
	if diff := cmp.Diff(upto(0, 5), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s\n%q", diff, bodiesJoined(r))
	}
	if x, n := recOf(r, "seq=2 "); n != 1 || x.body != "seq=2 first end" || x.truncated {
		t.Errorf("line %+v (%d of them), want it once, whole", x, n)
	}
}

// TestHostile49CarryCappedBeforeRotation: the fragments in the rotated
// file already pass max_line_bytes; the merge carried into the new file
// stays cut at the cap, flagged once, and the new file's first fragment
// and end (beyond the cap) are not emitted as lines of their own. The
// agent stops before the end and the next one does the same.
func TestHostile49CarryCappedBeforeRotation(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	big := strings.Repeat("a", 40<<10)
	one := lines(0, 1) + criLine("stdout", "P", "seq=1 "+big) + criLine("stdout", "P", big)
	appendFile(t, path, one)
	r := startRunner(t, cfg, Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "P", "more "))
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the new file read", func() bool {
		_, ok := inoEntry(t, state, newIno)
		return ok && testutil.ToFloat64(r.tl.m.openFiles) == 1
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, n := recOf(r, "seq=1 "); n != 0 {
		t.Fatalf("the unfinished line was emitted before its end")
	}
	appendFile(t, path, criLine("stdout", "F", "end")+lines(2, 4))
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 3) })
	r2.stop()
	if diff := cmp.Diff(upto(1, 4), seqs(r2.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
	x, n := recOf(r2, "seq=1 ")
	if n != 1 || !x.truncated || len(x.body) != cfg.MaxLineBytes || !strings.HasPrefix(x.body, "seq=1 aaa") {
		t.Errorf("capped line: %d of them, %d bytes, truncated %v; want one of max_line_bytes %d, flagged", n, len(x.body), x.truncated, cfg.MaxLineBytes)
	}
	if got := testutil.ToFloat64(r2.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}

// TestHostile49CarriedThreeRotations: one line in fragments over four
// files (a P in each of three, the F in the fourth), the other stream
// writing between them: merged once across the three rotations, and once
// acknowledged no rotated file holds the checkpoint.
func TestHostile49CarriedThreeRotations(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	read := 0
	var inos []uint64
	var r49 *runner
	write := func(s string) {
		appendFile(t, path, s)
		read += len(s)
		readUpTo(t, r49, int64(read), "the file read")
	}
	appendFile(t, path, lines(0, 1)+criLine("stdout", "P", "seq=1 a "))
	read = int(fileSize(t, path))
	r49 = startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r49, int64(read), "the first file read")
	for i, ts := range []string{"10", "11", "12"} {
		inos = append(inos, inoOf(t, path))
		mustRename(t, path, path+".20261126-0355"+ts)
		if i < 2 {
			write(criLine("stderr", "F", "seq="+itoa(2+i)+" other") + criLine("stdout", "P", "x"+itoa(i)+" "))
		}
	}
	appendFile(t, path, criLine("stdout", "F", "end")+lines(4, 6))
	waitFor(t, 5*time.Second, "the last file", func() bool { return hasSeq(r49, 5) })
	waitFor(t, 5*time.Second, "the rotated files released", func() bool {
		for _, ino := range inos {
			if e, ok := inoEntry(t, state, ino); ok && !e.Done {
				return false
			}
		}
		return true
	})
	r49.stop()
	if x, n := recOf(r49, "seq=1 "); n != 1 || x.body != "seq=1 a x0 x1 end" || x.truncated {
		t.Errorf("line %+v (%d of them), want it once, whole; got %q", x, n, bodiesJoined(r49))
	}
	if diff := cmp.Diff([]int{0, 2, 3, 1, 4, 5}, seqs(r49.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
