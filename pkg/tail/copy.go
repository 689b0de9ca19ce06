package tail

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A copy of a file nothing was read of.
//
// copytruncate (logrotate's, or a runtime's own) copies a log to a rotated
// name and truncates it in place. A follower that read part of the file
// sees the truncation (the file is shorter than its offset, or its first
// bytes changed) and finds the copy by its first bytes (discovery.go
// findCopy). A follower that read nothing of it (opened while it was
// empty, written and copytruncated before its next read) may have no first
// bytes to find the copy by, or only those of what was written after the
// truncation (a poll took them), and at offset 0 a truncated file shows
// nothing: the copy's lines would never be read, and no counter would
// move. So the creation of a rotated sibling of such a file (a
// notification; polling alone does not see it) brings a read of the file
// as soon as the notification is taken (notifications wait at most
// read_interval while reads are due), and that read looks at the sibling
// first (takeCopy).
//
// A copy is one created after follower.opened: the file's opening, or
// the start of its generation, read from the file system's clock (fsNow)
// and compared with the copy's birth time (bornSince). That clock is
// coarse: a copy made a few milliseconds after the start shares its tick
// with the files made just before it, so the start lists those
// (genStart), and a file born in that tick that is none of them is a
// copy. A truncation starts a generation (newGeneration):
// the generation after it is read nothing of either, and a second
// copytruncate before its first read would otherwise lose its lines
// uncounted. A notification taken late of a copy the truncation already
// found (or of a later one laterCopies opened) names a file created before
// that, which is not taken again. A copy taken is the same kind of
// boundary: opened moves to its birth time, so that only a copy created
// after it is a copy of the new generation, or one created in the same
// tick of the file system's clock that is not one of those taken
// (tookCopies).

// copyCreated notes name, a file created in a watched directory that the
// include globs do not match, as a possible copy of the followed file it
// is a rotated name of (plain, kubelet's or logrotate's naming), if nothing
// of that file was read yet (offset 0; a poll may have taken its first
// bytes).
func (t *Tailer) copyCreated(name string) {
	live, ok := LivePath(name)
	if !ok {
		return
	}
	if _, gz, _ := rotatedName(filepath.Base(live), filepath.Base(name)); gz {
		return
	}
	key, kerr := statKey(name)
	for _, g := range t.order {
		if g.path == live && g.st != stClosed && (kerr != nil || g.key == key) {
			// Its own rename: what is created after is not its copy.
			// Or a name gone since (renamed again, compressed): perhaps
			// it was.
			g.renameNoticed = true
		}
	}
	if kerr == nil {
		// Also when the path's next file is followed there already (a
		// rescan found it before the notice was taken): made before it,
		// the copy is not its.
		t.copyOfAway(live, name, key)
	}
	f := t.byPath[live]
	if f == nil || f.st != stFollowing || f.f == nil || f.off != 0 || slices.Contains(f.copied, name) {
		return
	}
	f.copied = append(f.copied, name)
	if !f.note(name) {
		t.noteCompressed(f, name)
	}
	f.dirty, f.more = true, true // read at once, not after read_interval
	t.wantRead(time.Now())
}

// copyOfAway notes name (key), a rotated name created beside live, as a
// possible copy of a file renamed away from live (kubelet's rotation, seen)
// nothing of which was read: a copytruncate made just before the rename,
// its notice taken after a poll saw the rename (TestCopyNoticeTakenAfterRotation).
// The notices of a directory come in the order of its changes: one taken
// before the notice of the file's own rename was made while the file was
// at its path; one after may be a later file of the path renamed in turn,
// not taken. So only while that rename was not noticed (renameNoticed),
// in a directory watched since the file was followed there (not polled:
// its rename then had no notice), and no notice was lost since (an
// overflow sets renameNoticed on every file; so does a notice of a name
// gone when it is taken: it may have been the file's rename). Nor one
// born after the file's last change (its ctime: its rename, or a write
// after it): the runtime writes to the renamed file until it opens the
// path's next file, so a later file of the path is born after (in the
// same tick of the file system's clock, it is taken). The file's read
// takes it as takeCopy does, before the file.
func (t *Tailer) copyOfAway(live, name string, key fileKey) {
	if t.files[key] != nil {
		return // followed: a file of its own
	}
	b, ok := born(name)
	if !ok {
		return
	}
	for _, g := range t.order {
		if g.path != live || g.st != stRotated || g.f == nil || g.off != 0 || g.renameNoticed || g.wasPolled ||
			g.key == key || slices.Contains(g.copied, name) {
			continue
		}
		if c, ok := changedOf(g.f); !ok || b.After(c) {
			continue
		}
		g.copied = append(g.copied, name)
		if !g.note(name) {
			t.noteCompressed(g, name)
		}
		g.dirty, g.more = true, true
		t.wantRead(time.Now())
		return
	}
}

