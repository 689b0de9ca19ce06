package tail

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// The descriptor cap (max_open_files). Every followed file holds a
// descriptor; on a node with more log files than the cap, the files beyond
// it wait in a queue, oldest first, and take turns:
//
//   - A file found while the cap is reached (or while others wait) joins
//     the back of the queue instead of being opened.
//   - At each poll, when files wait, as many followed files as there are
//     waiting ones are parked: those open longest, among the files that
//     are at their path (not rotated, draining or deleted), have been read
//     since they were opened, and were not stopped by the turn budget. A
//     parked file's descriptor is closed, but everything else is kept (its
//     read offset, unfinished line and acknowledgement state; its committed
//     offset stays in the checkpoint); it joins the back of the queue.
//   - Then the free descriptors go to the front of the queue. A parked file
//     is opened again at its path and continues where it stopped; if its
//     path names another file by then (rotated while parked), it is found
//     by inode among its plain rotated siblings and finished there, and the
//     new file at the path waits its turn like any new file. A parked
//     file nothing was read of looks then at its plain rotated siblings
//     created since it was opened: the copy of a copytruncate made while
//     it was parked, whose creation found no follower (copy.go).
//
// So every file is read at least once per (waiting files / cap) polls, and
// a file that waits is counted (ferry_tail_descriptor_waits_total) and
// gauged (ferry_tail_waiting_files). Rotated siblings and the copy of a
// copytruncate are opened beyond the cap while they are finished: they are
// few, and closed once read. So is the new file at the path of a rotated
// file that ends with the first fragments of a CRI line and waits for it
// (admitAwaited). A parked file that is gone from its path and
// its plain siblings when its turn comes (deleted, or rotated and
// compressed) cannot be finished: what was written to it after it was
// parked, if anything, is lost (ferry_tail_lost_files_total{reason="waiting"}).
// With start_at: end, a file found at startup that waited starts at its end
// as of its turn, not as of the startup.
//
// An open that fails for want of descriptors (EMFILE: the process's limit,
// ENFILE: the system's) is counted in ferry_tail_open_errors_total{reason}
// and warned about; a file found at its path (or parked) then waits in the
// queue and is retried at the next poll, never dropped. Seven eighths of
// the files open when it failed become a ceiling below max_open_files,
// under which files take turns the same way: the files already open cannot
// keep the waiting ones out for good, and an eighth of the descriptors is
// given back to the rest of the process (and to the rotated siblings and
// copies, which are not retried when they cannot be opened, as for any
// other error opening them). Each poll with files waiting probes beyond the
// ceiling (by an eighth of it, at least one file); the ceiling rises with
// each probe that succeeds and goes when it reaches max_open_files or no
// file waits any more.

// Reasons an open failed for want of descriptors, the values of
// ferry_tail_open_errors_total's label.
const (
	openEMFILE = "emfile" // the process's descriptor limit (RLIMIT_NOFILE)
	openENFILE = "enfile" // the system's file table
)

// waiter is a file waiting for a descriptor.
type waiter struct {
	path    string
	initial bool      // found by the first scan (start_at applies)
	f       *follower // a parked follower; nil for a file never opened
	// key is the identity of a file never opened, when it was found: at
	// its turn, a file renamed meanwhile is read where it went (from its
	// checkpoint entry, if it has one), and one gone is counted.
	key fileKey
	// gen is the generation's start when a file never opened was
	// queued, its identity known (key): the copies a copytruncate made of
	// it while it waited are those created since (copy.go genStart); zero
	// when not known.
	gen genMark
}

