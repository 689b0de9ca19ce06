package tail

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/pkg/event"
)

// hostile57Steps polls, rescans and reads six times, a second apart.
func hostile57Steps(tl *Tailer, now time.Time) time.Time {
	for range 6 {
		now = now.Add(time.Second)
		tl.poll(now)
		tl.rescan(now, false)
		tl.readTurn(now)
	}
	return now
}

// TestHostile57NumberedCompressedCopy: logrotate without dateext numbers
// its copies, and with compress (no delaycompress) the newest one is
// 0.log.1.gz: one is beside the file when the tailer opens it (an earlier
// rotation). The file is written, nothing of it read, and copytruncated:
// logrotate renames 0.log.1.gz to 0.log.2.gz, copies the file to
// 0.log.1, truncates it and compresses the copy to 0.log.1.gz, all before
// the copy's creation notice is taken. The name 0.log.1.gz was beside the
// file at its start, but not this file: its lines are owed, once.
func TestHostile57NumberedCompressedCopy(t *testing.T) {
	tl, path, take := outTailer(t)
	appendFile(t, path+".1", lines(900, 905)) // an earlier rotation's copy
	mustGzip(t, path+".1")
	afterTick(t, time.Now())
	now := firstRead(t, tl, path, "", take, 0)
	appendFile(t, path, lines(0, 40))
	numberedCopytruncate(t, tl, path)
	appendFile(t, path, lines(40, 45))
	hostile57Steps(tl, now)
	if diff := cmp.Diff(upto(0, 45), hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile57DockerCutAcrossStop: docker json-file lines are not carried
// across a rotation: the value without its newline at the end of the
// rotated file is emitted cut, and the first line of its stream in the
// next file is flagged (TestDockerPartialCutByRotation). The agent stops
// after the cut, before the line's end is written to the next file: the
// next agent flags that line too, as one that did not stop would have;
// also when the next file's first line, on the other stream, was read and
// acknowledged before the stop (its checkpoint offset past it).
func TestHostile57DockerCutAcrossStop(t *testing.T) {
	docker := func(seq, stream string) string {
		return `{"log":"` + seq + `","stream":"` + stream + `","time":"2026-11-26T03:55:09.3Z"}` + "\n"
	}
	for _, acked := range []bool{false, true} {
		t.Run(map[bool]string{false: "next file empty", true: "other stream acknowledged"}[acked], func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			one := docker(`seq=0 whole\n`, "stdout") + docker("seq=1 first half ", "stderr")
			appendFile(t, path, one)
			r := startRunner(t, testConfig(dir, state), Options{})
			readUpTo(t, r, int64(len(one)), "the first file read")
			mustRename(t, path, path+".20261126-035509")
			after := docker(`seq=2 whole\n`, "stdout")
			if acked {
				appendFile(t, path, after)
				after = ""
			} else {
				appendFile(t, path, "")
			}
			newIno := inoOf(t, path)
			waitFor(t, 5*time.Second, "the cut line, the new file followed", func() bool {
				e, ok := inoEntry(t, state, newIno)
				_, n := recOf(r, "seq=1 first half ")
				return ok && n == 1 && (!acked || e.Offset > 0) && testutil.ToFloat64(r.tl.m.openFiles) == 1
			})
			r.stop()
			if err := r.tl.Close(); err != nil {
				t.Fatal(err)
			}
			appendFile(t, path, after+docker(`second half\n`, "stderr")+docker(`seq=3 whole\n`, "stdout"))
			r2 := startRunner(t, testConfig(dir, state), Options{})
			waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 3) })
			r2.stop()
			if x, n := recOf(r2, "second half"); n != 1 || !x.truncated {
				t.Errorf("the end of the cut line %+v (%d of them), want it once, flagged truncated", x, n)
			}
			for _, seq := range []string{"seq=2 ", "seq=3 "} {
				if x, n := recOf(r2, seq); (n != 1 && (seq == "seq=3 " || !acked)) || x.truncated {
					t.Errorf("stdout line %s%+v (%d of them), want it once, not flagged", seq, x, n)
				}
			}
		})
	}
}

