package tail

import (
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// tracker holds the acknowledgement state of one generation of one file: the
// lines emitted and not yet acknowledged, and the committed offset.
type tracker struct {
	id         uint64
	key        fileKey
	path       string
	fp         []byte
	committed  int64
	ackedEnd   int64 // end of the last line of the acknowledged prefix
	lastEnd    int64
	entries    []entry
	head       int
	closed     bool // the file is closed for good: forget it once all is acknowledged
	superseded bool // a newer generation of the same file exists (truncation)
	// waiters are lines merged from fragments of rotated files (decode.go
	// link), by their end: once the acknowledged prefix reaches one, the
	// rotated files' entries for those fragments are acknowledged too
	// (settle).
	waiters []carried
	// cont: per stream, the file's first line there (from its resumed
	// offset) ends a line carried or cut from the rotated file before it
	// (stateEntry.Cont); written until that line is acknowledged: contEnd
	// is its end once read (0 before), and the committed offset passes it.
	cont    [2]bool
	contEnd [2]int64
}

// contOpen says whether a stream's continued line (cont) is not read yet.
func (tr *tracker) contOpen() bool {
	for s, on := range tr.cont {
		if on && tr.contEnd[s] == 0 {
			return true
		}
	}
	return false
}

// noteContEnd takes l, ending at end, as its stream's continued line if
// that one is not read yet; it returns contOpen after.
func (tr *tracker) noteContEnd(l *event.Log, end int64) bool {
	if s := int(l.Stream); s < len(tr.cont) && tr.cont[s] && tr.contEnd[s] == 0 && !l.ParseError {
		tr.contEnd[s] = end
	}
	return tr.contOpen()
}

// contBits is stateEntry.Cont for tr: the streams whose continued line
// is not acknowledged yet (the committed offset short of its end, or it
// not read yet). Another stream's lines acknowledged before it move the
// committed offset, not the line's.
func (tr *tracker) contBits() int {
	var c [2]bool
	for s, on := range tr.cont {
		c[s] = on && (tr.contEnd[s] == 0 || tr.committed < tr.contEnd[s])
	}
	return contBits(c)
}

// carried holds the rotated files' fragments merged into the line of a
// tracker ending at until.
type carried struct {
	until int64
	links []link
}

type entry struct {
	end, safe, size int64
	acked           bool
}

// ack marks the line ending at off as acknowledged and returns the bytes it
// frees. Unknown or repeated cursors free nothing.
func (tr *tracker) ack(off int64) (freed int64, advanced bool) {
	es := tr.entries[tr.head:]
	i := sort.Search(len(es), func(i int) bool { return es[i].end >= off })
	for ; i < len(es) && es[i].end == off; i++ {
		if !es[i].acked {
			es[i].acked = true
			freed = es[i].size
			break
		}
	}
	for tr.head < len(tr.entries) && tr.entries[tr.head].acked {
		tr.committed = tr.entries[tr.head].safe
		tr.ackedEnd = tr.entries[tr.head].end
		tr.head++
		advanced = true
	}
	if tr.head == len(tr.entries) {
		tr.entries, tr.head = tr.entries[:0], 0
	} else if tr.head > 1024 && tr.head > len(tr.entries)/2 {
		n := copy(tr.entries, tr.entries[tr.head:])
		tr.entries, tr.head = tr.entries[:n], 0
	}
	return freed, advanced
}

func (tr *tracker) idle() bool { return tr.head == len(tr.entries) }

// Ack gives back cursors of lines that were delivered (or dropped and
// counted) downstream, in any order, from any goroutine, before, during or
// after Run. Acknowledged lines free in-flight budget; the committed offset
// of each file moves to the end of its longest acknowledged prefix.
func (t *Tailer) Ack(cursors []event.Cursor) {
	var freed int64
	t.mu.Lock()
	var tr *tracker
	for _, c := range cursors {
		if tr == nil || tr.id != c.Source {
			if tr = t.trackers[c.Source]; tr == nil {
				continue
			}
		}
		n, adv := tr.ack(c.Offset)
		freed += n
		if adv {
			t.changes++
			freed += t.settle(tr)
		}
		if tr.closed && tr.idle() {
			delete(t.trackers, tr.id)
			t.filesChanged.Store(true)
			tr = nil
		}
	}
	t.mu.Unlock()
	if freed > 0 {
		t.inflight.Add(-freed)
		select {
		case t.ackCh <- struct{}{}:
		default:
		}
	}
}

// wait registers links, the rotated files' fragments merged into tr's line
// ending at until, to be acknowledged with it. Call it with t.mu held.
func (t *Tailer) wait(tr *tracker, until int64, links []link) (freed int64) {
	tr.waiters = append(tr.waiters, carried{until: until, links: links})
	return t.settle(tr) // a line delivered before a restart (suppressed) is acknowledged already
}

// settle acknowledges the rotated files' fragments of the lines of tr that
// its acknowledged prefix reached: their files' committed offsets move past
// them only now, and a closed file fully acknowledged is forgotten, as in
// Ack. It returns the in-flight bytes it freed: an entry at the same end as
// the fragments' (a line cut there) may be the one it marks. Call it with
// t.mu held.
func (t *Tailer) settle(tr *tracker) (freed int64) {
	for len(tr.waiters) > 0 && tr.waiters[0].until <= tr.ackedEnd {
		w := tr.waiters[0]
		tr.waiters[0] = carried{}
		tr.waiters = tr.waiters[1:]
		for _, l := range w.links {
			n, adv := l.tr.ack(l.end)
			freed += n
			if adv {
				t.changes++
			}
			if l.tr.closed && l.tr.idle() && t.trackers[l.tr.id] == l.tr {
				delete(t.trackers, l.tr.id)
				t.filesChanged.Store(true)
			}
		}
	}
	if len(tr.waiters) == 0 {
		tr.waiters = nil
	}
	return freed
}

func (t *Tailer) newTracker(key fileKey, path string, start, ackedTo int64, fp []byte) *tracker {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	tr := &tracker{id: t.nextID, key: key, path: path, committed: start, ackedEnd: max(start, ackedTo), lastEnd: start, fp: append([]byte(nil), fp...)}
	t.trackers[tr.id] = tr
	t.changes++
	t.filesChanged.Store(true)
	return tr
}

// closeTracker ends a generation: it is forgotten once all its lines are
// acknowledged, and a closed generation is never checkpointed again when
// superseded.
func (t *Tailer) closeTracker(tr *tracker, superseded bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr.closed = true
	tr.superseded = tr.superseded || superseded
	if freed := t.settle(tr); freed > 0 {
		t.inflight.Add(-freed)
	}
	if t.opts.EndMarkers {
		// After every line of the file (collect ran before): no more.
		if t.batch == nil {
			t.batch = event.NewBatch()
		}
		for _, s := range []event.Stream{event.Stdout, event.Stderr} {
			t.batch = append(t.batch, event.Log{Path: tr.path, Stream: s, End: true, Cursor: event.Cursor{Source: tr.id}})
		}
		// Closed at maxBatchLines as collect closes it: a turn that
		// closes hundreds of files (pods gone together) adds two markers
		// for each, and a batch grown past event.BatchCap is reallocated
		// by append and refused by the pool. So a batch holds at most
		// maxBatchLines+1 records.
		if len(t.batch) >= maxBatchLines {
			t.ready = append(t.ready, t.batch)
			t.batch, t.batchMem = nil, 0
		}
	}
	if tr.idle() {
		delete(t.trackers, tr.id)
		t.filesChanged.Store(true)
	}
	t.changes++
}

// Close writes the final checkpoint. Call it after Run returned and the sink
// acknowledged what it delivered. It is idempotent; it writes nothing if Run
// never loaded the state.
func (t *Tailer) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		loaded := t.loaded
		t.mu.Unlock()
		if loaded {
			t.closeErr = t.commit(true)
		}
	})
	return t.closeErr
}