// openLimit is the queue of files waiting for a descriptor. It is owned by
// the Run goroutine.
type openLimit struct {
	max    int
	queue  []*waiter // oldest first
	queued map[string]*waiter
	// ceiling is the number of files that were open when the kernel last
	// refused one more (EMFILE, ENFILE), 0 when it has not since the last
	// probe beyond it succeeded: files take turns below it as they do
	// below max. The warning is given when it is set, once per episode.
	ceiling int
	// admitting is set while a waiting file is opened in its turn;
	// refused says its open failed for want of descriptors.
	admitting, refused bool
	// since is, while a file found by the first scan and never opened
	// is opened in its turn (and was not renamed meanwhile), when it was
	// queued: its follower is taken as opened then (discover), so that
	// its first read finds the copies made while it waited.
	since waiter
	// balancing is set during rebalance, which sets the gauge at its end.
	balancing bool
}

func newOpenLimit(max int) *openLimit {
	return &openLimit{max: max, queued: make(map[string]*waiter)}
}

// openCount is the open-files gauge that also keeps its value, for the cap,
// and its highest value.
type openCount struct {
	prometheus.Gauge
	n, peak atomic.Int64
}

func (g *openCount) Inc() {
	n := g.n.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.Gauge.Inc()
}

func (g *openCount) Dec() {
	g.n.Add(-1)
	g.Gauge.Dec()
}

func (t *Tailer) openNow() int { return int(t.m.openFiles.n.Load()) }

// limit is the number of files that may be open now: max, or the ceiling
// the kernel set if lower.
func (l *openLimit) limit() int {
	if l.ceiling > 0 && l.ceiling < l.max {
		return l.ceiling
	}
	return l.max
}

// mustWait says whether discovering path must wait for a descriptor, and
// then queues it.
func (t *Tailer) mustWait(path string, initial bool) bool {
	l := t.lim
	if l.admitting {
		return false // its turn: rebalance decided
	}
	if _, ok := l.queued[path]; ok {
		return true
	}
	if p := t.awaiting(path); p != nil && t.awaitsNext(p, time.Now()) {
		return false // beyond the cap (awaited, below)
	}
	if t.openNow() < l.limit() && len(l.queue) == 0 {
		return false
	}
	w := &waiter{path: path, initial: initial}
	gen := genStart(path) // before the identity: copies are those made after
	if k, err := statKey(path); err == nil {
		w.key, w.gen = k, gen
	}
	t.enqueue(w)
	return true
}

// waitOnDescriptors queues path when err says the open failed for want of
// descriptors (counted and warned by t.open); true if it did. key is the
// identity of the file at path, gen the generation's start read before
// the open (genStart): as for a file queued by the cap (mustWait),
// the copies made of it while it waits are those created since, read at
// its first read. Known from its turn's open only, they were taken for
// older than it, and lost uncounted.
func (t *Tailer) waitOnDescriptors(path string, initial bool, err error, key fileKey, gen genMark) bool {
	if descriptorReason(err) == "" {
		return false
	}
	if t.lim.admitting {
		t.lim.refused = true // admit puts it back in its place
		return true
	}
	if _, ok := t.lim.queued[path]; !ok {
		t.enqueue(&waiter{path: path, initial: initial, key: key, gen: gen})
	}
	return true
}

func (t *Tailer) enqueue(w *waiter) {
	t.lim.queue = append(t.lim.queue, w)
	t.lim.queued[w.path] = w
	t.m.waits.Inc()
	if !t.lim.balancing {
		t.m.waiting.Set(float64(len(t.lim.queue)))
	}
}

// descriptorReason is the label of an error that says no descriptor was
// left, or "".
func descriptorReason(err error) string {
	switch {
	case errors.Is(err, unix.EMFILE):
		return openEMFILE
	case errors.Is(err, unix.ENFILE):
		return openENFILE
	}
	return ""
}

