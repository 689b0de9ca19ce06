package tail

import (
	"os"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// hostile51Copytruncate does logrotate's copytruncate (no compress) with
// numbered names: each rotated name moves up one (0.log.1 to 0.log.2),
// path is copied to 0.log.1 and truncated in place.
func hostile51Copytruncate(t *testing.T, path string, keep int) {
	t.Helper()
	for i := keep - 1; i >= 1; i-- {
		from := path + "." + itoa(i)
		if _, err := os.Stat(from); err == nil {
			mustRename(t, from, path+"."+itoa(i+1))
		}
	}
	hostile51CopyTo(t, path, path+".1")
}

// hostile51CopyTo copies path to name and truncates path in place.
func hostile51CopyTo(t *testing.T, path, name string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// hostile51SetMtime sets the last write of the files named to at.
func hostile51SetMtime(t *testing.T, at time.Time, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Chtimes(n, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// hostile51Steps polls and reads six times, a second apart, with a rescan
// when a poll asks for one (a new file at a rotated path).
func hostile51Steps(tl *Tailer, now time.Time) {
	for range 6 {
		now = now.Add(time.Second)
		if tl.poll(now) {
			tl.rescan(now, false)
		}
		tl.readTurn(now)
	}
}

// hostile51Once checks that got holds every sequence number of want once
// and nothing else, in want's order.
func hostile51Once(t *testing.T, want, got []int) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile51NumberedTwoCopiesInARow: logrotate's copytruncate with
// numbered names, twice before the tailer looks again: the first copy
// (0.log.1, moved to 0.log.2 by the second run) holds the lines not read,
// the second (0.log.1) the generation after, none read. The second is
// last written after the first (held), or in the same tick of a coarse
// file-system clock (1 s on ext4 with small inodes, 2 s on FAT; here
// equal last writes): every line once, in order.
func TestHostile51NumberedTwoCopiesInARow(t *testing.T) {
	for _, equal := range []bool{false, true} {
		t.Run(map[bool]string{false: "apart", true: "same tick"}[equal], func(t *testing.T) {
			tl, path, take := outTailer(t)
			now := firstRead(t, tl, path, lines(0, 20), take, 20)
			appendFile(t, path, lines(20, 40)) // not read before the copy
			hostile51Copytruncate(t, path, 5)
			appendFile(t, path, lines(60, 80))
			hostile51Copytruncate(t, path, 5)
			appendFile(t, path, lines(100, 105))
			at := time.Now().Add(-time.Minute)
			hostile51SetMtime(t, at, path+".2")
			if !equal {
				at = at.Add(time.Second)
			}
			hostile51SetMtime(t, at, path+".1")
			stepAfterCopy(tl, now)
			hostile51Once(t, append(append(upto(0, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
		})
	}
}

// TestHostile51NumberedOlderNotALaterCopy: logrotate's copytruncate with
// numbered names; the tailer finds the first copy and reads it to its end
// (closed), then reads on in the new generation; a second copytruncate
// moves the first copy to 0.log.2 and copies to 0.log.1. 0.log.2 is an
// older generation, read whole already: in the same tick of a coarse
// clock (equal last writes) it must not pass for a copy made after
// 0.log.1. Every line once.
func TestHostile51NumberedOlderNotALaterCopy(t *testing.T) {
	for _, equal := range []bool{false, true} {
		t.Run(map[bool]string{false: "apart", true: "same tick"}[equal], func(t *testing.T) {
			tl, path, take := outTailer(t)
			now := firstRead(t, tl, path, lines(0, 20), take, 20)
			appendFile(t, path, lines(20, 40))
			hostile51Copytruncate(t, path, 5)
			appendFile(t, path, lines(60, 70))
			stepAfterCopy(tl, now)
			if got := hostile50Seqs(take()); len(got) != 50 {
				t.Fatalf("after the first copy: %v", got)
			}
			if len(tl.order) != 1 {
				t.Fatalf("%d followers after the first copy read to its end, want 1", len(tl.order))
			}
			appendFile(t, path, lines(70, 80)) // not read before the copy
			hostile51Copytruncate(t, path, 5)
			appendFile(t, path, lines(100, 105))
			at := time.Now().Add(-time.Minute)
			hostile51SetMtime(t, at, path+".2")
			if !equal {
				at = at.Add(time.Second)
			}
			hostile51SetMtime(t, at, path+".1")
			stepAfterCopy(tl, now.Add(time.Minute))
			hostile51Once(t, append(append(upto(0, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
		})
	}
}

// TestHostile51DateextTwoCopiesInARow: logrotate's copytruncate with
// dateext and a dateformat for several rotations a day (-%Y%m%d-%s, its
// names joined by '-', not '.'), twice before the tailer looks again.
// The first copy is found by its first bytes (any name the file's starts);
// the second holds the generation after, none of it read.
func TestHostile51DateextTwoCopiesInARow(t *testing.T) {

	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, path+"-20261206-1796515200")
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, path+"-20261206-1796515260")
	appendFile(t, path, lines(100, 105))
	at := time.Now().Add(-time.Minute)
	hostile51SetMtime(t, at, path+"-20261206-1796515200")
	hostile51SetMtime(t, at.Add(time.Minute), path+"-20261206-1796515260")
	stepAfterCopy(tl, now)
	hostile51Once(t, append(append(upto(0, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
	if n := testutil.ToFloat64(tl.m.lost.WithLabelValues(lostTruncated)); n != 0 {
		t.Errorf("%v bytes counted lost", n)
	}
}

// TestHostile51StoppedAfterLaterCopyOpened: two copytruncates in a row
// (kubelet-style stamped names, compressed or not); the tailer sees the
// truncation, finds the first copy and opens the second after it, and
// stops before reading either (gracefully, or killed after a checkpoint
// written then). The next agent reads what was not acknowledged once: the
// rest of the first copy, the second copy, the file.
func TestHostile51StoppedAfterLaterCopyOpened(t *testing.T) {
	for _, gz := range []bool{false, true} {
		for _, crash := range []bool{false, true} {
			name := map[bool]string{false: "plain", true: "gz"}[gz] + "/" + map[bool]string{false: "graceful", true: "crash"}[crash]
			t.Run(name, func(t *testing.T) {
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
				hostile51CopyTo(t, path, path+".20261206-000001")
				appendFile(t, path, lines(60, 80))
				hostile51CopyTo(t, path, path+".20261206-000002")
				if gz {
					mustGzip(t, path+".20261206-000001")
					mustGzip(t, path+".20261206-000002")
				}
				appendFile(t, path, lines(100, 105))
				tl.poll(now.Add(time.Second)) // the truncation seen, nothing read
				if len(tl.order) != 3 {
					t.Fatalf("%d followers after the truncation, want 3 (copy, later copy, file)", len(tl.order))
				}
				if crash {
					if err := tl.commit(true); err != nil {
						t.Fatal(err)
					}
				} else if err := tl.Close(); err != nil {
					t.Fatal(err)
				}
				tl.closeAll()
				take2 := restartStepped(t, dir, state, now.Add(time.Minute))
				hostile51Once(t, append(append(upto(20, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take2()))
			})
		}
	}
}

// TestHostile51LateNotificationsAfterLaterCopies: two copytruncates in a
// row, found (the first by its first bytes, the second after it), and the
// file left empty; the creations of both copies are notified only after
// they were read to their end and closed, together with a third copy made
// after the truncation was handled (the generation after it, written and
// copytruncated before any read). The third is taken, the first two not
// again: every line once, in order.
func TestHostile51LateNotificationsAfterLaterCopies(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	c, g, h := path+".20261206-000001", path+".20261206-000002", path+".20261206-000003"
	hostile51CopyTo(t, path, c)
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, g)
	stepAfterCopy(tl, now)
	if got := hostile50Seqs(take()); len(got) != 60 {
		t.Fatalf("after the copies: %v", got)
	}
	if len(tl.order) != 1 {
		t.Fatalf("%d followers, want the file alone", len(tl.order))
	}
	afterTick(t, time.Now())
	appendFile(t, path, lines(200, 210))
	hostile51CopyTo(t, path, h)
	for _, n := range []string{c, g, h} {
		tl.copyCreated(n)
	}
	appendFile(t, path, lines(300, 305))
	stepAfterCopy(tl, now.Add(time.Minute))
	want := append(append(append(upto(0, 40), upto(60, 80)...), upto(200, 210)...), upto(300, 305)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51FoundCopyCompressedBeforeListing: two copytruncates in a
// row (logrotate's copytruncate with compress: each copy gzipped once
// made); the truncation finds the first copy still plain, and the copy is
// compressed (its plain name removed) before the listing of the siblings
// after it is done. The second copy is read all the same: every line
// once, in order.
func TestHostile51FoundCopyCompressedBeforeListing(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, g)
	mustGzip(t, g)
	appendFile(t, path, lines(100, 105))
	listed := 0
	siblingsListed = func() {
		if listed++; listed == 1 {
			mustGzip(t, c)
		}
	}
	t.Cleanup(func() { siblingsListed = nil })
	stepAfterCopy(tl, now)
	if listed == 0 {
		t.Fatal("no listing of the siblings: premise")
	}
	hostile51Once(t, append(append(upto(0, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
}

// TestHostile51BannerTwoCompressedCopiesInARow: every generation starts
// with the same banner, longer than the first bytes compared (1 KiB);
// copytruncate with compress twice before the tailer looks again. The
// second compressed copy starts as the first does (the banner): it is a
// later copy all the same, not the first one compressed (that one is
// followed by its own compressed name). Every line once.
func TestHostile51BannerTwoCompressedCopiesInARow(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 20), take, 21)
	appendFile(t, path, lines(20, 40))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	mustGzip(t, c)
	appendFile(t, path, hostile50Banner+lines(60, 80))
	hostile51CopyTo(t, path, g)
	mustGzip(t, g)
	appendFile(t, path, hostile50Banner+lines(100, 105))
	stepAfterCopy(tl, now)
	want := append(append(append(append(append([]int{-1}, upto(0, 40)...), -1), upto(60, 80)...), -1), upto(100, 105)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51BannerShortLaterCopy: every generation starts with the same
// banner; two copytruncates in a row, the second generation short (the
// banner and two lines), and the file written past that length again
// before the tailer looks. The second copy is not the file's current
// generation copied without truncating (the file no longer holds its
// lines): every line once.
func TestHostile51BannerShortLaterCopy(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 20), take, 21)
	appendFile(t, path, lines(20, 40))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	appendFile(t, path, hostile50Banner+lines(60, 62))
	hostile51CopyTo(t, path, g)
	appendFile(t, path, hostile50Banner+lines(100, 130))
	stepAfterCopy(tl, now)
	want := append(append(append(append(append([]int{-1}, upto(0, 40)...), -1), upto(60, 62)...), -1), upto(100, 130)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51BannerOlderPlainSibling: every generation starts with the
// same banner; a plain older generation (history, named before the copy,
// longer than what was read) sits beside the file when a copytruncate
// copies it. The copy is the newer one: nothing of the older generation
// arrives, nothing read before arrives again.
func TestHostile51BannerOlderPlainSibling(t *testing.T) {
	tl, path, take := outTailer(t)
	old := path + ".20261205-000001"
	appendFile(t, old, hostile50Banner+lines(500, 600))
	at := time.Now().Add(-time.Hour)
	hostile51SetMtime(t, at, old)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 20), take, 21)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(100, 105))
	stepAfterCopy(tl, now)
	want := append(append([]int{-1}, upto(0, 40)...), upto(100, 105)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51CopyWithoutTruncateAfterCopytruncate: a copytruncate, then,
// before the tailer looks, the new generation copied without truncating
// (a user's cp), and written on: the copy named after the one found holds
// what the file still holds. Nothing arrives twice, with every generation
// starting with the same banner or not.
func TestHostile51CopyWithoutTruncateAfterCopytruncate(t *testing.T) {
	for _, banner := range []string{"", hostile50Banner} {
		t.Run(map[bool]string{false: "plain", true: "banner"}[banner != ""], func(t *testing.T) {
			tl, path, take := outTailer(t)
			now := firstRead(t, tl, path, banner+lines(0, 20), take, -1)
			appendFile(t, path, lines(20, 40))
			hostile51CopyTo(t, path, path+".20261206-000001")
			appendFile(t, path, banner+lines(60, 80))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".20261206-000002", data, 0o644); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, lines(80, 90))
			stepAfterCopy(tl, now)
			var want []int
			if banner != "" {
				want = append(want, -1)
			}
			want = append(want, upto(0, 40)...)
			if banner != "" {
				want = append(want, -1)
			}
			hostile51Once(t, append(want, upto(60, 90)...), hostile50Seqs(take()))
		})
	}
}

// TestHostile51BannerNumberedTwoCopiesInARow: every generation starts with
// the same banner; logrotate's copytruncate with numbered names twice
// before the tailer looks again, the second generation longer than what
// was read of the first. The first copy is 0.log.2 now: every line once,
// in order.
func TestHostile51BannerNumberedTwoCopiesInARow(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, hostile50Banner+lines(0, 20), take, 21)
	appendFile(t, path, lines(20, 40))
	hostile51Copytruncate(t, path, 5)
	appendFile(t, path, hostile50Banner+lines(60, 100))
	hostile51Copytruncate(t, path, 5)
	appendFile(t, path, hostile50Banner+lines(200, 205))
	at := time.Now().Add(-time.Minute)
	hostile51SetMtime(t, at, path+".2")
	hostile51SetMtime(t, at.Add(time.Second), path+".1")
	stepAfterCopy(tl, now)
	want := append(append(append(append(append([]int{-1}, upto(0, 40)...), -1), upto(60, 100)...), -1), upto(200, 205)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51UnreadFileTwoCopiesBothWays: a file nothing was read of
// whose first bytes a poll took is copytruncated twice in a row, and both
// creations are notified. Whether the truncation is seen first (the first
// copy found by its first bytes, the second opened after it) or the read
// looks at the copies noted first (takeCopy), each copy is read once, in
// order, then the file.
func TestHostile51UnreadFileTwoCopiesBothWays(t *testing.T) {
	for _, pollFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "truncation first", false: "copies first"}[pollFirst], func(t *testing.T) {
			tl, path, take := outTailer(t)
			now := firstRead(t, tl, path, "", take, 0)
			appendFile(t, path, lines(0, 20))
			now = now.Add(time.Second)
			tl.poll(now) // takes its first bytes, reads nothing
			if f := tl.byPath[path]; f == nil || f.off != 0 || f.fpLen == 0 {
				t.Fatalf("premise: a follower at offset 0 with first bytes: %+v", f)
			}
			afterTick(t, time.Now())
			c, g := path+".20261206-000001", path+".20261206-000002"
			hostile51CopyTo(t, path, c)
			appendFile(t, path, lines(60, 80))
			hostile51CopyTo(t, path, g)
			tl.copyCreated(c)
			tl.copyCreated(g)
			appendFile(t, path, lines(100, 105))
			now = now.Add(time.Second)
			if pollFirst {
				tl.poll(now)
			}
			tl.readTurn(now)
			tl.copyCreated(c) // notified again, late
			tl.copyCreated(g)
			stepAfterCopy(tl, now)
			hostile51Once(t, append(append(upto(0, 20), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
		})
	}
}

// TestHostile51TwoCopiesWhileStopped: the checkpoint has the file read
// part way; while no agent runs it is copytruncated twice (kubelet-style
// stamped names, compressed or not) and written again. The next agent
// reads the rest of the first copy, the second copy whole, then the file:
// every line not read once, in order.
func TestHostile51TwoCopiesWhileStopped(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gz"}[gz], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, take := outTailerIn(t, dir, state)
			now := time.Now()
			appendFile(t, path, lines(0, 20))
			tl.rescan(now, true)
			tl.readTurn(now)
			var cs []event.Cursor
			for _, l := range take() {
				cs = append(cs, l.Cursor)
			}
			if len(cs) != 20 {
				t.Fatalf("first read: %d lines", len(cs))
			}
			tl.Ack(cs)
			if err := tl.Close(); err != nil {
				t.Fatal(err)
			}
			tl.closeAll()
			appendFile(t, path, lines(20, 40))
			c, g := path+".20261206-000001", path+".20261206-000002"
			hostile51CopyTo(t, path, c)
			appendFile(t, path, lines(60, 80))
			hostile51CopyTo(t, path, g)
			if gz {
				mustGzip(t, c)
				mustGzip(t, g)
			}
			appendFile(t, path, lines(100, 105))
			take2 := restartStepped(t, dir, state, now.Add(time.Minute))
			hostile51Once(t, append(append(upto(20, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take2()))
		})
	}
}

// TestHostile51UnreadFileSecondCopyNotifiedLate: a file nothing was read
// of is copytruncated twice in a row (the second copy holding the
// generation after the first, none read); the read that takes the first
// copy comes before the second copy's creation is taken (one batch of
// notifications read, the next not yet). The second copy is read all the
// same, after the first and before the file: every line once, in order.
func TestHostile51UnreadFileSecondCopyNotifiedLate(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 20))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	if b, ok := born(c); ok {
		afterTick(t, b) // the same tick is TestHostile51UnreadFileSecondCopySameTick
	}
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, g)
	appendFile(t, path, lines(100, 105))
	tl.copyCreated(c)
	now = now.Add(time.Second)
	tl.readTurn(now)
	tl.copyCreated(g)
	stepAfterCopy(tl, now)
	hostile51Once(t, append(append(upto(0, 20), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
}

// TestHostile51TwoCopiesThenRenamed: two copytruncates in a row, then the
// file, written again, is rotated by a rename (kubelet's way: 0.log to a
// stamped name after the copies', a new 0.log), all before the tailer
// looks. The rest of the first copy, the second copy, the renamed file
// and the new file arrive, each line once, in order.
func TestHostile51TwoCopiesThenRenamed(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, path+".20261206-000002")
	appendFile(t, path, lines(100, 120))
	mustRename(t, path, path+".20261206-000003")
	appendFile(t, path, lines(200, 205))
	hostile51Steps(tl, now)
	want := append(append(append(upto(0, 40), upto(60, 80)...), upto(100, 120)...), upto(200, 205)...)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51CompressedLaterCopyStartsAsTheFile: copytruncate with
// compress twice in a row; the second generation starts with a line that
// the program writes again and again (a health check; the same bytes, its
// time stamp too at this clock's resolution), and the file holds only that
// line again when the tailer looks. The second compressed copy starts as
// the file does, but is longer than it: the file does not hold its lines.
// Every line once, in order.
func TestHostile51CompressedLaterCopyStartsAsTheFile(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	mustGzip(t, c)
	health := criLine("stdout", "F", "GET /healthz 200")
	appendFile(t, path, health+lines(60, 80))
	hostile51CopyTo(t, path, g)
	mustGzip(t, g)
	appendFile(t, path, health)
	stepAfterCopy(tl, now)
	want := append(append(append(upto(0, 40), -1), upto(60, 80)...), -1)
	hostile51Once(t, want, hostile50Seqs(take()))
}

// TestHostile51CompressedCopyWithoutTruncate: a copytruncate, then, before
// the tailer looks, the new generation copied without truncating and the
// copy compressed (logrotate's copy with compress), and the file written
// on: the compressed copy starts as the file does and is no longer than
// it. Nothing arrives twice.
func TestHostile51CompressedCopyWithoutTruncate(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 20), take, 20)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, path+".20261206-000001")
	appendFile(t, path, lines(60, 80))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := path + ".20261206-000002"
	if err := os.WriteFile(g, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mustGzip(t, g)
	appendFile(t, path, lines(80, 90))
	stepAfterCopy(tl, now)
	hostile51Once(t, append(upto(0, 40), upto(60, 90)...), hostile50Seqs(take()))
}

// TestHostile51UnreadFileSecondCopySameTick: as
// TestHostile51UnreadFileSecondCopyNotifiedLate, the two copies made in
// one tick of the file system's clock (two copytruncates in a row on a
// busy node, or on a file system whose clock counts seconds; here the
// first copy's birth time as taken is set to the second's). The second is
// taken, the first not again (notified late once more): every line once.
func TestHostile51UnreadFileSecondCopySameTick(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 20))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, g)
	appendFile(t, path, lines(100, 105))
	tl.copyCreated(c)
	now = now.Add(time.Second)
	tl.readTurn(now)
	f := tl.byPath[path]
	bc, _ := born(c)
	if f == nil || !f.opened.Equal(bc) {
		t.Fatalf("premise: the first copy taken starts the generation at its birth: %+v", f)
	}
	bg, ok := born(g)
	if !ok {
		t.Skip("no birth times")
	}
	f.opened = bg // the tick both copies were made in
	tl.copyCreated(g)
	stepAfterCopy(tl, now)
	tl.copyCreated(c)
	tl.copyCreated(g)
	stepAfterCopy(tl, now.Add(time.Minute))
	hostile51Once(t, append(append(upto(0, 20), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
}

// hostile51Logrotate does logrotate's copytruncate with numbered names and
// compress (delaycompress or not), as logrotate 3.21 does it: the rotated
// names move up one (0.log.2.gz to 0.log.3.gz, 0.log.1 to 0.log.2), the
// one left plain by delaycompress is compressed, path is copied to 0.log.1
// and truncated, and without delaycompress the copy is compressed at once.
// A compressed file keeps the last write of the file compressed; the copy
// is last written at at.
func hostile51Logrotate(t *testing.T, path string, delay bool, at time.Time) {
	t.Helper()
	for i := 4; i >= 1; i-- {
		for _, ext := range []string{".gz", ""} {
			from := path + "." + itoa(i) + ext
			if _, err := os.Stat(from); err == nil {
				mustRename(t, from, path+"."+itoa(i+1)+ext)
			}
		}
	}
	gzKeep := func(name string) {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		mustGzip(t, name)
		hostile51SetMtime(t, fi.ModTime(), name+".gz")
	}
	if delay {
		if _, err := os.Stat(path + ".2"); err == nil {
			gzKeep(path + ".2")
		}
	}
	hostile51CopyTo(t, path, path+".1")
	hostile51SetMtime(t, at, path+".1")
	if !delay {
		gzKeep(path + ".1")
	}
}

// TestHostile51LogrotateCompressTwoInARow: logrotate's copytruncate with
// numbered names and compress, with delaycompress or without, twice before
// the tailer looks again; the copies last written a second apart, or in
// one tick of a coarse clock. Every line once, in order.
func TestHostile51LogrotateCompressTwoInARow(t *testing.T) {
	for _, delay := range []bool{false, true} {
		for _, equal := range []bool{false, true} {
			name := map[bool]string{false: "compress", true: "delaycompress"}[delay] + "/" + map[bool]string{false: "apart", true: "same tick"}[equal]
			t.Run(name, func(t *testing.T) {
				tl, path, take := outTailer(t)
				at := time.Now().Add(-time.Hour)
				appendFile(t, path+".1", lines(500, 510)) // history: a generation before the tailer
				if !delay {
					mustGzip(t, path+".1")
					hostile51SetMtime(t, at, path+".1.gz")
				} else {
					hostile51SetMtime(t, at, path+".1")
				}
				now := firstRead(t, tl, path, lines(0, 20), take, 20)
				appendFile(t, path, lines(20, 40))
				at = at.Add(time.Minute)
				hostile51Logrotate(t, path, delay, at)
				appendFile(t, path, lines(60, 80))
				if !equal {
					at = at.Add(time.Second)
				}
				hostile51Logrotate(t, path, delay, at)
				appendFile(t, path, lines(100, 105))
				stepAfterCopy(tl, now)
				hostile51Once(t, append(append(upto(0, 40), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
			})
		}
	}
}

// restartStepped starts a step-driven tailer on dir from the checkpoint in
// state, as an agent starting at later would (its first scan, the rotated
// files since the checkpoint), and polls and reads as stepAfterCopy does.
func restartStepped(t *testing.T, dir, state string, later time.Time) func() []event.Log {
	t.Helper()
	_, take := restartSteppedTailer(t, dir, state, later)
	return take
}

// restartSteppedTailer is restartStepped, with the tailer.
func restartSteppedTailer(t *testing.T, dir, state string, later time.Time) (*Tailer, func() []event.Log) {
	t.Helper()
	tl, take := outTailerIn(t, dir, state)
	var saved []stateEntry
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	tl.rescan(later, true)
	tl.resumeRotated(later, saved)
	stepAfterCopy(tl, later)
	return tl, take
}