// commit writes the checkpoint if anything changed since the last write.
func (t *Tailer) commit(force bool) error {
	if t.cfg.StateDir == "" {
		return nil
	}
	t.commitMu.Lock()
	defer t.commitMu.Unlock()
	t.mu.Lock()
	changes := t.changes
	if changes == t.written && !force {
		t.mu.Unlock()
		return nil
	}
	// Each file once (state.go entryID): a file with a tracker is named by
	// it, not again by a kept entry (same inode at the same path) or an
	// anchor (the same file). Two files may share an inode: one deleted
	// whose lines are not all acknowledged, and the one that reuses it.
	entries := make([]stateEntry, 0, len(t.trackers)+len(t.kept))
	named := make(map[entryID]bool, len(t.trackers)) // files named so far, written or not
	index := make(map[entryID]int, len(t.trackers))  // where each tracker's entry is in entries
	at := make(map[entryID]bool, len(t.trackers))    // inode and path of each tracker
	for _, tr := range t.trackers {
		e := stateEntry{Dev: tr.key.dev, Ino: tr.key.ino, FingerprintLen: len(tr.fp), Fingerprint: fpHash(tr.fp),
			Path: tr.path, Offset: tr.committed, AckedTo: max(tr.ackedEnd, tr.committed)}
		e.Cont = tr.contBits()
		id := e.id()
		at[entryID{key: tr.key, path: tr.path}] = true
		i, written := index[id]
		switch {
		case tr.superseded || (tr.closed && tr.idle()):
			named[id] = true // no entry, and no anchor for it
		case written:
			// Two trackers of one file (a rotation undone while the
			// first still waits for acknowledgements): the lower
			// offset loses nothing.
			if e.Offset < entries[i].Offset {
				entries[i] = e
			}
		default:
			named[id] = true
			index[id] = len(entries)
			entries = append(entries, e)
		}
	}
	entries = append(entries, t.keptEntries(at)...) // kept.go
	for _, e := range entries {
		named[e.id()] = true
	}
	entries = append(entries, t.anchorEntries(named, at, force)...) // anchors.go (force: Close's, the final one)
	t.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Path != entries[j].Path {
			return entries[i].Path < entries[j].Path
		}
		return entries[i].Ino < entries[j].Ino
	})
	if err := writeState(t.cfg.StateDir, entries); err != nil {
		t.m.commitErrors.Inc()
		if !t.stateFailing {
			t.stateFailing = true
			t.log.Warn("cannot write checkpoint; still reading, will retry", "err", err)
		}
		return err
	}
	if t.stateFailing {
		t.stateFailing = false
		t.log.Info("checkpoint written again", "dir", t.cfg.StateDir)
	}
	t.written = changes
	t.m.commits.Inc()
	return nil
}

