package tail

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCarriedContinuationFlaggedAcrossRestarts: a stderr fragment was
// carried into the new, empty file when the agent stopped; the rotated
// file is deleted while no agent runs. The new file's checkpoint entry
// names the stream carried into it (Cont), so the next agent flags the
// line's end; stopped before that line is acknowledged, it writes Cont
// again, and the agent after it flags it too, with nothing more counted
// vanished.
func TestCarriedContinuationFlaggedAcrossRestarts(t *testing.T) {
	dir, state, path, newIno := carriedThenDeleted(t, "stderr")
	if e, ok := inoEntry(t, state, newIno); !ok || e.Offset != 0 || e.Cont != 2 {
		t.Fatalf("the new file's entry %+v (found %v), want offset 0 and cont 2 (stderr)", e, ok)
	}
	appendFile(t, path, criLine("stdout", "F", "seq=4 whole")+criLine("stderr", "F", "second half")+lines(5, 7))

	for round := range 2 {
		r2 := startRunner(t, testConfig(dir, state), Options{})
		r2.setHold(true) // nothing acknowledged: the entry stays at offset 0
		waitFor(t, 5*time.Second, "the lines after the restart", func() bool { return hasSeq(r2, 6) })
		r2.stop()
		if err := r2.tl.Close(); err != nil {
			t.Fatal(err)
		}
		x, n := recOf(r2, "second half")
		if n != 1 || !x.truncated {
			t.Errorf("round %d: the end of the carried line %+v (%d of them), want it once, flagged truncated", round, x, n)
		}
		if y, n := recOf(r2, "seq=4 "); n != 1 || y.truncated {
			t.Errorf("round %d: stdout's first line %+v (%d of them), want it once, not flagged", round, y, n)
		}
		wantVanished := 1.0
		if round > 0 {
			wantVanished = 0
		}
		if got := testutil.ToFloat64(r2.tl.m.lostFiles.WithLabelValues(lostVanished)); got != wantVanished {
			t.Errorf("round %d: files counted vanished = %v, want %v", round, got, wantVanished)
		}
		if e, ok := inoEntry(t, state, newIno); !ok || e.Offset != 0 || e.Cont != 2 {
			t.Errorf("round %d: the entry after the stop %+v (found %v), want offset 0 and cont 2", round, e, ok)
		}
	}

	// Acknowledged, the file's entry moves on and names no stream.
	r3 := startRunner(t, testConfig(dir, state), Options{})
	waitFor(t, 5*time.Second, "the lines acknowledged", func() bool {
		e, ok := inoEntry(t, state, newIno)
		return ok && e.Offset > 0
	})
	r3.stop()
	if err := r3.tl.Close(); err != nil {
		t.Fatal(err)
	}
	if e, _ := inoEntry(t, state, newIno); e.Cont != 0 {
		t.Errorf("entry %+v after its lines were acknowledged, want no cont", e)
	}
}

// TestStateEntryCont: cont is a stream mask; anything else makes the entry
// invalid (skipped and counted, the rest used).
func TestStateEntryCont(t *testing.T) {
	for _, tc := range []struct {
		cont string
		ok   bool
	}{{"0", true}, {"1", true}, {"2", true}, {"3", true}, {"4", false}, {"-1", false}, {`"x"`, false}} {
		raw := `{"dev":1,"ino":2,"fingerprint_len":0,"fingerprint":"cbf29ce484222325","path":"/a/0.log","offset":0,"cont":` + tc.cont + `}`
		e, err := parseEntry([]byte(raw))
		if (err == nil) != tc.ok {
			t.Errorf("cont %s: entry %+v, err %v; want valid %v", tc.cont, e, err, tc.ok)
		}
	}
	if got := contBits([2]bool{true, true}); got != 3 {
		t.Errorf("contBits(both) = %d, want 3", got)
	}
}

// carriedThenDeleted is carriedAtStop, with the rotated file deleted
// after the stop.
func carriedThenDeleted(t *testing.T, stream string) (dir, state, path string, newIno uint64) {
	t.Helper()
	dir, state, path, rot, newIno := carriedAtStop(t, stream)
	if err := os.Remove(rot); err != nil {
		t.Fatal(err)
	}
	return dir, state, path, newIno
}

// carriedAtStop: a fragment of stream is read at the end of a file, the
// file is rotated (to rot) and the fragment carried into the new, empty
// one; the agent stops. It returns the container's directories, its path,
// the rotated file and the new file's inode.
func carriedAtStop(t *testing.T, stream string) (dir, state, path, rot string, newIno uint64) {
	t.Helper()
	dir, state = t.TempDir(), t.TempDir()
	path = mkContainer(t, dir, "ns_pod_uid")
	head := lines(0, 3)
	appendFile(t, path, head)
	r := startRunner(t, testConfig(dir, state), Options{})
	frag := criLine(stream, "P", "seq=3 first half ")
	appendFile(t, path, frag)
	readUpTo(t, r, int64(len(head)+len(frag)), "the fragment read")
	rot = path + ".20261126-035509"
	mustRename(t, path, rot)
	appendFile(t, path, "")
	newIno = inoOf(t, path)
	waitFor(t, 5*time.Second, "the new file followed and the rotated one closed", func() bool {
		_, ok := inoEntry(t, state, newIno)
		return ok && testutil.ToFloat64(r.tl.m.openFiles) == 1 && hasSeq(r, 2)
	})
	r.stop()
	if err := r.tl.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, state, path, rot, newIno
}
