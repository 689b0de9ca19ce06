package tail

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/pkg/event"
)

// LimitSource tells what a rate limit depends on of the pod a log file
// belongs to: the value of its ferry.dev/rate-limit annotation (ok false:
// no annotation, or the pod is not known yet) and its labels (nil when
// not known). It is asked when a container's first file is opened and
// again every rescan_interval, and at the next poll when it implements
// LimitGeneration and its generation moved. Implemented by the agent from
// enrichment.
type LimitSource interface {
	RateLimitAnnotation(path string) (value string, ok bool)
	PodLabels(path string) map[string]string
}

// LimitGeneration is implemented by a LimitSource that can say when what
// it tells changed: Generation moves then. The tailer re-resolves every
// container's limit at its next poll (poll_interval) after a move, so a
// pod's annotation or labels apply about a poll interval after its first
// lines were enriched instead of a rescan_interval.
type LimitGeneration interface {
	Generation() uint64
}

// gate is one limit applied: its configuration and its buckets.
type gate struct {
	lim          RateLimit
	lines, bytes *bucket
}

func (g *gate) refill(now time.Time) {
	g.lines.refill(now)
	g.bytes.refill(now)
}

// full says whether g's buckets hold their bursts.
func (g *gate) full(now time.Time) bool { return g.lines.full(now) && g.bytes.full(now) }

// aggregate is a limit shared by the containers of a pod or a namespace.
// It is kept while a container's limiter refers to it, then until its
// buckets are full again (limitTick forgets it): a pod whose containers
// come back within that time finds what they took.
type aggregate struct {
	gate
	key  string
	refs int // containers' limiters
	open int // of those, the ones with a file open: the parts of its budget
}

// limiter is the rate limit of one container, shared by its files (the
// current one and those rotated before it), with the aggregates of its
// pod and namespace. Owned by the Run goroutine.
type limiter struct {
	gate            // the container's own limit
	key      string // the container's directory (or its file, outside kubelet's layout)
	ns, name string // namespace, and namespace/pod/container for logs
	path     string // the container's log path, for summary records
	refs     int    // open followers
	// idle is when the last follower was released (zero while refs >
	// 0). The limiter is kept until its buckets are full again (see
	// releaseLimiter).
	idle     time.Time
	spec     string     // the annotation the limit was resolved from
	pod, nsa *aggregate // per_pod and per_namespace aggregates, when set
	resolved time.Time
	all      [3]*gate // scratch for gates

	limited      bool      // held back (defer) or dropping (drop) now
	mode         string    // the policy that limits it (PolicyDefer or PolicyDrop)
	since        time.Time // when limited started
	deferred     int64     // lines read late in this episode
	dropped      int64     // lines dropped since the last summary
	droppedBytes int64
	dropFrom     time.Time // the first drop since the last summary
	lastDrop     time.Time
	// The last line dropped: its file's generation, end and safe offset,
	// so that the summary can commit past it (see emitSummary).
	dropTr            *tracker
	dropEnd, dropSafe int64
}

// containerOf names the container of a kubelet log path
// (<root>/<namespace>_<pod>_<uid>/<container>/<n>.log): its directory, its
// namespace and a readable name. Other paths are their own container.
func containerOf(path string) (key, ns, name string) {
	dir := filepath.Dir(path)
	podDir := filepath.Base(filepath.Dir(dir))
	first, last := strings.IndexByte(podDir, '_'), strings.LastIndexByte(podDir, '_')
	if first <= 0 || last <= first+1 {
		return path, "", path
	}
	ns = podDir[:first]
	return dir, ns, ns + "/" + podDir[first+1:last] + "/" + filepath.Base(dir)
}

// limiterFor attaches f to its container's limiter (nil when no limit can
// apply).
func (t *Tailer) limiterFor(f *follower, now time.Time) *limiter {
	if !t.cfg.RateLimit.configured() && t.opts.Limits == nil {
		return nil
	}
	key, ns, name := containerOf(f.dec.path)
	l := t.limiters[key]
	if l == nil {
		l = &limiter{key: key, ns: ns, name: name, path: f.dec.path}
		t.limiters[key] = l
		t.resolve(l, now)
		if ns != "" { // kubelet's layout: the pod is the container's parent directory
			l.pod = t.aggregateFor("pod "+filepath.Dir(key), t.cfg.RateLimit.PerPod, now)
			l.nsa = t.aggregateFor("namespace "+ns, t.cfg.RateLimit.PerNamespace, now)
		}
	}
	if l.refs++; l.refs == 1 {
		l.idle = time.Time{}
		for _, a := range []*aggregate{l.pod, l.nsa} {
			if a != nil {
				a.open++
			}
		}
	}
	return l
}

