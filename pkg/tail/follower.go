package tail

import (
	"bytes"
	"os"
	"time"
)

// maxChunk bounds one read call; a turn may make several up to
// ReadBytesPerTurn.
const maxChunk = 128 << 10

// follower is one open file. It is owned by the Run goroutine.
type follower struct {
	tr            *tracker
	path          string
	f             *os.File
	key           fileKey
	fp            [fpSize]byte
	fpLen         int
	off           int64  // next byte to read
	consumed      int64  // end of the last complete line (off minus carry)
	carry         []byte // the incomplete last line read: in own, or the tail of the last chunk
	carryOwned    bool   // carry is in own (no record refers to it), not in a chunk
	own           []byte // a small buffer for a short carry, so an idle file holds no chunk
	skip          bool   // discarding the rest of an over-long line
	dec           decoder
	size          int64 // size at the last stat
	dirty         bool  // may have new bytes
	more          bool  // stopped by the turn budget, more to read
	lastRead      time.Time
	st            followerState    // see followerstate.go
	since         time.Time        // when it left stFollowing (or was opened in stDraining)
	deletedAt     time.Time        // when it was seen unlinked
	succAt        time.Time        // when a new file was found at its path while rotated: the runtime reopened its log
	pred          *follower        // must be closed before this one is read
	suppressTo    int64            // lines ending at or below were delivered before a restart
	inflated      bool             // an unlinked copy of a compressed file, made by the tailer: never "deleted"
	gz            string           // the compressed file to inflate when its turn comes (f.f is nil until then)
	lim           *limiter         // its container's rate limit (limiter.go); nil without limits
	limitAt       time.Time        // when its rate limit lets it read again, if it defers it (limiter.go: deferring)
	held          int64            // bytes of unfinished lines in memory, as last counted (held.go)
	spilledAt     int64            // size when its unfinished lines were spilled; not read until it grows (held.go)
	copied        []string         // rotated copies made of it before anything of it was read; looked at by its next read (copy.go)
	noted         map[string]birth // the copies in copied as they were when noted (copy.go compressedCopy)
	awayLooked    bool             // copiesAway listed its siblings in this generation (copy.go)
	renameNoticed bool             // the notice of its rename away from its path was taken, or notices were lost since: a rotated name created after is not its copy (copy.go copyOfAway)
	wasPolled     bool             // its directory was polled, not watched, at some time since it was followed (busy.go): notices do not tell its order
	taken         []takenCopy      // the copies of it taken and read before it, as they were (copy.go tookAlready)
	opened        time.Time        // when it was opened at its path (discovery), or its generation started (a truncation, a copy taken): copies are those created after (copy.go)
	took          []birth          // the files born in opened's tick before it (copy.go genStart), or the copies taken born at opened, when a copy taken set it
	startNames    []startName      // the plain rotated siblings at its path when opened was read (copy.go genStart, noteCompressed)
	tick          bool             // opened is by the file system's clock, and took names every file born in its tick before: another born then is a copy (copy.go bornSince)
	readCopy      string           // a copy of its generation as opened, read whole before it (copy.go readBefore): its truncation's copy
	heldCopy      int64            // the size of the longest copy of its generation left to it (discovery.go holds): bytes it held, for a truncation that finds no copy
	heldEmpty     []heldEmpty      // the siblings left to it while empty (discovery.go holds: copies being written): read by a truncation that finds no copy of it (heldEmptyCopies)
	readFPs       [][]byte         // the first bytes of the siblings born since opened and read whole before it (copy.go readBefore)
	readEarly     []*follower      // the siblings read whole before it that held fewer first bytes than it when opened (copy.go readEarlyCopy)
	readSince     int64            // bytes read since the last poll (busy.go)
	cutSince      bool             // truncated since the last poll (busy.go)
	grew          bool             // read further between the last two polls (busy.go)
	polled        bool             // its directory is polled, not watched: read every read_interval (busy.go)
	linked        bool             // found through a link directory's entry (links.go): its directory is watched though no glob names it
	parkedBorn    time.Time        // its file's birth time when it was parked (openlimit.go park); zero if unknown
	home          string           // the path whose rotated sibling it was opened as, away from it (rotated.go): kubelet may rename it back there (backHome)
}

