package tail

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostile50Banner is a first line longer than the fingerprint (1 KiB)
// that a program writes at the start of every file: every generation of
// its log shares the fingerprint.
var hostile50Banner = criLine("stdout", "F", "banner "+strings.Repeat("b", 1100))

// hostile50OldGen leaves an older compressed generation of path, history
// from before the tailer began (written an hour ago), that starts with
// the banner and holds the lines from..to-1.
func hostile50OldGen(t *testing.T, name string, from, to int) {
	t.Helper()
	appendFile(t, name, hostile50Banner+lines(from, to))
	mustGzip(t, name)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(name+".gz", old, old); err != nil {
		t.Fatal(err)
	}
}

// hostile50Seqs is the sequence numbers of the lines taken, -1 for the
// banner.
func hostile50Seqs(logs []event.Log) []int {
	var out []int
	for _, l := range logs {
		n, ok := seqOf(string(l.Body))
		if !ok {
			n = -1
		}
		out = append(out, n)
	}
	return out
}

// TestHostile50CopyNotAnOlderGeneration: a file whose every generation
// starts with the same banner, longer than the fingerprint, is
// copytruncated and its copy compressed before the tailer looks; an older
// compressed generation (a dateext name that sorts before the copy's)
// sits beside it and is long enough to hold the old offset. The copy is
// the newest one: the lines not read before the copy arrive once, and
// nothing of the older generation.
func TestHostile50CopyNotAnOlderGeneration(t *testing.T) {
	tl, path, take := outTailer(t)
	hostile50OldGen(t, path+".20261205-000001", 500, 600)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 20), take, 21)
	appendFile(t, path, lines(20, 40)) // not read before the copy
	copytruncateGz(t, path)            // 0.log.20261206-000001.gz
	appendFile(t, path, lines(100, 105))
	stepAfterCopy(tl, now)
	want := append(append([]int{-1}, upto(0, 40)...), upto(100, 105)...)
	if diff := cmp.Diff(want, hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile50CompressedCopyShorterThanOffset: a file with the banner is
// truncated in place (no copy made), and the only compressed sibling is
// an older generation with the same banner, shorter than what was read.
// It is not the copy: nothing of it may be read again (the banner and its
// lines a second time), and the lines after the truncation arrive.
func TestHostile50CompressedCopyShorterThanOffset(t *testing.T) {
	tl, path, take := outTailer(t)
	hostile50OldGen(t, path+".20261205-000001", 500, 502)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 40), take, 41)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(100, 105))
	stepAfterCopy(tl, now)
	want := append(append([]int{-1}, upto(0, 40)...), upto(100, 105)...)
	if diff := cmp.Diff(want, hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile50CompressedCopyDamaged: the compressed copy is cut short
// (its writer killed): the lines it still holds past the old offset
// arrive once, nothing read before arrives again, the file is counted
// damaged, and the lines written after the truncation arrive.
func TestHostile50CompressedCopyDamaged(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 400))
	copytruncateGz(t, path)
	gz := path + ".20261206-000001.gz"
	fi, err := os.Stat(gz)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(gz, fi.Size()*2/3); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(1000, 1005))
	stepAfterCopy(tl, now)
	got := hostile50Seqs(take())
	seen := map[int]bool{}
	for i, s := range got {
		if seen[s] {
			t.Fatalf("seq %d twice: %v", s, got)
		}
		seen[s] = true
		if i > 0 && s < 1000 && s != got[i-1]+1 {
			t.Errorf("line %d is seq %d after %d: a gap inside the copy", i, s, got[i-1])
		}
	}
	for _, s := range append(upto(0, 21), upto(1000, 1005)...) {
		if !seen[s] {
			t.Errorf("seq %d missing: %v", s, got)
		}
	}
	if seen[399] {
		t.Errorf("the copy's last line read from a gzip cut to two thirds: premise")
	}
	if n := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostCorrupt)); n != 1 {
		t.Errorf("lost files (corrupt) = %v, want 1", n)
	}
}