// aggregateFor returns the aggregate of key (nil when lim limits nothing).
func (t *Tailer) aggregateFor(key string, lim RateLimit, now time.Time) *aggregate {
	if !lim.Limited() {
		return nil
	}
	a := t.aggregates[key]
	if a == nil {
		a = &aggregate{key: key, gate: gate{lim: lim, lines: newBucket(lim.LinesPerSecond, lim.BurstLines, now),
			bytes: newBucket(lim.BytesPerSecond, lim.BurstBytes, now)}}
		t.aggregates[key] = a
	}
	a.refs++
	return a
}

func (t *Tailer) releaseAggregate(a *aggregate) {
	if a != nil {
		a.refs--
	}
}

// gates are the limits of l's container under policy: its own, its
// pod's, its namespace's (those set and with that policy).
func (l *limiter) gates(policy string) []*gate {
	gs := l.all[:0]
	for _, g := range []*gate{&l.gate, l.pod.g(), l.nsa.g()} {
		if g != nil && g.lim.Limited() && g.lim.policy() == policy {
			gs = append(gs, g)
		}
	}
	return gs
}

func (a *aggregate) g() *gate {
	if a == nil {
		return nil
	}
	return &a.gate
}

// describe names l's limits for logs and summaries.
func (l *limiter) describe() string {
	s := l.lim.String()
	if l.pod != nil {
		s += "; per pod " + l.pod.lim.String()
	}
	if l.nsa != nil {
		s += "; per namespace " + l.nsa.lim.String()
	}
	return s
}

// releaseLimiter detaches f from its limiter. The limiter (its buckets,
// its episode, the drops not yet summarised) is kept until its buckets are
// full again (limitTick forgets it then, after its last summary): a
// container's files come and go at every rotation, and one whose rotated
// file was done before its new file was opened would otherwise start each
// file with a new burst (a container rotating twice a second shipped 2.5
// times its limit under policy drop), and get a summary record per
// rotation rather than per summary_interval. gone says f's file was
// deleted: a container whose pod is gone is summarised at once.
func (t *Tailer) releaseLimiter(f *follower, gone bool) {
	l := f.lim
	if l == nil {
		return
	}
	f.lim = nil
	l.refs--
	if l.refs > 0 {
		return
	}
	l.idle = time.Now()
	if gone {
		if _, err := os.Stat(f.dec.path); errors.Is(err, fs.ErrNotExist) {
			// Its last file gone and none at its path: the pod is
			// gone, and enrichment keeps its metadata for delete_grace
			// only. Its drops are summarised now.
			t.emitSummary(l, l.idle)
		}
	}
	for _, a := range []*aggregate{l.pod, l.nsa} {
		if a != nil {
			a.open--
		}
	}
}

// forget drops an idle limiter whose own buckets are full and whose
// container has no file open: a new one would be the same. Its drops not
// yet summarised are summarised first. Its aggregates are not waited for:
// they are shared (a noisy neighbour can keep a namespace's spent for
// good) and outlive it on their own.
func (t *Tailer) forget(l *limiter, now time.Time) bool {
	if !l.gate.full(now) || t.hasFile(l) {
		return false
	}
	t.emitSummary(l, now)
	t.setLimited(l, false, "", now)
	t.releaseAggregate(l.pod)
	t.releaseAggregate(l.nsa)
	delete(t.limiters, l.key)
	return true
}

// hasFile says whether a file of l's container is open (one not read yet
// has no limiter: the new file of a rotation waiting for its first read).
func (t *Tailer) hasFile(l *limiter) bool {
	for _, f := range t.order {
		if f.st != stClosed && f.lim == nil {
			if key, _, _ := containerOf(f.dec.path); key == l.key {
				return true
			}
		}
	}
	return false
}

