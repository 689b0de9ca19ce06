package tail

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Excluder is implemented by enrichment: a file it excludes is never opened
// or read. It is consulted when a file is discovered and again on each
// rescan while the file is not open (the pod may appear in its cache later).
// A file already open keeps being read even if it becomes excluded.
type Excluder interface{ Excluded(path string) bool }

// Options holds the tailer's optional dependencies.
type Options struct {
	Excluder   Excluder              // nil: nothing excluded
	Limits     LimitSource           // nil: no rate-limit annotations
	Registerer prometheus.Registerer // nil: metrics not registered
	// Holdback names the files (by their cursors' Source) the sink cannot
	// take more of now: they are not read until released. nil: none.
	Holdback *event.Holdback
	// EndMarkers asks for an event.Log with End set, per stream, after
	// the last line of each file the tailer is done with (truncated, read
	// to its end, closed): processing then sends at once what it held of
	// that file instead of waiting for its flush timeout.
	EndMarkers bool
}

// lineOverhead is what a line costs in memory beside its bytes: its record
// in the batch and its acknowledgement entry.
const lineOverhead = int64(unsafe.Sizeof(event.Log{}) + unsafe.Sizeof(entry{}))

// A batch is closed (queued to be sent) as soon as it holds maxBatchLines
// lines or maxBatchBytes of accounted memory (see lineOverhead); a read turn
// stops when a closed batch waits and the consumer cannot take it.
// filesCommitDelay is the shortest time between two checkpoints written
// because the set of files changed (see Tailer.filesChanged): a node
// rotating many files at once writes a few checkpoints a second, not one
// per file.
const filesCommitDelay = 100 * time.Millisecond

const (
	maxBatchLines = 1024
	maxBatchBytes = 1 << 20
)

// A closed batch fits the pooled batch's capacity (event.BatchCap), with
// room for a few end-of-file markers: this fails to compile otherwise.
const _ = uint(event.BatchCap - maxBatchLines - 32)