// TestHostile57DelaycompressRenameNotACopy: logrotate with numbered
// names, copytruncate, compress and delaycompress, on a quiet file: at
// each rotation the previous copy (0.log.1, its lines read from the file
// before its truncation) is renamed 0.log.2 and compressed to 0.log.2.gz,
// and the file, nothing written to it since, is copied to 0.log.1 and
// truncated. The rename's notice (a creation of 0.log.2) taken after the
// compression names no copy of the file's generation: nothing is read
// twice. With older, an earlier rotation's 0.log.2.gz is beside the file
// from the start (moved to 0.log.3.gz first).
func TestHostile57DelaycompressRenameNotACopy(t *testing.T) {
	for _, older := range []bool{false, true} {
		name := "first rotations"
		if older {
			name = "steady state"
		}
		t.Run(name, func(t *testing.T) {
			tl, path, take := outTailer(t)
			if older {
				appendFile(t, path+".2", lines(900, 905))
				mustGzip(t, path+".2")
			}
			now := firstRead(t, tl, path, lines(0, 10), take, 10)
			afterTick(t, time.Now())
			// The rotation before: copied, truncated; the file's read
			// finds the truncation.
			hostile51CopyTo(t, path, path+".1")
			tl.copyCreated(path + ".1")
			now = hostile57Steps(tl, now)
			afterTick(t, time.Now())
			// This rotation: nothing written since.
			if older {
				mustRename(t, path+".2.gz", path+".3.gz")
			}
			mustRename(t, path+".1", path+".2")
			mustGzip(t, path+".2")
			hostile51CopyTo(t, path, path+".1")
			tl.copyCreated(path + ".2") // the rename's notice, taken late
			tl.copyCreated(path + ".1")
			appendFile(t, path, lines(10, 15))
			hostile57Steps(tl, now)
			if diff := cmp.Diff(upto(0, 15), hostile50Seqs(take())); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// hostile57Ack acknowledges the lines logs.
func hostile57Ack(tl *Tailer, logs []event.Log) {
	var cs []event.Cursor
	for _, l := range logs {
		if !l.End {
			cs = append(cs, l.Cursor)
		}
	}
	tl.Ack(cs)
}

// TestHostile57DelaycompressRenameAfterRestart: as
// TestHostile57DelaycompressRenameNotACopy, with an agent restart between
// the two rotations: the new agent read nothing at the path, and the
// previous copy (0.log.1, its lines delivered and acknowledged by the
// agent before) was beside the file at its start. Renamed 0.log.2 and
// compressed, it is no copy of the file's generation: its lines are not
// delivered again.
func TestHostile57DelaycompressRenameAfterRestart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, take := outTailerIn(t, dir, state)
	now := firstRead(t, tl, path, lines(0, 10), take, 10)
	hostile57Ack(tl, take())
	afterTick(t, time.Now())
	hostile51CopyTo(t, path, path+".1")
	tl.copyCreated(path + ".1")
	now = hostile57Steps(tl, now)
	hostile57Ack(tl, take())
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()

	tl2, take2 := outTailerIn(t, dir, state)
	var saved []stateEntry
	for _, es := range tl2.resume {
		saved = append(saved, es...)
	}
	now = now.Add(time.Minute)
	tl2.rescan(now, true)
	tl2.resumeRotated(now, saved)
	now = hostile57Steps(tl2, now)
	afterTick(t, time.Now())
	mustRename(t, path+".1", path+".2")
	mustGzip(t, path+".2")
	hostile51CopyTo(t, path, path+".1")
	tl2.copyCreated(path + ".2") // the rename's notice, taken late
	tl2.copyCreated(path + ".1")
	appendFile(t, path, lines(10, 15))
	hostile57Steps(tl2, now)
	if diff := cmp.Diff(upto(10, 15), hostile50Seqs(take2())); diff != "" {
		t.Errorf("lines after the restart (-want +got):\n%s", diff)
	}
}

// TestHostile57CarriedRotatedCompressedWhileDown: a stderr fragment was
// carried into the new file when the agent stopped. While no agent runs,
// the line's end is written to the new file, kubelet rotates it (the
// rotated file holding the fragment is compressed first, the new file
// renamed), and a third file follows. The next agent finds the fragment
// in the compressed file and the line's end in the renamed one: the line
// arrives once, merged, not flagged.
func TestHostile57CarriedRotatedCompressedWhileDown(t *testing.T) {
	dir, state, path, rot, _ := carriedAtStop(t, "stderr")
	appendFile(t, path, criLine("stderr", "F", "second half")+lines(4, 6))
	mustGzip(t, rot)
	mustRename(t, path, path+".20261126-035609")
	appendFile(t, path, lines(6, 8))
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 7) })
	r2.stop()
	if x, n := recOf(r2, "seq=3 first half second half"); n != 1 || x.truncated {
		t.Errorf("the merged line %+v (%d of them), want it once, not flagged", x, n)
	}
	if _, n := recOf(r2, "second half"); n != 0 {
		t.Errorf("the line's end delivered alone %d times", n)
	}
	if got := seqs(r2.snapshot()); !cmp.Equal(got, upto(3, 8)) {
		t.Errorf("lines %v, want 3..7", got)
	}
}