// poll checks every open file; true asks for a rescan (a path changed).
func (t *Tailer) poll(now time.Time) bool {
	var behind, most int64
	rescan := false
	for _, f := range t.order {
		if f.st == stClosed {
			continue
		}
		if t.check(f, now) {
			rescan = true
		}
		if f.st != stClosed && f.size > f.off {
			behind += f.size - f.off
			most = max(most, f.size-f.off)
		}
	}
	t.m.behind.Set(float64(behind))
	t.behind.Store(behind)
	t.m.behindMax.Set(float64(most))
	if t.heat(now) { // busy.go
		rescan = true
	}
	return rescan
}

// check looks for rotation, deletion and truncation of f; true if its path
// now names another file or nothing.
func (t *Tailer) check(f *follower, now time.Time) bool {
	if f.st == stClosed {
		return false
	}
	if f.f == nil {
		return false // not inflated yet
	}
	_, nlink, size, err := fstatKey(f.f)
	if err != nil {
		return false
	}
	changed := false
	if f.st == stFollowing && len(f.heldEmpty) > 0 {
		t.heldOwn(f, size, now) // discovery.go: a sibling left to it while empty, written as a file of its own
	}
	if f.st == stRotated && nlink > 0 {
		if atPathNow(f.path, f.key) {
			t.undone(f)
		}
	}
	if f.st == stFollowing {
		k, err := statKey(f.path)
		changed = err != nil || k != f.key
		if changed {
			f.fire(evMoved, now)
			if nlink > 0 {
				t.m.rotations.Inc()
				t.log.Debug("rotated", "path", f.path)
			}
		}
	}
	if nlink == 0 && !f.inflated {
		was := f.st
		if f.fire(evUnlinked, now) && was == stFollowing {
			changed = true
		}
	}
	// An idle file costs two stats a poll: its start and the end of the
	// last line read are checked again (rewritten) only when its size
	// moved, and it is read only when there is something to read or to
	// decide (a rotated or deleted file).
	grew := size != f.size
	switch {
	case size < f.off || (grew && t.rewritten(f, size, true)):
		t.truncated(f, now)
		return changed
	default:
		f.size = size
		if f.st == stDeleted && now.Sub(f.deletedAt) >= t.cfg.DeleteWait && f.off < size {
			t.closeFollower(f, evDeleteWait)
		}
	}
	if grew || f.st != stFollowing || f.off < size || f.more {
		f.dirty = true
		t.wantRead(now)
	}
	return changed
}

// undone takes back a follower whose path names its file again: kubelet
// renamed the rotated file back because the runtime could not reopen its
// log. Reading goes on; nothing is read again.
//
// A copy made of it while nothing of it was read, whose creation was
// taken while it was away (copyCreated takes notices only for a file
// followed at its path), is noted now from a listing (parkedCopies): its
// lines were lost uncounted.
func (t *Tailer) undone(f *follower) {
	if !f.fire(evMovedBack, time.Now()) {
		return
	}
	if p := t.byPath[f.path]; p == nil || p.st == stClosed || p == f {
		t.byPath[f.path] = f
	}
	f.renameNoticed = false // back at its path: a rename from now on is another
	t.log.Debug("rotation undone; continuing", "path", f.path, "offset", f.consumed)
	if f.off == 0 && f.f != nil {
		if t.parkedCopies(f); len(f.copied) > 0 {
			f.dirty, f.more = true, true
			t.wantRead(time.Now())
		}
	}
}