// TestHostile50StoppedBeforeCompressedCopyRead: the tailer takes over a
// compressed copy (copytruncate with compress) and stops before its turn
// to inflate it came (maxInflated busy), the lines read before the copy
// acknowledged; gracefully (Close writes the checkpoint) or killed after
// the checkpoint written on the takeover. The checkpoint names the copy,
// and the next agent resumes inside it: the lines of the copy not read
// before arrive once, those read and acknowledged not again, and the new
// file's lines arrive.
func TestHostile50StoppedBeforeCompressedCopyRead(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "graceful", true: "crash"}[crash], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, take := outTailerIn(t, dir, state)
			now := time.Now()
			appendFile(t, path, lines(0, 20))
			tl.rescan(now, true)
			tl.readTurn(now)
			first := take()
			if len(first) != 20 {
				t.Fatalf("first read: %d lines", len(first))
			}
			var cs []event.Cursor
			for _, l := range first {
				cs = append(cs, l.Cursor)
			}
			tl.Ack(cs)
			appendFile(t, path, lines(20, 40))
			copytruncateGz(t, path)
			tl.inflatedNow = maxInflated // two others being inflated
			stepAfterCopy(tl, now)
			if got := hostile50Seqs(take()); len(got) != 20 {
				t.Fatalf("the copy read while no inflation was free: %v", got)
			}
			if crash {
				if err := tl.commit(false); err != nil {
					t.Fatal(err)
				}
			} else if err := tl.Close(); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			entries, _, _, err := loadState(state)
			if err != nil {
				t.Fatal(err)
			}
			named := false // by its first bytes and the offset read to (a compressed file's identity)
			for _, e := range entries {
				named = named || (e.Dev == ^uint64(0) && e.FingerprintLen == fpSize && e.Offset > 0)
			}
			if !named {
				t.Errorf("checkpoint does not name the compressed copy: %+v", entries)
			}
			appendFile(t, path, lines(100, 105))
			tl2, take2 := outTailerIn(t, dir, state)
			later := now.Add(time.Minute)
			var saved []stateEntry // as Run starts
			for _, es := range tl2.resume {
				saved = append(saved, es...)
			}
			tl2.rescan(later, true)
			tl2.resumeRotated(later, saved)
			stepAfterCopy(tl2, later)
			want := append(upto(20, 40), upto(100, 105)...)
			if diff := cmp.Diff(want, hostile50Seqs(take2())); diff != "" {
				t.Errorf("lines after the restart (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHostile50CompressedCopyDeletedBeforeTurn: the compressed copy taken
// over is deleted while the two inflations allowed at once are busy (its
// turn not come): it is counted vanished, nothing read before arrives
// again, and the lines written after the truncation arrive.
func TestHostile50CompressedCopyDeletedBeforeTurn(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	copytruncateGz(t, path)
	appendFile(t, path, lines(100, 105))
	tl.inflatedNow = maxInflated
	stepAfterCopy(tl, now)
	if err := os.Remove(path + ".20261206-000001.gz"); err != nil {
		t.Fatal(err)
	}
	tl.inflatedNow = 0
	stepAfterCopy(tl, now.Add(time.Minute))
	if diff := cmp.Diff(append(upto(0, 20), upto(100, 105)...), hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(tl.m.lostFiles.WithLabelValues(lostVanished)); n != 1 {
		t.Errorf("lost files (vanished) = %v, want 1", n)
	}
}

// TestHostile50TwoCompressedCopiesInARow: copytruncate with compress twice
// before the tailer looks again, the second copy holding only lines
// written after the first: the first copy is finished from the old offset,
// then the second read whole, then the file; every line once, in order.
func TestHostile50TwoCompressedCopiesInARow(t *testing.T) {

	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 30), take, 30)
	appendFile(t, path, lines(30, 60))
	copytruncateGz(t, path) // 0.log.20261206-000001.gz
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(path+".20261206-000001.gz", old, old); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(60, 90))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second := path + ".20261206-000002"
	if err := os.WriteFile(second, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, second)
	appendFile(t, path, lines(100, 105))
	stepAfterCopy(tl, now)
	stepAfterCopy(tl, now.Add(time.Minute))
	got := hostile50Seqs(take())
	seen := map[int]int{}
	for _, s := range got {
		seen[s]++
	}
	for _, s := range append(upto(0, 90), upto(100, 105)...) {
		if seen[s] != 1 {
			t.Errorf("seq %d arrived %d times", s, seen[s])
		}
	}
	if len(got) != 95 {
		t.Errorf("%d lines, want 95: %v", len(got), got)
	}
}

// TestHostile50CompressedCopyBothStreamsPending: CRI partial lines pending
// on both streams (a P fragment on stdout and one on stderr read, their
// ends written only before the copy) when the copy is compressed before
// the tailer looks: both lines arrive whole, once, not cut.
func TestHostile50CompressedCopyBothStreamsPending(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 40)+criLine("stdout", "P", "seq=200 out first ")+criLine("stderr", "P", "seq=201 err first "), take, -1)
	appendFile(t, path, criLine("stderr", "P", "err second ")+criLine("stdout", "F", "out second")+criLine("stderr", "F", "err third")+lines(40, 42))
	copytruncateGz(t, path)
	appendFile(t, path, lines(100, 102))
	stepAfterCopy(tl, now)
	var bodies []string
	for _, l := range take() {
		if l.Truncated {
			t.Errorf("line cut: %q", l.Body)
		}
		if n, _ := seqOf(string(l.Body)); n >= 200 {
			bodies = append(bodies, string(l.Body))
		}
	}
	want := []string{"seq=200 out first out second", "seq=201 err first err second err third"}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("merged lines (-want +got):\n%s", diff)
	}
	if got := hostile50Seqs(take()); len(got) != 46 {
		t.Errorf("%d lines, want 46: %v", len(got), got)
	}
}

