package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Partial lines split by a rotation (decode.go link, follower.go
// carryOver): containerd wrote the first fragments (P) of a line to 0.log,
// kubelet renamed it, and the rest went to the new 0.log.

// inoEntry returns the checkpoint entry in state of the file with inode ino.
func inoEntry(t *testing.T, state string, ino uint64) (stateEntry, bool) {
	t.Helper()
	m, _, _, err := loadState(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		if e.Ino == ino {
			return e, true
		}
	}
	return stateEntry{}, false
}

// recOf returns the received record whose body starts with prefix, and how
// many there were.
func recOf(r *runner, prefix string) (rec, int) {
	var got rec
	n := 0
	for _, x := range r.snapshot() {
		if strings.HasPrefix(x.body, prefix) {
			got = x
			n++
		}
	}
	return got, n
}

// readUpTo waits until the tailer has read size bytes in all.
func readUpTo(t *testing.T, r *runner, size int64, what string) {
	t.Helper()
	waitFor(t, 5*time.Second, what, func() bool { return testutil.ToFloat64(r.tl.m.bytesRead) == float64(size) })
}

// TestPartialMergedAcrossRotationInterleaved: the rotation lands while
// both streams have a line in fragments; each goes on in the new file
// (stderr with one more P first). Each line arrives once, merged, not
// flagged; nothing is counted cut. Once all is acknowledged the rotated
// file is its path's anchor at its end: its trailing fragments'
// acknowledgement came with the merged lines.
func TestPartialMergedAcrossRotationInterleaved(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old := lines(0, 3) + criLine("stdout", "P", "seq=3 out-a ") + criLine("stderr", "P", "seq=4 err-a ") + criLine("stdout", "P", "out-b ")
	appendFile(t, path, old)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(old)), "the fragments read")
	oldIno := inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	next := criLine("stderr", "P", "err-b ") + criLine("stdout", "F", "out-c") + criLine("stderr", "F", "err-c") + lines(5, 7)
	appendFile(t, path, next)
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 6) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	got := r.snapshot()
	if diff := cmp.Diff(upto(0, 7), seqs(got)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, x := range got {
		switch {
		case x.truncated:
			t.Errorf("flagged truncated: %+v", x)
		case strings.HasPrefix(x.body, "seq=3 ") && (x.body != "seq=3 out-a out-b out-c" || x.stream != event.Stdout):
			t.Errorf("stdout line %q (stream %v), want it merged across the rotation", x.body, x.stream)
		case strings.HasPrefix(x.body, "seq=4 ") && (x.body != "seq=4 err-a err-b err-c" || x.stream != event.Stderr):
			t.Errorf("stderr line %q (stream %v), want it merged across the rotation", x.body, x.stream)
		}
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
	if got := testutil.ToFloat64(r.tl.m.truncated); got != 0 {
		t.Errorf("lines truncated = %v, want 0", got)
	}
	if e, ok := inoEntry(t, state, oldIno); !ok || !e.Done || e.Offset != int64(len(old)) {
		t.Errorf("rotated file in the checkpoint: %+v (found %v), want its anchor at its end %d", e, ok, len(old))
	}
	if e, ok := inoEntry(t, state, newIno); !ok || e.Done || e.Offset != int64(len(next)) {
		t.Errorf("new file in the checkpoint: %+v (found %v), want it at its end %d", e, ok, len(next))
	}
	if n := r.tl.inflight.Load(); n != 0 {
		t.Errorf("in-flight bytes after every line was acknowledged: %d", n)
	}
}

// carrySetup writes lines 0-2 to a new container's 0.log, has them read and
// acknowledged, then holds acknowledgements, writes the first fragment of
// line 3, rotates, and writes its end and lines 4-5 to the new file. It
// returns when the merged line arrived (unacknowledged).
func carrySetup(t *testing.T) (r *runner, dir, state, path string, oldIno, newIno uint64, pStart int64) {
	t.Helper()
	dir, state = t.TempDir(), t.TempDir()
	path = mkContainer(t, dir, "ns_pod_uid")
	head := lines(0, 3)
	appendFile(t, path, head)
	r = startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "lines 0-2 acknowledged and checkpointed", func() bool {
		o, ok := checkpointOf(t, state, path)
		return hasSeq(r, 2) && ok && o == int64(len(head))
	})
	r.setHold(true)
	frag := criLine("stdout", "P", "seq=3 first half ")
	appendFile(t, path, frag)
	readUpTo(t, r, int64(len(head)+len(frag)), "the fragment read")
	oldIno = inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(4, 6))
	newIno = inoOf(t, path)
	waitFor(t, 5*time.Second, "the merged line", func() bool { return hasSeq(r, 5) })
	if x, n := recOf(r, "seq=3 "); n != 1 || x.body != "seq=3 first half second half" || x.truncated {
		t.Fatalf("merged line %+v (%d of them), want it once, whole", x, n)
	}
	return r, dir, state, path, oldIno, newIno, int64(len(head))
}