// noteCompressed notes name+".gz" for the copy name whose creation was
// notified but which is gone: logrotate's copytruncate with compress (no
// delaycompress) compresses the copy right after making it, before the
// notification is taken. The compressed file's identity and birth stand
// for the copy's (its birth is after the copy's: a copy made since f's
// generation started is one still), unless it starts as a file read at
// f's path does (the compression of a rotated file renamed there, whose
// rename is notified as a creation too): compressedCopy then reads it
// before f unless f holds its bytes.
func (t *Tailer) noteCompressed(f *follower, name string) {
	gz := name + ".gz"
	b, ok := born(gz)
	if !ok {
		return
	}
	// By its own inode: a .gz born in the start's tick and there at the
	// start is among the files from before (took) by inode and birth.
	// siblingStart reads a .gz's first bytes but gives no identity.
	k, err := statKey(gz)
	if err != nil || !f.bornSince(b, k) {
		return
	}
	var fp [fpSize]byte
	_, n, err := siblingStart(sibling{path: gz, gz: true}, fp[:])
	if err != nil || n == 0 {
		return
	}
	if f.tookAlready(gz, fp[:n]) {
		return
	}
	if i := slices.IndexFunc(f.startNames, func(s startName) bool { return s.path == name }); i >= 0 &&
		!t.startedOtherwise(f.dec.path, f.startNames[i].key, fp[:n]) {
		// Made before f's generation started: another file's copy, or
		// one of f's before (the truncation's, compressed after it).
		// Unless the file there then is known to have started otherwise
		// than this does: logrotate's numbered names are made again (the
		// copy 0.log.1 compressed, moved to 0.log.2.gz, and the next
		// copy made as 0.log.1).
		return
	}
	// The .gz's name beside f at its start says nothing: logrotate's
	// numbered names move (0.log.1.gz to 0.log.2.gz) before the next
	// copy is made as 0.log.1 and compressed to 0.log.1.gz. A .gz that
	// was there at the start is not born since (bornSince above).
	if t.startsAsRead(f, fp[:n]) {
		return
	}
	if f.noted == nil {
		f.noted = make(map[string]birth)
	}
	f.noted[name] = birth{key: k, at: b}
}

// noteTaken notes b, a copy just taken by some file (takenBefore).
func (t *Tailer) noteTaken(b birth) {
	if b.at.IsZero() {
		return
	}
	if len(t.tookCopies) >= 4*maxTaken {
		t.tookCopies = slices.Delete(t.tookCopies, 0, 1)
	}
	t.tookCopies = append(t.tookCopies, b)
}

// takenBefore says whether the file key born at b was taken as a copy
// already, by any file: a copy's notice may be noted by two files of its
// path (the file followed there, and one renamed away: copyOfAway), and
// each would read it (TestHostile69UndoneOverNextFileThenCopied).
func (t *Tailer) takenBefore(key fileKey, b time.Time) bool {
	return !b.IsZero() && slices.ContainsFunc(t.tookCopies, func(x birth) bool { return x.key == key && x.at.Equal(b) })
}

// takenCopy is a copy of f taken and read before it (takeCopyOf,
// compressedCopy): its follower, its first bytes and its size then.
type takenCopy struct {
	c    *follower
	fp   []byte
	size int64
}

// maxTaken bounds f.taken: a copy taken that many copies ago is
// compressed, or deleted, long since.
const maxTaken = 16

// keepTaken notes tc, a copy of f just taken.
func (f *follower) keepTaken(tc takenCopy) {
	if len(f.taken) >= maxTaken {
		f.taken = slices.Delete(f.taken, 0, 1)
	}
	f.taken = append(f.taken, tc)
}

// tookAlready says whether gz, a compressed rotated sibling of f whose
// decompressed start is fp, is a copy f took and read already, compressed
// since: kubelet compresses every rotated file but the newest, and a
// .gz's birth is its compression's, after the last copy taken (f's
// generation's start then), so by its birth it is a copy made since
// (TestTakenCopiesCompressedNotCopiesAgain; TestCopytruncatesInARow read
// lines twice so). It starts as that copy does and holds as many bytes
// (the gzip trailer's size) as the copy held when taken or as were read
// of it.
func (f *follower) tookAlready(gz string, fp []byte) bool {
	if len(f.taken) == 0 || len(fp) == 0 {
		return false
	}
	sz, ok := gzipSize(gz)
	if !ok {
		return false
	}
	return slices.ContainsFunc(f.taken, func(tc takenCopy) bool {
		own := tc.fp
		if tc.c.fpLen > len(own) {
			own = tc.c.fp[:tc.c.fpLen] // taken while still being written: as its reads found it
		}
		m := min(len(own), len(fp))
		if m == 0 || !bytes.Equal(own[:m], fp[:m]) {
			return false
		}
		return sz == uint32(tc.size) || sz == uint32(tc.c.off) || sz == uint32(tc.c.size)
	})
}

// startedOtherwise says whether the file key, a plain rotated sibling of
// path, is known (knownStarts) to start otherwise than fp: a file now
// starting with fp is not it. Unknown, it is not.
func (t *Tailer) startedOtherwise(path string, key fileKey, fp []byte) bool {
	otherwise := false
	if key != (fileKey{}) {
		t.knownStarts(path, fp, nil, func(k fileKey, same bool) bool {
			if k != key {
				return false
			}
			otherwise = !same
			return true
		})
	}
	return otherwise
}

