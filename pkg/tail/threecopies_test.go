package tail

// The orders of model seed 830077 (-poll 100ms -more), whose run lost the
// second of three copies made while no agent ran, beside a rotated file
// deleted meanwhile. Stepped here, with each state the checkpoint could
// have held at the kill, every line arrives; the seed passes most replays
// and the cause of its one failure is not found (test/model README.md,
// "Known failures").

import (
	"os"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestThreeCopiesWhileStopped: the checkpoint has the file read to its
// end; it is then copytruncated three times before the next agent starts
// (the first copy holding only what was read, the second and third one
// generation each, the two oldest compressed), and the file is left
// empty. The next agent reads the second and third copies whole: every
// line not read once, in order.
func TestThreeCopiesWhileStopped(t *testing.T) {
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
	c, g, h := path+".20261206-000004", path+".20261206-000005", path+".20261206-000006"
	hostile51CopyTo(t, path, c)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, g)
	mustGzip(t, c)
	appendFile(t, path, lines(40, 60))
	hostile51CopyTo(t, path, h)
	mustGzip(t, g)
	take2 := restartStepped(t, dir, state, now.Add(time.Minute))
	hostile51Once(t, upto(20, 60), hostile50Seqs(take2()))
}

// TestEmptyCheckpointedCopiedThriceRotatedVanished: the file at the path
// was new and empty when the checkpoint was written, beside the rotated
// file before it (not all acknowledged). While no agent runs, the new file
// is written and copytruncated three times (the two oldest copies
// compressed) and the rotated file is compressed and deleted. The next
// agent counts the rotated file vanished and reads the three copies:
// every line written after the checkpoint, once, in order.
func TestEmptyCheckpointedCopiedThriceRotatedVanished(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "empty", true: "first generation read"}[readFirst], func(t *testing.T) {
			copiedThriceRotatedVanished(t, readFirst)
		})
	}
}

func copiedThriceRotatedVanished(t *testing.T, readFirst bool) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, take := outTailerIn(t, dir, state)
	now := time.Now()
	appendFile(t, path, lines(0, 10))
	tl.rescan(now, true)
	tl.readTurn(now)
	var cs []event.Cursor
	for _, l := range take() {
		cs = append(cs, l.Cursor)
	}
	if len(cs) != 10 {
		t.Fatalf("first read: %d lines", len(cs))
	}
	tl.Ack(cs[:9]) // the last line not acknowledged at the stop
	rot := path + ".20261206-000003"
	mustRename(t, path, rot)
	appendFile(t, path, "")
	later := now
	for range 3 {
		later = later.Add(time.Second)
		tl.poll(later)
		tl.rescan(later, true)
		tl.readTurn(later)
	}
	if readFirst {
		appendFile(t, path, lines(10, 20))
		for range 2 {
			later = later.Add(time.Second)
			tl.poll(later)
			tl.readTurn(later)
		}
		if got := len(take()); got != 20 {
			t.Fatalf("%d lines read before the stop, want 20", got)
		}
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	es := readState(t, state).Files
	t.Logf("checkpoint %+v", es)

	c, g, h := path+".20261206-000004", path+".20261206-000005", path+".20261206-000006"
	if !readFirst {
		appendFile(t, path, lines(10, 20))
	}
	hostile51CopyTo(t, path, c)
	mustGzip(t, rot)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, g)
	mustGzip(t, c)
	appendFile(t, path, lines(40, 60))
	hostile51CopyTo(t, path, h)
	mustGzip(t, g)
	if err := os.Remove(rot + ".gz"); err != nil {
		t.Fatal(err)
	}
	tl2, take2 := outTailerIn(t, dir, state)
	var saved []stateEntry
	for _, es := range tl2.resume {
		saved = append(saved, es...)
	}
	at := now.Add(time.Minute)
	tl2.rescan(at, true)
	tl2.resumeRotated(at, saved)
	stepAfterCopy(tl2, at)
	hostile51Once(t, upto(10, 60), hostile50Seqs(take2()))
	if got := testutil.ToFloat64(tl2.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
		t.Errorf("files counted vanished = %v, want 1 (the rotated file)", got)
	}
}

// TestRotatedCopiedThriceWhileStopped: the checkpoint has the file at the
// path not all acknowledged. While no agent runs it is rotated (renamed,
// later compressed and deleted: vanished), and the new file is written
// and copytruncated three times, the two oldest copies compressed. The
// next agent counts the rotated file vanished and reads the three copies,
// oldest first: every line written after the checkpoint, once, in order.
func TestRotatedCopiedThriceWhileStopped(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(map[bool]string{false: "last line not acknowledged", true: "all acknowledged"}[all], func(t *testing.T) {
			rotatedCopiedThrice(t, all)
		})
	}
}

func rotatedCopiedThrice(t *testing.T, all bool) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, take := outTailerIn(t, dir, state)
	now := time.Now()
	appendFile(t, path, lines(0, 10))
	tl.rescan(now, true)
	tl.readTurn(now)
	var cs []event.Cursor
	for _, l := range take() {
		cs = append(cs, l.Cursor)
	}
	if len(cs) != 10 {
		t.Fatalf("first read: %d lines", len(cs))
	}
	if all {
		tl.Ack(cs)
	} else {
		tl.Ack(cs[:9])
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()

	rot := path + ".20261206-000003"
	mustRename(t, path, rot)
	c, g, h := path+".20261206-000004", path+".20261206-000005", path+".20261206-000006"
	appendFile(t, path, lines(10, 20))
	hostile51CopyTo(t, path, c)
	mustGzip(t, rot)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, g)
	mustGzip(t, c)
	appendFile(t, path, lines(40, 60))
	hostile51CopyTo(t, path, h)
	mustGzip(t, g)
	if err := os.Remove(rot + ".gz"); err != nil {
		t.Fatal(err)
	}
	tl2, take2 := outTailerIn(t, dir, state)
	var saved []stateEntry
	for _, es := range tl2.resume {
		saved = append(saved, es...)
	}
	at := now.Add(time.Minute)
	tl2.rescan(at, true)
	tl2.resumeRotated(at, saved)
	stepAfterCopy(tl2, at)
	hostile51Once(t, upto(10, 60), hostile50Seqs(take2()))
	if got := testutil.ToFloat64(tl2.m.lostFiles.WithLabelValues(lostVanished)); got != 1 && !all {
		t.Errorf("files counted vanished = %v, want 1 (the rotated file)", got)
	}
}