// TestPartialCarriedHeldUntilAck: until the merged line is acknowledged,
// the rotated file's committed offset stays where its trailing fragment
// began (and the new file's at 0); once it is, the rotated file is done at
// its end and the new file committed past the line.
func TestPartialCarriedHeldUntilAck(t *testing.T) {
	r, _, state, path, oldIno, newIno, pStart := carrySetup(t)
	if err := r.tl.commit(true); err != nil {
		t.Fatal(err)
	}
	if e, ok := inoEntry(t, state, oldIno); !ok || e.Done || e.Offset != pStart {
		t.Errorf("rotated file before the acknowledgement: %+v (found %v), want it committed at %d, where its fragment begins", e, ok, pStart)
	}
	if e, ok := inoEntry(t, state, newIno); ok && e.Offset != 0 {
		t.Errorf("new file before the acknowledgement: %+v, want it committed at 0", e)
	}
	r.setHold(false)
	oldSize := fileSize(t, path+".20261126-035509")
	newSize := fileSize(t, path)
	waitFor(t, 5*time.Second, "the checkpoint past the merged line", func() bool {
		o, ok1 := inoEntry(t, state, oldIno)
		n, ok2 := inoEntry(t, state, newIno)
		return ok1 && o.Done && o.Offset == oldSize && ok2 && n.Offset == newSize
	})
}

// TestPartialCarriedRestart: the agent stops (or dies) after the merged
// line was delivered and before it was acknowledged. The next agent reads
// the rotated file's trailing fragment again (also once kubelet compressed
// it meanwhile) and delivers the line again, whole; the lines before it
// are not repeated.
func TestPartialCarriedRestart(t *testing.T) {
	for _, tc := range []struct {
		name            string
		crash, compress bool
	}{{"stop", false, false}, {"crash", true, false}, {"stop_compressed", false, true}} {
		crash := tc.crash
		t.Run(tc.name, func(t *testing.T) {
			r, dir, state, path, _, _, _ := carrySetup(t)
			if crash {
				// What a killed agent leaves: the checkpoint on disk now.
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
				state = cp
			} else {
				r.stop()
				if err := r.tl.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if tc.compress {
				mustGzip(t, path+".20261126-035509")
			}
			r2 := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 5) })
			r2.stop()
			if diff := cmp.Diff(upto(3, 6), seqs(r2.snapshot())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
			if x, n := recOf(r2, "seq=3 "); n != 1 || x.body != "seq=3 first half second half" || x.truncated {
				t.Errorf("line after the restart %+v (%d of them), want it once, whole", x, n)
			}
			if got := testutil.ToFloat64(r2.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
				t.Errorf("partials cut by rotation after the restart = %v, want 0", got)
			}
		})
	}
}