// startsAsRead says whether a file starting with fp is one read at f's
// path, or to be read there before f (a rotated sibling queued, nothing of
// it read yet: a notification taken at the start comes before its turn).
// The path's anchor counts: logrotate's numbered names with delaycompress
// rename the last copy, 0.log.1 to 0.log.2, and compress it, and that
// rename is notified as a creation of 0.log.2.
func (t *Tailer) startsAsRead(f *follower, fp []byte) bool {
	found := false
	t.knownStarts(f.dec.path, fp, f, func(_ fileKey, same bool) bool {
		found = same
		return same
	})
	return found
}

// knownStarts calls fn, until it returns true, for each file known at path
// by its first bytes, with its identity and whether it starts as fp does:
// the path's anchor (the newest rotated file finished, also by an agent
// before), the last rotated file closed there, and the files followed
// there but skip. A file known without first bytes is not among them.
func (t *Tailer) knownStarts(path string, fp []byte, skip *follower, fn func(key fileKey, same bool) bool) {
	same := func(own []byte) bool {
		m := min(len(own), len(fp))
		return string(own[:m]) == string(fp[:m])
	}
	t.mu.Lock()
	a, ok := t.anchors[path]
	t.mu.Unlock()
	if ok && a.FingerprintLen > 0 &&
		fn(a.key(), len(fp) >= a.FingerprintLen && fpHash(fp[:a.FingerprintLen]) == a.Fingerprint) {
		return
	}
	if r, ok := t.lastRotated[path]; ok && r.fpLen > 0 && fn(r.key, same(r.fp[:r.fpLen])) {
		return
	}
	for _, g := range t.order {
		if g != skip && g.dec.path == path && g.st != stClosed && g.fpLen > 0 && fn(g.key, same(g.fp[:g.fpLen])) {
			return
		}
	}
}

// note keeps the identity and birth of the copy name as it is now, while
// it is plain: compressed before f's read looks at it, its .gz's birth is
// its compression's, and only this tells it was made since f's generation
// started (compressedCopy).
func (f *follower) note(name string) bool {
	b, ok := born(name)
	if !ok {
		return false
	}
	k, err := statKey(name)
	if err != nil {
		return false
	}
	if f.noted == nil {
		f.noted = make(map[string]birth)
	}
	f.noted[name] = birth{key: k, at: b}
	return true
}

// newGeneration starts f's generation after a truncation (follower.go
// truncated) at gen, taken before the truncation's copies were looked
// for: copies created since are copies of it, but those the truncation
// put before f (its copy, the later copies read after it: f.pred's chain
// back to was, f.pred before the truncation), which are files from
// before it (took). Their creation is notified only in a watched
// directory: a polled one (busy.go) is watched again at once, as when a
// new file is followed there, and the copies created between the
// truncation's handling and the watch are noted from a listing.
func (t *Tailer) newGeneration(f *follower, gen genMark, was *follower) {
	f.noted = nil
	f.startGen(gen)
	// f.heldEmpty: the truncation looked at them (heldEmptyCopies,
	// heldWritten); those still empty are left to f again.
	f.tick, f.readCopy, f.readFPs, f.heldCopy, f.readEarly = true, "", nil, 0, nil
	f.awayLooked = false // copiesAway: its copies made since are looked at again
	for p := f.pred; p != nil && p != was; p = p.pred {
		// Read before f as its copies: compressed since, they are not
		// copies of the new generation either (tookAlready).
		f.keepTaken(takenCopy{c: p, fp: slices.Clone(p.fp[:p.fpLen]), size: p.size})
		if p.f == nil || p.gz != "" {
			continue // compressed: a .gz is not taken for a copy by its birth (noteCompressed)
		}
		if b, ok := bornOf(p.f); ok && !b.Before(gen.at) {
			f.took = append(f.took, birth{key: p.key, at: b})
		}
	}
	if d := filepath.Dir(f.path); t.isPolled(d) {
		t.newFileIn(d, time.Now())
		t.parkedCopies(f)
	}
}

