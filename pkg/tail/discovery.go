package tail

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ignoredName reports files that are never logs being written: compressed or
// temporary files and kubelet's rotated copies (0.log.20261126-035509).
func ignoredName(path string) bool {
	base := filepath.Base(path)
	for _, s := range []string{".gz", ".tmp", ".swp", ".zip", ".bz2", ".xz", ".zst", ".lz4", "~"} {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	if i := strings.Index(base, ".log."); i >= 0 {
		rest := base[i+5:]
		if rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return true
		}
	}
	return false
}

func (t *Tailer) excluded(path string) bool {
	base := filepath.Base(path)
	for _, p := range t.cfg.Exclude {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
		if ok, _ := filepath.Match(p, base); ok {
			return true
		}
	}
	return false
}

// included says whether a scan would take path.
func (t *Tailer) included(path string) bool {
	if ignoredName(path) || t.excluded(path) {
		return false
	}
	for _, p := range t.cfg.Include {
		if ok, _ := filepath.Match(p, path); ok {
			return true
		}
	}
	return t.linkTargets[path] != "" // links.go
}

// rotated remembers the last rotated file closed for a path, to find the
// files rotated after it that were never opened.
type rotated struct {
	fi  os.FileInfo
	key fileKey
	// Where reading stopped and the first bytes: if kubelet renames the
	// file back (an undone rotation), reading continues there.
	off   int64
	fp    [fpSize]byte
	fpLen int
	born  time.Time // its birth time; zero if unknown
}

// undoneBy says whether the file key, starting with fp, size bytes long
// and born at born (zero: unknown), is r renamed back: the same inode and
// birth, and it starts as r did and is as long as r was read. A new file
// that got r's inode once r was compressed and deleted (file systems hand
// a freed inode to the next file at once) was taken for r when r was
// closed empty (no first bytes to tell them apart), and the path lost its
// last rotated file: the files rotated after r were never read.
func (r rotated) undoneBy(key fileKey, fp []byte, size int64, born time.Time) bool {
	if r.key != key || r.fpLen > len(fp) || !bytes.Equal(r.fp[:r.fpLen], fp[:r.fpLen]) || r.off > size {
		return false
	}
	return r.born.IsZero() || born.IsZero() || r.born.Equal(born)
}

// rescan expands the include globs and starts following new files.
func (t *Tailer) rescan(now time.Time, initial bool) {
	for p := range t.lastRotated {
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			delete(t.lastRotated, p)
		}
	}
	for p := range t.seenPaths {
		if t.byPath[p] != nil {
			continue // followed: no stat
		}
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			delete(t.seenPaths, p)
		}
	}
	t.pruneAnchors()
	var listed map[string]bool // the link directories' entries (links.go)
	complete := true
	for _, p := range t.cfg.Include {
		ms, err := glob(p, t.progress, t.dirs)
		if err != nil {
			complete = false
			continue
		}
		links := linkRoot(p) != ""
		for _, m := range ms {
			if ignoredName(m) || t.excluded(m) {
				continue
			}
			if links {
				// An excluded link is forgotten too: its target, resolved
				// by loadState for a checkpoint entry under its name, is
				// not included (hostile67).
				if listed == nil {
					listed = make(map[string]bool)
				}
				listed[m] = true
			}
			if initial {
				t.progress() // health.go
			}
			t.discover(m, now, initial)
		}
	}
	if complete && len(t.links) > 0 {
		t.pruneLinks(listed) // links.go
	}
}