// resolve sets l's limit: the pod's annotation, else its namespace's
// entry, else the default. Buckets are kept when the limit is unchanged,
// and what is left in them carried over when it changes.
func (t *Tailer) resolve(l *limiter, now time.Time) {
	l.resolved = now
	lim, ok := t.cfg.RateLimit.Namespaces[l.ns]
	if !ok {
		lim = t.cfg.RateLimit.Default
	}
	spec := ""
	if t.opts.Limits != nil && len(t.cfg.RateLimit.Selectors) > 0 {
		if labels := t.opts.Limits.PodLabels(l.path); labels != nil {
			for i, s := range t.cfg.RateLimit.Selectors {
				if s.matches(labels) {
					lim, spec = s.Limit, "selector "+strconv.Itoa(i)
					break
				}
			}
		}
	}
	if t.opts.Limits != nil {
		if v, found := t.opts.Limits.RateLimitAnnotation(l.path); found {
			spec = v
			if r, err := ParseRateLimit(v); err != nil {
				// Once per container and value; the value hashed (an
				// annotation may be 256 KiB, and rewritten at will).
				h := fnv.New64a()
				h.Write([]byte(v))
				t.warnOnce("ratelimit "+l.key+" "+strconv.FormatUint(h.Sum64(), 16), "invalid rate-limit annotation; using the selector, namespace or default limit",
					"container", l.name, "annotation", RateLimitAnnotation, "err", err)
			} else {
				lim = r
			}
		}
	}
	if lim == l.lim && spec == l.spec && (l.lines != nil || l.bytes != nil || !lim.Limited()) {
		return
	}
	changed := l.lim != lim
	l.lim, l.spec = lim, spec
	l.lines = carry(l.lines, newBucket(lim.LinesPerSecond, lim.BurstLines, now), now)
	l.bytes = carry(l.bytes, newBucket(lim.BytesPerSecond, lim.BurstBytes, now), now)
	if changed && lim.Limited() {
		t.log.Debug("rate limit", "container", l.name, "limit", lim.String())
	}
	if changed {
		// The episode was the old limit's: one under the new limit (its
		// policy perhaps other) starts with the next read or drop over
		// it. A defer episode left open under a drop limit would never
		// end (only a deferred read reaching the end ends it).
		t.setLimited(l, false, "", now)
	}
}

// carry gives next, the bucket of a changed limit, what is left in old,
// the bucket it replaces (at most next's burst): a change of limit does
// not hand the container a new burst (one at every rescan_interval, were
// the annotation rewritten back and forth).
func carry(old, next *bucket, now time.Time) *bucket {
	if old != nil && next != nil {
		old.refill(now)
		next.tokens = min(next.burst, old.tokens)
	}
	return next
}

// deferring says the limits of f's container (policy defer: its own, its
// pod's, its namespace's) hold its reading back now; it then brings the
// next read turn forward to when the budget is back, and keeps that time
// in f.limitAt.
func (t *Tailer) deferring(f *follower, now time.Time) bool {
	f.limitAt = time.Time{}
	l := f.lim
	if l == nil {
		return false
	}
	gs := l.gates(PolicyDefer)
	if len(gs) == 0 {
		return false
	}
	at := now
	for _, g := range gs {
		g.refill(now)
		for _, b := range []*bucket{g.lines, g.bytes} {
			if r := b.readyAt(now, t.cfg.ReadInterval); r.After(at) {
				at = r
			}
		}
	}
	if !at.After(now) {
		return false
	}
	if f.more || f.size > f.off {
		t.setLimited(l, true, PolicyDefer, now)
	}
	if t.limitWake.IsZero() || at.Before(t.limitWake) {
		t.limitWake = at
	}
	f.limitAt = at // nextEligible: not due before (it would be, and read nothing, at once)
	return true
}

// allowance is what f's container may read in this turn under policy
// defer: lines and bytes (MaxInt64: no limit); counting says the read
// must count its lines (and charge them).
func (t *Tailer) allowance(f *follower, now time.Time) (lines, bytes int64, counting bool) {
	lines, bytes = math.MaxInt64, math.MaxInt64
	l := f.lim
	if l == nil {
		return lines, bytes, false
	}
	l.refill(now) // for policy drop too (dropLine takes from them)
	if l.pod != nil {
		l.pod.refill(now)
	}
	if l.nsa != nil {
		l.nsa.refill(now)
	}
	gs := l.gates(PolicyDefer)
	for _, g := range gs {
		gl, gb := max(g.lines.avail(), 0), max(g.bytes.avail(), 0)
		if g != &l.gate {
			// An aggregate's budget is shared: one read takes at most
			// its container's part, so the first container read after
			// a refill does not take it all.
			n := int64(1)
			if l.pod != nil && g == &l.pod.gate {
				n = int64(max(l.pod.open, 1))
			} else if l.nsa != nil {
				n = int64(max(l.nsa.open, 1))
			}
			gl, gb = max(gl/n, min(gl, 1)), max(gb/n, min(gb, 4096))
		}
		lines, bytes = min(lines, gl), min(bytes, gb)
	}
	return lines, bytes, len(gs) > 0
}

