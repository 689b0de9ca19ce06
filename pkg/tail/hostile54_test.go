package tail

import (
	"testing"
	"time"
)

// hostile54Start is an agent's start on dir with the checkpoint in state
// (none: a fresh agent) and kubelet's work between its scan and its look
// at the rotated files (between). It returns the tailer, its lines, and
// the time of the start.
func hostile54Start(t *testing.T, dir, state string, between func()) (*Tailer, func() []int, time.Time) {
	t.Helper()
	tl, take := outTailerIn(t, dir, state)
	var saved []stateEntry // as Run starts
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	now := time.Now()
	tl.rescan(now, true)
	between()
	tl.resumeRotated(now, saved)
	return tl, func() []int { return hostile50Seqs(take()) }, now
}

// TestHostile54TwoRotationsAsTheAgentStarts: the scan opens 0.log, and
// kubelet rotates it twice before the rotated files are looked at: the
// file the scan opened is renamed, the next 0.log written and renamed too,
// and the first one compressed (kubelet gzips every rotated file but the
// newest: the file the scan opened is compressed only once a second one
// was rotated after it). The second rotated file is newer than the file
// the scan's follower reads: its lines come after that file's, once,
// whether or not the second file was read to its end before the rotation
// of 0.log is noticed. A fresh agent, and one resuming from a checkpoint;
// and the same without compression (a rotator that does not compress:
// the scan's file is then found among the siblings by its inode).
func TestHostile54TwoRotationsAsTheAgentStarts(t *testing.T) {
	for _, c := range []struct{ compress, restart, readFirst bool }{
		{true, false, false}, {true, false, true}, {true, true, false}, {true, true, true},
		{false, false, false}, {false, false, true}, {false, true, false}, {false, true, true},
	} {
		compress, restart, readFirst := c.compress, c.restart, c.readFirst
		name := map[bool]string{false: "plain", true: "compressed"}[compress] + "/" +
			map[bool]string{false: "fresh", true: "restart"}[restart] + "/" +
			map[bool]string{false: "rotation noticed first", true: "rotated file read first"}[readFirst]
		t.Run(name, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := mkContainer(t, dir, "ns_pod_uid")
			appendFile(t, path, lines(0, 10))
			want := upto(0, 30)
			if restart {
				if err := writeState(state, []stateEntry{entryOf(t, path, path, int64(len(lines(0, 5))))}); err != nil {
					t.Fatal(err)
				}
				want = upto(5, 30)
			}
			r1, r2 := path+".20261206-120001", path+".20261206-120002"
			tl, take, now := hostile54Start(t, dir, state, func() {
				appendFile(t, path, lines(10, 15))
				mustRename(t, path, r1)
				appendFile(t, path, lines(15, 25))
				if compress {
					mustGzip(t, r1)
				}
				mustRename(t, path, r2)
				appendFile(t, path, lines(25, 30))
			})
			if readFirst {
				for range 6 {
					now = now.Add(time.Second)
					tl.readTurn(now)
				}
			}
			hostile51Steps(tl, now)
			hostile51Once(t, want, take())
		})
	}
}