// Tailer follows log files and emits their lines. See the package
// documentation for what it guarantees.
type Tailer struct {
	cfg     Config
	log     *slog.Logger
	out     chan<- []event.Log
	opts    Options
	m       *metrics
	rawMax  int
	running atomic.Bool

	// mu guards the trackers (shared by the reading goroutine, Ack and Close).
	mu       sync.Mutex
	trackers map[uint64]*tracker
	// kept are the checkpoint entries of files not followed (kept.go).
	kept    []stateEntry
	changes uint64 // bumped whenever what a checkpoint would hold changes
	nextID  uint64
	loaded  bool // state was loaded by Run: Close may write it
	// since is when the agents that kept the checkpoint began to follow
	// the node (stateFile.Since): a rotated file of a path nobody saw
	// that was last written after it is read.
	since time.Time

	inflight atomic.Int64
	ackCh    chan struct{}
	// filesChanged is set when the checkpoint's set of files changes: a
	// file is followed for the first time, or a finished one's last line
	// was acknowledged. The checkpoint is then written soon, not only at
	// commit_interval: an agent killed right after kubelet deleted a
	// forgotten file does not find it in its checkpoint (and count it as
	// lost), and one killed right after it found a file leaves a
	// checkpoint that names it (so that its loss, if kubelet deletes it
	// before the next agent runs, is counted).
	filesChanged atomic.Bool

	commitMu     sync.Mutex
	written      uint64 // changes at the last successful write
	stateFailing bool

	closeOnce sync.Once
	closeErr  error

	// Owned by the Run goroutine.
	linkMaps  // links.go
	files     map[fileKey]*follower
	byPath    map[string]*follower
	order     []*follower
	rr        int
	resume    map[fileKey][]stateEntry // the checkpoint's entries not resumed yet, by key (more than one: state.go entryID)
	stateTime time.Time                // when the checkpoint resumed from was written
	fresh     bool
	batch     []event.Log   // the batch being filled
	ready     [][]event.Log // closed batches, oldest first, to be sent before batch
	batchMem  int64         // accounted bytes in batch
	watcher   *notifier
	dirs      *dirCache           // listings of watched directories between rescans (glob.go); nil without notifications
	busy      map[string]*busyDir // directories whose files grew at the last polls (busy.go)
	rescanDue bool                // a polled directory was watched again outside a poll: rescan at once (busy.go newFileIn)
	skips     *skips
	warned    map[string]bool
	nextRead  time.Time // when the next read turn is due
	logsBuf   []event.Log
	marksBuf  []mark
	// lastRotated is the last rotated file closed per path.
	lastRotated map[string]rotated
	// anchors are the newest finished rotated file per path (anchors.go);
	// guarded by mu.
	anchors map[string]stateEntry
	// emptyAnchors are the newest files finished empty after the anchor
	// of their path (anchors.go); guarded by mu.
	emptyAnchors map[string]stateEntry
	// seenPaths are the paths whose rotated siblings were looked at (by
	// the first scan, resumeRotated, or when first found while running).
	seenPaths map[string]bool
	// rotatedLinger is rotatedLinger (tests shorten it).
	rotatedLinger time.Duration
	// inflatedNow counts the compressed files inflated and open; lazyKeys
	// numbers the keys of those waiting to be (see openSibling).
	inflatedNow int
	lazyKeys    uint64
	tookCopies  []birth    // the last copies taken by any file (copy.go takenBefore)
	held        int64      // bytes of unfinished lines in memory (held.go)
	lim         *openLimit // files waiting for a descriptor (openlimit.go)

	beat atomic.Int64 // when Run's loop last went round: ns since beatEpoch, plus one (health.go)
	// beatEpoch is beat's origin, with its monotonic clock reading.
	beatEpoch time.Time
	// behind is behind_bytes, for other goroutines (Behind).
	behind atomic.Int64
	// polls and rescans count Run's polls and rescans (the start's scan
	// is the first rescan): tests wait on them for the tailer to have
	// looked at every file again, in place of waiting for time to pass.
	polls, rescans atomic.Int64

	// Test hooks: openFault fails opens with the error it returns;
	// loopHook runs at the top of each round of Run's loop; readHook
	// (below).
	openFault func(path string) error
	loopHook  func()
	// readHook runs in readFile between its look for a rewrite and the
	// data's read.
	readHook func(f *follower)
	// truncHook runs in truncated after the copies were looked for and
	// before the new generation is started.
	truncHook func(f *follower)
	// stopWaitHook runs in closeAll while it waits for the writes in
	// progress on rotated files read to their end (landedAtStop).
	stopWaitHook func()
	// Fair reading and rate limits (fair.go, limiter.go).
	turn       []turnFile
	limitsOn   bool
	limiters   map[string]*limiter   // by container
	aggregates map[string]*aggregate // by pod or namespace
	limitWake  time.Time             // when a deferred container may read again
	limitGen   uint64                // the LimitSource's generation at the last limitTick
	pollOnly   bool                  // tests under testing/synctest: no fsnotify reader
}

// New checks cfg and builds a tailer that sends batches of lines to out.
// Nothing runs until Run.
func New(cfg Config, logger *slog.Logger, out chan<- []event.Log, opts Options) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("out channel is nil")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Tailer{
		cfg:      cfg,
		log:      logger.With("component", "tail"),
		out:      out,
		opts:     opts,
		rawMax:   2*cfg.MaxLineBytes + 64<<10,
		trackers: make(map[uint64]*tracker),
		ackCh:    make(chan struct{}, 1),
		files:    make(map[fileKey]*follower),
		byPath:   make(map[string]*follower),
		busy:     make(map[string]*busyDir),
		warned:   make(map[string]bool),

		lastRotated:  make(map[string]rotated),
		seenPaths:    make(map[string]bool),
		anchors:      make(map[string]stateEntry),
		emptyAnchors: make(map[string]stateEntry),

		rotatedLinger: rotatedLinger,
		lim:           newOpenLimit(cfg.MaxOpenFiles),
		limitsOn:      cfg.RateLimit.configured() || opts.Limits != nil,
		limiters:      make(map[string]*limiter),
		aggregates:    make(map[string]*aggregate),
	}
	t.beatEpoch = time.Now()
	t.m = newMetrics(func() float64 { return float64(t.inflight.Load()) })
	t.m.inflightLimit.Set(float64(cfg.MaxInflightBytes))
	t.m.openLimit.Set(float64(cfg.MaxOpenFiles))
	t.skips = newSkips(t.m.skipped, t.log)
	if opts.Registerer != nil {
		if err := t.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return t, nil
}