// TestHostile57TwoCopiesCompressedBeforeNotices: nothing read of the file,
// it is copytruncated twice (dateext names with the time) and both copies
// compressed before either creation notice is taken (in the order they
// were made, as one directory's notices come): every line once, in order.
func TestHostile57TwoCopiesCompressedBeforeNotices(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, "", take, 0)
	appendFile(t, path, lines(0, 20))
	c1, c2 := path+"-20261206-000001", path+"-20261206-000002"
	hostile51CopyTo(t, path, c1)
	appendFile(t, path, lines(20, 40))
	hostile51CopyTo(t, path, c2)
	appendFile(t, path, lines(40, 45))
	mustGzip(t, c1)
	mustGzip(t, c2)
	tl.copyCreated(c1)
	tl.copyCreated(c2)
	hostile57Steps(tl, now)
	if diff := cmp.Diff(upto(0, 45), hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile57NumberedCopyPlainAtTruncation: logrotate with numbered
// names, copytruncate and compress (no delaycompress) truncates the file
// and compresses its copy, 0.log.1, after: the tailer handles the
// truncation while the copy is still plain, and the generation after it
// starts with 0.log.1 beside it. That generation is written, nothing of it
// read, and rotated the same way: 0.log.1.gz moved to 0.log.2.gz, the new
// copy made as 0.log.1 and compressed before its notice is taken. Its
// lines are owed, once.
func TestHostile57NumberedCopyPlainAtTruncation(t *testing.T) {
	tl, path, take := outTailer(t)
	now := firstRead(t, tl, path, lines(0, 10), take, 10)
	afterTick(t, time.Now())
	hostile51CopyTo(t, path, path+".1")
	tl.copyCreated(path + ".1")
	now = hostile57Steps(tl, now) // the truncation handled: 0.log.1 plain
	mustGzip(t, path+".1")
	afterTick(t, time.Now())
	appendFile(t, path, lines(10, 20)) // not read before the next rotation
	numberedCopytruncate(t, tl, path)
	appendFile(t, path, lines(20, 25))
	hostile57Steps(tl, now)
	if diff := cmp.Diff(upto(0, 25), hostile50Seqs(take())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestHostile57ContCopytruncatedWhileDown: a stderr fragment was carried
// into the new, empty file when the agent stopped (its entry names
// stderr). While no agent runs, the line's end is written to it and it is
// copytruncated (logrotate), then written again: an unrelated whole
// stderr line first. The next agent carries the fragment from the rotated
// file into the copy, read before the file, where the line ends: the
// line arrives once, merged, and the file's first stderr line, unrelated,
// is not flagged.
func TestHostile57ContCopytruncatedWhileDown(t *testing.T) {
	dir, state, path, _, newIno := carriedAtStop(t, "stderr")
	if e, ok := inoEntry(t, state, newIno); !ok || e.Cont != 2 {
		t.Fatalf("premise: the new file's entry %+v (found %v) names stderr", e, ok)
	}
	appendFile(t, path, criLine("stderr", "F", "second half")+lines(4, 6))
	hostile51CopyTo(t, path, path+".20261126-035609")
	appendFile(t, path, criLine("stderr", "F", "unrelated whole")+lines(6, 8))
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 7) })
	r2.stop()
	if x, n := recOf(r2, "seq=3 first half second half"); n != 1 || x.truncated {
		t.Errorf("the merged line %+v (%d of them), want it once, not flagged", x, n)
	}
	if x, n := recOf(r2, "unrelated whole"); n != 1 || x.truncated {
		t.Errorf("the file's first stderr line %+v (%d of them), want it once, not flagged", x, n)
	}
}

// numberedCopytruncate rotates path as logrotate does with numbered names,
// copytruncate and compress: 0.log.1.gz moved to 0.log.2.gz, the file
// copied to 0.log.1 and truncated, the copy compressed; the copy's
// creation notice is taken after.
func numberedCopytruncate(t *testing.T, tl *Tailer, path string) {
	t.Helper()
	mustRename(t, path+".1.gz", path+".2.gz")
	hostile51CopyTo(t, path, path+".1")
	mustGzip(t, path+".1")
	tl.copyCreated(path + ".1")
}