// rewritten says whether f's file no longer holds what was read from it: its
// first bytes are not its fingerprint any more, or the byte before the end
// of the last complete line read is not a newline. It catches a file
// truncated and written past the old offset between two looks, which a
// size check cannot. It runs before every read (one or two small preads:
// a read that holds no carry checks the newline itself, see readFile, and
// passes newline false). A longer start is taken into the fingerprint.
func (t *Tailer) rewritten(f *follower, size int64, newline bool) bool {
	var buf [fpSize]byte
	if f.fpLen > 0 || size > 0 {
		n := readFP(f.f, buf[:])
		if n < f.fpLen || !bytes.Equal(buf[:f.fpLen], f.fp[:f.fpLen]) {
			return true
		}
		if n > f.fpLen {
			first := f.fpLen == 0
			f.fp, f.fpLen = buf, n
			t.mu.Lock()
			f.tr.fp = append(f.tr.fp[:0], f.fp[:f.fpLen]...)
			if first {
				// The file's first bytes: until now the checkpoint knew
				// it by its inode alone, which a rotation and compression
				// while no agent runs leave nothing to match. Write it
				// soon, as for a file found (tailer.go filesCommitDelay).
				t.changes++
				t.filesChanged.Store(true)
			}
			t.mu.Unlock()
		}
	}
	if newline && f.consumed > 0 && !f.skip {
		if n, _ := f.f.ReadAt(buf[:1], f.consumed-1); n == 1 && buf[0] != '\n' {
			return true
		}
	}
	return false
}

// readFile reads what f has, up to the turn budget.
func (t *Tailer) readFile(f *follower, now time.Time) {
	if f.gz != "" && !t.inflateTurn(f) {
		return
	}
	if len(f.copied) > 0 && t.takeCopy(f, now) { // copy.go
		return // the copy is read first
	}
	fi, err := f.f.Stat()
	if err != nil {
		return
	}
	size := fi.Size()
	// With nothing carried, the last byte read is the newline that ended
	// the last line: the data read starts one byte early and checks it
	// (rewritten's second pread, saved on most reads).
	lead := f.consumed > 0 && f.consumed == f.off && len(f.carry) == 0 && !f.skip && size > f.off
	if size < f.off || t.rewritten(f, size, !lead) {
		t.truncated(f, now)
		return
	}
	f.size = size
	if t.spilledWait(f, size) {
		f.more, f.dirty = false, false
		return
	}
	t.m.reads.Inc()
	if f.lim == nil && t.limitsOn {
		f.lim = t.limiterFor(f, now)
	}
	// A rate limit (policy defer) bounds the bytes and lines of this read.
	maxLines, maxBytes, counting := t.allowance(f, now)
	budget := min(int64(t.cfg.ReadBytesPerTurn), maxBytes)
	var first []byte // the first chunk, when lead reads it
	var firstN int
	if lead && budget > 0 && maxLines > 0 {
		b := make([]byte, 1+min(size-f.off, budget, maxChunk))
		m, _ := f.f.ReadAt(b, f.off-1)
		if m > 0 && b[0] != '\n' {
			t.truncated(f, now) // rewritten under the last line read
			return
		}
		first, firstN = b[1:], max(m-1, 0)
	}
	if f.off == 0 && size > 0 && budget > 0 && maxLines > 0 && t.copiesUnnoted(f, now) { // copy.go
		return // a copy made before this first read is read first
	}
	// A read in the middle of a line (what was read ends with a carry)
	// has no newline before it to check in the same pread, and rewritten
	// looked before it: a copytruncate and new writes between that look
	// and the read put the new generation's bytes after the old line's
	// start, shipped as one corrupt line, and the copy then taken at an
	// offset inside them. Its first chunk is read before anything is
	// consumed, and the file's first bytes are looked at again after it:
	// changed, the chunk is dropped and the truncation handled (one pread
	// more, only for reads within a line).
	if t.readHook != nil {
		t.readHook(f)
	}
	var within []byte // the first chunk, read and checked
	var withinN int
	if !lead && f.off > 0 && size > f.off && budget > 0 && maxLines > 0 {
		n := min(size-f.off, budget, maxChunk)
		within = t.chunkFor(f, len(f.carry)+int(n))
		withinN, _ = f.f.ReadAt(within[len(f.carry):], f.off)
		var buf [fpSize]byte
		if m := readFP(f.f, buf[:]); m < f.fpLen || !bytes.Equal(buf[:f.fpLen], f.fp[:f.fpLen]) {
			t.truncated(f, now)
			return
		}
	}
	var nLines int64
	start, cut := f.off, false
	f.dec.now = now.UnixNano()
	t.attach(f)
	for budget > 0 && f.off < size && nLines < maxLines {
		n := min(size-f.off, budget, maxChunk)
		var chunk []byte
		var m int
		switch {
		case first != nil:
			chunk, m, first = first, firstN, nil
		case within != nil:
			chunk, m, within = within, withinN, nil
		default:
			chunk = t.chunkFor(f, len(f.carry)+int(n))
			m, _ = f.f.ReadAt(chunk[len(f.carry):], f.off)
		}
		if counting {
			keep, c := cutLines(chunk[len(f.carry):len(f.carry)+m], maxLines-nLines)
			nLines += c
			cut, m = keep < m, keep
		}
		chunk = chunk[:len(f.carry)+m]
		f.off += int64(m)
		budget -= int64(m)
		t.m.bytesRead.Add(float64(m))
		t.consume(f, chunk)
		if cut {
			break // the rest waits for the rate limit
		}
		if int64(m) < n {
			size = f.off // shrank meanwhile, or a read error: stop here
			break
		}
	}
	t.collect(f)
	f.lastRead = now
	f.readSince += f.off - start
	f.more = f.off < size
	// A file in a polled directory (busy.go) gets no write notifications:
	// it is read again after read_interval.
	f.dirty = f.more || (f.polled && f.st == stFollowing)
	t.hold(f)
	if counting {
		t.charge(f, nLines, f.off-start, !f.more, now)
	}
	if !f.more && f.st == stRotated && f.succAt.IsZero() {
		// A new file at the path that is not followed yet (it waits for
		// a descriptor, or the next scan) says the runtime reopened too.
		if fi, err := os.Stat(f.path); err == nil {
			if k, _ := keyOf(fi); k != f.key {
				f.succAt = now
			}
		}
	}
	if !f.more && f.st != stFollowing && (f.st != stRotated || f.rotatedFinal(now, t.cfg.ReadInterval, t.rotatedLinger)) && !t.awaitsNext(f, now) {
		// Finished a rotated, copied or deleted file through its
		// descriptor (a rotated one only once it is final, see
		// rotatedFinal).
		if t.copiesAway(f, now) { // copy.go
			f.dirty = true // a copy made of it while it was back at its path is read first
			return
		}
		t.closeFollower(f, evEnd)
	} else if !f.more && f.st != stFollowing {
		f.dirty = true // come back to close it
	}
}