// discover starts following path unless it (or its inode under another
// path) is followed already.
func (t *Tailer) discover(path string, now time.Time, initial bool) {
	if f := t.byPath[path]; f != nil && f.st == stFollowing {
		return
	}
	linked := false
	if tgt, isLink, err := t.linkTarget(path); err != nil {
		t.openErr(path, "cannot read log file link", err)
		return
	} else if isLink {
		path, linked = tgt, true // links.go: followed as the file it names
		if f := t.byPath[path]; f != nil && f.st == stFollowing {
			return
		}
		// The path it is followed under is what logs.exclude is matched
		// against, as for a file the pods glob finds (hostile67).
		if ignoredName(path) || t.excluded(path) {
			return
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if !fi.Mode().IsRegular() {
		t.skips.skip(skipErr(skipNotRegular, path, "%s, not a regular file", fi.Mode().Type()))
		return
	}
	key, _ := keyOf(fi)
	if f := t.files[key]; f != nil && f.st != stClosed {
		if f.path == path && f.st == stRotated {
			t.undone(f)
		}
		return
	}
	if t.opts.Excluder != nil && t.opts.Excluder.Excluded(path) {
		return
	}
	if t.mustWait(path, initial) { // openlimit.go
		return
	}
	// Copies are those created after this (copy.go): read before the
	// open, so that none made after it is taken for older.
	gen := genStart(path)
	fh, err := t.open(path)
	if err != nil {
		if !t.waitOnDescriptors(path, initial, err, key, gen) {
			t.openErr(path, "cannot open log file", err)
		}
		return
	}
	fi, err = fh.Stat()
	if err != nil {
		_ = fh.Close()
		return
	}
	if k, _ := keyOf(fi); k != key { // replaced between stat and open
		key = k
		if f := t.files[key]; f != nil && f.st != stClosed {
			_ = fh.Close()
			return
		}
	}
	f := &follower{path: path, f: fh, key: key, size: fi.Size(), dirty: true, tick: true}
	f.startGen(gen)
	if w := t.lim.since; w.path == path && w.key == key {
		f.startGen(w.gen) // openlimit.go: waited since the start
	}
	f.linked = linked || t.linkTargets[path] != "" // busy.go
	f.dec.maxLine, f.dec.path = t.cfg.MaxLineBytes, path
	f.fpLen = readFP(fh, f.fp[:])
	var start int64
	cont := 0
	resumed := false
	var unmatched []stateEntry // the file's entries its first bytes no longer match
	if es, ok := t.resume[key]; ok {
		unmatched = es
		delete(t.resume, key)
		// The entry of this file, if one of those with its key is
		// (another may be of a deleted file whose inode it reuses). An
		// empty anchor's entry (done while its file was empty) is not
		// this file once it has lines: a file that reuses the inode,
		// read from 0, or the anchor's own file renamed back (an undone
		// rotation) after this agent read it as a rotated file, read on
		// from where that stopped (below).
		//
		// Nor is an entry this file if the file was born after the
		// checkpoint was written (as resumePath's reborn): a new file
		// that reuses the inode of the entry's file, deleted (or
		// compressed) since. An entry with no first bytes matches it
		// whatever it holds; resumed, it was read from 0 again after the
		// start read it away from its path (a rotation undone: the check
		// below continues where that stopped), and the files rotated
		// before it were read again too.
		if e, ok := entryFor(es, path, f.fp[:f.fpLen]); ok && !reusedEmpty(e, f.size) && !t.bornSinceState(fh) {
			resumed, unmatched = true, nil
			start, f.suppressTo, cont = e.Offset, e.AckedTo, e.Cont
			if start > f.size || f.suppressTo > f.size {
				t.m.truncations.Inc()
				t.log.Debug("file shorter than its checkpoint; reading from the start", "path", path)
				start, f.suppressTo, cont = 0, 0, 0
			}
		}
	}
	switch r, ok := t.lastRotated[path]; {
	case resumed:
	case ok && r.undoneBy(key, f.fp[:f.fpLen], f.size, bornOr(fh)):
		// Renamed back after it was closed as rotated: continue where
		// reading stopped.
		start, f.suppressTo = r.off, r.off
		delete(t.lastRotated, path)
		t.log.Debug("rotation undone; continuing", "path", path, "offset", start)
	case initial && t.fresh && t.cfg.StartAt == "end":
		start, f.skip = lineStartBefore(fh, f.size)
	}
	f.off, f.consumed = start, start
	f.tr = t.newTracker(key, path, start, f.suppressTo, f.fp[:f.fpLen])
	t.resumeCont(f, cont)
	var ref os.FileInfo
	var refKey fileKey
	var refFP []byte
	var older *rotated
	refClosed, refOff := false, int64(0)
	var refBorn time.Time
	if p := t.byPath[path]; p != nil && p.st != stClosed {
		if o := t.lastOpen(path); o != nil && o != p && t.successor(o) == nil {
			// A file that waited for a descriptor, renamed before its
			// turn, placed after p as the path's last file
			// (openlimit.go waitedLast): this one comes after it. After
			// p, it was p's second successor, read beside it
			// (TestParkedRotatedThenNextWaitedRenamed).
			p = o
		}
		f.pred = p
		if p.succAt.IsZero() {
			p.succAt = now
			t.wantRead(now) // it may be final in read_interval
		}
		if fi, err := p.f.Stat(); err == nil {
			ref, refKey, refFP = fi, p.key, p.fp[:p.fpLen]
		}
		if older = knownBefore(p); older == nil {
			if r, ok := t.lastRotated[path]; ok {
				older = &r
			}
		}
	} else if r, ok := t.lastRotated[path]; ok {
		ref, refKey, refFP, refClosed, refOff, refBorn = r.fi, r.key, r.fp[:r.fpLen], true, r.off, r.born
		if o := t.files[r.key]; o != nil && o.st != stClosed && o.home == path {
			t.truncatedAway(o, now)
		}
		if o := t.lastOpen(path); o != nil && t.successor(o) == nil {
			// The newest rotated sibling the start opened (lastOpened:
			// it found no file at the path, kubelet had renamed 0.log
			// and the runtime not created the next; or it resumed the
			// file away from the path, renamed back since), still being
			// read: this file comes after it. Read beside it, its lines
			// came before the sibling's (TestRestartExactlyOnce under
			// load, TestStartBetweenRenameAndCreate,
			// TestResumedAwayBackRotatedAgainNewFileFirst). Still open,
			// it is not closed: found among the siblings (compressed
			// since, or grown), it is not read again from where it stood
			// when the start noted it, beside its own follower
			// (TestStartBetweenRenameAndCreateThen/r2_compressed).
			f.pred, refClosed = o, false
			if o.succAt.IsZero() {
				o.succAt = now
				t.wantRead(now)
			}
		}
	}
	delete(t.lastRotated, path)
	// Known by its inode before its siblings are looked at: renamed since
	// it was opened (kubelet rotated it meanwhile), it is among them, and
	// was read twice, as this file and as a rotated one.
	t.files[key] = f
	var before []*follower
	switch {
	case ref != nil && !initial:
		// Files rotated after the one we knew and before this one (while
		// notifications were not being taken) are read whole first.
		before = t.rotatedAfter(path, ref, refKey, refFP, refClosed, refOff, refBorn, older, f, now)
	case !initial && !t.seenPaths[path]:
		// A path found for the first time while running: kubelet may
		// have rotated it (even more than once) before it was seen.
		before = t.rotatedSince(path, f, now)
	}
	if (!initial || t.lim.admitting) && !resumed && !t.bornSinceState(fh) {
		// Opened after the start (a file that waited for a descriptor
		// since the first scan is admitted as initial: openlimit.go).
		if c := t.copyOfEntry(path, key, unmatched, now); c != nil {
			before = append([]*follower{c}, before...)
		}
	}
	for _, s := range before {
		if f.pred != nil {
			s.pred = f.pred
		}
		f.pred = s
		f.readBefore(s) // copy.go
	}
	t.seenPaths[path] = true
	t.add(f)
	t.byPath[path] = f
	t.newFileIn(filepath.Dir(path), now) // busy.go: a polled directory is watched again
	t.log.Debug("following", "path", path, "offset", start)
	if followed != nil {
		followed(path)
	}
}

// copyOfEntry opens, to be read from the entry's offset before the file
// at path (key), the copy of the generation a checkpoint entry of that
// file read part of, when the file no longer starts as the entry says:
// the file waited for a descriptor since the start (openlimit.go), at its
// path then (resumePath matched the entry to it there, and left its copies
// to it), and was copytruncated while it waited. Opened from 0 as a new
// file, the copy's lines past the entry's offset were lost uncounted (a
// copy made before the start, left to the file as one it held), or the
// copy was read whole as one made since its generation started (copy.go):
// what the checkpoint read came twice (TestResumedFileCopiedWhileWaiting).
// The copy starts with the entry's first bytes and holds at least what
// was read; of several, the longest (a copy made without truncating
// before the copytruncate holds less). A compressed one only if no plain
// one is there. An entry matched to a sibling at the start is no longer
// in t.resume (resumedAside): that copy was read then.
func (t *Tailer) copyOfEntry(path string, key fileKey, es []stateEntry, now time.Time) *follower {
	var e *stateEntry
	for i := range es {
		if x := es[i]; x.Path == path && !x.Done && x.FingerprintLen > 0 && x.Offset > 0 && (e == nil || x.resumesBefore(*e)) {
			e = &es[i]
		}
	}
	if e == nil {
		return nil
	}
	var buf [fpSize]byte
	var pick, gz *sibling
	var pickSize int64
	for _, s := range listSiblings(path) {
		k, n, err := s.startNow(buf[:])
		if err != nil || !e.fpMatches(buf[:n]) {
			continue
		}
		if s.gz {
			if gz == nil && !t.followsGz(s.path) && gzCopyOf(s.path, buf[:e.FingerprintLen], e.Offset) {
				gz = &s
			}
			continue
		}
		if k == key || t.files[k] != nil || s.size < e.Offset || (pick != nil && s.size < pickSize) {
			continue
		}
		pick, pickSize = &s, s.size
	}
	if pick == nil {
		pick = gz
	}
	if pick == nil {
		return nil
	}
	c := t.openSibling(path, *pick, e, now)
	if c != nil {
		t.resumedAside(*e)
		t.log.Debug("the copy of a file copytruncated while it waited; reading it from the checkpoint's offset", "path", path, "copy", pick.path, "offset", e.Offset)
	}
	return c
}

// followed, when set (by tests), runs as discover has opened a file at
// path: what is done to the file then is done within microseconds of its
// opening.
var followed func(path string)

// resumeCont takes a checkpoint entry's Cont for f, read from the entry's
// offset: the first line there of each stream named ends a line carried
// or cut from the file before it. Flagged Truncated, unless that file is
// read again first and its fragments are carried again (carryOver clears
// the flag); kept in f's checkpoint until that line is acknowledged.
func (t *Tailer) resumeCont(f *follower, cont int) {
	if cont == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range f.dec.cont {
		if cont&(1<<s) != 0 {
			f.dec.cont[s], f.tr.cont[s] = true, true
		}
	}
}

func (t *Tailer) add(f *follower) {
	t.wantRead(time.Now())
	t.files[f.key] = f
	t.order = append(t.order, f)
	t.m.openFiles.Inc()
}

// lineStartBefore returns the start of the line that holds offset size-1:
// size itself if the file ends with a newline. If that line started more
// than 64 KiB before the end, it returns size and midLine: the rest of that
// line is to be skipped.
func lineStartBefore(f *os.File, size int64) (off int64, midLine bool) {
	if size == 0 {
		return 0, false
	}
	n := min(size, 64<<10)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return size, true
	}
	i := bytes.LastIndexByte(buf, '\n')
	if i < 0 {
		if n == size {
			return 0, false
		}
		return size, true
	}
	return size - n + int64(i) + 1, false
}

// knownBefore is the newest file before p in its chain of predecessors
// (at most a few back) that has first bytes, nil if none: where p lies
// when p, empty, was rotated and compressed before it was read (it has no
// first bytes to be found by). The last rotated file closed is not always
// there: the file followed after it took it (seed 82388 of test/model: the
// first file, read and closed, was read again from its .gz as newer than
// a file rotated and compressed empty).
func knownBefore(p *follower) *rotated {
	q := p.pred
	for range 8 {
		if q == nil {
			return nil
		}
		if q.fpLen > 0 {
			return &rotated{key: q.key, fp: q.fp, fpLen: q.fpLen}
		}
		q = q.pred
	}
	return nil
}

// rotatedAfter opens the rotated siblings of path that kubelet rotated
// after the file ref (identified by refKey, or by refFP once compressed),
// oldest first, to be read from 0 and closed; compressed ones are inflated
// (rotated.go). The order is kubelet's (by name). refClosed says ref is no
// longer open (its inode may have been reused: siblingIndex). A ref without
// first bytes (empty when last seen) cannot be found once compressed: then
// older, the last rotated file closed (nil if none), places the files after
// it. If neither is among the siblings, it falls back to the plain siblings
// last written after ref. live is the path's file now (nil: none given):
// a sibling it holds is its copy, not read apart (openSiblings).
//
// With refClosed, refOff is where reading ref stopped. ref found again
// longer than that (plain, or compressed to more) was renamed back to the
// path after it was closed (a rotation undone), written, and rotated
// again before the tailer looked at the path: it is read on from refOff
// first (as discover continues an undone rotation it sees).
func (t *Tailer) rotatedAfter(path string, ref os.FileInfo, refKey fileKey, refFP []byte, refClosed bool, refOff int64, refBorn time.Time, older *rotated, live *follower, now time.Time) []*follower {
	sibs := listSiblings(path)
	idx := siblingIndex(sibs, refKey, refFP, refClosed)
	if idx >= 0 && refClosed && len(refFP) == 0 && !refBorn.IsZero() {
		// ref closed empty is known by its inode alone: a plain sibling
		// with it born after ref is a newer file that took the inode
		// once ref was compressed (file systems hand a freed inode out
		// again). Taken for ref grown, it was read from 0 and the files
		// rotated between ref and it never were (TestRotatedAfterEmptyClosedInodeReused).
		if b, ok := bornAs(sibs[idx].path, refKey); ok && !b.Equal(refBorn) {
			idx = -1
		}
	}
	// Found by ref itself (or by its copy, below), not by a file older
	// than it (older, the anchor): only then is sibs[idx] ref, which may
	// have grown since its close. The anchor of an empty ref, compressed,
	// decompresses to more than ref's offset (0): read again from 0 as
	// ref grown, its lines came twice (randomized seed 66128,
	// TestEmptyRotatedThenNextFileAfterCompressedAnchor).
	byRef := idx >= 0
	if idx < 0 && len(refFP) == 0 && older != nil && older.fpLen > 0 {
		// ref was compressed empty, or deleted; older is older than
		// ref, so if it is still there ref was not deleted (kubelet
		// deletes the oldest first) and what follows older is newer
		// (ref's empty copy among them). Without this, every sibling
		// was taken for newer than ref, older included: read twice.
		idx = siblingIndex(sibs, older.key, older.fp[:older.fpLen], true)
	}
	if idx < 0 && len(refFP) == 0 && (older == nil || older.fpLen == 0) {
		// No file closed since the start is older than ref: the path's
		// anchor is (the newest rotated file finished, found again at the
		// start; anchors.go). Still there, ref was not deleted either, and
		// what follows the anchor is newer. Without it, ref compressed
		// empty was taken for deleted and every sibling read, the
		// anchor's .gz too: read twice. An older closed empty tells nothing
		// either (the path's last rotated file when a file closed empty
		// follows a discovery that dropped the one before it): it has no
		// first bytes, and the anchor, finished with first bytes, is
		// older than it (TestHostile61RotatedAfterEmptyRefOlderEmpty).
		t.mu.Lock()
		a, ok := t.anchors[path]
		t.mu.Unlock()
		if ok && a.FingerprintLen > 0 {
			idx = siblingIndexOf(sibs, a)
		}
	}
	if siblingsIndexed != nil {
		siblingsIndexed()
	}
	copied := false
	if idx < 0 && refClosed && len(refFP) > 0 && live != nil && live.key == refKey {
		// ref is the file at the path (renamed back: a rotation undone)
		// no longer starting as it did (so not undoneBy): truncated in
		// place since, by copytruncate. Not deleted: its copy, the
		// newest sibling that starts as ref did, holds what was read of
		// it, and is read on from where reading stopped. Taken for
		// deleted, every sibling was read whole, the copy too: what was
		// read of ref came twice (TestHostile61RotatedAfterRenamedBackThenCopytruncated).
		var buf [fpSize]byte
		for j := len(sibs) - 1; j >= 0 && idx < 0; j-- {
			// The copy may be compressed since it was listed
			// (logrotate's compress, right after the copy;
			// siblingIndex looked at it plain): known by its first
			// bytes as its .gz (startNow). Taken for gone, ref was
			// "deleted" and every sibling read as newer, the copy
			// whole and the older files read already too (randomized
			// seed 63093).
			_, n, err := sibs[j].startNow(buf[:])
			if err == nil && n >= len(refFP) && bytes.Equal(buf[:len(refFP)], refFP) {
				idx, copied, byRef = j, true, true
			}
		}
	}
	if _, nlink := keyOf(ref); idx < 0 && (len(refFP) > 0 || nlink == 0) {
		// ref is neither plain nor compressed beside its path (or its
		// descriptor says it has no name left): kubelet deleted it, and
		// it deletes the oldest first, so every sibling left is newer
		// than ref (the plain ones and the compressed ones: a file
		// rotated and compressed before it was seen).
		return t.openSiblings(path, sibs, live, now)
	}
	if idx < 0 && refClosed {
		// ref, the last rotated file closed, was empty (no first bytes to
		// know it by once compressed), and no file finished with lines
		// is there to place it (no anchor, or kubelet deleted it, the
		// oldest first): every file of the path finished with lines
		// before ref would be the anchor, so the siblings with lines
		// left are newer than ref, the compressed ones too. Of the plain
		// ones alone, a file rotated after ref and compressed before the
		// tailer looked was never read, nor counted
		// (TestRotatedAfterEmptyClosedInodeReused). Those written
		// since the agents began, as for a path found while running.
		return t.rotatedSince(path, live, now)
	}
	if idx < 0 {
		// ref was empty (no first bytes to know it by once compressed):
		// the plain siblings last written after it.
		return t.rotatedAfterByTime(path, ref, refKey, live, now)
	}
	var out []*follower
	// Compressed since it was found plain (kubelet gzips the rotated
	// file once the next is rotated): looked at as its .gz. Taken for
	// one that had not grown (its stat failing), the lines written to it
	// after its close were lost uncounted
	// (TestRotatedFileGrownThenCompressedAtDiscovery).
	sibs[idx].recheck()
	if refClosed && byRef && (copied || grownSince(sibs[idx], refKey, refOff)) {
		e := &stateEntry{Dev: refKey.dev, Ino: refKey.ino, FingerprintLen: len(refFP), Fingerprint: fpHash(refFP),
			Path: path, Offset: refOff, AckedTo: refOff}
		if f := t.openSibling(path, sibs[idx], e, now); f != nil {
			if f.inflated && !copied {
				// ref compressed since its close: its tracker names ref's
				// inode, as ref's own closed tracker does, whose lines
				// may not be acknowledged yet. Under the .gz's key of its
				// own, the next start had two entries of one file that
				// seemed two files, took the one that knows more first
				// bytes (read from refOff) for the .gz, counted the other
				// vanished, and the lines before refOff not acknowledged
				// were lost (TestStartBetweenRenameAndCreateNewestClosedThenWritten).
				// With one inode the lower offset is resumed.
				t.mu.Lock()
				f.tr.key = refKey
				t.changes++
				t.mu.Unlock()
			}
			t.log.Debug("last rotated file found again with more to read (a rotation undone); continuing", "path", sibs[idx].path, "offset", refOff, "copy", copied)
			out = append(out, f)
		}
	}
	return append(out, t.openSiblings(path, sibs[idx+1:], live, now)...)
}

// siblingsIndexed, when set (by tests), runs in rotatedAfter after ref was
// looked for among the siblings listed: where kubelet's (or logrotate's)
// compression can come.
var siblingsIndexed func()

// grownSince says whether s, a sibling found as the file key that was
// closed after reading it to off, holds more than that now: plain, longer
// with its inode (a new file that took a freed inode was told apart by its
// first bytes, siblingIndex); compressed, decompressing to other than off
// bytes (by the gzip trailer: more, for a file found by its first bytes).
func grownSince(s sibling, key fileKey, off int64) bool {
	if s.gz {
		return !gzipEndsAt(s.path, off)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return false
	}
	k, _ := keyOf(fi)
	return k == key && fi.Size() > off
}

// copyGrown says whether s, a plain sibling found by the first bytes of the
// file key that was closed after reading it to off, is another file (a
// copy copytruncate made of it) that holds more than that: the file was
// renamed back to its path after it was finished (a rotation undone),
// written, and copytruncated. What follows off in the copy is what was
// written since; taken for the finished file not grown, it was lost
// uncounted (TestFinishedGrewWhileStopped/copytruncated).
func copyGrown(s sibling, key fileKey, off int64) bool {
	if s.gz {
		return false
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return false
	}
	k, _ := keyOf(fi)
	return k != key && fi.Size() > off
}

// siblingIndex is the index in sibs of the file known by key (plain) or by
// its first bytes fp (compressed), -1 if it is not there. With closed (the
// file is no longer open, so its inode may be free), a plain file must also
// start with fp: one with the key but other first bytes is a newer file
// that took the inode of one deleted or compressed since (file systems
// reuse freed inodes). It looks from the newest: a reference is usually the
// newest. A plain sibling compressed since sibs was listed is changed in
// sibs to its .gz.
func siblingIndex(sibs []sibling, key fileKey, fp []byte, closed bool) int {
	var buf [fpSize]byte
	for j := len(sibs) - 1; j >= 0; j-- {
		if sibs[j].gz {
			continue
		}
		k, err := statKey(sibs[j].path)
		if sibs[j].compressedSince(err) {
			// Compressed since it was listed (kubelet gzips the older
			// rotated file right after a rotation): known by its first
			// bytes, below. Taken for gone, ref was "deleted" and every
			// sibling read as newer, ref's own .gz too: read twice.
			continue
		}
		if err != nil || k != key {
			continue
		}
		if !closed {
			return j
		}
		if _, n, err := siblingStart(sibs[j], buf[:]); err == nil && n >= len(fp) && bytes.Equal(buf[:len(fp)], fp) {
			return j
		}
	}
	for j := len(sibs) - 1; j >= 0 && len(fp) > 0; j-- {
		if _, n, err := siblingStart(sibs[j], buf[:]); err == nil && sibs[j].gz && n >= len(fp) && bytes.Equal(buf[:len(fp)], fp) {
			return j
		}
	}
	return -1
}

// siblingIndexOf is siblingIndex for a checkpoint entry e (its first
// bytes known by their hash): a plain sibling with e's inode that still
// starts as e's file did, or a compressed one that starts so; -1 if none.
func siblingIndexOf(sibs []sibling, e stateEntry) int {
	var buf [fpSize]byte
	for j := len(sibs) - 1; j >= 0; j-- {
		k, n, err := sibs[j].startNow(buf[:])
		if err != nil || !e.fpMatches(buf[:n]) {
			continue
		}
		if sibs[j].gz || k == e.key() {
			return j
		}
	}
	return -1
}

// mtimeSlack is how much earlier than the time it was written a file's
// modification time may read: the kernel stamps files from a coarse clock
// (a tick behind), some file systems round to seconds. Comparisons of a
// file's time with a time taken by the agent allow for it (erring towards
// reading a file again, never towards skipping it).
const mtimeSlack = 2 * time.Second

// rotatedSince opens the rotated siblings of a path first found while
// running that were last written since t.since (the checkpoint, or the
// start of a fresh agent), oldest first, to be read from 0 and closed:
// kubelet rotated them before the path was seen, so nothing read them.
// Older ones are history the last agent read or a fresh one does not owe.
// A compressed sibling's time is when it was compressed; it may hold
// older lines, which are then read too (a duplicate, never a loss). A
// sibling the file at the path, live, still holds is not one of them
// (openSiblings).
func (t *Tailer) rotatedSince(path string, live *follower, now time.Time) []*follower {
	sibs := listSiblings(path)
	n := 0
	for _, s := range sibs {
		if !s.mtime.Before(t.since.Add(-mtimeSlack)) {
			sibs[n] = s
			n++
		}
	}
	return t.openSiblings(path, sibs[:n], live, now)
}

// openSiblings opens sibs (rotated siblings of path, oldest first) to be
// read from 0 and closed, but not a file open already: a plain one by its
// identity (openSibling), a compressed one by its first bytes (it was
// compressed while being read).
//
// Nor one that live (the file at path now, being followed; nil: none
// given) still holds: a plain sibling that starts with live's first bytes
// and is no longer than live, or a compressed one that decompresses to
// live's first bytes (gzipStartOf: not another generation that starts
// with the same banner). That is the copy of a copytruncate that has copied but not truncated
// yet (or a copy made without truncating): live's own read takes its
// lines, and when the truncation comes the copy is found by those first
// bytes and read on from where live was (findCopy). Read whole here, its
// lines came twice.
func (t *Tailer) openSiblings(path string, sibs []sibling, live *follower, now time.Time) []*follower {
	var open [][]byte
	for _, f := range t.order {
		if f.st != stClosed && f.dec.path == path && f.fpLen > 0 {
			open = append(open, f.fp[:f.fpLen])
		}
	}
	var buf [fpSize]byte
	var out []*follower
	var later heldLater
	for _, s := range sibs {
		// Compressed since it was listed: it is looked at as the .gz it
		// is now, by its first bytes (one of the files open may be this
		// one, renamed and then compressed).
		s.recheck()
		if later.left(t, live, s) {
			continue
		}
		if s.gz {
			_, n, err := siblingStart(s, buf[:])
			if err != nil {
				continue
			}
			dup := false
			for _, fp := range open {
				dup = dup || (n >= len(fp) && bytes.Equal(buf[:len(fp)], fp))
			}
			// live compressed? Only if it holds live's first bytes: a
			// generation that starts with a line written again and
			// again (a banner) starts as live may, and is longer, or
			// holds other bytes (its lines were lost). A copy shorter
			// than live's first bytes is one too (read whole, its
			// lines came twice).
			if live != nil && live.f != nil {
				if m := min(n, live.fpLen); m > 0 && bytes.Equal(buf[:m], live.fp[:m]) {
					_, held := gzipStartOf(s.path, live.f, live.size)
					dup = dup || held
				}
			}
			if dup {
				continue
			}
		}
		if f := t.openSibling(path, s, nil, now); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// holds says whether live (the file at a path, followed; nil: none) holds
// its plain rotated sibling s, which starts with live's first bytes:
//   - s is no longer than live and ends as live holds at the same offset
//     (a generation that starts with the same banner does not): a
//     copytruncate's copy before the truncation, or a copy made without
//     truncating;
//   - nothing of live read yet, s is no longer than live's first bytes
//     taken at its open: the copy of a copytruncate that has truncated
//     live since (before this listing);
//   - s was made since live's generation started (bornSince) and is at
//     least as long as what was read of it: a copy of live, truncated or
//     not since;
//   - s is empty, live read past its start: perhaps a copy being written
//     (noted in live.heldEmpty; its first bytes do not tell yet).
//
// live's own read takes its lines, or live's truncation finds it
// (findCopy) and reads it from live's offset: read apart too
// (openSiblings, resumePath), its lines came twice.
func (t *Tailer) holds(live *follower, s sibling) bool {
	if live == nil || live.f == nil || live.fpLen == 0 {
		return false
	}
	if s.gz {
		return t.holdsGz(live, s)
	}
	// Its size now: written on since its open (the first scan opens every
	// file before it looks at their rotated siblings), live holds a copy
	// made since that is longer than it was then.
	fi, err := live.f.Stat()
	if err != nil {
		return false
	}
	var buf [fpSize]byte
	key, n, err := siblingStart(s, buf[:])
	if err == nil && n == 0 && live.off > 0 && atPathNow(live.path, live.key) {
		// Empty, live read past its start and still at its path: perhaps
		// a copy being written (copytruncate and logrotate's copy create
		// the file, then write it, and truncate only after), made since
		// live was opened or as it was (in the tick of the file system's
		// clock its generation started in, or the one before: birth
		// times do not tell). A rotated file that stays empty holds
		// nothing to read, and none is written after the runtime reopened
		// the path (live). Nothing of live read, such a copy is read
		// apart, and live's truncation knows it (copy.go readEarlyCopy).
		// Opened apart here, it was read from 0 once written, and what
		// the checkpoint had read of live came twice
		// (TestHostile61MixedRotationsAcrossRestarts seed 8427,
		// TestCopyEmptyAtStartLook). Left to live: live's own read takes
		// its lines, or live's truncation finds it (findCopy) and reads it
		// from live's offset; a truncation that finds no copy of live
		// reads it whole if it holds another generation by then
		// (heldEmptyCopies).
		live.holdEmpty(key, s.path)
		t.log.Debug("an empty rotated file, perhaps a copy being written; left to the file", "path", live.path, "copy", s.path)
		return true
	}
	if err != nil || !sameStart(buf[:n], live.fp[:live.fpLen]) {
		return false
	}
	switch {
	case n <= live.fpLen && s.size <= fi.Size() && endsAlike(s.path, live.f, s.size):
	case n <= live.fpLen && live.off == 0 && s.size <= int64(live.fpLen):
	case n >= live.fpLen && s.size >= live.off && copiedSince(live, s.path, key):
	case n >= live.fpLen && live.off > 0 && s.size >= live.off && bornInStartTick(live, s.path):
	case n >= live.fpLen && live.off > 0 && s.size >= live.off && truncatedSinceOpen(live, fi):
	default:
		return false
	}
	if live.st != stClosed {
		live.heldCopy = max(live.heldCopy, s.size) // follower.go truncated
		// A copy of live: if its start listed it as a file from before
		// (created in the tick of the file system's clock the start
		// read, before its listing), it was made as live was opened.
		// The notice of its creation takes it as live's copy (copy.go
		// takeCopyOf); still taken for a file from before there, it was
		// skipped and its lines lost uncounted
		// (TestStartTickCopyHeldThenTakenByNotice).
		live.took = slices.DeleteFunc(live.took, func(x birth) bool { return x.key == key && !x.read })
	}
	t.log.Debug("a copy the file holds; not read apart", "path", live.path, "copy", s.path)
	return true
}

// followedAsGz says whether s, a rotated sibling of path, is the file cur
// (the scan's follower of path; nil: none) reads through its descriptor,
// renamed away from path and compressed since (kubelet rotated and gzipped
// it while the agent started): it starts with the first bytes the
// descriptor shows and decompresses to the bytes the file holds, all of
// them (gzipStartOf). Read as a sibling too (from 0, or from the
// checkpoint entry its first bytes match, which the follower resumed
// from), its lines came twice. A plain s compressed since it was listed is
// looked at as its .gz. Only cur can be: the other followers of path at
// the start are its rotated siblings, opened as such (a generation that
// starts with the same banner and is as long as one of them was taken for
// it, and skipped: its lines lost).
func (t *Tailer) followedAsGz(path string, cur *follower, s sibling) bool {
	if cur == nil || cur.st == stClosed || cur.f == nil || cur.inflated {
		return false
	}
	if k, err := statKey(path); err == nil && k == cur.key {
		// Still the file at the path (the usual case, told by a stat
		// before a decompression): s is another one.
		return false
	}
	if s.recheck(); !s.gz {
		return false
	}
	var buf, head [fpSize]byte
	_, n, err := siblingStart(s, buf[:])
	if err != nil || n == 0 {
		return false
	}
	// Its first bytes now, through its descriptor: it may have been
	// written, renamed and compressed before its first read.
	if m := readFP(cur.f, head[:]); m == 0 || n < m || !bytes.Equal(buf[:m], head[:m]) {
		return false
	}
	// The same bytes: kubelet compresses a rotated file only once
	// another was rotated after it, so nothing is written to it after.
	// An older generation that starts with the same banner (longer than
	// the first bytes compared) and holds no more, or as much, is another
	// file: taken for this one, its lines were lost.
	if _, _, size, err := fstatKey(cur.f); err == nil {
		if n, ok := gzipStartOf(s.path, cur.f, size); !ok || n != size {
			return false
		}
		t.log.Debug("a rotated file followed already, compressed since; not read apart", "path", cur.path, "compressed", s.path)
		return true
	}
	return false
}

// followedPlain says whether s, a rotated sibling of a path, is the file
// cur (the scan's follower of the path) reads, renamed since: a plain file
// with its inode.
func followedPlain(cur *follower, s sibling) bool {
	if cur == nil || s.gz {
		return false
	}
	k, err := statKey(s.path)
	return err == nil && k == cur.key
}

// rotatedAfterByTime opens the plain rotated siblings of path last written
// after ref, oldest first, to be read from 0 and closed.
func (t *Tailer) rotatedAfterByTime(path string, ref os.FileInfo, refKey fileKey, live *follower, now time.Time) []*follower {
	var newer []sibling
	for _, s := range listSiblings(path) {
		if s.gz || !s.mtime.After(ref.ModTime()) {
			continue
		}
		if k, err := statKey(s.path); err != nil || k == refKey {
			continue
		}
		newer = append(newer, s)
	}
	return t.openSiblings(path, newer, live, now)
}

// truncatedAway handles first the truncation not seen yet of o, the
// path's newest rotated file, that the start opened away from the path
// (renamed back, copytruncated and rotated again unseen), as the path's
// next file is found: its copy is then found as o's and its new
// generation, the path's, is read before the next file (discover).
// Left, the copy was taken for a file rotated after o, read whole before
// the next file: what the checkpoint had read came twice
// (TestResumedAwayBackRotatedAgainRescanFirst).
func (t *Tailer) truncatedAway(o *follower, now time.Time) {
	if o.st == stDraining && o.f != nil {
		if fi, err := o.f.Stat(); err == nil && fi.Size() < o.off {
			t.truncated(o, now)
		}
	}
}

// findCopy looks beside f for the copy a copytruncate made: a regular file
// named after f that starts with f's fingerprint and is at least as long as
// what was read, or, when there is none, the newest compressed one whose
// decompressed start is f's fingerprint and which holds at least what was
// read, unless damaged (logrotate's copytruncate with
// compress gzips the copy at once; in a polled directory, or on a busy
// node, the tailer may see the truncation only after that). It takes over
// f's read position and merge state. A copy read whole before f
// (readBefore) is not taken again: its path is returned as before, c nil.
func (t *Tailer) findCopy(f *follower, now time.Time) (c *follower, before string) {
	if f.fpLen == 0 {
		return nil, ""
	}
	f.readEarlyCopy() // copy.go
	if f.readCopy != "" && f.off == 0 {
		// The copy of f's generation as opened was read whole before
		// f (readBefore). Found again, plain or compressed since, its
		// lines came twice; gone, or still being read (skipped as a
		// file open), the bytes it holds were counted lost.
		return nil, f.readCopy
	}
	dir, base := filepath.Split(f.beside())
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, ""
	}
	var buf [fpSize]byte
	var gzs []string
	// The copy of f's generation is the first made since it started
	// (bornSince): an older generation of a file whose every generation
	// starts the same (a banner longer than the first bytes compared) may
	// start with f's first bytes too, and a later copy is read after
	// this one (laterCopies). Without birth times, the first by name.
	var pick *follower
	var pickBorn time.Time
	pickSince, pickTick := false, false
	for _, de := range ents {
		name := de.Name()
		if !de.Type().IsRegular() || name == base || !strings.HasPrefix(name, base) {
			continue
		}
		if strings.HasSuffix(name, ".gz") {
			gzs = append(gzs, filepath.Join(dir, name))
			continue
		}
		p := filepath.Join(dir, name)
		fh, err := t.open(p)
		if errors.Is(err, fs.ErrNotExist) {
			// Gone since the listing: compressed (logrotate's
			// copytruncate with compress gzips the copy at once), its
			// .gz made after the listing, looked at below. Taken for
			// gone, the lines it holds that f had not read were lost,
			// uncounted if f had not seen them.
			if !slices.Contains(gzs, p+".gz") {
				if _, err := os.Stat(p + ".gz"); err == nil {
					gzs = append(gzs, p+".gz")
				}
			}
			continue
		}
		if err != nil {
			t.skips.skip(err)
			continue
		}
		fi, err := fh.Stat()
		if err != nil {
			_ = fh.Close()
			continue
		}
		key, _ := keyOf(fi)
		if key == f.key || fi.Size() < f.off {
			_ = fh.Close()
			continue
		}
		n, _ := fh.ReadAt(buf[:f.fpLen], 0)
		if n != f.fpLen || !bytes.Equal(buf[:n], f.fp[:f.fpLen]) {
			_ = fh.Close()
			continue
		}
		b := bornOr(fh)
		if f.fromBefore(key, b, true) {
			// Read whole before f, as a file rotated before it (f was
			// copytruncated between its open and the listing that
			// found the copy; a poll took f's first bytes since), or
			// being read still: its lines are delivered, and f's
			// truncation is accounted for. Found again here, they came
			// twice; skipped as a file open, the truncation was taken
			// for one without a copy (its bytes counted lost, and a
			// later copy not read).
			_ = fh.Close()
			if pick != nil {
				_ = pick.f.Close()
			}
			return nil, p
		}
		since := f.bornSince(b, key)
		// Born in the tick f's generation started in, taken by its
		// start for a file from before (holds: bornInStartTick): the
		// copy copytruncate made as f was opened, not an older
		// generation that starts with the same banner (born before
		// it, and first by name). Taken for it, that one's lines came
		// twice, and the copy read whole as a later one: f's lines
		// read before too (TestStartTickCopyWithBanner).
		inTick := !since && f.tick && b.Equal(f.opened)
		better := pick == nil || (since && (!pickSince || b.Before(pickBorn))) || (inTick && !pickSince && !pickTick)
		if t.files[key] != nil || !better {
			_ = fh.Close()
			continue
		}
		if pick != nil {
			_ = pick.f.Close()
		}
		pick, pickBorn, pickSince, pickTick = &follower{path: p, f: fh, key: key, size: fi.Size(), dirty: true, st: stDraining, since: now}, b, since, inTick
	}
	if pick != nil {
		return t.takeOver(f, pick), ""
	}
	// The first compressed since f's generation started, as above; else
	// the newest that starts with the fingerprint (an older generation
	// of a file whose first KiB is the same each time is not the copy).
	var gz string
	var gzTime, gzBorn time.Time
	gzSince := false
	for _, p := range gzs {
		if t.followsGz(p) {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		b, _ := born(p)
		key, _ := keyOf(fi)
		since := f.bornSince(b, key)
		switch {
		case gz == "":
		case gzSince && (!since || !b.Before(gzBorn)):
			continue
		case !gzSince && !since && !fi.ModTime().After(gzTime):
			continue
		}
		if !gzCopyOf(p, f.fp[:f.fpLen], f.off) {
			continue
		}
		gz, gzTime, gzBorn, gzSince = p, fi.ModTime(), b, since
	}
	if p := gz; p != "" {
		// Inflated when its turn to be read comes (inflateTurn), from
		// the end of f's last whole line on (one shorter than its offset
		// was not taken).
		t.lazyKeys++
		key := fileKey{dev: ^uint64(0), ino: t.lazyKeys}
		c := &follower{path: p, gz: p, key: key, dirty: true, st: stDraining, since: now, inflated: true}
		return t.takeOver(f, c), ""
	}
	return nil, ""
}

// laterCopies opens, to be read from 0 after c (the copy of f's old
// generation, just found) and before f, the rotated siblings of f named
// after c: copies of the generations between, made by copytruncates that
// came after c's before the tailer looked at f again (two in a row in a
// polled directory, or on a busy node; the second copy, compressed or not,
// holds only lines written after the first, none read). A copy whose
// first bytes f still starts with, no longer than f, is f's current
// generation copied without truncating (its last KiB too: endsAlike):
// f's own read takes its lines. A compressed one that starts as f does is
// one too (logrotate's copy with compress) if it is no longer than f; one
// that starts as another file open at the path does is that file
// compressed (as in openSiblings).
func (t *Tailer) laterCopies(f, c *follower) {
	p := c.path
	if c.gz != "" {
		p = c.gz
	}
	t.copiesAfter(f, p, c, c.since)
}

// copiesAfter is laterCopies after the copy at p (a plain one may be
// compressed since), the later copies read after prev (the copy, or what
// f waited for before) and before f.
func (t *Tailer) copiesAfter(f *follower, p string, prev *follower, since time.Time) {
	plain := !strings.HasSuffix(p, ".gz")
	sibs := listSiblings(f.beside())
	// A plain copy may have been compressed since it was found (logrotate's
	// copytruncate with compress): it is listed under its .gz name.
	i := slices.IndexFunc(sibs, func(s sibling) bool { return s.path == p || (plain && s.path == p+".gz") })
	if i < 0 || i == len(sibs)-1 {
		return
	}
	var cur int64 = -1
	if fi, err := f.f.Stat(); err == nil {
		cur = fi.Size()
	}
	var open []*follower
	for _, o := range t.order {
		if o != f && o.st != stClosed && o.dec.path == f.beside() && o.fpLen > 0 {
			open = append(open, o)
		}
	}
	var buf [fpSize]byte
	later := slices.DeleteFunc(slices.Clone(sibs[i+1:]), func(s sibling) bool {
		// Compressed since it was listed (logrotate's copytruncate with
		// compress gzips each copy at once): looked at as its .gz
		// (startNow), as openSibling opens it. Taken for gone, the later
		// copy's lines were lost uncounted
		// (TestLaterCopyCompressedAsListed).
		_, n, err := s.startNow(buf[:])
		if err != nil || n == 0 {
			return true
		}
		if slices.ContainsFunc(f.readFPs, func(fp []byte) bool { return n == len(fp) && bytes.Equal(buf[:n], fp) }) {
			return true // read whole before f (readBefore), closed since
		}
		if !s.gz {
			return f.fpLen >= n && bytes.Equal(buf[:n], f.fp[:n]) && s.size <= cur && endsAlike(s.path, f.f, s.size)
		}
		// Only a file as long as f can be f's generation compressed: a
		// generation that starts with a line written again and again
		// (the same bytes) starts as f may, and is longer.
		if f.fpLen > 0 && n >= f.fpLen && bytes.Equal(buf[:f.fpLen], f.fp[:f.fpLen]) && !gzipLongerThan(s.path, cur) {
			return true
		}
		return slices.ContainsFunc(open, func(o *follower) bool { return compressedOf(s.path, buf[:n], o) })
	})
	first := prev
	for _, s := range later {
		g := t.openSibling(f.beside(), s, nil, since)
		if g == nil {
			continue
		}
		g.pred = prev
		prev = g
		t.log.Debug("a later copy of a truncated file; reading it after the copy found", "path", f.path, "copy", g.path)
	}
	f.pred = prev
	if prev != first {
		// f was truncated after the last of them: it is known by what it
		// holds now, not by what it held when the truncation was found
		// (truncated read it before this listing). Known by the bytes of
		// the generation copied, f's next read took it for truncated
		// again and found that copy, read already, by them: read twice.
		f.fpLen = readFP(f.f, f.fp[:])
		t.mu.Lock()
		f.tr.fp = append(f.tr.fp[:0], f.fp[:f.fpLen]...)
		t.mu.Unlock()
	}
}

// heldEmpty is a sibling left to a file while empty (holds): a copy
// being written, known by its identity and the name it had then.
type heldEmpty struct {
	key  fileKey
	path string
}

// holdEmpty notes the empty sibling p (the file key) as left to f, a
// copy being written (heldEmptyCopies).
func (f *follower) holdEmpty(key fileKey, p string) {
	if f.st != stClosed && !slices.ContainsFunc(f.heldEmpty, func(h heldEmpty) bool { return h.key == key }) {
		f.heldEmpty = append(f.heldEmpty, heldEmpty{key: key, path: p})
	}
}

// heldWritten opens, to be read from 0, the siblings left to f while
// empty (holds) that hold lines now that do not start as f does, as f
// closes (read to its end, or deleted): no truncation of f will read them
// (heldEmptyCopies). Such a sibling is no copy of f's generation (which
// starts with f's first bytes, its lines read through f): a file renamed
// while empty that the runtime wrote on before it reopened the path. Left
// to f, its lines were neither read nor counted lost, and the next agent
// took it for a file from before the path's anchor
// (TestHeldEmptyWrittenAsItsOwnFileThenRotated). One compressed since
// under its name is read from its .gz.
//
// A truncation of f that finds its copy (or read it before) drops the
// siblings left to it too: those written by then are read as well, unless
// they start as the generation f read (was, its first bytes: a copy of
// it) or its new one (TestHeldEmptyWrittenAsItsOwnFileThenCopytruncated).
func (t *Tailer) heldWritten(f *follower, was []byte, now time.Time) {
	if len(f.heldEmpty) == 0 || f.f == nil {
		return
	}
	held := f.heldEmpty
	f.heldEmpty = nil
	var buf [fpSize]byte
	sibs := listSiblings(f.dec.path)
	for _, s := range sibs {
		var k fileKey
		var n int
		var err error
		if s.gz {
			// Compressed since under its name (kubelet compresses the
			// older rotated files as it rotates f): known by its name.
			plain := strings.TrimSuffix(s.path, ".gz")
			if !slices.ContainsFunc(held, func(h heldEmpty) bool { return h.path == plain }) ||
				slices.ContainsFunc(sibs, func(o sibling) bool { return o.path == plain }) || t.followsGz(s.path) {
				continue
			}
			_, n, err = siblingStart(s, buf[:])
		} else {
			k, n, err = siblingStart(s, buf[:])
			if err == nil && (t.files[k] != nil || !slices.ContainsFunc(held, func(h heldEmpty) bool { return h.key == k })) {
				continue
			}
		}
		if err == nil && n == 0 && !s.gz {
			// Still empty: left to f again, looked at by its polls
			// (heldOwn) and its next truncation or close. Dropped, one
			// written on after this truncation was neither read nor
			// counted lost (TestHeldEmptyWrittenAfterCopytruncateHandled).
			f.holdEmpty(k, s.path)
			continue
		}
		if err != nil || n == 0 {
			continue
		}
		if sameStart(buf[:n], f.fp[:f.fpLen]) || sameStart(buf[:n], was) {
			continue // a copy of f: its lines came through f
		}
		if g := t.openSibling(f.dec.path, s, nil, now); g != nil {
			t.log.Debug("a sibling left to a file while empty was written as a file of its own; reading it", "path", f.dec.path, "file", g.path)
		}
	}
}

// heldOwn is heldWritten for f followed at its path, at its polls: a
// sibling left to it while empty, still under the name it had then, that
// holds lines now that start neither as the generation f read nor as the
// file at the path does now (a copy of that one, f's truncation not seen
// yet) is a file of its own, read at once. Left until f closed (a
// rotation, or the pod's deletion, which takes the sibling with it),
// its lines waited, or were lost uncounted
// (TestHeldEmptyWrittenAsItsOwnFileReadInRun). One stat a poll for each
// sibling left, while any is.
//
// Not while f's truncation waits to be handled (its file shorter than
// what was read, or not starting as it did): a sibling filled since is
// then a copy of a generation f never read, read before f's new one by
// the truncation (heldEmptyCopies); read here as a file of its own, its
// lines came after the new generation's
// (TestHeldOwnCopyOfLaterGenerationPolled).
func (t *Tailer) heldOwn(f *follower, size int64, now time.Time) {
	var buf, cur [fpSize]byte
	if size < f.off {
		return
	}
	m := readFP(f.f, cur[:])
	if m < f.fpLen || !bytes.Equal(cur[:f.fpLen], f.fp[:f.fpLen]) {
		return
	}
	keep := make([]heldEmpty, 0, len(f.heldEmpty))
	for _, h := range f.heldEmpty {
		fi, err := os.Stat(h.path)
		if err != nil || fi.Size() == 0 {
			keep = append(keep, h) // empty, or moved: looked for at f's truncation or close
			continue
		}
		s := sibling{path: h.path, size: fi.Size()}
		k, n, err := siblingStart(s, buf[:])
		if err != nil || k != h.key || n == 0 {
			keep = append(keep, h)
			continue
		}
		if sameStart(buf[:n], f.fp[:f.fpLen]) || sameStart(buf[:n], cur[:m]) {
			keep = append(keep, h) // a copy of f, perhaps being written
			continue
		}
		if t.files[k] != nil {
			continue
		}
		if g := t.openSibling(f.dec.path, s, nil, now); g != nil {
			t.log.Debug("a sibling left to a file while empty was written as a file of its own; reading it", "path", f.dec.path, "file", g.path)
		}
	}
	f.heldEmpty = keep
}

// heldEmptyCopies opens, to be read from 0 before f, the siblings left to
// f while empty (holds) that hold something now: f was truncated and no
// copy of the generation it had read was found, so they are copies of a
// later one (the file truncated in place, written, and copytruncated
// before the tailer looked at it again), none of it read. Left unread,
// their lines were lost uncounted (TestCopyEmptyAtStartLook). One that
// f's new generation holds is a copy of it, not yet truncated: left to f.
// One of the generation f read (was), no longer than what was read of it,
// is a copy made before f was written on: not read again.
// A plain one known by its inode is looked for under the names of its
// path's plain siblings; one gone from them whose name is a .gz now was
// compressed since (logrotate's compress without delaycompress gzips the
// copy at once), and is read from its .gz: taken for gone, its lines
// were lost uncounted (TestHeldEmptyCopyOfLaterGenerationCompressed). One
// compressed and renamed since (a later rotation of numbered names) is
// not found.
func (t *Tailer) heldEmptyCopies(f *follower, was readGen, now time.Time) {
	if len(f.heldEmpty) == 0 {
		return
	}
	held := f.heldEmpty
	f.heldEmpty = nil
	var buf [fpSize]byte
	sibs := listSiblings(f.path)
	found := make([]bool, len(held))
	read := make([]bool, len(sibs))
	for j, s := range sibs {
		if s.gz {
			continue
		}
		k, n, err := siblingStart(s, buf[:])
		i := slices.IndexFunc(held, func(h heldEmpty) bool { return h.key == k })
		if err != nil || i < 0 {
			continue
		}
		found[i] = true
		if n == 0 {
			f.holdEmpty(k, s.path) // still empty: left to f again (heldWritten)
			continue
		}
		// One f's new generation holds is a copy of it (logrotate's
		// copy, or a copytruncate that has not truncated f yet): f's
		// read takes its lines, or f's next truncation finds it. Read
		// whole here too, they came twice
		// (TestHeldEmptyCopyOfLaterGenerationNotTruncatedYet). One of
		// the generation f had read, no longer than what was read of
		// it, is a copy made before f was written on (logrotate's copy,
		// or its copytruncate with lines written between its copy and
		// its truncation): every line it holds came through f; read
		// whole, they came twice
		// (TestHeldEmptyCopyOfReadGenerationThenTruncatedInPlace).
		read[j] = n > 0 && t.files[k] == nil && !holdsNewGeneration(f, s.path, buf[:n]) && !was.holds(s.path, buf[:n])
	}
	for i, h := range held {
		if found[i] {
			continue
		}
		if _, err := os.Lstat(h.path); err == nil {
			continue // another file by its name now
		}
		j := slices.IndexFunc(sibs, func(s sibling) bool { return s.gz && s.path == h.path+".gz" })
		if j < 0 || t.followsGz(sibs[j].path) {
			continue
		}
		if fi, err := f.f.Stat(); err == nil && fi.Size() > 0 {
			if _, ok := gzipStartOf(sibs[j].path, f.f, fi.Size()); ok {
				continue // a copy of f's new generation, compressed
			}
		}
		if _, n, err := siblingStart(sibs[j], buf[:]); err != nil || n == 0 || was.holdsGz(sibs[j].path, buf[:n]) {
			continue // of the generation read, compressed (or unreadable)
		}
		read[j] = true
	}
	last := ""
	for j, s := range sibs {
		if !read[j] {
			continue
		}
		g := t.openSibling(f.path, s, nil, now)
		if g == nil {
			continue
		}
		g.pred = f.pred
		f.pred = g
		last = s.path
		t.log.Debug("a copy left to a truncated file while empty holds a later generation; reading it first", "path", f.path, "copy", g.path)
	}
	if last != "" {
		// Copies made after it (copytruncates in a row: logrotate's next
		// rotation moved it to another numbered name and copied the file
		// again) hold later generations still: read after it, before f.
		// Not read, their lines were lost uncounted
		// (TestHeldEmptyCopyThenAnotherRotation).
		t.copiesAfter(f, last, f.pred, now)
	}
}

// readGen is what a truncated file had read of the generation it held:
// its first bytes and its offset (follower.go truncated).
type readGen struct {
	fp  []byte
	off int64
}

// holds says whether the sibling p, which starts with head, is a copy of
// that generation read through the file: it starts with the generation's
// first bytes (all of them it has) and is no longer than what was read.
// A generation that starts with the same fpSize bytes (a banner that
// long, with no timestamp before it) cannot be told from it.
func (r readGen) holds(p string, head []byte) bool {
	if len(r.fp) == 0 || !bytes.HasPrefix(head, r.fp) {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Size() <= r.off
}

// holdsGz is holds for a compressed sibling, by its decompressed size.
func (r readGen) holdsGz(p string, head []byte) bool {
	if len(r.fp) == 0 || !bytes.HasPrefix(head, r.fp) {
		return false
	}
	n, ok := gzipSize(p)
	return ok && int64(n) <= r.off
}

// holdsNewGeneration says whether f, truncated and reset to read its new
// generation from 0, holds the sibling p that starts with head (holdsFile).
func holdsNewGeneration(f *follower, p string, head []byte) bool {
	if f.f == nil || f.fpLen == 0 || len(head) > f.fpLen || !bytes.Equal(head, f.fp[:len(head)]) {
		return false
	}
	fi, err := f.f.Stat()
	return err == nil && holdsFile(f.f, fi.Size(), p, head)
}

// holdsFile says whether the file fh, size bytes long, holds the plain
// sibling p, which starts with head: p is not empty and no longer, fh
// starts with head, and ends as p does at the same offset (endsAlike).
func holdsFile(fh *os.File, size int64, p string, head []byte) bool {
	ci, err := os.Stat(p)
	if err != nil || ci.Size() == 0 || ci.Size() > size || len(head) == 0 {
		return false
	}
	var b [fpSize]byte
	if m, _ := fh.ReadAt(b[:len(head)], 0); m != len(head) || !bytes.Equal(head, b[:m]) {
		return false
	}
	return endsAlike(p, fh, ci.Size())
}

// sameStart says whether a and b, the first bytes of two files, agree as
// far as the shorter goes, and neither is empty.
func sameStart(a, b []byte) bool {
	m := min(len(a), len(b))
	return m > 0 && bytes.Equal(a[:m], b[:m])
}

// heldLater follows a listing of live's rotated siblings, oldest first:
// once one is a copy live holds made since live's generation started
// (holds), the plain siblings made since after it are copies of live's
// later generations (copytruncates in a row): read apart before live's
// truncation reads the first (findCopy), their lines came before its, and
// they are read after it (laterCopies).
type heldLater struct{ since bool }

// left says whether s is left to live: held (holds), or made since after
// one held that was.
func (h *heldLater) left(t *Tailer, live *follower, s sibling) bool {
	copied := func() bool {
		if s.gz || live == nil || live.f == nil {
			return false
		}
		k, err := statKey(s.path)
		return err == nil && copiedSince(live, s.path, k)
	}
	if h.since && copied() {
		// Empty, a copy being written: read by a truncation of live
		// that finds no copy of it, as the one held before it. Not
		// noted, a later generation it holds by then was lost
		// uncounted (TestTwoHeldEmptyCopiesOfLaterGenerations).
		var buf [fpSize]byte
		if k, n, err := siblingStart(s, buf[:]); err == nil && n == 0 {
			live.holdEmpty(k, s.path)
		}
		return true
	}
	if !t.holds(live, s) {
		return false
	}
	// A copy held that was made in the start's tick (bornInStartTick),
	// or compressed (holdsGz: made since, or in that tick), is one made
	// since too: the later copies are read after it. Read apart at the
	// start, before live's truncation found it, their lines came before
	// its (TestStartTickCopyThenAnother).
	h.since = h.since || copied() || s.gz || bornInStartTick(live, s.path)
	return true
}

// holdsGz is holds for a compressed sibling s: the copy that
// copytruncate made of live since its generation started (born since, or
// in its start's tick), compressed at once (logrotate's compress without
// delaycompress), live truncated since and still at its path, read past
// its start (off > 0). It decompresses to live's first bytes and holds at
// least what was read (gzCopyOf). Read apart from 0 at the start (or as a
// sibling of a path first seen), what the checkpoint read came twice
// (TestStartTickCopyCompressedBeforeLook); left to live, its truncation
// finds it (findCopy, compressed copies) and reads it from live's offset.
// A .gz is born at its compression: kubelet's compression of an older
// rotated file is one too, and a generation that starts with the same
// banner as live (longer than the first bytes compared) starts as live
// does. So not one whose plain name was a file from before live's
// generation at its start (startNames, not among took): that file
// compressed. Left to live, its lines were lost if they were not read;
// logrotate's numbered names move, and a copy made under such a name is
// read apart (its lines twice) as before.
func (t *Tailer) holdsGz(live *follower, s sibling) bool {
	if live.off == 0 || live.inflated || live.gz != "" {
		return false
	}
	plain := strings.TrimSuffix(s.path, ".gz")
	if i := slices.IndexFunc(live.startNames, func(n startName) bool { return n.path == plain }); i >= 0 {
		k := live.startNames[i].key
		if !slices.ContainsFunc(live.took, func(x birth) bool { return x.key == k }) && !truncatedSinceOpenNow(live) {
			// Unless live was truncated since it was opened: then, as
			// for a plain sibling (holds: truncatedSinceOpen), the file
			// from before that starts as live does and holds what was
			// read is the copy its copytruncate made before the open,
			// compressed since. Read apart from 0, what the checkpoint
			// had read came twice, and live's truncation read it again
			// from live's offset (TestCopyBeforeOpenTruncatedCopyCompressed).
			return false
		}
	}
	if !atPathNow(live.path, live.key) {
		return false
	}
	b, ok := born(s.path)
	if !ok {
		return false
	}
	k, err := statKey(s.path)
	if err != nil || !(live.bornSince(b, k) || (live.tick && b.Equal(live.opened))) {
		return false
	}
	if !gzCopyOf(s.path, live.fp[:live.fpLen], live.off) {
		return false
	}
	t.log.Debug("a compressed copy of the file; not read apart", "path", live.path, "copy", s.path)
	return true
}

// bornInStartTick says whether the file at p was born in the tick of the
// file system's clock that live's generation started in, before the start
// looked (live.took: a file from before, to a notification). One that
// starts with live's first bytes and is at least as long as what live
// read (holds) is the copy copytruncate made as live was opened, live
// truncated since: live was resumed at its checkpoint's offset, and the
// copy holds those bytes too. Read apart from 0 as a file from before,
// what the checkpoint read came twice (randomized seed 5174).
func bornInStartTick(live *follower, p string) bool {
	b, ok := born(p)
	return ok && live.tick && b.Equal(live.opened)
}

// truncatedSinceOpen says whether live (whose stat is fi), read past its
// start, was truncated since it was opened, still at its path: shorter
// than what was read, or no longer starting with its first bytes. A
// sibling that starts with those bytes and holds what was read is then
// the copy its copytruncate made: copytruncate creates the copy before
// it truncates, so the copy may be born before the open (logrotate
// copying a long file while the agent started) and be neither made since
// nor in the start's tick. Read apart from 0 as a file from before, what
// the checkpoint had read came twice, and the truncation, finding no
// copy, counted the rest lost (TestCopyMadeBeforeOpenTruncatedAfter,
// randomized seed 120278). Left to live, live's truncation finds it
// (findCopy) and reads it from live's offset.
func truncatedSinceOpen(live *follower, fi os.FileInfo) bool {
	if !atPathNow(live.path, live.key) {
		return false
	}
	if fi.Size() < live.off {
		return true
	}
	var cur [fpSize]byte
	m := readFP(live.f, cur[:])
	return m < live.fpLen || !bytes.Equal(cur[:live.fpLen], live.fp[:live.fpLen])
}

// truncatedSinceOpenNow is truncatedSinceOpen, live's stat taken here.
func truncatedSinceOpenNow(live *follower) bool {
	fi, err := live.f.Stat()
	return err == nil && live.off > 0 && truncatedSinceOpen(live, fi)
}

// copiedSince says whether the file at p (key) was made since live's
// generation started, live still at its path: a copy of live (a later
// file of the path renamed in turn, which may start with the same banner,
// comes after live was renamed away).
func copiedSince(live *follower, p string, key fileKey) bool {
	b, ok := born(p)
	if !ok || !live.bornSince(b, key) {
		return false
	}
	return atPathNow(live.path, live.key)
}

// compressedOf says whether the compressed sibling p, which starts with
// head, is o (a file open at the same path) compressed: o reads it, or it
// starts with o's first bytes and, when o reads a plain file, decompresses
// to o's bytes (its gzip trailer: gzipStartOf). A generation that starts
// with the same banner as o starts as o does and holds other bytes: a
// later copy, lost if taken for o.
func compressedOf(p string, head []byte, o *follower) bool {
	if len(head) < o.fpLen || !bytes.Equal(head[:o.fpLen], o.fp[:o.fpLen]) {
		return false
	}
	if o.gz != "" || o.inflated {
		// o reads a compressed file (o.gz until its turn, o.path
		// once inflated): p is another unless o's was renamed
		// (logrotate's numbered names move), which cannot be told:
		// taken for o.
		gz := o.gz
		if gz == "" {
			gz = o.path
		}
		if gz == p {
			return true
		}
		_, err := os.Lstat(gz)
		return err != nil
	}
	if o.f == nil {
		return true // cannot tell: taken for o
	}
	fi, err := o.f.Stat()
	if err != nil {
		return true
	}
	_, held := gzipStartOf(p, o.f, fi.Size())
	return held
}

// endsAlike says whether the file p, size bytes long, ends as f holds at
// the same offset (its last KiB): a copy of f made without truncating. A
// file whose every generation starts the same (a banner longer than the
// first bytes compared), copied and truncated, then written past the
// copy's length again, starts as the copy does, and f no longer holds the
// copy's lines.
func endsAlike(p string, f *os.File, size int64) bool {
	fh, err := openRegular(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	n := min(size, fpSize)
	var a, b [fpSize]byte
	if k, _ := fh.ReadAt(a[:n], size-n); int64(k) != n {
		return false
	}
	if k, _ := f.ReadAt(b[:n], size-n); int64(k) != n {
		return false
	}
	return bytes.Equal(a[:n], b[:n])
}

// gzCopyOf says whether the compressed file p may be the copy of a file
// that starts with fp and was read to off: it decompresses to fp first,
// and does not end, undamaged, before off (an older generation that
// starts the same). A damaged one may be: the copy cut short, read up to
// the damage. One pass over p.
func gzCopyOf(p string, fp []byte, off int64) bool {
	fh, err := openRegular(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(fh, 64<<10))
	if err != nil {
		return false
	}
	var buf [fpSize]byte
	if n, _ := io.ReadFull(zr, buf[:len(fp)]); n < len(fp) || !bytes.Equal(buf[:n], fp) {
		return false
	}
	_, err = io.CopyN(io.Discard, zr, off-int64(len(fp)))
	return !errors.Is(err, io.EOF)
}

// followsGz says whether a follower reads the compressed file p.
func (t *Tailer) followsGz(p string) bool {
	for _, o := range t.order {
		if o.st != stClosed && (o.gz == p || (o.inflated && o.path == p)) {
			return true
		}
	}
	return false
}

// takeOver makes c, a copy of f, go on from f's read position and merge
// state.
func (t *Tailer) takeOver(f, c *follower) *follower {
	c.off, c.consumed, c.skip, c.pred, c.suppressTo = f.off, f.consumed, f.skip, f.pred, f.suppressTo
	c.fp, c.fpLen = f.fp, f.fpLen
	c.own = append([]byte(nil), f.carry...)
	c.carry, c.carryOwned = c.own, true
	c.dec = f.dec
	c.dec.path = f.beside() // lines keep the name they were read under (a sibling opened away from its path: that path's)
	// The copy holds the same bytes at the same offsets: it takes over
	// f's tracker (lines already emitted, committed offset), now
	// checkpointed under the copy's identity.
	c.tr = f.tr
	t.mu.Lock()
	c.tr.key = c.key
	t.changes++
	t.mu.Unlock()
	t.add(c)
	f.pred = c
	return c
}