// genStart starts a generation of the file at path now: at is the file
// system's clock (fsNow), and took the files beside it born at or after
// at, before the start. A rotated sibling born at or after at and not one
// of before was created after the start (bornSince). Births are read
// only if the directory changed since at (its modification time is not
// before at): otherwise nothing was born in it since. names are the
// plain rotated siblings present, every time.
//
// A follower takes it whole (startGen); a file queued for a descriptor
// keeps it until its open (openlimit.go waiter).
//
// The clock is read first, the directory after: a file created between
// the two is taken for one from before. The start is the listing: every
// file from before a truncation the tailer found, or from before a
// file's opening, exists by then.
func genStart(path string) (g genMark) {
	g.at = fsNow()
	dir, base := filepath.Split(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return g
	}
	// Listed whatever the directory's modification time: the names
	// present now tell a copy made before the start and compressed since
	// from one made after (noteCompressed).
	changed := true
	if di, err := os.Stat(dir); err == nil && di.ModTime().Before(g.at) {
		changed = false
	}
	for _, de := range ents {
		_, gz, ok := rotatedName(base, de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		if gz && !changed {
			continue
		}
		p := filepath.Join(dir, de.Name())
		k, kerr := statKey(p) // zero if gone since: then unknown
		if !gz {
			g.names = append(g.names, startName{path: p, key: k})
		}
		if !changed || kerr != nil {
			continue
		}
		if b, ok := born(p); ok && !b.Before(g.at) {
			g.took = append(g.took, birth{key: k, at: b})
		}
	}
	return g
}

// genMark is a generation's start (genStart).
type genMark struct {
	at    time.Time   // the file system's clock then
	took  []birth     // the rotated siblings born in at's tick, before the start
	names []startName // the plain rotated siblings present
}

// startGen starts f's generation at g.
func (f *follower) startGen(g genMark) {
	f.opened, f.took, f.startNames = g.at, g.took, g.names
}

// startName is a plain rotated sibling present at a generation's start
// (genStart), by name and identity.
type startName struct {
	path string
	key  fileKey
}

// bornSince says whether a file born at b (its birth time, the file
// system's clock), whose identity is key, was created after f's generation
// started (opened): born at or after it and none of the files from before
// (took), when took names every file from before born then or later
// (tick); born after it otherwise. Without birth times nothing is. A
// birth after the agent's clock now tells nothing (the clock was stepped
// back, or a test runs on a fake one).
//
// A file born after opened may be from before: the kernel stamps a file
// with a finer time than its coarse clock's once a time stamp was asked
// for since the last tick (multigrain time stamps, Linux 6.13), and that
// time stays the floor of the times it hands out until the next tick.
func (f *follower) bornSince(b time.Time, key fileKey) bool {
	if f.opened.IsZero() || b.IsZero() || b.After(time.Now()) {
		return false
	}
	if !f.tick {
		return b.After(f.opened)
	}
	return !b.Before(f.opened) && !f.fromBefore(key, b, false)
}

// readBefore notes s, a rotated sibling of f opened to be read before f,
// as a file from before f's generation: not a copy of it, though it may be
// born after the start (a copytruncate of f between its open and the
// listing that found s). A notification of its creation, taken after s
// was read to its end and closed, read it again.
//
// Its first bytes are noted (f.readFPs): a later copy of f's truncation
// is not one of them (copiesAfter), wherever it went since.
//
// One that starts with f's first bytes is the copy of f's generation as
// it was opened (f.readCopy), born after f's start or in the tick before
// it (copied before f's open, truncated after: f no longer holds it, or
// it was not read apart, holds): f's first truncation is accounted for by
// it (findCopy), wherever it went since (renamed, compressed, deleted).
// Found again by its first bytes, its lines came twice.
func (f *follower) readBefore(s *follower) {
	if f.fpLen > 0 && s.fpLen >= f.fpLen && bytes.Equal(s.fp[:f.fpLen], f.fp[:f.fpLen]) {
		f.readCopy = s.path
	} else if s.fpLen < fpSize && s.gz == "" {
		// Still being written (copytruncate's copy is a create, then
		// writes): it may be that copy all the same (readEarly).
		f.readEarly = append(f.readEarly, s)
	}
	if !f.tick {
		return
	}
	var b time.Time
	var ok bool
	if s.f != nil {
		b, ok = bornOf(s.f)
	} else if s.gz != "" {
		b, ok = born(s.gz) // its compression's
	}
	if !ok || b.Before(f.opened) {
		return
	}
	if s.f != nil {
		f.took = append(f.took, birth{key: s.key, at: b, read: true})
	}
	if s.fpLen > 0 {
		f.readFPs = append(f.readFPs, slices.Clone(s.fp[:s.fpLen]))
	}
}

// readEarly sets f.readCopy, if it is not set and nothing of f was read,
// to the sibling read whole before f that starts with f's first bytes
// now, though it held fewer of them when readBefore looked: the copy
// copytruncate made as f was opened, created before f's generation
// started and written after the listing opened it (TestCopyReadBeforeWhileEmpty).
// Taken by f's truncation for the copy to finish, its lines came twice.
// One still open is looked at through its descriptor: it may not have
// been read yet; one closed, by the first bytes its reads took.
func (f *follower) readEarlyCopy() {
	if f.readCopy != "" || f.off != 0 || f.fpLen == 0 {
		return
	}
	var buf [fpSize]byte
	for _, s := range f.readEarly {
		fp := s.fp[:s.fpLen]
		if s.st != stClosed && s.f != nil {
			fp = buf[:readFP(s.f, buf[:])]
		}
		if len(fp) >= f.fpLen && bytes.Equal(fp[:f.fpLen], f.fp[:f.fpLen]) {
			f.readCopy = s.path
			f.readFPs = append(f.readFPs, slices.Clone(fp))
			return
		}
	}
}

// bornOr is fh's birth time; zero if unknown (or fh is nil).
func bornOr(fh *os.File) time.Time {
	if fh == nil {
		return time.Time{}
	}
	b, _ := bornOf(fh)
	return b
}

// birth names a file by its identity and its birth time: the inode of a
// file deleted is soon another's. read says it was read whole before f
// (readBefore).
type birth struct {
	key  fileKey
	at   time.Time
	read bool
}

// fromBefore says whether the file key born at b is one of f.took (and
// was read before f, if read).
func (f *follower) fromBefore(key fileKey, b time.Time, read bool) bool {
	return slices.ContainsFunc(f.took, func(x birth) bool {
		return x.key == key && x.at.Equal(b) && (x.read || !read)
	})
}

// copiesUnnoted looks, before the first read that takes something of f
// (nothing of its generation read yet), for the copies made of it whose
// creation was not taken yet: the notification of a copytruncate's copy
// may wait in the queue while the read comes (the read is due for the
// writes after the truncation), and that read takes f for a file nothing
// was truncated of; the late notification then finds f read, and the copy
// is never read. One listing per generation, at its first read. True if f
// is to wait for a copy (takeCopy).
//
// Not while f's path names another file, or none: f was renamed
// (kubelet's rotation; the runtime may not have opened the path's next
// file yet) or deleted, not truncated in place, and that is not taken yet.
// A sibling born since is a later file of the path renamed in turn (two
// rotations before the first read), not a copy: read as one, its lines
// came before f's. Taken as rotated, f is read first and the later
// siblings after it (rotatedAfter).
//
// A rotated f away from its path (its rotation seen) may have been back
// there unseen, and copied then: a rotation undone, a copytruncate, and
// the file renamed away again before a check saw it back, its copy's
// notice refused (copyCreated: not followed at its path; copyOfAway: a
// rename noticed before it, perhaps the one undone). Its siblings named
// before its name now are looked at as copiesAway looks at them when such
// a file is finished empty: the path's later files are named after it
// (TestHostile75CopyNoticeRefusedThenReadAway).
func (t *Tailer) copiesUnnoted(f *follower, now time.Time) bool {
	if !atPathNow(f.path, f.key) {
		return f.st == stRotated && t.copiesAway(f, now)
	}
	if f.st == stRotated {
		// Renamed back before a check saw it (a rotation undone): it
		// is followed at its path again, and copies made while nothing
		// of it was read are its (undone notes them).
		t.undone(f)
	}
	t.parkedCopies(f)
	return len(f.copied) > 0 && t.takeCopy(f, now)
}

// copiesAway looks, as f's rotated file is finished with nothing of its
// generation read, or before the first read that takes something of it
// while it is away from its path (copiesUnnoted), for the copies made of
// it while it was back at its path unseen: a rotation seen, undone before
// a check saw it back, then a copytruncate (its copy perhaps compressed
// at once) and another rotation (test/model seed 1230002; TAIL_MIX seed
// 20058). The copy's creation notice was dropped (f was not followed at
// its path: copyCreated; or a rename was noticed before it: copyOfAway),
// and no listing at f's path found it (f is empty, or was read away). Such
// a copy was born since f's generation started and is named before f's
// name now; the path's later files (kubelet's next rotations) are named
// after it. Each plain sibling named before f is looked at as
// takeCopy does (born since f's generation started, not f, not held by
// f); a compressed one as noteCompressed does, and never one whose plain
// name was there at f's start. Once per generation; true if f is to wait
// for a copy.
func (t *Tailer) copiesAway(f *follower, now time.Time) bool {
	if f.awayLooked || f.off != 0 || f.st != stRotated || f.f == nil || f.opened.IsZero() {
		return false
	}
	f.awayLooked = true
	sibs := listSiblings(f.path)
	own := slices.IndexFunc(sibs, func(s sibling) bool { return !s.gz && atPathNow(s.path, f.key) })
	if own < 0 {
		return false // deleted, or compressed: where it was named is unknown
	}
	next := t.nextBorn(f)
	for _, s := range sibs {
		if !orderBefore(s.order, sibs[own].order) {
			continue
		}
		name := strings.TrimSuffix(s.path, ".gz")
		if slices.Contains(f.copied, name) || t.copyOfOther(f, name, s.path) {
			continue
		}
		if b, ok := born(s.path); ok && !s.gz && !next.IsZero() && b.After(next) {
			// Made after a later file of the path was: f was not at the
			// path then, and this is that file's copy (copytruncate
			// with names that sort before f's: logrotate's dateext
			// 0.log-20261207 or numbered 0.log.1 beside kubelet's
			// 0.log.20261207-000001), read by it; read as f's, twice.
			// One born in the later file's tick of the file system's
			// clock may be f's (copied, renamed and reopened within a
			// tick): looked at as before.
			continue
		}
		if s.gz && slices.ContainsFunc(f.startNames, func(sn startName) bool { return sn.path == name }) {
			// There plain at f's start: an older file compressed since
			// (noteCompressed's exception for a name made again does
			// not hold here: the inode of the file compressed is soon
			// the path's next file's, which starts otherwise).
			continue
		}
		f.copied = append(f.copied, name)
		if s.gz {
			t.noteCompressed(f, name)
		} else {
			f.note(name)
		}
	}
	if len(f.copied) == 0 {
		return false
	}
	t.log.Debug("copies of a rotated file nothing was read of looked at as it is finished", "path", f.path, "name", sibs[own].path, "copies", f.copied)
	return t.takeCopy(f, now)
}

// nextBorn is the birth time of the first file of f's path after f still
// followed there (not deleted: a file the path named while f was renamed
// away and back, replaced by f, is), or of the file at the path now if it
// is not f: f was renamed away before it was made. Zero if none is known.
func (t *Tailer) nextBorn(f *follower) time.Time {
	fb, ok := bornOf(f.f)
	if !ok {
		return time.Time{}
	}
	var next time.Time
	later := func(b time.Time) {
		if b.After(fb) && (next.IsZero() || b.Before(next)) {
			next = b
		}
	}
	for _, g := range t.order {
		if g != f && g.path == f.path && g.f != nil && g.st != stClosed && g.st != stDeleted && g.key != f.key {
			if _, nlink, _, err := fstatKey(g.f); err != nil || nlink == 0 {
				continue // replaced by f renamed back (an undone rotation), not seen yet
			}
			if b, ok := bornOf(g.f); ok {
				later(b)
			}
		}
	}
	if k, err := statKey(f.path); err == nil && k != f.key {
		if b, ok := born(f.path); ok {
			later(b)
		}
	}
	return next
}

// copyOfOther says whether name (listed as listed: name or its .gz) was
// noted as a copy of another file g followed at f's path (its creation
// notified while g was there) that g will take: not f's. The notice, taken
// late, names the file at the path then, not the one copied (test/model
// seed 1230002: f's copy, made while f was back at its path unseen, noted
// by the path's next file). So g's only if it was made after g was born
// (its birth as noted while plain, or now if plain), and a compressed one
// g did not note plain is not g's: g cannot take it (compressedCopy).
func (t *Tailer) copyOfOther(f *follower, name, listed string) bool {
	return slices.ContainsFunc(t.order, func(g *follower) bool {
		if g == f || g.path != f.path || g.st == stClosed || !slices.Contains(g.copied, name) {
			return false
		}
		nb, ok := g.noted[name]
		b := nb.at
		if !ok {
			if listed != name {
				return false // compressed, never noted plain by g
			}
			b, ok = born(name)
		}
		gb, gok := bornOf(g.f)
		return !ok || !gok || !b.Before(gb)
	})
}

// parkedCopies notes the copies made of f while it was parked
// (openlimit.go): their creation found no follower at f's path. They are
// its plain rotated siblings created after it was opened, if nothing of it
// was read; takeCopy then tells a copy from the rest.
func (t *Tailer) parkedCopies(f *follower) {
	if f.st != stFollowing {
		return
	}
	t.siblingsBornSince(f)
}

// siblingsBornSince notes f's plain rotated siblings created after its
// generation started as possible copies, if nothing of it was read; f's
// own file, renamed to one of them, is not.
func (t *Tailer) siblingsBornSince(f *follower) {
	if f.off != 0 || f.opened.IsZero() {
		return
	}
	for _, s := range listSiblings(f.path) {
		if s.gz || slices.Contains(f.copied, s.path) {
			continue
		}
		b, ok := born(s.path)
		if !ok {
			continue
		}
		if k, err := statKey(s.path); err == nil && k != f.key && f.bornSince(b, k) {
			f.copied = append(f.copied, s.path)
			f.note(s.path)
		}
	}
}

// takeCopy looks at f.copied before f's read: a copy of f (another file,
// not f renamed, created after it) whose first bytes f no longer starts
// with, or that is longer than f, holds lines f lost to a truncation, none
// of them read (nothing of f was): it is read whole before f, from its own
// start. True if f is to wait for it.
//
// A copy f still holds is left alone: f's own read takes its lines. It
// stays noted while nothing of f is read: the truncation of a
// copytruncate may come between this look and f's read, which then finds
// f empty, and the copy is taken at the read the truncation's write
// notification brings (fileWritten). A copy made without truncating is
// dropped at f's first read that takes something.
func (t *Tailer) takeCopy(f *follower, now time.Time) bool {
	wait, _ := t.lookAtCopies(f, now)
	return wait
}

// lookAtCopies is takeCopy; unopened are the copies not looked at for want
// of file descriptors.
func (t *Tailer) lookAtCopies(f *follower, now time.Time) (wait bool, unopened []string) {
	names := f.copied
	f.copied = nil
	if f.off != 0 {
		return false, nil // read since: a truncation is found by its first bytes (findCopy)
	}
	// In the order they were made, which is not always the order they
	// were noted: logrotate's numbered names move (0.log.1 is renamed
	// 0.log.2 when the next copy is made as 0.log.1), so the name noted
	// first may be the newest copy. A name gone sorts first, and is not
	// taken.
	if len(names) > 1 {
		births := make(map[string]time.Time, len(names)) // one statx per name
		for _, n := range names {
			births[n], _ = born(n)
		}
		slices.SortStableFunc(names, func(a, b string) int {
			return births[a].Compare(births[b])
		})
	}
	taken := false
	var latest tookCopies // the birth of the last copy taken
	var held []string
	for i, name := range names { // each is read before the next
		switch t.takeCopyOf(f, name, now, &latest) {
		case copyTaken:
			taken = true
		case copyHeld:
			held = append(held, name)
		case copyRetry:
			// Out of file descriptors: f waits for it (and the copies
			// after it), looked at again at f's next read, in
			// read_interval; reading f now would lose it (f read from
			// 0 is no longer a file nothing was read of).
			f.copied = append(held, names[i:]...)
			f.more, f.dirty, f.lastRead = false, true, now
			if taken {
				f.tookCopies(latest)
			}
			return true, names[i:]
		}
	}
	if taken {
		// A new generation, as after a truncation (follower.go
		// truncated): only a copy created after the copies just taken
		// is a copy of it. A notification taken late of one of them (a
		// name created twice in one burst, each creation notified) would
		// otherwise take it again, read twice.
		f.tookCopies(latest)
	} else {
		f.copied = held
	}
	return taken, nil
}

// tookCopies is the birth time of the last copies taken, and which they
// are (those born in that tick of the file system's clock).
type tookCopies struct {
	at   time.Time
	keys []fileKey
}

// tookCopies starts f's generation at the copies just taken: only a copy
// created after them is a copy of it, or one created in the same tick that
// is none of them (copytruncates in a row on a busy node, or with a clock
// that counts seconds: the second copy, noted after the first was taken,
// was lost uncounted).
func (f *follower) tookCopies(tk tookCopies) {
	if !tk.at.Equal(f.opened) || !f.tick {
		f.opened, f.took, f.tick = tk.at, nil, true
	}
	for _, k := range tk.keys {
		f.took = append(f.took, birth{key: k, at: tk.at})
	}
}

// What takeCopyOf made of a copy.
type copyVerdict uint8

const (
	copyNone  copyVerdict = iota // not a copy of f, gone, or unreadable
	copyTaken                    // taken: read before f
	copyHeld                     // f still holds its lines
	copyRetry                    // not opened for want of file descriptors
)

// takeCopies takes the copies noted and not looked at yet (takeCopy),
// without reading them: Run's end, so that the final checkpoint names them
// (from offset 0) and the next agent reads them. The notes die with this
// agent, and the next one does not find a copy made before the checkpoint
// among the files rotated since. A copy that cannot be opened for want of
// file descriptors is named all the same (keepCopies).
func (t *Tailer) takeCopies(now time.Time) {
	t.takeNoted(now)
	// A parked file (openlimit.go) has no descriptor to tell a copy by
	// its first bytes: its copies are named as those not opened are.
	// A file waiting for a descriptor, never opened, had nothing read,
	// unless the checkpoint loaded says an agent before read it: its
	// copies are those created after it. (A resumed file's copies made
	// before were read by the agent that read it, or are named by its
	// checkpoint.)
	for _, w := range t.lim.queue {
		f := w.f
		if f == nil && w.key != (fileKey{}) {
			if slices.ContainsFunc(t.resume[w.key], func(e stateEntry) bool {
				return e.Path == w.path && (e.Done || e.Offset > 0 || e.AckedTo > 0)
			}) {
				continue
			}
			b, ok := born(w.path)
			if !ok {
				continue
			}
			f = &follower{path: w.path, key: w.key, opened: b}
		}
		if f != nil {
			t.parkedCopies(f)
			t.keepCopies(f, f.copied)
		}
	}
}

// takeNoted is takeCopies for the open files: their copies noted are
// taken, or named if they cannot be opened.
func (t *Tailer) takeNoted(now time.Time) {
	for _, f := range slices.Clone(t.order) {
		if len(f.copied) > 0 && f.f != nil {
			if _, unopened := t.lookAtCopies(f, now); len(unopened) > 0 {
				t.keepCopies(f, unopened)
			}
		}
	}
}

// keepCopies names in the final checkpoint (kept.go), at offset 0 and
// under f's path, the copies of f that could not be opened at Run's end
// (or f is parked: no descriptor to compare them with), found by what a
// stat tells (no descriptor): created after f was opened, and longer than
// f (f cannot hold it: f was truncated since). A copy no longer than f is
// not named: f may still hold its lines (a copy made without truncating),
// read twice if it were; its lines are lost if f was truncated and written
// past the copy's size before the stop (a known gap).
func (t *Tailer) keepCopies(f *follower, names []string) {
	if len(names) == 0 || f.off != 0 {
		return
	}
	var cur os.FileInfo
	var err error
	if f.f != nil {
		cur, err = f.f.Stat()
	} else if cur, err = os.Stat(f.path); err == nil {
		if k, _ := keyOf(cur); k != f.key {
			return // not f: rotated while parked, finished where it went
		}
	}
	if err != nil {
		return
	}
	var add []stateEntry
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() <= cur.Size() {
			continue
		}
		key, _ := keyOf(fi)
		if b, _ := born(name); !f.bornSince(b, key) || key == f.key || t.files[key] != nil {
			continue
		}
		add = append(add, stateEntry{Dev: key.dev, Ino: key.ino, Fingerprint: fpHash(nil), Path: f.path})
	}
	if len(add) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.kept = append(slices.Clip(t.kept), add...)
	t.changes++
}