// rotatedLinger is how long a renamed file with no new file at its path is
// kept open and read: until the runtime reopens the log (ReopenContainerLog,
// which can take seconds on a loaded node) the container's lines still go
// to the renamed file. A container that exits meanwhile has no new file;
// its renamed one is closed after this.
const rotatedLinger = time.Minute

// rotatedFinal says whether a renamed file, read to its end, can be
// closed: a new file appeared at its path (the runtime writes there now)
// at least read_interval ago (a write in progress on the old descriptor
// has landed), or none appeared within rotatedLinger.
func (f *follower) rotatedFinal(now time.Time, readInterval, linger time.Duration) bool {
	if !f.succAt.IsZero() {
		return now.Sub(f.succAt) >= readInterval
	}
	return now.Sub(f.since) >= linger
}

// awaitsNext says whether f, a rotated file that ends with CRI fragments
// of a line, is kept open for the file after it: the new file at its path
// (whose appearance made f final) is not followed yet (the rescan that
// takes it comes after the poll that saw it, or it waits for a
// descriptor), and only a follower of it can take the fragments over
// (carryOver). Not beyond rotatedLinger after the rotation: then they are
// cut.
//
// So is the newest rotated sibling the start opened when it found no file
// at the path (lastOpened), read whole as it drains: it stands for the
// path's last file, and the next one, not created yet, may begin with the
// line's last fragments. Closed at its end, the line was cut
// (TestStartBetweenRenameAndCreatePartialLineReadFirst).
func (t *Tailer) awaitsNext(f *follower, now time.Time) bool {
	if f.dec.format != formatCRI || (!f.dec.pend[0].active && !f.dec.pend[1].active) ||
		now.Sub(f.since) >= t.rotatedLinger || t.successor(f) != nil {
		return false
	}
	switch f.st {
	case stRotated:
		return true
	case stDraining:
		p := t.byPath[f.dec.path]
		return t.lastOpen(f.dec.path) == f && !f.since.IsZero() && (p == nil || p.st == stClosed)
	}
	return false
}