// cutLines returns how many bytes of p hold at most n newlines' worth of
// lines (all of p if it has fewer) and how many newlines that is.
func cutLines(p []byte, n int64) (keep int, count int64) {
	for count < n {
		i := bytes.IndexByte(p[keep:], '\n')
		if i < 0 {
			return len(p), count
		}
		keep += i + 1
		count++
	}
	return keep, count
}

// charge spends what a read under policy defer took, and ends the
// container's limited episode when the read reached the end of the file
// and the container has caught up (see caughtUp).
func (t *Tailer) charge(f *follower, lines, nbytes int64, atEnd bool, now time.Time) {
	l := f.lim
	if l == nil {
		return
	}
	gs := l.gates(PolicyDefer)
	if len(gs) == 0 {
		return
	}
	for _, g := range gs {
		g.lines.take(lines)
		g.bytes.take(nbytes)
	}
	if l.limited && l.mode == PolicyDefer {
		l.deferred += lines
		t.m.linesDeferred.Add(float64(lines))
		if atEnd && t.caughtUp(f) {
			t.setLimited(l, false, "", now)
		}
	}
}

// caughtUp says whether f, read to its end, leaves its container with
// nothing to read: f is not a rotated file (the container writes to a new
// file at its path, or soon will) and no other file of the container is
// behind. A rotated file read to its end while the new one waits behind
// it does not end the container's episode (it would be warned about
// again at every rotation).
func (t *Tailer) caughtUp(f *follower) bool {
	if f.st == stRotated {
		return false
	}
	for _, g := range t.order {
		if g == f || g.st == stClosed || (g.lim != f.lim && (g.lim != nil || filepath.Dir(g.dec.path) != filepath.Dir(f.dec.path))) {
			continue
		}
		if g.more || g.size > g.off {
			return false
		}
	}
	return true
}

// dropLine says whether the line of raw bytes ending at mk.end that f's
// container emits now is over its limit under policy drop; a dropped line
// is counted. Called with t.mu held (from collect).
func (t *Tailer) dropLine(f *follower, raw int64, mk mark) bool {
	l := f.lim
	if l == nil {
		return false
	}
	gs := l.gates(PolicyDrop)
	if len(gs) == 0 {
		return false
	}
	// A line merged from partial fragments costs one line per fragment,
	// as under policy defer (which counts the file's lines).
	n := max(mk.lines, 1)
	ok := true
	for _, g := range gs {
		ok = ok && g.lines.admits(n) && g.bytes.admits(raw)
	}
	if ok {
		for _, g := range gs {
			g.lines.take(n)
			g.bytes.take(raw)
		}
		return false
	}
	now := time.Now()
	if l.dropped == 0 {
		l.dropFrom = now
	}
	l.dropped++
	l.droppedBytes += raw
	l.lastDrop = now
	l.dropTr, l.dropEnd, l.dropSafe = f.tr, mk.end, mk.safe
	t.m.linesDropped.WithLabelValues(dropRateLimit).Inc()
	if !l.limited {
		t.setLimited(l, true, PolicyDrop, now)
	}
	return true
}

// setLimited starts (under policy mode) or ends a container's limited
// episode, with a warning naming it and the limited-containers gauge.
func (t *Tailer) setLimited(l *limiter, on bool, mode string, now time.Time) {
	if l.limited == on {
		return
	}
	l.limited = on
	if on {
		l.since, l.deferred, l.mode = now, 0, mode
		t.m.limitedContainers.Inc()
		t.log.Warn("container over its rate limit; "+map[bool]string{true: "reading deferred", false: "dropping lines"}[mode == PolicyDefer],
			"container", l.name, "limit", l.describe())
		return
	}
	t.m.limitedContainers.Dec()
	args := []any{"container", l.name, "limit", l.describe(), "for", now.Sub(l.since).Round(time.Millisecond)}
	if l.mode == PolicyDefer {
		args = append(args, "deferred_lines", l.deferred)
	}
	t.log.Warn("container back within its rate limit", args...)
}