// opened accounts for the result of one open: a failure for want of
// descriptors is counted and warned about once per episode.
func (t *Tailer) opened(path string, err error) {
	if r := descriptorReason(err); r != "" {
		t.m.openErrors.WithLabelValues(r).Inc()
		if t.lim.ceiling == 0 {
			t.log.Warn("out of file descriptors: files take turns with the descriptors there are and are retried; raise the descriptor limit or lower logs.max_open_files",
				"path", path, "err", err, "max_open_files", t.lim.max, "open", t.openNow())
		}
		// An eighth of what is open is given back, for the rest of the
		// process (the sink's connections, the HTTP port, the checkpoint).
		t.lim.ceiling = max(t.openNow()*7/8, 1)
	}
}

// rebalance parks followers for the files waiting and opens waiting files
// into the free descriptors, oldest first. Run calls it before each poll.
func (t *Tailer) rebalance(now time.Time) {
	l := t.lim
	if len(l.queue) == 0 {
		return
	}
	l.balancing = true
	defer func() {
		l.balancing = false
		t.m.waiting.Set(float64(len(l.queue)))
	}()
	t.admitAwaited(now)
	if want := len(l.queue) - (l.limit() - t.openNow()); want > 0 {
		t.park(want)
	}
	refused := !t.admitUpTo(l.limit(), now)
	if l.ceiling > 0 && !refused && len(l.queue) > 0 {
		// A probe beyond the ceiling, growing with it: were descriptors
		// freed, or the limit raised? A refusal sets the ceiling again.
		if t.admitUpTo(min(l.max, t.openNow()+max(1, l.ceiling/8)), now) {
			l.ceiling = max(l.ceiling, t.openNow())
			if l.ceiling >= l.max || len(l.queue) == 0 {
				l.ceiling = 0
				t.log.Info("file descriptors available again", "open", t.openNow(), "waiting", len(l.queue))
			}
		}
	}
	if len(l.queue) == 0 {
		l.queue = nil
	}
}

// admitAwaited opens, beyond the cap, the waiting files whose rotated
// predecessor ends with the first fragments of a line and is kept open
// for them (follower.go awaitsNext), as rotated siblings are opened beyond
// it: the predecessor holds a descriptor until its next file is followed,
// and with no file to park (max_open_files 1, or every open file rotated
// or draining) the next file would wait for that descriptor until
// rotatedLinger, and the line be cut. The predecessor closes as soon as
// the next file takes its fragments over: one descriptor more per such
// path, for a read_interval or so.
func (t *Tailer) admitAwaited(now time.Time) {
	l := t.lim
	for i := 0; i < len(l.queue); {
		w := l.queue[i]
		if p := t.awaiting(w.path); w.f != nil || p == nil || !t.awaitsNext(p, now) {
			i++
			continue
		}
		l.queue = append(l.queue[:i], l.queue[i+1:]...)
		delete(l.queued, w.path)
		if !t.admit(w, now) {
			l.queue = append(l.queue[:i], append([]*waiter{w}, l.queue[i:]...)...)
			l.queued[w.path] = w
			return // no descriptor left: the rest wait as usual
		}
	}
}

// admitUpTo opens waiting files, oldest first, while fewer than n are
// open; false if one was refused for want of descriptors (it keeps its
// place at the front of the queue).
func (t *Tailer) admitUpTo(n int, now time.Time) bool {
	l := t.lim
	for len(l.queue) > 0 && t.openNow() < n {
		w := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		delete(l.queued, w.path)
		if !t.admit(w, now) {
			l.queue = append([]*waiter{w}, l.queue...)
			l.queued[w.path] = w
			return false
		}
	}
	return true
}

// park closes the descriptors of up to n followers that may wait (see the
// top of this file), those open longest first, and queues them.
func (t *Tailer) park(n int) {
	j := 0
	for _, f := range t.order {
		if n > 0 && t.parkable(f) {
			if _, ok := t.lim.queued[f.path]; !ok {
				// Its birth tells its file from one that takes its
				// inode once it is deleted (reopen).
				f.parkedBorn = bornOr(f.f)
				_ = f.f.Close()
				f.f = nil
				t.m.openFiles.Dec()
				// It stays in files (its inode is followed: no other
				// path opens it meanwhile), not in byPath (nothing may
				// look at its descriptor).
				delete(t.byPath, f.path)
				t.enqueue(&waiter{path: f.path, f: f})
				t.log.Debug("parked for a waiting file", "path", f.path, "offset", f.off)
				n--
				continue
			}
		}
		t.order[j] = f
		j++
	}
	clear(t.order[j:])
	t.order = t.order[:j]
}