// chunkFor returns a buffer of length need that starts with f's carry. A
// carry that is the tail of the last chunk is extended in place when that
// chunk has room (no record refers to the bytes after it). Otherwise the
// carry is copied into a new buffer; a long one (64 KiB or more, a long line
// in progress) gets room for the longest line there can be, so a pending
// long line is copied at most once however many reads it spans.
func (t *Tailer) chunkFor(f *follower, need int) []byte {
	if !f.carryOwned && len(f.carry) > 0 && cap(f.carry) >= need {
		return f.carry[:need]
	}
	c := need
	if len(f.carry) >= 64<<10 {
		c = max(need, t.rawMax+maxChunk)
	}
	chunk := make([]byte, need, c)
	copy(chunk, f.carry)
	return chunk
}

// dropCarry forgets the carry without reusing its bytes (records may refer
// to them).
func (f *follower) dropCarry() {
	f.carry, f.carryOwned = f.own[:0], true
}

// consume decodes the complete lines of chunk (which starts with f's carry
// and ends at f.off) and keeps the incomplete rest as the new carry.
func (t *Tailer) consume(f *follower, chunk []byte) {
	base := f.off - int64(len(chunk))
	data := chunk
	if f.skip {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			f.dropCarry()
			f.consumed = f.off
			return
		}
		f.skip = false
		data = data[i+1:]
		base += int64(i) + 1
		f.consumed = base
	}
	n := f.dec.splitLines(data, base)
	rest := data[n:]
	f.consumed = base + int64(n)
	if len(rest) > t.rawMax {
		// A line without newline for longer than any line may be: decode
		// what there is as a cut line and discard the rest of it. Its
		// cursor is the cut (the same after a restart, so an acknowledged
		// cut line is not emitted again), but a restart resumes at the
		// line's start: only line boundaries are committed.
		end := f.consumed + int64(t.rawMax)
		nm := len(f.dec.marks)
		f.dec.line(rest[:t.rawMax:t.rawMax], f.consumed, end, true)
		for i := nm; i < len(f.dec.marks); i++ {
			f.dec.marks[i].safe = min(f.dec.marks[i].safe, f.consumed)
		}
		f.skip = true
		f.dropCarry()
		f.consumed = f.off
		return
	}
	if len(rest) <= 4<<10 {
		// Short: copied into the file's own small buffer, so that an idle
		// file with an unfinished last line does not hold a whole chunk.
		f.own = append(f.own[:0], rest...)
		f.carry, f.carryOwned = f.own, true
	} else {
		// Long: stays where it is; the next read extends it in place.
		f.carry, f.carryOwned = rest, false
	}
}

