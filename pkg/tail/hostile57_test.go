package tail

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	mustRename(t, path+".1.gz", path+".2.gz")
	hostile51CopyTo(t, path, path+".1")
	mustGzip(t, path+".1")
	tl.copyCreated(path + ".1") // the copy's creation, taken late
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
// after the cut, before anything is written to the next file: the next
// agent flags that line too, as one that did not stop would have.
func TestHostile57DockerCutAcrossStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := `{"log":"seq=0 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.1Z"}` + "\n" +
		`{"log":"seq=1 first half ","stream":"stderr","time":"2026-11-26T03:55:09.2Z"}` + "\n"
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, "")
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the cut line and the new file followed", func() bool {
		_, ok := inoEntry(t, state, newIno)
		_, n := recOf(r, "seq=1 first half ")
		return ok && n == 1 && testutil.ToFloat64(r.tl.m.openFiles) == 1
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, `{"log":"seq=2 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.3Z"}`+"\n"+
		`{"log":"second half\n","stream":"stderr","time":"2026-11-26T03:55:09.4Z"}`+"\n"+
		`{"log":"seq=3 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.5Z"}`+"\n")
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 3) })
	r2.stop()
	if x, n := recOf(r2, "second half"); n != 1 || !x.truncated {
		t.Errorf("the end of the cut line %+v (%d of them), want it once, flagged truncated", x, n)
	}
	if x, n := recOf(r2, "seq=2 "); n != 1 || x.truncated {
		t.Errorf("stdout's first line %+v (%d of them), want it once, not flagged", x, n)
	}
}

// TestHostile57DockerCutOtherStreamAcked: as TestHostile57DockerCutAcrossStop,
// but the next file's first line is on the other stream, read and
// acknowledged before the stop (its checkpoint offset past it). The end of
// the cut line, written after the stop, is still flagged.
func TestHostile57DockerCutOtherStreamAcked(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	one := `{"log":"seq=0 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.1Z"}` + "\n" +
		`{"log":"seq=1 first half ","stream":"stderr","time":"2026-11-26T03:55:09.2Z"}` + "\n"
	appendFile(t, path, one)
	r := startRunner(t, testConfig(dir, state), Options{})
	readUpTo(t, r, int64(len(one)), "the first file read")
	mustRename(t, path, path+".20261126-035509")
	appendFile(t, path, `{"log":"seq=2 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.3Z"}`+"\n")
	newIno := inoOf(t, path)
	waitFor(t, 5*time.Second, "the new file's first line acknowledged", func() bool {
		e, ok := inoEntry(t, state, newIno)
		return ok && e.Offset > 0 && testutil.ToFloat64(r.tl.m.openFiles) == 1
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, `{"log":"second half\n","stream":"stderr","time":"2026-11-26T03:55:09.4Z"}`+"\n"+
		`{"log":"seq=3 whole\n","stream":"stdout","time":"2026-11-26T03:55:09.5Z"}`+"\n")
	r2 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 3) })
	r2.stop()
	if x, n := recOf(r2, "second half"); n != 1 || !x.truncated {
		t.Errorf("the end of the cut line %+v (%d of them), want it once, flagged truncated", x, n)
	}
	if x, n := recOf(r2, "seq=3 "); n != 1 || x.truncated {
		t.Errorf("the stdout line after it %+v (%d of them), want it once, not flagged", x, n)
	}
}