// limitTick runs with every poll: it forgets the limiters of containers
// with no file open once their buckets are full (and the aggregates no
// limiter refers to once theirs are), re-resolves limits every
// rescan_interval (and all of them when the LimitSource's generation
// moved), emits the drop summaries that are due, and ends the
// episodes of containers that stopped dropping.
func (t *Tailer) limitTick(now time.Time) {
	moved := false
	if g, ok := t.opts.Limits.(LimitGeneration); ok {
		if gen := g.Generation(); gen != t.limitGen {
			t.limitGen, moved = gen, true
		}
	}
	for _, l := range t.limiters {
		if l.refs == 0 && t.forget(l, now) {
			continue
		}
		if moved || now.Sub(l.resolved) >= t.cfg.RescanInterval {
			t.resolve(l, now)
		}
		if l.dropped > 0 && now.Sub(l.dropFrom) >= t.cfg.RateLimit.SummaryInterval {
			t.emitSummary(l, now)
		}
		if l.limited && l.mode == PolicyDrop && l.dropped == 0 && now.Sub(l.lastDrop) >= t.cfg.RateLimit.SummaryInterval {
			t.setLimited(l, false, "", now)
		}
	}
	for k, a := range t.aggregates {
		if a.refs == 0 && a.full(now) {
			delete(t.aggregates, k)
		}
	}
}

// emitSummary puts into the batch one record saying how many lines of l's
// container were dropped since the last one, so a reader of the topic sees
// the gap. It carries the container's path, so enrichment gives it the
// pod's metadata. When the last line read of its file was dropped, the
// summary carries that line's cursor: its acknowledgement commits past the
// dropped lines (otherwise the next emitted line's does, and the summary
// has no cursor).
func (t *Tailer) emitSummary(l *limiter, now time.Time) {
	if l.dropped == 0 {
		return
	}
	body := fmt.Sprintf("ferry: %d lines (%d bytes) of this container dropped by its rate limit (%s) from %s to %s",
		l.dropped, l.droppedBytes, l.describe(), l.dropFrom.UTC().Format(time.RFC3339Nano), l.lastDrop.UTC().Format(time.RFC3339Nano))
	rec := event.Log{Time: now, ReadAt: now.UnixNano(), Body: []byte(body), Path: l.path, Stream: event.Stderr, Notice: true}
	var size int64
	t.mu.Lock()
	if tr := l.dropTr; tr != nil && t.trackers[tr.id] == tr && tr.lastEnd == l.dropEnd {
		size = int64(len(body)) + lineOverhead
		tr.entries = append(tr.entries, entry{end: l.dropEnd, safe: l.dropSafe, size: size})
		rec.Cursor = event.Cursor{Source: tr.id, Offset: l.dropEnd}
	}
	l.dropTr = nil
	if t.batch == nil {
		t.batch = event.NewBatch()
	}
	t.batch = append(t.batch, rec)
	t.batchMem += int64(len(body)) + lineOverhead
	if len(t.batch) >= maxBatchLines || t.batchMem >= maxBatchBytes {
		t.ready = append(t.ready, t.batch)
		t.batch, t.batchMem = nil, 0
	}
	t.mu.Unlock()
	t.inflight.Add(size)
	t.m.dropSummaries.Inc()
	l.dropped, l.droppedBytes = 0, 0
}

// rotatedUnread counts the lost bytes of f, closed unread at delete_wait,
// as "rotated_unread" when its container was held back by its rate limit
// and f had been rotated away (its path names a newer file): kubelet
// removed or compressed it before the limit let it be read. False if
// that is not the case (the caller counts them as "deleted").
func (t *Tailer) rotatedUnread(f *follower, lost int64) bool {
	l := f.lim
	if l == nil || !l.limited || l.mode != PolicyDefer || t.byPath[f.dec.path] == f {
		return false
	}
	t.m.lost.WithLabelValues(lostRotatedUnread).Add(float64(lost))
	t.log.Warn("rotated log file of a rate-limited container removed before it was read; bytes lost",
		"container", l.name, "path", f.path, "bytes", lost, "limit", l.describe())
	return true
}