// TestPartialCarriedTwoRotations: one long line spans three files (P in
// the first, P in the second, F in the third): it is merged across both
// rotations, and once acknowledged neither rotated file is held in the
// checkpoint.
func TestPartialCarriedTwoRotations(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 one ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	ino1 := inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stderr", "F", "seq=3 between") + criLine("stdout", "P", "two ")
	appendFile(t, path, two)
	ino2 := inoOf(t, path)
	readUpTo(t, r, int64(len(one)+len(two)), "the second file read")
	mustRename(t, path, path+".20261126-035510")
	appendFile(t, path, criLine("stdout", "F", "three")+lines(4, 6))
	waitFor(t, 5*time.Second, "the third file", func() bool { return hasSeq(r, 5) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	// The stderr line of the second file comes first: the merged line
	// ends in the third.
	if diff := cmp.Diff([]int{0, 1, 3, 2, 4, 5}, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if x, n := recOf(r, "seq=2 "); n != 1 || x.body != "seq=2 one two three" || x.truncated {
		t.Errorf("line across two rotations %+v (%d of them), want it once, whole", x, n)
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
	for _, ino := range []uint64{ino1, ino2} {
		if e, ok := inoEntry(t, state, ino); ok && !e.Done {
			t.Errorf("rotated file still held in the checkpoint after every line was acknowledged: %+v", e)
		}
	}
}

// TestPartialCarriedNotContinued: the container died between two fragments
// of a line and a new one writes to the new file (stderr only), which is
// rotated in turn. The line carried into the second file is not carried
// further: it is cut at the end of that file, flagged and counted once,
// and the first stdout line of the third file is not taken for its
// continuation.
func TestPartialCarriedNotContinued(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 dangling ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	ino1 := inoOf(t, path)
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stderr", "F", "seq=3 other stream")
	appendFile(t, path, two)
	ino2 := inoOf(t, path)
	readUpTo(t, r, int64(len(one)+len(two)), "the second file read")
	mustRename(t, path, path+".20261126-035510")
	appendFile(t, path, lines(4, 6))
	waitFor(t, 5*time.Second, "the third file", func() bool { return hasSeq(r, 5) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1, 3, 2, 4, 5}, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	for _, x := range r.snapshot() {
		if want := x.body == "seq=2 dangling "; x.truncated != want {
			t.Errorf("%q flagged truncated: %v, want %v", x.body, x.truncated, want)
		}
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 1 {
		t.Errorf("partials cut by rotation = %v, want 1", got)
	}
	for _, ino := range []uint64{ino1, ino2} {
		if e, ok := inoEntry(t, state, ino); ok && !e.Done {
			t.Errorf("rotated file still held in the checkpoint after every line was acknowledged: %+v", e)
		}
	}
}

// TestPartialCarriedCapped: a line merged across a rotation is cut to
// max_line_bytes like any other (flagged for its length, not counted as
// cut by the rotation).
func TestPartialCarriedCapped(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	one := lines(0, 1) + criLine("stdout", "P", "seq=1 "+strings.Repeat("a", 40<<10))
	appendFile(t, path, one)
	r := startRunner(t, cfg, Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "F", strings.Repeat("b", 40<<10))+lines(2, 4))
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 3) })
	r.stop()
	if diff := cmp.Diff(upto(0, 4), seqs(r.snapshot())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	x, _ := recOf(r, "seq=1 ")
	want := "seq=1 " + strings.Repeat("a", 40<<10) + strings.Repeat("b", cfg.MaxLineBytes-6-40<<10)
	if x.body != want || !x.truncated {
		t.Errorf("merged line of %d bytes (truncated %v), want it cut to max_line_bytes %d and flagged", len(x.body), x.truncated, cfg.MaxLineBytes)
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}

// TestDockerPartialCutByRotation: docker json-file lines are not merged
// across files (only CRI lines are; dockerd rotates them itself): a value
// without its newline at the end of a rotated file is emitted flagged and
// counted, and so is the first line of that stream in the next file.
func TestDockerPartialCutByRotation(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := `{"log":"seq=0 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.1Z"}` + "\n" +
		`{"log":"seq=1 first half ","stream":"stdout","time":"2026-11-26T03:55:09.2Z"}` + "\n"
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, `{"log":"second half\n","stream":"stdout","time":"2026-11-26T03:55:09.3Z"}`+"\n"+
		`{"log":"seq=2 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.4Z"}`+"\n")
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 2) })
	r.stop()
	var bodies []string
	for _, x := range r.snapshot() {
		if x.truncated {
			bodies = append(bodies, x.body)
		}
	}
	if diff := cmp.Diff([]string{"seq=1 first half ", "second half"}, bodies); diff != "" {
		t.Errorf("lines flagged truncated (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 1 {
		t.Errorf("partials cut by rotation = %v, want 1", got)
	}
}

// stepOut is stepTailer with its output channel, for tests that take the
// lines a step emitted.
func stepOut(t *testing.T, first string) (*Tailer, chan []event.Log, string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	out := make(chan []event.Log, 100000)
	tl, err := New(testConfig(dir, t.TempDir()), nil, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	now := time.Now()
	tl.loadState(now)
	appendFile(t, path, first)
	tl.rescan(now, true)
	tl.readTurn(now)
	return tl, out, path, now
}

// flagged takes what tl sent on out and returns the bodies of the lines,
// each prefixed with "!" if it is flagged truncated.
func flagged(t *testing.T, tl *Tailer, out chan []event.Log) []string {
	t.Helper()
	tl.tryFlush()
	var got []string
	for {
		select {
		case b := <-out:
			for _, l := range b {
				if l.End {
					continue
				}
				s := string(l.Body)
				if l.Truncated {
					s = "!" + s
				}
				got = append(got, s)
			}
		default:
			return got
		}
	}
}

// TestPartialCutRotatedWithoutNextFile: a rotated file ending with a P
// fragment is closed with no new file at its path (the container exited:
// closed after rotatedLinger). There is nothing to merge into: the
// fragment is emitted flagged and counted.
func TestPartialCutRotatedWithoutNextFile(t *testing.T) {
	tl, out, path, now := stepOut(t, lines(0, 1)+criLine("stdout", "P", "seq=1 first half "))
	mustRename(t, path, path+".20261126-035509")
	now = now.Add(time.Second)
	tl.poll(now)
	now = now.Add(rotatedLinger + time.Second)
	tl.poll(now)
	tl.readTurn(now)
	if diff := cmp.Diff([]string{"seq=0 ", "!seq=1 first half "}, flagged(t, tl, out)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); got != 1 {
		t.Errorf("partials cut by rotation = %v, want 1", got)
	}
}

// TestPartialCutRotatedThenDeleted: kubelet rotated the file and removed
// the rotated one (compressed it) before the tailer looked; the tailer
// reads it to its end through its descriptor, but a restart could not
// read its fragment again from a plain file: the line is cut, not carried,
// and the first stdout line of the new file is flagged as its
// continuation.
func TestPartialCutRotatedThenDeleted(t *testing.T) {
	tl, out, path, now := stepOut(t, lines(0, 1)+criLine("stdout", "P", "seq=1 first half "))
	rot := path + ".20261126-035509"
	mustRename(t, path, rot)
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 3))
	if err := os.Remove(rot); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	tl.poll(now)
	tl.rescan(now, false)
	for range 3 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.readTurn(now)
	}
	want := []string{"seq=0 ", "!seq=1 first half ", "!second half", "seq=2 " + strings.Repeat("x", 2)}
	if diff := cmp.Diff(want, flagged(t, tl, out)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); got != 1 {
		t.Errorf("partials cut by rotation = %v, want 1", got)
	}
}

