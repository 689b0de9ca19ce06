package tail

import (
	"fmt"
	"testing"
	"time"
)

// TestLaterFileRenamedAwayAtStop: a file nothing was read of (written,
// renamed away by kubelet's rotation before its read; the rename seen) is
// followed as rotated; the runtime makes the path's next file, which is
// written and renamed away in turn before the tailer found it, and the
// agent stops before the runtime makes the next one: nothing is at the
// path. The later file is not a copy of the first: its lines come after
// the first file's. The next agent reads every line once, in order.
func TestLaterFileRenamedAwayAtStop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state)
	path := mkContainer(t, dir, "ns_pod_uid")
	tl, f := followEmpty(t, cfg, path)
	appendFile(t, path, lines(0, 5))
	away := path + ".20261206-000001"
	mustRename(t, path, away)
	tl.check(f, time.Now())
	if f.st != stRotated || f.off != 0 {
		t.Fatalf("the rotation not seen, or read: state %v, offset %d", f.st, f.off)
	}
	bornLater(t, path, away, lines(5, 10)) // never found
	mustRename(t, path, path+".20261206-000002")
	tl.lastLook(time.Now())
	if err := tl.commit(true); err != nil {
		t.Fatal(err)
	}
	tl.closeAll()
	restartWant(t, cfg, 0, 10)
}

// hostile63StartTick starts an agent on a checkpoint that read the file
// at the path to its end (lines 0-5), after an older rotated file read
// whole. between runs after the start's scan resumed the file, in the
// start's tick of the file system's clock (simulated as in
// TestCopyMadeAsTheAgentStartsInItsTick: the start's tick is the birth of
// the file mark names, which the start's listing took), before the start
// looks at the rotated files.
func hostile63StartTick(t *testing.T, between func(path string) (mark string)) (*Tailer, *follower, string) {
	t.Helper()
	dir, state := t.TempDir(), t.TempDir()
	path := mkContainer(t, dir, "ns_pod_uid")
	old, first := lines(100, 103), lines(0, 5)
	r0 := path + ".20261206-000001"
	appendFile(t, r0, old)
	appendFile(t, path, first)
	entry := func(p, data string, done bool) stateEntry {
		k := statKeyT(t, p)
		n := int64(len(data))
		return stateEntry{Dev: k.dev, Ino: k.ino, FingerprintLen: len(data), Fingerprint: fpHash([]byte(data)), Path: path, Offset: n, AckedTo: n, Done: done}
	}
	if err := writeState(state, []stateEntry{entry(r0, old, true), entry(path, first, false)}); err != nil {
		t.Fatal(err)
	}
	tl := newIdleTailerIn(t, dir, state)
	now := time.Now()
	tl.loadState(now)
	var saved []stateEntry
	for _, es := range tl.resume {
		saved = append(saved, es...)
	}
	tl.rescan(now, true)
	cur := tl.byPath[path]
	if cur == nil || cur.off != int64(len(first)) {
		t.Fatalf("the file at the path not resumed at its offset: %+v", cur)
	}
	mark := between(path)
	if mark != "" {
		b, ok := born(mark)
		if !ok {
			t.Skip("no birth times on this file system")
		}
		cur.opened, cur.tick = b, true
		cur.took = append(cur.took, birth{key: statKeyT(t, mark), at: b})
	}
	tl.resumeRotated(now, saved)
	return tl, cur, path
}

// TestStartTickCopyCompressedBeforeLook: the copy copytruncate made of
// the file the start resumed is compressed (logrotate's compress, no
// delaycompress) before the start looks at the rotated files, its .gz
// born after the start's listing or in its tick. What the checkpoint read
// (lines 0-4) is not read again from the .gz: the file's truncation finds
// it and reads it from the file's offset.
func TestStartTickCopyCompressedBeforeLook(t *testing.T) {
	for _, inTick := range []bool{false, true} {
		t.Run(fmt.Sprintf("in the tick %v", inTick), func(t *testing.T) {
			tl, cur, _ := hostile63StartTick(t, func(path string) string {
				cp := path + ".20261206-000002"
				hostile51CopyTo(t, path, cp)
				appendFile(t, path, lines(5, 6))
				mustGzip(t, cp)
				if inTick {
					return cp + ".gz"
				}
				return ""
			})
			readAllWant(t, tl, cur, upto(5, 6))
		})
	}
}
