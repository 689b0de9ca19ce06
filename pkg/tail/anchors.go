package tail

import (
	"os"
	"path/filepath"
)

// Anchors: the newest finished rotated file of each path.
//
// The checkpoint forgets a rotated file once it was read to its end and
// every line of it acknowledged. Without more, the next agent could not
// tell such a file from one nobody read: after kubelet rotated and
// compressed while no agent ran, a compressed file (whose time is when it
// was compressed) would be read again, and an entry written while its file
// was empty, whose file was then written, rotated and compressed, could be
// found nowhere and counted as lost. So the checkpoint keeps, per path, an
// anchor: the newest rotated file finished, with its identity and its end,
// marked done (a file finished empty does not replace an anchor: it has no
// first bytes to be found by once compressed; it is kept beside it, the
// path's empty anchor, found while it is plain, so that the files after it
// are still known newer when kubelet deleted the anchor). At a start it is found like any entry (plain by inode and
// fingerprint, compressed by fingerprint): the files older than it are not
// read again, the ones after it are read from 0, and an empty-when-
// checkpointed entry newer than it was not deleted (kubelet deletes the
// oldest first, and the anchor is still there; for the file that was
// current, any other file of the path that is found tells the same,
// rotated.go emptyIsNewer). A done file that vanished
// lost nothing and is not counted. A done file found longer than it was
// finished (a rotation undone just before the stop: closed as rotated,
// then renamed back, written and rotated again while no agent ran) is
// read on from where it was finished (discovery.go grownSince), and so is
// a copy of it that copytruncate made then, found by its first bytes
// (copyGrown); an empty
// anchor's entry is not resumed for its file once that has lines (a file
// that reuses the inode, or the anchor's own file renamed back, which an
// undone rotation's check reads on from where this agent stopped).

// anchor records f, a rotated file just closed at its end, as its path's
// anchor. Call it from Run's goroutine.
//
// Under the key f is checkpointed by (its tracker's): a rotated file
// continued from its .gz is checkpointed under its own inode's key, as
// its closed tracker is (discovery.go rotatedAfter). Anchored under the
// .gz's key of its own, the next start took the anchor and the closed
// tracker's entry, not acknowledged yet, for two files: the anchor
// (knowing more first bytes) for the .gz, the other counted vanished,
// and its lines were lost (TestClosedThenContinuedCompressedKilledBeforeAck).
func (t *Tailer) anchor(f *follower) {
	key := f.key
	if f.tr != nil {
		key = f.tr.key
	}
	t.setAnchor(stateEntry{Dev: key.dev, Ino: key.ino, FingerprintLen: f.fpLen, Fingerprint: fpHash(f.fp[:f.fpLen]),
		Path: f.dec.path, Offset: f.consumed, AckedTo: f.consumed})
}

// setAnchor makes e, a rotated file finished at e.Offset, its path's
// anchor, unless it has no first bytes and the path's anchor has: then it
// is the path's empty anchor, kept beside the anchor (emptyAnchors). Call
// it in the order the files were finished (or, at a start, rotated).
// Every anchor is set here: a file closed at its end, one finished at the
// stop (tailer.go closeAll), and at a start a done entry found again or a
// compressed file the checkpoint has at its end (rotated.go).
func (t *Tailer) setAnchor(e stateEntry) {
	e.Done = true
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.anchors[e.Path]; ok && e.FingerprintLen == 0 && a.FingerprintLen > 0 {
		// An empty file (rotated before anything was written to it) has
		// no first bytes to be found by once compressed; the anchor
		// before it has, and is older than every file not finished too.
		// It is kept beside the anchor: while it is plain it is found by
		// its inode, and it tells that the files after it are newer when
		// kubelet deleted the anchor (the oldest first) but not it.
		if t.emptyAnchors[e.Path] != e {
			t.emptyAnchors[e.Path] = e
			t.changes++
		}
		return
	}
	if _, ok := t.emptyAnchors[e.Path]; ok {
		delete(t.emptyAnchors, e.Path) // older than the new anchor
		t.changes++
	}
	if t.anchors[e.Path] != e {
		t.anchors[e.Path] = e
		t.changes++
	}
}

// anchorEntries returns the anchors whose file has no entry of its own
// (named holds the files named already, by entryID), to be written with
// the others. In the final checkpoint (final), an anchor whose file is
// back at its path, and not followed there (at: the key and path of each
// tracker, entryID without first bytes), is written as not done: kubelet
// undid the rotation after the last look (see backAtPath). Followed, the
// tracker's entry is the file's, and the anchor stays done: not done, its
// lower offset was where the next agent resumed, and what the tracker
// had read came twice (TestUndoneRotationAnchorAndTracker). Call it with
// t.mu held.
func (t *Tailer) anchorEntries(named map[entryID]bool, at map[entryID]bool, final bool) []stateEntry {
	var out []stateEntry
	for _, m := range []map[string]stateEntry{t.anchors, t.emptyAnchors} {
		for _, e := range m {
			if !named[e.id()] {
				named[e.id()] = true
				if final && !at[entryID{key: e.key(), path: e.Path}] && backAtPath(e) {
					e.Done = false
				}
				out = append(out, e)
			}
		}
	}
	return out
}

// backAtPath says whether e, an anchor with first bytes, is the file at its
// path again: renamed back there (a rotation kubelet undid) after it was
// finished as a rotated file and before the tailer looked again. Its entry
// is then the path's current file's, not a finished one's: the next agent
// reads on from its end (as it would a done one found grown), and if
// kubelet rotates and deletes it before then, with lines written since,
// the file is counted as vanished, where a finished one would have lost
// nothing (TestFinishedBackAtPathAtStopThenDeleted).
func backAtPath(e stateEntry) bool {
	if e.FingerprintLen == 0 {
		return false // no first bytes: any file reusing the inode matches
	}
	fh, err := openRegular(e.Path)
	if err != nil {
		return false
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return false
	}
	var buf [fpSize]byte
	k, _ := keyOf(fi)
	n := readFP(fh, buf[:])
	return k == e.key() && n >= e.FingerprintLen && fpHash(buf[:e.FingerprintLen]) == e.Fingerprint
}

// pruneAnchors forgets the anchors of paths whose directory is gone (the
// pod was deleted). Only paths not followed are looked at.
func (t *Tailer) pruneAnchors() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p := range t.anchors {
		if t.byPath[p] != nil {
			continue
		}
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			delete(t.anchors, p)
			delete(t.emptyAnchors, p)
			t.changes++
		}
	}
}