// TestPartialCarriedNotSpilled: a merge carried over a rotation holds more
// unfinished bytes than the budget for them (memory.queue_bytes), which
// would make a file give them back to be read again from disk (held.go
// spill). Its first fragments are in a file already closed: it is not
// spilled, and the line arrives whole.
func TestPartialCarriedNotSpilled(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	a, b, c := strings.Repeat("a", 24<<10), strings.Repeat("b", 12<<10), strings.Repeat("c", 12<<10)
	one := lines(0, 1) + criLine("stdout", "P", "seq=1 "+a)
	appendFile(t, path, one)
	r := startRunnerTuned(t, testConfig(dir, state), Options{}, nil, func(tl *Tailer) {
		tl.cfg.MaxInflightBytes = 32 << 10 // below max_line_bytes, which Validate refuses
	})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stdout", "P", b) + criLine("stdout", "P", c)
	appendFile(t, path, two)
	// Over the budget once the next fragments are merged (or spilled).
	waitFor(t, 5*time.Second, "the unfinished bytes over their budget", func() bool {
		return testutil.ToFloat64(r.tl.m.held) > 32<<10 || testutil.ToFloat64(r.tl.m.spills) > 0
	})
	appendFile(t, path, criLine("stdout", "F", "end")+lines(2, 4))
	waitFor(t, 5*time.Second, "the new file", func() bool { return hasSeq(r, 3) })
	r.stop()
	if x, n := recOf(r, "seq=1 "); n != 1 || x.body != "seq=1 "+a+b+c+"end" || x.truncated {
		t.Errorf("merged line of %d bytes (%d of them, truncated %v), want it once, whole", len(x.body), n, x.truncated)
	}
	if got := testutil.ToFloat64(r.tl.m.spills); got != 0 {
		t.Errorf("spills = %v, want 0", got)
	}
}