func (t *Tailer) parkable(f *follower) bool {
	// A file with more to read may wait too when it could not read it
	// anyway: its rate limit defers it, or the sink holds it back.
	waits := !f.more || (f.lim != nil && f.lim.limited && f.lim.mode == PolicyDefer) || t.heldBack(f)
	return f.st == stFollowing && (f.pred == nil || f.pred.st == stClosed) && waits && !f.lastRead.IsZero() &&
		t.files[f.key] == f && t.byPath[f.path] == f
}

// admit opens the waiting file w; false if it must wait on for want of
// descriptors.
func (t *Tailer) admit(w *waiter, now time.Time) bool {
	if w.f == nil {
		var moved *follower
		if k, err := statKey(w.path); w.key != (fileKey{}) && (err != nil || k != w.key) {
			// Renamed (rotated) or deleted while it waited: read it
			// where it went, before what is at its path now, or count
			// it.
			if moved = t.waitedSibling(w, now); moved == nil {
				t.m.lostFiles.WithLabelValues(lostWaiting).Inc()
				t.warnOnce("waiting-vanished", "a file waiting for a descriptor was deleted or compressed before its turn; its lines, if any, are lost; raise logs.max_open_files",
					"path", w.path)
			}
		}
		// The file at the path before (rotated, draining) is older than
		// the waited one.
		prev := t.byPath[w.path]
		if prev != nil && prev.st == stClosed {
			prev = nil
		}
		if prev == nil && moved != nil {
			// None at the path: the newest rotated sibling the start
			// opened (lastOpen), still read, is (the start found no file
			// at the path, and the waited file was the next). Placed
			// before it, the waited file's lines came before that
			// sibling's, a CRI line it ends was cut and its end merged
			// into a line of the path's next file
			// (TestStartBetweenRenameAndCreateNextWaitedRenamed).
			prev = t.lastOpen(w.path)
		}
		t.lim.admitting, t.lim.refused = true, false
		if moved == nil && w.initial && !w.gen.at.IsZero() {
			// Nothing of it read at the start (the scan's files rotated
			// since are looked at only for those it opened): a copy
			// made while it waited is read at its first read.
			t.lim.since = *w
		}
		t.discover(w.path, now, w.initial)
		t.lim.admitting, t.lim.since = false, waiter{}
		if f := t.byPath[w.path]; moved != nil && f != nil && f != moved && f != prev {
			// Placed among the open files (a successor waits on its
			// predecessor alone: linked behind a closed one, nothing
			// waited on it), after prev, before what followed prev.
			// Not before a file rotated before it, though: the path's
			// next file reads those rotated after prev first (discover:
			// rotatedAfter), the files rotated between prev and the
			// waited one among them. Placed before them, its lines came
			// first and a CRI line it ended was merged with the first
			// line of the next file read, a file older than its end
			// (TestNextWaitedRenamedWithFileBetween).
			sibs := listSiblings(w.path)
			at := siblingPos(sibs, moved.path)
			older := func(q *follower) bool {
				j := siblingPos(sibs, q.path)
				return at >= 0 && j >= 0 && j < at
			}
			last := f
			for last.pred != nil && last.pred != prev && last.pred.st != stClosed && !older(last.pred) {
				last = last.pred
			}
			if q := last.pred; q == prev || (q != nil && q.st != stClosed && older(q)) {
				readAfter(moved, q)
			}
			last.pred = moved
		} else if moved != nil && (f == nil || f == prev) {
			last, between := t.waitedLast(w.path, prev, moved)
			if !last {
				return !t.lim.refused
			}
			// No next file at the path yet (kubelet renamed the waited
			// file, and the runtime has not made the next): the waited
			// file comes after prev, if any, and stands for the path's
			// last file (rotated.go lastOpened), so that the next one
			// waits for it and takes a CRI line it ends over. Read
			// beside prev, its lines came first, and the next file,
			// placed after prev, read it again; closed at its end, such
			// a line was cut (TestNextWaitedRenamedEndingWithFirstFragment).
			after := prev
			for _, b := range t.openSiblings(w.path, between, nil, now) {
				b.pred, after = after, b
			}
			readAfter(moved, after)
			delete(t.lastRotated, w.path) // lastOpened notes only a path's first
			t.lastOpened(w.path, moved, now)
		}
		return !t.lim.refused
	}
	return t.unpark(w.f, now)
}