// takeCopyOf is takeCopy for one copy, name. A copy taken moves latest to
// its birth time (and is noted there if it is latest's).
func (t *Tailer) takeCopyOf(f *follower, name string, now time.Time, latest *tookCopies) copyVerdict {
	fh, err := t.open(name)
	if errors.Is(err, fs.ErrNotExist) {
		// Gone, or compressed since. A compressed file cannot be told
		// from an older rotated file by its birth time (the .gz's is its
		// compression's), and a notification taken late names such files
		// too (kubelet rotated, compressed and deleted it while the
		// path's next file was followed): read as a copy, it was read
		// twice. So it is taken only if it was seen plain, made since
		// f's generation started (compressedCopy); otherwise its lines
		// are lost uncounted (a known gap: logrotate's copytruncate
		// with compress and no delaycompress, compressed before the
		// notification of the copy was taken).
		return t.compressedCopy(f, name, now, latest)
	}
	if err != nil {
		if descriptorReason(err) != "" {
			return copyRetry
		}
		return copyNone
	}
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		_ = fh.Close()
		return copyNone
	}
	key, _ := keyOf(fi)
	cur, err := f.f.Stat()
	cb, _ := bornOf(fh)
	if err != nil || key == f.key || t.files[key] != nil || !f.bornSince(cb, key) || t.takenBefore(key, cb) {
		_ = fh.Close()
		return copyNone
	}
	var head, own [fpSize]byte
	n := readFP(fh, head[:])
	m := readFP(f.f, own[:])
	if n == 0 || (m >= n && bytes.Equal(head[:n], own[:n]) && cur.Size() >= fi.Size()) {
		_ = fh.Close()
		return copyHeld // f still holds it, or it is still empty (being written)
	}
	c := &follower{path: name, f: fh, key: key, size: fi.Size(), dirty: true, st: stDraining, since: now, pred: f.pred, fp: head, fpLen: n}
	c.dec.maxLine, c.dec.path = t.cfg.MaxLineBytes, f.path // lines keep the name of the file they were written to
	if f.fpLen > 0 && n >= f.fpLen && bytes.Equal(head[:f.fpLen], f.fp[:f.fpLen]) {
		// The copy holds what f held, at the same offsets: it takes
		// over f's tracker, as a copy found by its first bytes does
		// (findCopy), with the lines delivered before a restart (a
		// checkpoint at offset 0, acked_to past it) or emitted before
		// a spill rewound f to 0. None of them is in f's new
		// generation: f starts a tracker of its own.
		c.suppressTo, c.tr = f.suppressTo, f.tr
		t.mu.Lock()
		c.tr.key = key
		t.changes++
		t.mu.Unlock()
		f.tr = t.newTracker(f.key, f.path, 0, 0, own[:m])
	} else {
		c.tr = t.newTracker(key, f.path, 0, 0, c.fp[:c.fpLen])
	}
	f.suppressTo = 0
	t.add(c)
	f.pred = c
	f.keepTaken(takenCopy{c: c, fp: slices.Clone(head[:n]), size: fi.Size()})
	t.noteTaken(birth{key: key, at: cb})
	t.copyTaken(f, cur.Size(), own, m, name)
	switch {
	case cb.After(latest.at):
		latest.at, latest.keys = cb, []fileKey{key}
	case cb.Equal(latest.at):
		latest.keys = append(latest.keys, key)
	}
	return copyTaken
}

