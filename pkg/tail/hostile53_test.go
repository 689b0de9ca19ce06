package tail

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestHostile53TwoRenamesBeforeTheFirstRead: a file followed while empty
// is written and rotated twice by kubelet's rename (0.log to a stamped
// name, a new 0.log, written, renamed again, a third 0.log) before its
// first read, which comes before the renames are taken (the write's
// notification first, the rest still queued). The second file, renamed
// too, was born after the first was opened, but it is no copy of it: its
// lines come after the first file's, once.
func TestHostile53TwoRenamesBeforeTheFirstRead(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 10))
	mustRename(t, path, path+".20261206-040000")
	appendFile(t, path, lines(10, 20)) // a new file, born after the first was opened
	mustRename(t, path, path+".20261206-040010")
	appendFile(t, path, lines(20, 25))
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("premise: the file is followed")
	}
	f.dirty, f.more = true, true // its write taken, its rename not yet
	now = now.Add(time.Second)
	tl.readTurn(now)
	hostile51Steps(tl, now)
	hostile51Once(t, upto(0, 25), hostile50Seqs(take()))
}

// TestHostile53SecondCopySameTickUnnoted: a file followed while empty is
// written and copytruncated; the copy's creation is taken and the copy
// read first (the file, empty then, is known by no first bytes). Then,
// in the same tick of the file system's clock as the first copy (here:
// the generation's start set to the second copy's birth, as in
// TestHostile51UnreadFileSecondCopySameTick), it is written and
// copytruncated again, and written; the second copy's creation is not
// taken before the file's next read (still queued). That read looks for
// copies not noted (copiesUnnoted): the second copy, born in the tick of
// the copy taken and not that copy, is one. Every line once, in order.
func TestHostile53SecondCopySameTickUnnoted(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 20))
	c, g := path+".20261206-000001", path+".20261206-000002"
	hostile51CopyTo(t, path, c)
	tl.copyCreated(c)
	now = now.Add(time.Second)
	tl.readTurn(now)
	f := tl.byPath[path]
	bc, _ := born(c)
	if f == nil || !f.opened.Equal(bc) || f.fpLen != 0 {
		t.Fatalf("premise: the copy taken starts the generation at its birth, the file empty: %+v", f)
	}
	appendFile(t, path, lines(60, 80))
	hostile51CopyTo(t, path, g)
	appendFile(t, path, lines(100, 105))
	bg, ok := born(g)
	if !ok {
		t.Skip("no birth times")
	}
	f.opened = bg // the tick both copies were made in
	stepAfterCopy(tl, now)
	hostile51Once(t, append(append(upto(0, 20), upto(60, 80)...), upto(100, 105)...), hostile50Seqs(take()))
}

// TestHostile53HeldCopyAtStartWhileWaiting: while no agent runs, a
// container's 0.log is copytruncated (the copy holds the lines after the
// checkpoint's offset), written again, and copied once more, not truncated
// yet, when the agent starts. With logs.max_open_files reached, 0.log
// waits for a descriptor, so it is not open when its rotated files are
// looked at. The second copy is still held by 0.log all the same: not
// read apart, or its lines came twice (from it, and from 0.log when its
// turn comes). Every line once.
func TestHostile53HeldCopyAtStartWhileWaiting(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	cfg.MaxOpenFiles = 1
	first, late := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, first, lines(100, 105))
	appendFile(t, late, lines(0, 20))
	if err := writeState(state, []stateEntry{entryOf(t, late, late, int64(len(lines(0, 10))))}); err != nil {
		t.Fatal(err)
	}
	hostile51CopyTo(t, late, late+".20261206-040000")
	appendFile(t, late, lines(20, 30))
	data, err := os.ReadFile(late)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(late+".20261206-050000", data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the second generation's lines", func() bool { return hasSeq(r, 29) && hasSeq(r, 104) })
	appendFile(t, late, lines(30, 31)) // after whatever reads before 0.log
	waitFor(t, 10*time.Second, "the sentinel", func() bool { return hasSeq(r, 30) })
	got := slices.DeleteFunc(seqs(r.snapshot()), func(s int) bool { return s >= 100 })
	if !slices.Equal(got, upto(10, 31)) {
		t.Errorf("lines %v, want %v", got, upto(10, 31))
	}
}