// notifyEvent is a directory entry's change; Name is the entry's path.
type notifyEvent struct {
	Name string
	Op   notifyOp
}

type notifyOp uint8

const (
	opCreate notifyOp = 1 << iota // created or moved in
	opRemove                      // deleted or moved away
)

// Run discovers and reads until ctx is done, then stops reading, closes out,
// and returns nil. It returns an error only if it cannot work at all.
func (t *Tailer) Run(ctx context.Context) error {
	if t.running.Swap(true) {
		return errors.New("Run called twice")
	}
	defer close(t.out)
	defer t.beat.Store(0)
	t.progress() // health.go: the start-up scan beats too
	t.loadState(time.Now())
	if t.pollOnly {
		// Polling alone finds every change (within poll_interval).
	} else if w, err := newNotifier(); err != nil {
		t.log.Warn("file notifications unavailable; relying on polling", "err", err)
	} else {
		t.watcher = w
		t.dirs = newDirCache(w.Watching)
		defer w.Close()
	}
	defer t.closeAll()

	now := time.Now()
	saved := make([]stateEntry, 0, len(t.resume))
	for _, es := range t.resume {
		saved = append(saved, es...)
	}
	t.watch() // before the first scan, so nothing created meanwhile is missed
	t.rescan(now, true)
	t.resumeRotated(now, saved)
	t.rescans.Add(1)
	t.refreshKept() // kept.go

	var (
		nextPoll   = now.Add(t.cfg.PollInterval)
		nextRescan = now.Add(t.cfg.RescanInterval)
		nextCommit = now.Add(t.cfg.CommitInterval)
		lastCommit time.Time
		rescanAt   time.Time
		wakeCh     <-chan struct{}
		timer      = time.NewTimer(time.Hour)
		blocked    bool
	)
	t.nextRead = now
	defer timer.Stop()
	if t.watcher != nil {
		wakeCh = t.watcher.Wake()
	}
	// takeEvents reads every queued notification in one pass: a burst of
	// writes costs one read(2), not one wakeup per write.
	takeEvents := func() {
		if t.watcher == nil {
			return
		}
		now := time.Now()
		overflow := t.watcher.Drain(16, t.fileWritten, func(ev notifyEvent) {
			t.dirs.changed(ev.Name)
			if t.handleEvent(ev, now) && rescanAt.IsZero() {
				rescanAt = now.Add(50 * time.Millisecond)
			}
		})
		if overflow {
			// Events were lost: look at everything now.
			t.log.Debug("file notification queue overflowed; polling and rescanning")
			t.dirs.clear()
			t.forgetLinks() // links.go
			for _, f := range t.order {
				f.renameNoticed = true // copy.go copyOfAway: the order of notices is lost
			}
			nextPoll, rescanAt = now, now
		}
	}
	for ctx.Err() == nil {
		t.heartbeat()
		now = time.Now()
		if (!rescanAt.IsZero() && !now.Before(rescanAt)) || !now.Before(nextRescan) {
			if t.dirs.rescan() {
				t.forgetLinks() // links.go: read again with the listings
			}
			t.rescan(now, false)
			t.refreshKept()
			t.watch()
			rescanAt, nextRescan = time.Time{}, now.Add(t.cfg.RescanInterval)
			t.rescans.Add(1)
		}
		if !now.Before(nextPoll) {
			t.rebalance(now) // openlimit.go
			if t.poll(now) {
				rescanAt = now
			}
			t.limitTick(now)
			nextPoll = now.Add(t.cfg.PollInterval)
			t.polls.Add(1)
		}
		if t.rescanDue {
			t.rescanDue = false
			if rescanAt.IsZero() {
				rescanAt = now
			}
		}
		if t.filesChanged.Swap(false) {
			if soon := lastCommit.Add(filesCommitDelay); soon.Before(nextCommit) {
				nextCommit = soon
			}
		}
		if !now.Before(nextCommit) {
			_ = t.commit(false)
			lastCommit, nextCommit = now, now.Add(t.cfg.CommitInterval)
		}
		if !now.Before(t.nextRead) {
			takeEvents() // what was left queued while this read was due
			var more bool
			more, blocked = t.readTurn(now)
			switch {
			case blocked:
				t.nextRead = now.Add(24 * time.Hour) // an acknowledgement brings it back
			case more:
				t.nextRead = now
			default:
				t.nextRead = now.Add(24 * time.Hour)
				if e := t.nextEligible(); !e.IsZero() {
					t.nextRead = e
				}
			}
			if !t.limitWake.IsZero() && t.limitWake.Before(t.nextRead) {
				t.nextRead = t.limitWake // a deferred container's budget is back
			}
		}
		wake := t.nextRead
		for _, w := range []time.Time{nextPoll, nextRescan, nextCommit, rescanAt} {
			if !w.IsZero() && w.Before(wake) {
				wake = w
			}
		}
		d := time.Until(wake)
		if d <= 0 {
			takeEvents()
			continue
		}
		// A batch the consumer did not take yet is offered while waiting:
		// a full channel stops reading, never polling or discovery, so
		// files created and rotated away meanwhile are still opened.
		var out chan<- []event.Log
		next := t.nextBatch()
		if len(next) > 0 {
			out = t.out
		}
		// While a read is due within read_interval anyway, notifications
		// change nothing but which files it reads: leave them queued in
		// the kernel and take them all when it comes. A container writing
		// one line per write call then costs one wakeup per read_interval,
		// not one per line.
		evCh := wakeCh
		if time.Until(t.nextRead) <= t.cfg.ReadInterval {
			evCh = nil
		} else if t.watcher != nil {
			t.watcher.Arm()
		}
		timer.Reset(d)
		waitStart := time.Now()
		select {
		case <-ctx.Done():
		case out <- next:
			t.batchSent()
			if blocked {
				t.nextRead = time.Now()
			}
		case <-evCh:
			t.watcher.Woken()
			takeEvents()
		case <-timer.C:
		case <-t.ackCh:
			if blocked {
				t.nextRead = time.Now()
			}
		case <-t.opts.Holdback.Released():
			t.nextRead = time.Now()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if blocked {
			t.m.backpressure.Add(time.Since(waitStart).Seconds())
		}
	}
	// A last look before the final checkpoint: a file created since the
	// last rescan (kubelet rotates at any moment, a rolling update too) is
	// followed, unread, so that the checkpoint names it. If kubelet then
	// deletes it before the next agent runs, that agent counts the loss;
	// a file no checkpoint named is lost without a trace. A rotation
	// whose notification is not in yet (the kernel's queue is read by
	// another goroutine) is seen by a poll: the path names another file,
	// which the rescan then follows.
	takeEvents()
	t.lastLook(time.Now())
	t.finalSend()
	return nil
}

// lastLook is Run's end after its last notifications: what the final
// checkpoint must name is followed (or taken, or kept), not read.
func (t *Tailer) lastLook(now time.Time) {
	t.takeCopies(now) // copy.go: copies noted, whose read did not come
	t.poll(now)
	for _, f := range t.order {
		// Renamed away, nothing at its path (kubelet's rename, before
		// the runtime reopens, or before kubelet renames it back when
		// the runtime cannot), nothing of it read: the siblings born
		// since its generation started are its copies (a file of the
		// path after it would be at the path). Renamed back after the
		// stop, the next agent resumes it at offset 0 with its own
		// start as the generation's, and takes them for older files:
		// their lines were lost uncounted.
		if f.st == stRotated && f.off == 0 && f.f != nil {
			if _, err := os.Lstat(f.path); errors.Is(err, fs.ErrNotExist) {
				t.siblingsBornSince(f)
			}
		}
	}
	// The poll notes copies too: a file nothing was read of, seen back
	// at its path (a rotation undone), lists those made since its
	// generation started (follower.go undone). Taken before it only, they
	// died with this agent, and the next one, which resumes the file at
	// offset 0 with its start as the generation's, took them for older
	// files: their lines were lost uncounted. (The parked files' copies
	// are named once, above: no poll looks at them.)
	t.takeNoted(now)
	t.rescan(now, false)
	t.keepWaiting() // kept.go: a file waiting for a descriptor is named too
}

// finalSendWait bounds how long Run's end waits for the next room to take
// what the tailer still holds.
const finalSendWait = 2 * time.Second

// finalSend ends Run: the drops not yet summarised are summarised now
// (otherwise a line emitted after them, once acknowledged, commits past
// them and the next agent never reads them again: a gap no record would
// report), and the batches not sent yet are offered to the next room for
// at most finalSendWait; what it does not take is not acknowledged and is
// read again after a restart.
func (t *Tailer) finalSend() {
	now := time.Now()
	for _, l := range t.limiters {
		t.emitSummary(l, now)
	}
	deadline := time.NewTimer(finalSendWait)
	defer deadline.Stop()
	for {
		next := t.nextBatch()
		if len(next) == 0 {
			return
		}
		select {
		case t.out <- next:
			t.batchSent()
		case <-deadline.C:
			return
		}
	}
}

// closeAll closes every open file when Run ends. Their trackers stay: the
// files still exist and Close checkpoints them. A file deleted (or, plain,
// compressed away) that was read to its end is finished instead, as if it
// had been closed at its end: it becomes its path's anchor (found again in
// its .gz, the files after it are read and it is not), and its own entry
// is left out once its lines are acknowledged. Otherwise the next agent
// would find it nowhere and count as lost a file that lost nothing.
func (t *Tailer) closeAll() {
	t.landedAtStop(time.Now())
	now := time.Now()
	// Which files are finished is decided before any is closed: a file
	// whose predecessor was not read to its end is not finished, and that
	// predecessor, closed first in this loop, would look read.
	finished := make([]bool, len(t.order))
	for i, f := range t.order {
		finished[i] = f.st != stClosed && f.tr != nil && (deletedAndRead(f) || (rotatedAndRead(f) && f.rotatedFinal(now, t.cfg.ReadInterval, t.rotatedLinger)))
	}
	for i, f := range t.order {
		if finished[i] {
			t.anchor(f) // anchors.go
		}
		if f.fire(evStop, time.Now()) {
			if f.f != nil {
				_ = f.f.Close()
			}
			t.m.openFiles.Dec()
		}
		if finished[i] {
			t.closeTracker(f.tr, false)
		}
	}
	t.order = nil
	clear(t.files)
	clear(t.byPath)
}

// deletedAndRead says whether f's file is unlinked and was read to its
// end: every byte in a complete line, no partial line waiting for its next
// fragment. An inflated copy of a compressed file is unlinked by design
// and does not count.
func deletedAndRead(f *follower) bool {
	nlink, ok := readToEnd(f)
	return ok && nlink == 0
}

// readToEnd says whether f's file, open through its descriptor, was read
// to its end with no partial line waiting for its next fragment, and how
// many names the file has. An inflated copy of a compressed file does not
// count.
func readToEnd(f *follower) (nlink uint64, ok bool) {
	if f.f == nil || f.inflated || f.dec.pend[0].active || f.dec.pend[1].active {
		return 0, false
	}
	_, nlink, size, err := fstatKey(f.f)
	return nlink, err == nil && size == f.consumed
}

// rotatedAndRead says whether f, a file kubelet renamed, was read to its
// end with a new file at its path found (the runtime writes there now),
// every byte in a complete line, and nothing before it left to read: at a
// stop it is finished, as it would have been once final (rotatedFinal), a
// read_interval later. Checkpointed as a file still being read, and
// compressed and deleted by kubelet before the next agent's first scan (a
// rolling update while the container rotates fast), it was counted
// vanished though every line of it was delivered
// (TestStoppedBeforeRotatedFinalThenDeleted). A write on the old
// descriptor landing after the stop is not lost: a finished file found
// longer than it was finished is read on from there (discovery.go
// grownSince).
//
// Not a file skipping the rest of a line cut at max_line_bytes (f.skip):
// every byte read is consumed then, but its end is inside that line, whose
// rest is the write in progress read_interval waits for. Finished there,
// the next agent read on from inside the line, took the byte before its
// offset (not a newline) for a copytruncate, counted the line's rest lost
// and read the file again from 0 (TestStoppedBeforeRotatedFinalInLongLine).
// Left as being read, it is resumed at the cut line's start.
//
// Nor a file nothing of its generation was read of (f.off == 0, empty):
// the copies made of it while it was back at its path unseen are looked
// for only as it is finished at its end (copy.go copiesAway). Finished at
// the stop, they never were, and the next agent took them for history
// before the anchor: their lines were lost, uncounted
// (TestStoppedBeforeEmptyRotatedFinalWithCopyAway). kubelet rotates no
// empty file; left as being read, the next agent looks as before.
func rotatedAndRead(f *follower) bool {
	if f.st != stRotated || f.succAt.IsZero() || (f.pred != nil && f.pred.st != stClosed) || f.skip || f.off == 0 {
		return false
	}
	_, ok := readToEnd(f)
	return ok
}

// landedAtStop waits, before closeAll finishes the rotated files read to
// their end (rotatedAndRead), until each one's next file appeared
// read_interval ago, as rotatedFinal would have: a write in progress on the
// old descriptor lands within it. Found longer then, the file is not
// finished: it is checkpointed as being read, and if kubelet deletes it
// before the next start, that agent counts the loss. Finished without the
// wait, a write landing just after the stop was lost uncounted once the
// file was deleted: a done file that vanished lost nothing
// (TestStoppedBeforeRotatedFinalWriteLandingAtStop). closeAll then
// finishes the ones final (rotatedFinal) and still read to their end.
//
// The wait is once for all files, and at most stopWaitMax: a file whose
// read_interval would end later (a long read_interval configured) is not
// waited for, nor final, nor finished, as before finishing at a stop was
// done. Waited
// for whole, a stop took read_interval longer, and one configured longer
// than the pod's termination grace period was killed in the wait, with no
// final checkpoint (TestHostile86StopWaitBounded).
func (t *Tailer) landedAtStop(now time.Time) {
	var until time.Time
	for _, f := range t.order {
		if f.tr == nil || !rotatedAndRead(f) {
			continue
		}
		u := f.succAt.Add(t.cfg.ReadInterval)
		if u.Sub(now) > stopWaitMax {
			continue
		}
		if u.After(until) {
			until = u
		}
	}
	if d := until.Sub(now); d > 0 {
		time.Sleep(d)
		if t.stopWaitHook != nil {
			t.stopWaitHook()
		}
	}
}

// stopWaitMax bounds landedAtStop's wait.
const stopWaitMax = time.Second

// heldBack says whether the sink holds f's file back (Options.Holdback).
func (t *Tailer) heldBack(f *follower) bool {
	return f.tr != nil && t.opts.Holdback.Held(f.tr.id)
}

// nextEligible is the earliest time a dirty file may be read again.
func (t *Tailer) nextEligible() time.Time {
	var e time.Time
	for _, f := range t.order {
		if f.st == stClosed || !f.dirty || (f.pred != nil && f.pred.st != stClosed) ||
			(f.gz != "" && t.inflatedNow >= maxInflated) || // woken when one closes
			t.heldBack(f) { // woken when released
			continue
		}
		at := f.lastRead.Add(t.cfg.ReadInterval)
		if f.limitAt.After(at) {
			at = f.limitAt // deferred by its rate limit: not before its budget is back
		}
		if e.IsZero() || at.Before(e) {
			e = at
		}
	}
	return e
}

// readTurn gives every file that is due one bounded read, then sends what was
// read. more says some file has more to read right away; blocked says the
// in-flight budget stopped the turn.
func (t *Tailer) readTurn(now time.Time) (more, blocked bool) {
	n := len(t.order)
	if n > 0 {
		t.rr = (t.rr + 1) % n
	}
	waiting := t.planTurn(now) // see fair.go
	passed := false
	for k := 0; k < n; k++ {
		i := (t.rr + k) % n
		f := t.order[i]
		if f.st == stClosed || (f.pred != nil && f.pred.st != stClosed) {
			continue
		}
		if !f.more && !(f.dirty && now.Sub(f.lastRead) >= t.cfg.ReadInterval) {
			continue
		}
		if t.turn[i].deferred {
			continue // held back: Run wakes at t.limitWake, or when the sink releases it
		}
		if t.overShare(i, waiting) {
			passed = true // an acknowledgement brings it back
			continue
		}
		if t.inflight.Load() >= t.cfg.MaxInflightBytes {
			blocked = true
			break
		}
		if len(t.ready) > 0 && !t.tryFlush() {
			// The consumer is behind: stop reading, but keep polling and
			// discovering (Run offers the batch until it is taken). Checked
			// before a read, not only after: a turn that an acknowledgement
			// starts while the batch is still held must not grow it.
			return more, true
		}
		t.readFile(f, now)
		more = more || f.more
	}
	if !t.tryFlush() || (passed && !more) {
		blocked = true
	}
	// Drop closed files from the rotation.
	j := 0
	for _, f := range t.order {
		if f.st != stClosed {
			t.order[j] = f
			j++
		}
	}
	clear(t.order[j:])
	t.order = t.order[:j]
	return more, blocked
}

// tryFlush hands the batches to the receiver while it has room; false if
// one is still held.
func (t *Tailer) tryFlush() bool {
	for {
		next := t.nextBatch()
		if len(next) == 0 {
			return true
		}
		select {
		case t.out <- next:
			t.batchSent()
		default:
			return false
		}
	}
}

// nextBatch is the batch to send next: the oldest closed one, else the one
// being filled.
func (t *Tailer) nextBatch() []event.Log {
	if len(t.ready) > 0 {
		return t.ready[0]
	}
	return t.batch
}

// batchSent forgets the batch nextBatch returned, now sent.
func (t *Tailer) batchSent() {
	if len(t.ready) > 0 {
		t.ready[0] = nil
		t.ready = t.ready[1:]
		if len(t.ready) == 0 {
			t.ready = nil
		}
		return
	}
	t.batch, t.batchMem = nil, 0
}

// collect moves what f's decoder produced into the batch and f's tracker.
func (t *Tailer) collect(f *follower) {
	d := &f.dec
	if len(d.logs) == 0 {
		t.detach(f)
		return
	}
	var stdout, stderr int
	var size int64
	t.mu.Lock()
	tr := f.tr
	linked := d.linked
	contOpen := tr.contOpen() // a continued line not read yet: looked for per line
	for i, mk := range d.marks {
		s := mk.end - tr.lastEnd + mk.heap + lineOverhead
		tr.lastEnd = mk.end
		if len(linked) > 0 && linked[0].i == i {
			// A line begun in rotated files: their fragments are
			// acknowledged with it (checkpoint.go settle), whether it is
			// delivered, dropped or was delivered before a restart.
			size -= t.wait(tr, mk.end, linked[0].links)
			linked = linked[1:]
		}
		if contOpen {
			contOpen = tr.noteContEnd(&d.logs[i], mk.end)
		}
		if mk.end <= f.suppressTo {
			continue // delivered before a restart (see stateEntry.AckedTo)
		}
		if f.lim != nil && t.dropLine(f, s-mk.heap-lineOverhead, mk) {
			continue // over its rate limit, policy drop: counted (limiter.go)
		}
		size += s
		tr.entries = append(tr.entries, entry{end: mk.end, safe: mk.safe, size: s})
		l := d.logs[i]
		l.Cursor = event.Cursor{Source: tr.id, Offset: mk.end}
		if l.Stream == event.Stderr {
			stderr++
		} else {
			stdout++
		}
		if t.batch == nil {
			t.batch = event.NewBatch()
		}
		t.batch = append(t.batch, l)
		t.batchMem += s
		if len(t.batch) >= maxBatchLines || t.batchMem >= maxBatchBytes {
			t.ready = append(t.ready, t.batch)
			t.batch, t.batchMem = nil, 0
		}
	}
	t.mu.Unlock()
	t.inflight.Add(size)
	t.m.linesRead.WithLabelValues("stdout").Add(float64(stdout))
	if stderr > 0 {
		t.m.linesRead.WithLabelValues("stderr").Add(float64(stderr))
	}
	if d.truncated > 0 {
		t.m.truncated.Add(float64(d.truncated))
	}
	if d.parseErrors > 0 {
		t.m.parseErrors.Add(float64(d.parseErrors))
	}
	clear(d.logs)
	if len(d.linked) > 0 {
		clear(d.linked) // no tracker kept alive by the buffer
		d.linked = d.linked[:0]
	}
	d.truncated, d.parseErrors = 0, 0
	t.detach(f)
}

// attach lends f's decoder the shared output buffers (one goroutine reads,
// so one set serves every file: memory does not grow with the number of
// files).
func (t *Tailer) attach(f *follower) {
	f.dec.logs, f.dec.marks = t.logsBuf[:0], t.marksBuf[:0]
	f.dec.linked = f.dec.linked[:0]
}

func (t *Tailer) detach(f *follower) {
	t.logsBuf, t.marksBuf = f.dec.logs[:0], f.dec.marks[:0]
	f.dec.logs, f.dec.marks = nil, nil
}

// wantRead brings the next read turn forward to at.
func (t *Tailer) wantRead(at time.Time) {
	if at.Before(t.nextRead) {
		t.nextRead = at
	}
}

// warnOnce logs an operator-actionable problem once per key.
func (t *Tailer) warnOnce(key, msg string, args ...any) {
	if t.warned[key] {
		return
	}
	if len(t.warned) > 10000 {
		clear(t.warned)
	}
	t.warned[key] = true
	t.log.Warn(msg, args...)
}

// fileWritten marks the file at path (if open) for a read: in
// read_interval, or at once if a copy of it is noted (copy.go: the write
// may be its truncation).
func (t *Tailer) fileWritten(path []byte) {
	if f := t.byPath[string(path)]; f != nil {
		f.dirty = true
		if len(f.copied) > 0 {
			f.more = true
			t.wantRead(time.Now())
			return
		}
		t.wantRead(f.lastRead.Add(t.cfg.ReadInterval))
	}
}

// handleEvent reacts to one notification; true asks for a rescan soon.
func (t *Tailer) handleEvent(ev notifyEvent, now time.Time) bool {
	t.forgetLink(ev.Name) // links.go: made again, it may name another file
	f := t.byPath[ev.Name]
	switch ev.Op {
	case opCreate:
		if f != nil {
			t.check(f, now)
		}
		if t.included(ev.Name) {
			// A new file (or the new file of a rotation): take it now, so
			// that even a short-lived file is open before it can be
			// rotated away.
			t.discover(ev.Name, now, false)
			return false
		}
		// A rotated name beside a file nothing was read of may be its
		// copy (copy.go).
		t.copyCreated(ev.Name)
		return true // a directory, perhaps: rescan soon
	case opRemove:
		if f != nil {
			t.check(f, now)
		}
		if t.watcher.Watching(ev.Name) {
			t.watcher.Remove(ev.Name) // a directory moved away: watch it anew where it is found
		}
		return f != nil
	}
	return false
}

// watch adds notification watches on every directory the include globs can
// create or write files in, and on their ancestors down from the first
// directory without glob characters, so new pods are seen; and on the
// directory of every file followed through a link.
func (t *Tailer) watch() {
	if t.watcher == nil {
		return
	}
	want := make(map[string]bool)
	for _, p := range t.cfg.Include {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if !hasMeta(d) {
				want[d] = true
				break
			}
			ms, _ := glob(d, t.progress, t.dirs)
			for _, m := range ms {
				want[m] = true
			}
		}
	}
	// The directories of the files followed through a link directory's
	// entries (links.go), which no glob names: their writes and rotations
	// are notified there, not to the link directory.
	for _, f := range t.order {
		if f.linked && f.st != stClosed {
			want[filepath.Dir(f.path)] = true
		}
	}
	for d := range want {
		if t.watcher.Watching(d) || t.isPolled(d) {
			continue
		}
		t.progress() // health.go: a watch per directory, thousands at start
		if err := t.watcher.Add(d); err != nil {
			if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
				t.warnOnce("watch", "cannot watch a directory; new files there are found by rescan", "dir", d, "err", err)
			}
		}
	}
	for _, d := range t.watcher.Dirs() {
		if !want[d] {
			t.watcher.Remove(d)
		}
	}
}

func hasMeta(p string) bool {
	for _, c := range p {
		switch c {
		case '*', '?', '[', '\\':
			return true
		}
	}
	return false
}