// truncated handles a file whose size fell below the read offset (or whose
// start changed): copytruncate. If a copy with the same start sits beside it,
// the copy is finished from the old offset first; otherwise the bytes never
// read are counted as lost. The file is then read again from 0 as a new
// generation.
func (t *Tailer) truncated(f *follower, now time.Time) {
	// The new generation starts before its copies are looked for: a
	// copytruncate made while this one is handled, after the listings
	// below, holds the new generation's lines (TestCopytruncateAsTruncationHandled).
	t.backHome(f, now)                       // rotated.go: an undone rotation's file, read away from its path
	gen, was := genStart(f.beside()), f.pred // copy.go
	var read readGen                         // discovery.go heldEmptyCopies
	if len(f.heldEmpty) > 0 {
		read = readGen{fp: bytes.Clone(f.fp[:f.fpLen]), off: f.off}
	}
	t.m.truncations.Inc()
	f.cutSince = true
	f.copied = nil // copy.go: the copy, if any, is found here
	c, before := t.findCopy(f, now)
	switch {
	case before != "": // discovery.go: its lines are delivered
		t.log.Debug("truncated; its copy was read before it", "path", f.path, "copy", before)
	case c == nil:
		// A copy left to f (holds) held bytes f never showed a read
		// (written after its last one): deleted before the truncation
		// was seen, they are lost too. Counted from f's last size
		// only, they were lost uncounted
		// (TestStartTickCopyDeletedBeforeTruncationSeen).
		if lost := max(f.size, f.heldCopy) - f.consumed; lost > 0 {
			t.m.lost.WithLabelValues(lostTruncated).Add(float64(lost))
			t.log.Debug("truncated before it was read; bytes lost", "path", f.path, "bytes", lost)
		}
	default:
		t.log.Debug("truncated; finishing its copy first", "path", f.path, "copy", c.path)
	}
	if c == nil {
		// Fragments of a line whose end was truncated away are emitted
		// as they are, flagged truncated and counted.
		t.attach(f)
		if n := f.dec.flush(f.consumed, true); n > 0 {
			t.m.partialsCut.WithLabelValues(cutTruncated).Add(float64(n))
		}
		t.collect(f)
		t.closeTracker(f.tr, true)
	}
	f.off, f.consumed, f.size = 0, 0, 0
	f.dropCarry()
	f.skip, f.suppressTo, f.spilledAt = false, 0, 0
	t.release(f)
	f.dec = decoder{maxLine: t.cfg.MaxLineBytes, path: f.beside()} // its lines keep its path's name, and its close is the path's last rotated file
	f.fpLen = readFP(f.f, f.fp[:])
	f.tr = t.newTracker(f.key, f.beside(), 0, 0, f.fp[:f.fpLen])
	f.dirty, f.more = true, false
	switch {
	case c != nil:
		t.laterCopies(f, c) // discovery.go
	case before != "":
		// Copies made after the one read before f hold generations
		// after it, none read: read after it, before f.
		t.copiesAfter(f, before, f.pred, now)
	default:
		t.heldEmptyCopies(f, read, now) // discovery.go
	}
	if c != nil || before != "" {
		t.heldWritten(f, read.fp, now) // discovery.go: the siblings left to f written as files of their own
	}
	if t.truncHook != nil {
		t.truncHook(f)
	}
	t.newGeneration(f, gen, was) // copy.go
}