// siblingPos is the position in sibs of the rotated file named p, plain
// or compressed since (or before: a follower of a .gz is named by it);
// -1 if none.
func siblingPos(sibs []sibling, p string) int {
	p = strings.TrimSuffix(p, ".gz")
	return slices.IndexFunc(sibs, func(s sibling) bool { return strings.TrimSuffix(s.path, ".gz") == p })
}

// readAfter has moved, and the copy of what it waited for read before it
// (waitedSibling), if any, read after prev (nil: after nothing).
func readAfter(moved, prev *follower) {
	head := moved
	for head.pred != nil {
		head = head.pred
	}
	head.pred = prev
}

// waitedLast says whether moved, the file that waited for a descriptor
// at path, found renamed at its turn with no file at the path, is the
// rotated sibling named next after the path's last file: prev (the
// newest rotated sibling the start opened, lastOpen), or, with no prev,
// the last rotated file closed. The files with lines that lie between
// (rotated after that one, before the waited file was found, never
// opened) are returned, to be read first. Left to the path's next file
// (discover: rotatedAfter), they were read after the waited file, or, the
// waited file closed first and the path's last rotated file closed, never
// and uncounted (TestNextWaitedRenamedWithFileBetween). An empty one
// between holds nothing to read before moved.
//
// The last rotated file closed empty has no first bytes to be found by
// once compressed: it is found plain by its inode, or else the path's
// anchor stands for it (the newest rotated file finished with lines,
// older than it, anchors.go), as for rotatedAfter. Taken for a file that
// cannot be placed, the waited file was not the path's last, and a CRI
// line it ends was cut at its end, its end shipped alone from the next
// file (TestNextWaitedRenamedAfterEmptyClosed, TestStartBetweenRenameAndCreateMixed
// seed 3009).
func (t *Tailer) waitedLast(path string, prev, moved *follower) (bool, []sibling) {
	sibs := listSiblings(path)
	i, fromStart := -1, false
	switch r, ok := t.lastRotated[path]; {
	case prev != nil && t.lastOpen(path) == prev:
		i = slices.IndexFunc(sibs, func(s sibling) bool { return s.path == prev.path })
	case prev != nil && t.byPath[path] == prev && prev.st == stRotated && prev.f != nil:
		// The path's file, renamed (a parked file found rotated at its
		// turn, whose next file waited in its turn): found among the
		// siblings by its inode, which it holds. Left out, the waited
		// file was read beside it, its lines before prev's last ones,
		// the path's next file read it again after prev, and a CRI line
		// it ended was cut (TestParkedRotatedThenNextWaitedRenamed).
		i = siblingIndex(sibs, prev.key, prev.fp[:prev.fpLen], false)
	case prev != nil:
		return false, nil
	case ok && t.lastOpen(path) == nil && r.fpLen > 0:
		i = siblingIndex(sibs, r.key, r.fp[:r.fpLen], true)
	case ok && t.lastOpen(path) == nil:
		i = slices.IndexFunc(sibs, func(s sibling) bool {
			var buf [fpSize]byte
			k, n, err := s.startNow(buf[:])
			if s.gz || err != nil || k != r.key || n > 0 {
				// Not still empty: a file with its inode and lines is
				// another one (the inode freed and taken again), or it
				// was written after its close; either holds lines not
				// read, and the anchor places it.
				return false
			}
			// Born after it, a file with its inode is a newer one that
			// took it once it was compressed (file systems hand a freed
			// inode out again): the runtime's next 0.log, rotated before
			// the waited file's turn, lies after the waited file, which
			// was then not the path's last, and a CRI line it ends was
			// cut (TestNextWaitedEmptyClosedInodeReusedBeforeTurn). The
			// anchor places it instead.
			b, known := bornAs(s.path, r.key)
			return r.born.IsZero() || !known || b.Equal(r.born)
		})
		if i < 0 {
			t.mu.Lock()
			a, ok := t.anchors[path]
			t.mu.Unlock()
			if ok && a.FingerprintLen > 0 {
				i = siblingIndexOf(sibs, a)
			}
		}
		// Neither there (r compressed, and no anchor: kubelet deleted
		// it, the oldest first, or none was finished with lines), the
		// waited file is still the path's last when every sibling before
		// it is empty: none holds anything to read before it. Taken for
		// a file that cannot be placed, a CRI line it ended was cut
		// (TestNextWaitedAfterEmptyClosedAnchorDeleted; window seed 20094).
		fromStart = i < 0
	}
	if i < 0 && !fromStart {
		return false, nil
	}
	var buf [fpSize]byte
	var between []sibling
	for _, s := range sibs[i+1:] {
		if s.path == moved.path {
			return true, between
		}
		_, n, err := s.startNow(buf[:])
		if err != nil || (n > 0 && fromStart) {
			// A file that cannot be read, or lines before it with
			// nothing known to place them.
			return false, nil
		}
		if n > 0 {
			between = append(between, s)
		}
	}
	return false, nil
}