// compressedCopy takes name+".gz", name compressed since it was noted
// plain (note) and made since f's generation started: read whole, from 0,
// before f, unless f still holds its bytes (its gzip trailer's size and
// CRC-32 are those of f's first bytes) or it is read already.
func (t *Tailer) compressedCopy(f *follower, name string, now time.Time, latest *tookCopies) copyVerdict {
	nb, ok := f.noted[name]
	if !ok || !f.bornSince(nb.at, nb.key) || t.takenBefore(nb.key, nb.at) {
		return copyNone
	}
	gz := name + ".gz"
	if t.followsGz(gz) {
		return copyNone
	}
	cur, err := f.f.Stat()
	if err != nil {
		return copyNone
	}
	if _, held := gzipStartOf(gz, f.f, cur.Size()); held {
		return copyHeld
	}
	c := t.openSibling(f.path, sibling{path: gz, gz: true}, nil, now)
	if c == nil {
		return copyNone
	}
	c.pred = f.pred
	f.pred = c
	t.noteTaken(nb)
	if sz, ok := gzipSize(gz); ok && c.fpLen > 0 {
		f.keepTaken(takenCopy{c: c, fp: slices.Clone(c.fp[:c.fpLen]), size: int64(sz)})
	}
	var own [fpSize]byte
	m := readFP(f.f, own[:])
	t.copyTaken(f, cur.Size(), own, m, gz)
	switch {
	case nb.at.After(latest.at):
		latest.at, latest.keys = nb.at, []fileKey{nb.key}
	case nb.at.Equal(latest.at):
		latest.keys = append(latest.keys, nb.key)
	}
	return copyTaken
}

// copyTaken accounts for the truncation of f whose copy, name, was taken:
// f is known by what it starts with now (own, m bytes of it; size bytes
// long).
func (t *Tailer) copyTaken(f *follower, size int64, own [fpSize]byte, m int, name string) {
	// The truncation is accounted for by the copy: f is known by what it
	// starts with now, or a poll would take it for truncated again and
	// find the copy (by the first bytes it had) once more.
	t.m.truncations.Inc()
	f.size = size
	f.fp, f.fpLen = own, m
	f.readCopy, f.readFPs, f.readEarly = "", nil, nil // of the generations the copy holds, and before
	// A spill's wait for f to grow past its size then (held.go) was
	// for the generation the copy holds: f's new one is read as it is.
	f.spilledAt = 0
	t.mu.Lock()
	f.tr.fp = append(f.tr.fp[:0], f.fp[:f.fpLen]...)
	t.mu.Unlock()
	t.log.Debug("a copy of a file nothing was read of; reading it first", "path", name)
}
