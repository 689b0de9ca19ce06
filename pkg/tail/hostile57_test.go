package tail

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

