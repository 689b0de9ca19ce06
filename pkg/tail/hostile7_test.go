package tail

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// entryOf is the checkpoint entry of the file at p, read up to off, under
// path.
func entryOf(t *testing.T, path, p string, off int64) stateEntry {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keyOf(fi)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := min(len(data), fpSize)
	return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: n, Fingerprint: fpHash(data[:n]), Path: path, Offset: off, AckedTo: off}
}

// TestEmptyRotatedEntryLateLines: the checkpoint (what a SIGKILL leaves)
// names a file rotated while empty, not yet final (the runtime may still
// write to it for a moment), and its successor, the new 0.log. After the
// kill the runtime's last lines land in the rotated file; while no agent
// runs, kubelet rotates 0.log and compresses the older file. The empty
// entry is not found (no first bytes to match in a .gz), and the file found
// (the successor) is newer than it, so nothing reads the .gz: its lines
// must be read, or at least counted lost, never dropped silently.
func TestEmptyRotatedEntryLateLines(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	cfg := testConfig(dir, state)
	ts1, ts2 := path+".20261126-035500", path+".20261126-035510"
	appendFile(t, path, "")
	mustRename(t, path, ts1) // rotated while empty
	appendFile(t, path, lines(100, 101))
	if err := writeState(state, []stateEntry{entryOf(t, path, ts1, 0), entryOf(t, path, path, 0)}); err != nil {
		t.Fatal(err)
	}
	// The agent is killed. The runtime's last write to the renamed file
	// lands, then it writes to the new one.
	appendFile(t, ts1, lines(0, 5))
	appendFile(t, path, lines(101, 110))
	// kubelet's next rotation: 0.log renamed, the older file compressed.
	mustRename(t, path, ts2)
	mustGzip(t, ts1)
	appendFile(t, path, lines(200, 210))
	r := startRunner(t, cfg, Options{})
	waitFor(t, 5*time.Second, "the current file's lines", func() bool { return hasSeq(r, 209) })
	r.stop()
	late := 0
	for _, s := range seqs(r.snapshot()) {
		if s < 5 {
			late++
		}
	}
	lost := testutil.ToFloat64(r.tl.m.lostFiles.WithLabelValues(lostVanished))
	if late < 5 && lost == 0 {
		t.Errorf("%d of the 5 lines of the compressed file read, and no loss counted: lines lost silently", late)
	}
}