// TestPartialCarriedNextFoundLate: the new file at the path appeared (the
// runtime reopened) but is not followed yet when the rotated file, read to
// its end, would be final: the rotated file, ending with a fragment, is
// kept open until the next file is followed, and the line is merged.
func TestPartialCarriedNextFoundLate(t *testing.T) {
	tl, out, path, now := stepOut(t, lines(0, 1)+criLine("stdout", "P", "seq=1 first half "))
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, criLine("stdout", "F", "second half")+lines(2, 3))
	now = now.Add(time.Second)
	tl.poll(now) // sees the rotation; no rescan yet
	for range 3 {
		now = now.Add(time.Second)
		tl.readTurn(now) // sees the new file: final, but nothing takes the fragment
	}
	if got := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Fatalf("partials cut by rotation before the next file is followed = %v, want 0", got)
	}
	tl.rescan(now, false)
	for range 3 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.readTurn(now)
	}
	want := []string{"seq=0 ", "seq=1 first half second half", "seq=2 " + strings.Repeat("x", 2)}
	if diff := cmp.Diff(want, flagged(t, tl, out)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation = %v, want 0", got)
	}
}

// TestPartialCarriedTwoRotationsRestart: a line begun in one file and
// continued in the next is carried into a third when the agent stops, its
// end not written yet. The next agent reads both rotated files' fragments
// again (the checkpoint holds each at its fragments' start), merges them
// with the end written meanwhile, and does not repeat the line of the
// other stream it delivered from the third file.
func TestPartialCarriedTwoRotationsRestart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := lines(0, 2) + criLine("stdout", "P", "seq=2 one ")
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	two := criLine("stdout", "P", "two ")
	appendFile(t, path, two)
	readUpTo(t, r, int64(len(one)+len(two)), "the second file read")
	mustRename(t, path, path+".20261126-035510")
	appendFile(t, path, criLine("stderr", "F", "seq=3 other stream"))
	waitFor(t, 5*time.Second, "the third file's line", func() bool { return hasSeq(r, 3) })
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0, 1, 3}, seqs(r.snapshot())); diff != "" {
		t.Errorf("lines before the stop (-want +got):\n%s", diff)
	}
	appendFile(t, path, criLine("stdout", "F", "three")+lines(4, 6))
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 5) })
	r2.stop()
	if diff := cmp.Diff([]int{2, 4, 5}, seqs(r2.snapshot())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
	if x, n := recOf(r2, "seq=2 "); n != 1 || x.body != "seq=2 one two three" || x.truncated {
		t.Errorf("line across two rotations %+v (%d of them), want it once, whole", x, n)
	}
	if got := testutil.ToFloat64(r2.tl.m.partialsCut.WithLabelValues(cutRotated)); got != 0 {
		t.Errorf("partials cut by rotation after the restart = %v, want 0", got)
	}
}
