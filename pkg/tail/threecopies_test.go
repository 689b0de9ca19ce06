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

// readAcked appends lines [0, n) to path, reads them in one turn of tl and
// acknowledges the first ack of them.
func readAcked(t *testing.T, tl *Tailer, take func() []event.Log, path string, n, ack int) time.Time {
	t.Helper()
	now := time.Now()
	appendFile(t, path, lines(0, n))
	tl.rescan(now, true)
	tl.readTurn(now)
	var cs []event.Cursor
	for _, l := range take() {
		cs = append(cs, l.Cursor)
	}
	if len(cs) != n {
		t.Fatalf("first read: %d lines, want %d", len(cs), n)
	}
	tl.Ack(cs[:ack])
	return now
}

// stopStepped writes tl's final checkpoint and closes its files.
func stopStepped(t *testing.T, tl *Tailer) {
	t.Helper()
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
}

// copyThrice copytruncates path three times (to ...000004, 5 and 6),
// writing lines [from, from+10), then 20 more, then 20 more into it
// before each copy, and compresses the two oldest copies; unless nothing
// is to be written first (from < 0: path holds the first generation). A
// rotated file rot, if named, is compressed after the first copy and
// deleted after the last.
func copyThrice(t *testing.T, path string, from int, rot string) {
	t.Helper()
	c, g, h := path+".20261206-000004", path+".20261206-000005", path+".20261206-000006"
	if from >= 0 {
		appendFile(t, path, lines(from, from+10))
	}
	hostile51CopyTo(t, path, c)
	if rot != "" {
		mustGzip(t, rot)
	}
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, g)
	mustGzip(t, c)
	appendFile(t, path, lines(40, 60))
	hostile51CopyTo(t, path, h)
	mustGzip(t, g)
	if rot != "" {
		if err := os.Remove(rot + ".gz"); err != nil {
			t.Fatal(err)
		}
	}
}

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
	now := readAcked(t, tl, take, path, 20, 20)
	stopStepped(t, tl)
	copyThrice(t, path, -1, "")
	take2 := restartStepped(t, dir, state, now.Add(time.Minute))
	hostile51Once(t, upto(20, 60), hostile50Seqs(take2()))
}

// TestEmptyCheckpointedCopiedThriceRotatedVanished: the file at the path
// was new and empty when the checkpoint was written (or its first
// generation read, not acknowledged), beside the rotated file before it
// (not all acknowledged). While no agent runs, the new file is written and
// copytruncated three times (the two oldest copies compressed) and the
// rotated file is compressed and deleted. The next agent counts the
// rotated file vanished and reads the three copies: every line written
// after the checkpoint, once, in order.
func TestEmptyCheckpointedCopiedThriceRotatedVanished(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "empty", true: "first generation read"}[readFirst], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, take := outTailerIn(t, dir, state)
			now := readAcked(t, tl, take, path, 10, 9) // the last line not acknowledged at the stop
			rot := path + ".20261206-000003"
			mustRename(t, path, rot)
			appendFile(t, path, "")
			later := now
			step := func(n int) {
				for range n {
					later = later.Add(time.Second)
					tl.poll(later)
					tl.rescan(later, true)
					tl.readTurn(later)
				}
			}
			step(3)
			from := 10
			if readFirst {
				appendFile(t, path, lines(10, 20))
				step(2)
				if got := len(take()); got != 20 {
					t.Fatalf("%d lines read before the stop, want 20", got)
				}
				from = -1
			}
			stopStepped(t, tl)
			copyThrice(t, path, from, rot)
			tl2, take2 := restartSteppedTailer(t, dir, state, now.Add(time.Minute))
			hostile51Once(t, upto(10, 60), hostile50Seqs(take2()))
			if got := testutil.ToFloat64(tl2.m.lostFiles.WithLabelValues(lostVanished)); got != 1 {
				t.Errorf("files counted vanished = %v, want 1 (the rotated file)", got)
			}
		})
	}
}

// TestRotatedCopiedThriceWhileStopped: the checkpoint has the file at the
// path (its last line acknowledged or not). While no agent runs it is
// rotated (renamed, later compressed and deleted: vanished), and the new
// file is written and copytruncated three times, the two oldest copies
// compressed. The next agent reads the three copies, oldest first: every
// line written after the checkpoint, once, in order; a rotated file with a
// line not acknowledged is counted vanished.
func TestRotatedCopiedThriceWhileStopped(t *testing.T) {
	for _, all := range []bool{false, true} {
		t.Run(map[bool]string{false: "last line not acknowledged", true: "all acknowledged"}[all], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			tl, take := outTailerIn(t, dir, state)
			ack := 9
			if all {
				ack = 10
			}
			now := readAcked(t, tl, take, path, 10, ack)
			stopStepped(t, tl)
			rot := path + ".20261206-000003"
			mustRename(t, path, rot)
			copyThrice(t, path, 10, rot)
			tl2, take2 := restartSteppedTailer(t, dir, state, now.Add(time.Minute))
			hostile51Once(t, upto(10, 60), hostile50Seqs(take2()))
			if got := testutil.ToFloat64(tl2.m.lostFiles.WithLabelValues(lostVanished)); got != 1 && !all {
				t.Errorf("files counted vanished = %v, want 1 (the rotated file)", got)
			}
		})
	}
}