// closeFollower closes f for good on ev: evEnd says it was read to its end:
// an unterminated last line and unfinished partials are emitted; on
// evDeleteWait (deleted and not read in time) the unread bytes are counted
// as lost.
func (t *Tailer) closeFollower(f *follower, ev followerEvent) {
	atEnd := ev == evEnd
	was := f.st
	if !f.fire(ev, time.Now()) {
		return
	}
	t.attach(f)
	if atEnd {
		if len(f.carry) > 0 && !f.skip {
			line := append([]byte(nil), f.carry...)
			f.dec.line(line, f.consumed, f.off, false)
			f.consumed = f.off
		}
	} else if lost := f.size - f.consumed; lost > 0 && !t.rotatedUnread(f, lost) {
		t.m.lost.WithLabelValues(lostDeleted).Add(float64(lost))
		t.log.Warn("deleted log file closed before it was read to its end; bytes lost", "path", f.path, "bytes", lost)
	}
	// A line whose fragments continue in the next file (rotation between
	// two fragments) goes on in that file's merge (carryOver). One that
	// cannot (no next file open yet, a deleted file, docker json-file, a
	// merge this file did not continue) or whose fragments never came is
	// emitted as far as it got, flagged truncated and counted; the
	// successor at the same path flags the first line of that stream,
	// which may be its continuation.
	if atEnd {
		t.carryOver(f, was)
	}
	// A merge carried into f that f did not continue: its end never came
	// (the runtime writes it right after it reopens), so the next file's
	// first line of its stream is not taken for its continuation.
	var stale [2]bool
	for s := range f.dec.pend {
		p := &f.dec.pend[s]
		stale[s] = p.active && len(p.links) > 0 && p.frags == p.fragsIn
	}
	if n := f.dec.flush(f.consumed, true); n > 0 {
		t.m.partialsCut.WithLabelValues(cutRotated).Add(float64(n))
		next := t.successor(f)
		if next == nil {
			next = t.byPath[f.dec.path]
		}
		if next != nil && next != f && next.off == 0 {
			// Named in next's checkpoint entry too (stateEntry.Cont), as
			// a carried line is: a stop before next's first line is read
			// would otherwise ship it whole.
			t.mu.Lock()
			for s := range f.dec.pend {
				if f.dec.cutStream[s] && !stale[s] {
					next.dec.cont[s] = true
					if next.tr != nil {
						next.tr.cont[s] = true
						t.changes++
						t.filesChanged.Store(true) // soon, as a line carried is
					}
				}
			}
			t.mu.Unlock()
		}
	}
	t.collect(f)
	t.release(f)
	if ev != evStop {
		t.heldWritten(f, nil, time.Now()) // discovery.go
	}
	if atEnd && (was == stRotated || was == stDraining || was == stDeleted) {
		// A rotated file read to its end, also one kubelet compressed
		// (deleted) meanwhile: it is the path's newest finished file,
		// as at a stop (tailer.go closeAll). Not anchored, it was left
		// out of the checkpoint once its lines were acknowledged, and
		// the next agent read its .gz again as a file after the anchor
		// before it.
		t.anchor(f) // anchors.go
	}
	if f.f != nil {
		if was != stFollowing {
			if fi, err := f.f.Stat(); err == nil {
				// A file closed empty does not replace the one before it,
				// as for anchors: once compressed it has no first bytes
				// to be found by, and rotatedAfter places the siblings by
				// the last rotated file closed.
				//
				// Nor does an older file read before the newest rotated
				// sibling the start opened (lastOpened), still open: that
				// one stands for the path's last file until it closes
				// itself. Replaced by the older one, the path's next file
				// found meanwhile did not wait for it and its lines came
				// before the newer one's
				// (TestStartBetweenRenameAndCreateOlderClosedFirst).
				if p, ok := t.lastRotated[f.dec.path]; (!ok || f.fpLen > 0 || p.fpLen == 0) && !t.lastOpenOther(f) {
					t.lastRotated[f.dec.path] = rotated{fi: fi, key: f.key, off: f.consumed, fp: f.fp, fpLen: f.fpLen, born: bornOr(f.f)}
				}
			}
		}
		if f.inflated {
			t.inflatedNow--
		}
		_ = f.f.Close()
	}
	t.m.openFiles.Dec()
	if t.files[f.key] == f {
		delete(t.files, f.key)
	}
	if t.byPath[f.path] == f {
		delete(t.byPath, f.path)
	}
	t.closeTracker(f.tr, false)
	t.releaseLimiter(f, !f.deletedAt.IsZero())
	t.wantRead(time.Now()) // its successor may read now
	letGo(f)
	t.log.Debug("closed", "path", f.path, "offset", f.consumed)
}

// beside is the path whose rotated siblings are f's copies: its home for
// a plain rotated sibling the start opened away from it (rotated.go
// openSibling), truncated while it was back there and renamed away again
// before backHome saw it at the path (a copytruncate copies the file at
// the path: its copy lies beside the path, not beside the rotated name;
// looked for beside that name, the copy was not found, its lines were
// counted lost and then read again from 0:
// TestResumedAwayBackThenRotatedAgain); else its path.
func (f *follower) beside() string {
	if f.home != "" {
		return f.home
	}
	return f.path
}

// lastOpen is the path's last rotated file noted (lastRotated) while it is
// still open and read for the path: the newest rotated sibling the start
// opened when it found no file at the path (rotated.go lastOpened). The
// path's next file waits for it (discover), takes its CRI fragments over
// (awaitsNext), and is opened beyond max_open_files for it (openlimit.go
// awaiting); an older file closing does not replace it (closeFollower).
func (t *Tailer) lastOpen(path string) *follower {
	r, ok := t.lastRotated[path]
	if !ok {
		return nil
	}
	if o := t.files[r.key]; o != nil && o.st != stClosed && o.dec.path == path {
		return o
	}
	return nil
}

// lastOpenOther says whether the path's lastOpen is a file other than f.
func (t *Tailer) lastOpenOther(f *follower) bool {
	o := t.lastOpen(f.dec.path)
	return o != nil && o != f && o.key != f.key
}

// successor is the follower read after f (its pred), if any is open.
func (t *Tailer) successor(f *follower) *follower {
	for _, g := range t.order {
		if g.pred == f && g != f && g.st != stClosed {
			return g
		}
	}
	return nil
}

