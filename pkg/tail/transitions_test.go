package tail

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hasSeq reports whether seq n was received.
func hasSeq(r *runner, n int) bool { return slices.Contains(seqs(r.snapshot()), n) }

// TestRotationUndone: kubelet renames 0.log to 0.log.<ts> and, when the
// runtime cannot reopen the log, renames it back. The tailer continues where
// it was, whether or not it had noticed the rename and closed the file.
func TestRotationUndone(t *testing.T) {
	for _, closed := range []bool{false, true} {
		name := "noticed"
		if closed {
			name = "closed"
		}
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 50))
			// No new file appears at the path: the renamed one is closed
			// once it lingered (shortened here) without a successor.
			r := startRunnerTuned(t, testConfig(dir, state), Options{}, nil, func(tl *Tailer) { tl.rotatedLinger = 100 * time.Millisecond })
			waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 50 })
			mustRename(t, path, path+".20261126-035509")
			waitFor(t, 5*time.Second, "the rotation", func() bool {
				return testutil.ToFloat64(r.tl.m.rotations) == 1 && (!closed || testutil.ToFloat64(r.tl.m.openFiles) == 0)
			})
			mustRename(t, path+".20261126-035509", path)
			appendFile(t, path, lines(50, 60))
			// Two sentinels in new pods, the second created after the first
			// arrived: at least one full rescan happened after the undo.
			for _, pod := range []string{"ns_s1_uid", "ns_s2_uid"} {
				appendFile(t, mkContainer(t, dir, pod), lines(1000, 1001))
				waitFor(t, 5*time.Second, "a sentinel", func() bool {
					n := 0
					for _, s := range seqs(r.snapshot()) {
						if s == 1000 {
							n++
						}
					}
					return n == map[string]int{"ns_s1_uid": 1, "ns_s2_uid": 2}[pod] && hasSeq(r, 59)
				})
			}
			r.stop()
			var got []int
			for _, s := range seqs(r.snapshot()) {
				if s != 1000 {
					got = append(got, s)
				}
			}
			if diff := cmp.Diff(upto(0, 60), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestTruncateAndRegrowBetweenPolls: a file rewritten in place (truncated,
// then written past the old offset) before the next poll is read from its
// start, never from the old offset in the middle of a line.
func TestTruncateAndRegrowBetweenPolls(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.PollInterval, cfg.RescanInterval = time.Hour, time.Hour // only notifications lead to reads
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 40)) // over 1 KiB: a whole fingerprint
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 40 })
	if err := os.WriteFile(path, []byte(lines(100, 200)), 0o644); err != nil { // O_TRUNC, then one write
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rewritten file", func() bool { return hasSeq(r, 199) })
	r.stop()
	if diff := cmp.Diff(append(upto(0, 40), upto(100, 200)...), seqs(r.snapshot())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.parseErrors); got != 0 {
		t.Errorf("parse errors = %v", got)
	}
	if got := testutil.ToFloat64(r.tl.m.truncations); got != 1 {
		t.Errorf("truncations = %v, want 1", got)
	}
}

// TestRewrittenUnderLastLine: a file rewritten in place with the same
// first kilobyte (its fingerprint) but other lines after it, past the old
// offset, is caught by the byte before that offset, which is no longer the
// newline that ended the last line read (the data read checks it), and is
// read again from its start.
func TestRewrittenUnderLastLine(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.PollInterval, cfg.RescanInterval = time.Hour, time.Hour // only notifications lead to reads
	path := mkContainer(t, dir, "ns_pod_uid")
	old := lines(0, 40)
	rewrite := lines(0, 30) + lines(300, 340)
	if !strings.HasPrefix(rewrite, old[:fpSize]) || len(rewrite) <= len(old) || rewrite[len(old)-1] == '\n' {
		t.Fatalf("the rewrite must keep the fingerprint, be longer, and hold no newline at the old end")
	}
	appendFile(t, path, old)
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "first lines", func() bool { return len(r.snapshot()) == 40 })
	if err := os.WriteFile(path, []byte(rewrite), 0o644); err != nil { // O_TRUNC, then one write
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the rewritten file", func() bool { return hasSeq(r, 339) })
	r.stop()
	want := append(append(upto(0, 40), upto(0, 30)...), upto(300, 340)...)
	if diff := cmp.Diff(want, seqs(r.snapshot())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.parseErrors); got != 0 {
		t.Errorf("parse errors = %v", got)
	}
	if got := testutil.ToFloat64(r.tl.m.truncations); got != 1 {
		t.Errorf("truncations = %v, want 1", got)
	}
}