// loadState reads the checkpoint and decides whether this agent is fresh
// and since when the agents before it followed the node (see sinceName).
func (t *Tailer) loadState(now time.Time) {
	t.fresh = true
	var since time.Time
	if t.cfg.StateDir != "" {
		if err := os.MkdirAll(t.cfg.StateDir, 0o700); err != nil {
			t.log.Warn("cannot create state directory; offsets will not be kept", "dir", t.cfg.StateDir, "err", err)
		}
		if fi, err := os.Stat(filepath.Join(t.cfg.StateDir, stateName)); err == nil {
			t.stateTime = fi.ModTime()
		}
		m, ok, invalid, err := loadState(t.cfg.StateDir)
		if err != nil {
			t.log.Warn("state file unusable; starting by start_at", "err", err, "start_at", t.cfg.StartAt)
		}
		if len(invalid) > 0 {
			t.m.stateInvalid.Add(float64(len(invalid)))
			t.log.Warn("invalid entries in the state file skipped; their files are read from the start",
				"skipped", len(invalid), "first", invalid[0], "used", len(m))
		}
		if ok {
			t.resume, t.fresh = make(map[fileKey][]stateEntry, len(m)), false
			for _, e := range m {
				// An agent before links.go named a link directory's
				// file by its link: the file is its target's now.
				if tgt, isLink, err := t.linkTarget(e.Path); err == nil && isLink {
					e.Path = tgt
				}
				k := e.key()
				t.resume[k] = append(t.resume[k], e)
				// A compressed file is checkpointed under a key the
				// tailer numbers (rotated.go openSibling), and an anchor
				// keeps it across restarts: number this run's above
				// them, or two entries share a key and the next tailer
				// skips one as invalid.
				if k.dev == ^uint64(0) {
					t.lazyKeys = max(t.lazyKeys, k.ino)
				}
			}
			since = loadSince(t.cfg.StateDir)
			if since.IsZero() {
				since = t.stateTime
			}
		}
	}
	// Times from a clock that was set back since (later than now) order
	// nothing: zero says every file may be newer (read rather than skip).
	if t.stateTime.After(now) {
		t.stateTime = time.Time{}
	}
	switch {
	case t.fresh:
		since = now
	case since.After(now):
		since = time.Time{}
	}
	if t.cfg.StateDir != "" && !since.IsZero() {
		if err := writeSince(t.cfg.StateDir, since); err != nil {
			t.log.Debug("cannot keep when following began", "err", err)
		}
	}
	t.mu.Lock()
	t.since = since
	t.loaded = true
	t.mu.Unlock()
}