// waitedSibling opens, to be read from 0 (from its checkpoint entry's
// offset if it has one: it waited since the start), the plain rotated
// sibling of w's path that is the file w waited for (by identity); nil if
// there is none.
func (t *Tailer) waitedSibling(w *waiter, now time.Time) *follower {
	for _, s := range listSiblings(w.path) {
		if s.gz {
			continue
		}
		if k, err := statKey(s.path); err == nil && k == w.key {
			var e *stateEntry
			var buf [fpSize]byte
			var c *follower
			if es, ok := t.resume[k]; ok {
				if _, n, err := siblingStart(s, buf[:]); err == nil {
					if found, ok := entryFor(es, w.path, buf[:n]); ok {
						e = &found
						delete(t.resume, k) // resumed, as by discover
					}
				}
				if e == nil {
					// Copytruncated while it waited, then renamed: its
					// copy holds the lines past the checkpoint's offset
					// (discovery.go copyOfEntry), read before it.
					// Read from 0 as a file the checkpoint never saw,
					// they were lost uncounted.
					c = t.copyOfEntry(w.path, k, es, now)
				}
			}
			f := t.openSibling(w.path, s, e, now)
			if f != nil && c != nil {
				f.pred = c
			}
			return f
		}
	}
	return nil
}

// unpark opens a parked follower again: at its path if the path still
// names its file, else among its plain rotated siblings by inode.
func (t *Tailer) unpark(f *follower, now time.Time) bool {
	fh, rotated, err := t.reopen(f)
	if descriptorReason(err) != "" {
		return false
	}
	if fh == nil {
		t.dropParked(f)
		// Whatever is at the path now is a new file.
		t.discover(f.path, now, false)
		return true
	}
	f.f = fh
	f.lastRead = time.Time{} // read once before it may be parked again
	f.dirty = true
	if rotated {
		f.fire(evMoved, now)
		t.m.rotations.Inc()
	}
	t.add(f)
	t.byPath[f.path] = f
	if !rotated {
		t.parkedCopies(f) // copy.go
	}
	t.log.Debug("unparked", "path", f.path, "offset", f.off, "rotated", rotated)
	if rotated {
		t.discover(f.path, now, false) // the new file, after f (or queued)
	}
	return true
}