// TestRestartInsideLongLine: the tailer stops while a line longer than the
// raw limit (2*max_line_bytes+64KiB) is half written and was already emitted
// cut. The checkpoint holds the start of that line, not a mid-line offset;
// the next tailer does not emit the cut line again, nor its rest as a
// record of its own.
func TestRestartInsideLongLine(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	head := lines(0, 5)
	appendFile(t, path, head)
	appendFile(t, path, "2026-11-26T03:55:09.123456789Z stdout F seq=5 "+strings.Repeat("x", 250<<10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the cut line", func() bool { return len(r.snapshot()) == 6 })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := r.snapshot()[5]; !got.truncated || got.parseErr {
		t.Fatalf("long line: truncated %v, parse error %v", got.truncated, got.parseErr)
	}
	st := readState(t, state)
	if len(st.Files) != 1 || st.Files[0].Offset != int64(len(head)) {
		t.Fatalf("checkpoint %+v, want offset %d (the start of the long line)", st.Files, len(head))
	}
	appendFile(t, path, strings.Repeat("y", 10<<10)+"\n"+lines(6, 10))
	r2 := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the lines after", func() bool { return hasSeq(r2, 9) })
	r2.stop()
	if diff := cmp.Diff(upto(6, 10), seqs(r2.snapshot())); diff != "" {
		t.Errorf("after the restart (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r2.tl.m.parseErrors); got != 0 {
		t.Errorf("parse errors = %v", got)
	}
}

// TestPartialCutByTruncation: a CRI P fragment pending when its file is
// truncated is not dropped silently: it is emitted flagged truncated and
// counted.
func TestPartialCutByTruncation(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 3)+criLine("stdout", "P", "seq=3 first half "))
	r := startRunner(t, testConfig(dir, state), Options{})
	size, _ := os.Stat(path)
	waitFor(t, 5*time.Second, "the fragment read", func() bool {
		return testutil.ToFloat64(r.tl.m.bytesRead) == float64(size.Size())
	})
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the truncation", func() bool { return testutil.ToFloat64(r.tl.m.truncations) == 1 })
	appendFile(t, path, lines(10, 12))
	waitFor(t, 5*time.Second, "the new lines", func() bool { return hasSeq(r, 11) })
	r.stop()
	var frag *rec
	for _, x := range r.snapshot() {
		if strings.HasPrefix(x.body, "seq=3 ") {
			frag = &x
		}
	}
	if frag == nil || frag.body != "seq=3 first half " || !frag.truncated {
		t.Fatalf("pending fragment: %+v, want it emitted and flagged truncated", frag)
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutTruncated)); got != 1 {
		t.Errorf("partials cut by truncation = %v, want 1", got)
	}
}

// TestPartialMergedAcrossRotation: kubelet rotates between two fragments
// of a long line. The first part, at the end of the rotated file, goes on
// in the new file's merge: the line arrives once, whole, not flagged, and
// nothing is counted cut (carry_test.go has more).
func TestPartialMergedAcrossRotation(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	appendFile(t, path, lines(0, 3)+criLine("stdout", "P", "seq=3 first half ")+criLine("stderr", "F", "seq=4 other stream"))
	r := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the other stream", func() bool { return hasSeq(r, 4) })
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(5, 7))
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 6) })
	r.stop()
	if diff := cmp.Diff([]int{0, 1, 2, 4, 3, 5, 6}, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, x := range r.snapshot() {
		if x.truncated {
			t.Errorf("flagged truncated: %q", x.body)
		}
		if strings.HasPrefix(x.body, "seq=3 ") && x.body != "seq=3 first half second half" {
			t.Errorf("line split by the rotation arrived as %q, want it merged", x.body)
		}
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}