// carryOver hands the CRI fragments still being merged at the end of f, a
// rotated file read to its end (was: its state before it closed), to the
// file read after it at its path, whose first fragments of each stream
// continue them: the line is merged across the two files, not cut. f's
// tracker gets an entry at its end per stream carried (no line of its
// own), acknowledged when the merged line is (checkpoint.go settle): until
// then f's committed offset stays where its fragments began, so a restart
// reads them again and merges them again. It returns how many merges it
// carried; those it leaves are cut by the caller.
//
// It carries only to a successor nothing was read of yet, so that its
// first lines are the continuation, and only from a file still on disk
// at a name (rotated, or a rotated sibling or copy being drained): a
// restart before the acknowledgement must find it to read its fragments
// again. A merge carried into f is carried on only if f continued it (a
// fragment of it was in f): a line whose end never comes (the container
// died between two fragments) is cut at the end of the file after the one
// it began in, not carried from file to file, holding each one's
// committed offset at its start.
func (t *Tailer) carryOver(f *follower, was followerState) int {
	d := &f.dec
	if d.format != formatCRI || (!d.pend[0].active && !d.pend[1].active) || f.skip || f.tr == nil {
		return 0
	}
	if was != stRotated && was != stDraining {
		return 0
	}
	next := t.successor(f)
	if next == nil || next.off != 0 || next.consumed != 0 || len(next.carry) > 0 || next.skip ||
		next.dec.format == formatDocker || next.dec.pend[0].active || next.dec.pend[1].active || next.tr == nil {
		return 0
	}
	n := 0
	t.mu.Lock()
	tr := f.tr
	for s := range d.pend {
		p := &d.pend[s]
		if !p.active || (len(p.links) > 0 && p.frags == p.fragsIn) {
			continue
		}
		// No record: an entry that holds the file's end until the line
		// it went into is acknowledged. Several may share that end (one
		// per stream, and lines cut here); an acknowledgement takes one.
		tr.entries = append(tr.entries, entry{end: f.consumed, safe: f.consumed})
		tr.lastEnd = f.consumed
		np := *p
		np.start = 0 // the continuation: until the line ends, next's committed offset stays at its start
		np.fragsIn = p.frags
		np.links = append(p.links[:len(p.links):len(p.links)], link{tr: tr, end: f.consumed})
		next.dec.pend[s] = np
		next.dec.cont[s] = false
		next.tr.cont[s] = true
		if live := t.byPath[f.dec.path]; live != nil && live != next && live != f && live.off == 0 && live.tr != nil {
			// Carried into a file before the one at the path (a copy
			// made while no agent ran, read before it): the line ends
			// there, or is cut there, not in the file at the path,
			// whose checkpoint entry may still name the stream (it was
			// the next file when the line was carried before the stop,
			// and copytruncated since).
			live.dec.cont[s], live.tr.cont[s] = false, false
		}
		*p = pending{}
		n++
	}
	if n > 0 {
		// Written soon, as a file found is (tailer.go filesCommitDelay):
		// until next's entry names the stream (cont), an agent killed,
		// its rotated file deleted before the next one runs, leaves
		// nothing to say that next's first line there is a line's end
		// (TestCarryCheckpointedSoon).
		t.changes++
		t.filesChanged.Store(true)
	}
	t.mu.Unlock()
	if n > 0 {
		t.log.Debug("partial line carried over the rotation", "path", f.path, "offset", f.consumed, "lines", n)
	}
	return n
}

// letGo unlinks the closed follower f from what it waited on. Its
// successor waits on it alone: linked on, every file a path ever had stayed
// in memory behind the live one (a chatty container rotated every few
// seconds gained one a rotation). A file closed empty keeps the newest file
// before it with first bytes, which keeps nothing: knownBefore places by
// it the siblings of an empty successor compressed unread (unlinked, every
// sibling was taken for newer, the files read before included).
func letGo(f *follower) {
	if f.fpLen > 0 {
		f.pred = nil
		return
	}
	for f.pred != nil && f.pred.fpLen == 0 {
		f.pred = f.pred.pred
	}
}