// TestHostile50PolledRewriteAtOffset: in a polled directory (busy.go), a
// file is rewritten under the read offset keeping its first KiB and its
// size up to the offset, with another byte than the newline at the
// offset's last byte, and written on past it (truncated to exactly the
// offset, then regrown): the newline check sees the rewrite (a truncation)
// and the new line arrives.
func TestHostile50PolledRewriteAtOffset(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	// A first line longer than the fingerprint: the offset's last byte
	// lies past it, where the newline check alone can see a rewrite.
	appendFile(t, path, criLine("stdout", "F", "head "+strings.Repeat("h", 1500)))
	r := startRunner(t, testConfig(dir, t.TempDir()), Options{})
	next, _ := writeUntilPolled(t, r, path) // counts the head line as one of its own
	waitFor(t, 10*time.Second, "the last line written", func() bool { return hasSeq(r, *next-1) })
	size := fileSize(t, path)
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt([]byte("Y\n"+criLine("stdout", "F", "seq=9000 after")), size-1); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the line after the rewrite", func() bool { return hasSeq(r, 9000) })
	if got := testutil.ToFloat64(r.tl.m.truncations); got < 1 {
		t.Errorf("truncations = %v: the byte before the offset rewritten was not seen", got)
	}
}

// TestHostile50DockerCompressedCopy: a docker json-file log, past its first
// KiB, with a partial line pending on stdout and one on stderr (no \n at
// the end of their "log") and lines not read yet, is copytruncated and its
// copy compressed before the tailer looks: the pending lines arrive whole,
// every other line once, none cut, nothing counted lost.
func TestHostile50DockerCompressedCopy(t *testing.T) {
	tl, path, take := outTailer(t)
	now := time.Now()
	dl := func(stream, log string) string {
		return `{"log":"` + log + `","stream":"` + stream + `","time":"2026-11-26T03:55:09.1Z"}` + "\n"
	}
	var head strings.Builder
	for i := range 30 {
		head.WriteString(dl("stdout", "seq="+itoa(i)+" "+strings.Repeat("x", i)+`\n`))
	}
	appendFile(t, path, head.String()+dl("stdout", "seq=200 out first ")+dl("stderr", "seq=201 err first "))
	tl.rescan(now, true)
	tl.readTurn(now)
	appendFile(t, path, dl("stderr", `err second\n`)+dl("stdout", `out second\n`)+dl("stdout", `seq=30 after\n`))
	copytruncateGz(t, path)
	appendFile(t, path, dl("stdout", `seq=100 new\n`))
	stepAfterCopy(tl, now)
	var bodies []string
	for _, l := range take() {
		if l.Truncated {
			t.Errorf("line cut: %q", l.Body)
		}
		bodies = append(bodies, string(l.Body))
	}
	var want []string
	for i := range 30 {
		want = append(want, "seq="+itoa(i)+" "+strings.Repeat("x", i))
	}
	want = append(want, "seq=201 err first err second", "seq=200 out first out second", "seq=30 after", "seq=100 new")
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if lost := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); lost != 0 {
		t.Errorf("%v bytes counted lost to the truncation, want 0", lost)
	}
}

// TestHostile50ShortCompressedSiblingLossCounted: a file with the banner,
// whose last lines the tailer knows of but has not read yet (a small read
// budget), is truncated in place (no copy made); the only compressed
// sibling with the banner is an older generation shorter than the offset,
// so not its copy. The bytes known and never read are counted lost
// (reason truncated), as without that sibling, and nothing of it arrives.
func TestHostile50ShortCompressedSiblingLossCounted(t *testing.T) {
	tl, path, take := outTailer(t)
	hostile50OldGen(t, path+".20261205-000001", 500, 502)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 40), take, 41)
	tl.cfg.ReadBytesPerTurn = 200
	appendFile(t, path, lines(40, 80))
	now = now.Add(time.Second)
	tl.poll(now)
	tl.readTurn(now)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, lines(100, 102))
	stepAfterCopy(tl, now)
	for _, s := range hostile50Seqs(take()) {
		if s >= 500 {
			t.Errorf("line %d of the older generation read", s)
		}
	}
	if lost := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); lost == 0 {
		t.Errorf("no bytes counted lost: the lines known and not read before the truncation vanish silently")
	}
}