// TestHostile53TwoRenamesPathEmptyAtFirstRead: as
// TestHostile53TwoRenamesBeforeTheFirstRead, the first read coming after
// the second rename and before the runtime has opened the path's next file
// (the path names nothing for that moment).
func TestHostile53TwoRenamesPathEmptyAtFirstRead(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	afterTick(t, time.Now())
	appendFile(t, path, lines(0, 10))
	mustRename(t, path, path+".20261206-040000")
	appendFile(t, path, lines(10, 20))
	mustRename(t, path, path+".20261206-040010")
	f := tl.byPath[path]
	if f == nil {
		t.Fatal("premise: the file is followed")
	}
	f.dirty, f.more = true, true
	now = now.Add(time.Second)
	tl.readTurn(now)
	appendFile(t, path, lines(20, 25))
	hostile51Steps(tl, now)
	hostile51Once(t, upto(0, 25), hostile50Seqs(take()))
}

// TestHostile53CopiedWhileWaitingAtStart: a fresh agent starts with
// logs.max_open_files reached, so a container's 0.log waits for a
// descriptor, nothing of it read. While it waits it is copytruncated and
// written again. When its turn comes, the copy's lines are read, then the
// file's: every line once.
func TestHostile53CopiedWhileWaitingAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, t.TempDir())
	cfg.MaxOpenFiles = 1
	first, late := mkContainer(t, dir, "ns_a_uid"), mkContainer(t, dir, "ns_b_uid")
	appendFile(t, first, lines(100, 105))
	appendFile(t, late, lines(0, 10))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 10*time.Second, "the first file's lines, the second waiting", func() bool {
		return hasSeq(r, 104) && testutil.ToFloat64(r.tl.m.waiting) == 1
	})
	// Past a tick of the file system's clock: a copy made within one
	// after the file was queued is stamped as born before it and taken
	// for older, its lines lost (the gap TestCopytruncatesInARow shows;
	// without this, 8 of 60 runs failed).
	afterTick(t, time.Now())
	hostile51CopyTo(t, late, late+".20261206-040000")
	appendFile(t, late, lines(10, 20))
	waitFor(t, 10*time.Second, "the second file's lines", func() bool { return hasSeq(r, 19) })
	got := slices.DeleteFunc(seqs(r.snapshot()), func(s int) bool { return s >= 100 })
	if !slices.Equal(got, upto(0, 20)) {
		t.Errorf("lines %v, want %v", got, upto(0, 20))
	}
}

// TestHostile53RateLimitedFirstReadListsOnce: a file whose first reads
// are cut by its rate limit (policy defer, one line a second) looks for
// copies at the first read that takes something (one listing of its
// directory), not at each read after: those start past 0. Every line
// arrives, once.
func TestHostile53RateLimitedFirstReadListsOnce(t *testing.T) {
	dir := t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := limitConfig(dir, t.TempDir(), RateLimit{LinesPerSecond: 1, BurstLines: 1, Policy: PolicyDefer})
	out := make(chan []event.Log, 1000)
	tl, err := New(cfg, nil, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.closeAll)
	tl.loadState(time.Now())
	appendFile(t, path, lines(0, 5))
	listed := 0
	siblingsListed = func() { listed++ }
	t.Cleanup(func() { siblingsListed = nil })
	now := time.Now()
	tl.rescan(now, true)
	before := listed // the scan's own look at the rotated files
	for range 10 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.readTurn(now)
	}
	tl.tryFlush()
	var got []event.Log
	for len(out) > 0 {
		got = append(got, <-out...)
	}
	got = append(got, tl.batch...)
	if s := hostile50Seqs(got); !slices.Equal(s, upto(0, 5)) {
		t.Errorf("lines %v, want %v", s, upto(0, 5))
	}
	if n := testutil.ToFloat64(tl.m.reads); n < 5 {
		t.Errorf("premise: %v reads, want one a line at least (the rate limit cuts them)", n)
	}
	if n := listed - before; n != 1 {
		t.Errorf("%d listings of the directory by the reads, want 1", n)
	}
}