// reopen finds f's file: at its path, or else among the plain rotated
// siblings of the path (rotated true). It returns a nil file if the file is
// in neither place, and an error only when out of descriptors.
//
// A file with f's identity born after f's file is not it: while parked,
// f holds no descriptor, and its file, rotated and compressed (deleted),
// gives its inode to the next file created (ext4 does at once), often the
// runtime's new file at the path. Taken for f, it was read in f's place,
// and what f's file held past f's offset was lost uncounted.
func (t *Tailer) reopen(f *follower) (fh *os.File, rotated bool, err error) {
	if fi, serr := os.Stat(f.path); serr == nil {
		if k, _ := keyOf(fi); k == f.key {
			fh, err = t.open(f.path)
			if err == nil {
				if st, serr := fh.Stat(); serr == nil {
					if k, _ := keyOf(st); k == f.key && f.sameBirth(fh) {
						return fh, false, nil
					}
				}
				_ = fh.Close()
			} else if descriptorReason(err) != "" {
				return nil, false, err
			}
		}
	}
	for _, s := range listSiblings(f.path) {
		if s.gz {
			continue
		}
		fi, serr := os.Stat(s.path)
		if serr != nil {
			continue
		}
		if k, _ := keyOf(fi); k != f.key {
			continue
		}
		fh, err = t.open(s.path)
		if err != nil {
			if descriptorReason(err) != "" {
				return nil, false, err
			}
			t.openErr(s.path, "cannot open rotated log file", err)
			return nil, false, nil
		}
		if !f.sameBirth(fh) {
			_ = fh.Close()
			continue
		}
		return fh, true, nil
	}
	return nil, false, nil
}

// sameBirth says whether fh, a file with f's identity, may be f's file
// parked: born when it was (either birth unknown, it may).
func (f *follower) sameBirth(fh *os.File) bool {
	if f.parkedBorn.IsZero() {
		return true
	}
	b, ok := bornOf(fh)
	return !ok || b.Equal(f.parkedBorn)
}

// dropParked gives up a parked follower whose file is gone: the lines it
// emitted stay tracked until acknowledged; what was written after it was
// parked, if anything, is lost.
func (t *Tailer) dropParked(f *follower) {
	t.attach(f)
	if n := f.dec.flush(f.consumed, true); n > 0 {
		t.m.partialsCut.WithLabelValues(cutRotated).Add(float64(n))
	}
	t.collect(f)
	f.st = stClosed
	letGo(f) // as closeFollower
	if t.files[f.key] == f {
		delete(t.files, f.key)
	}
	t.closeTracker(f.tr, false)
	t.releaseLimiter(f, true)
	t.m.lostFiles.WithLabelValues(lostWaiting).Inc()
	t.warnOnce("parked-vanished", "a file waiting for a descriptor was deleted or compressed before its turn; lines written to it meanwhile, if any, are lost; raise logs.max_open_files",
		"path", f.path, "offset", f.consumed)
}

// awaiting is the follower that path's next file would take CRI fragments
// over from (awaitsNext): the file at the path, or, none open there, the
// newest rotated sibling the start opened when it found no file at the
// path (lastOpened). Not looked for there, the next file waited for the
// descriptor that sibling held until rotatedLinger, and the line was cut
// (TestStartBetweenRenameAndCreatePartialLineOneDescriptor).
func (t *Tailer) awaiting(path string) *follower {
	if p := t.byPath[path]; p != nil && p.st != stClosed {
		return p
	}
	return t.lastOpen(path) // follower.go
}
