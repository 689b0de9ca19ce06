package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/ferry-dev/ferry/pkg/event"
)

// Options are the Enricher's dependencies.
type Options struct {
	// In carries the tailer's batches. Run returns once it is closed and drained.
	In <-chan []event.Log
	// Out receives the enriched batches; Run closes it when it returns. Batches can be split
	// (lines of a file waiting for its pod go out later, in their file's order).
	Out chan<- []event.Log
	// Client is the API client. Nil: built from Config.Kubeconfig, or the in-cluster service
	// account, when Enabled.
	Client Client
	// Registerer receives the metrics. Nil: no registration.
	Registerer prometheus.Registerer
}

// Enricher adds pod metadata to log lines. Build it with New, run it with Run.
type Enricher struct {
	cfg                  Config
	log                  *slog.Logger
	in                   <-chan []event.Log
	out                  chan<- []event.Log
	m                    *metrics
	excludeContainersKey string
	nodeMeta             *event.Meta // for lines whose path does not parse

	// Informers (nil when disabled; namespaces also when NamespaceLabels is off).
	pods       cache.SharedIndexInformer
	namespaces cache.SharedIndexInformer

	synced   atomic.Bool
	syncDone chan struct{} // closed once the initial sync completed or timed out
	syncOnce sync.Once
	gen      atomic.Uint64 // bumped on every cache change; file states re-resolve when it moves
	changed  chan struct{} // 1-buffered signal from the informers to the run loop

	mu        sync.Mutex
	deleted   map[string]*deletedPod // by path uid
	podCaches map[string]*podCache   // by path uid
	excluded  map[string]string      // path -> path uid, files already counted as excluded

	// Owned by the Run goroutine.
	files       map[string]*fileState
	parked      map[*fileState]struct{}
	parkedLines int
}

type deletedPod struct {
	pod       *corev1.Pod
	deletedAt time.Time
	lastSeen  time.Time // last line or open of one of its files, updated by sweeps
}

// podCache holds the Metas built from one version of one pod (and of its namespace).
type podCache struct {
	pod   *corev1.Pod
	ns    *corev1.Namespace
	info  podInfo
	metas map[string]*event.Meta // by container
}

// fileState is what the run loop knows of one log path.
type fileState struct {
	path                    string
	ns, pod, uid, container string
	ok                      bool // the path parsed
	attempt                 int  // n of <n>.log: the container's restart count when it wrote it
	meta                    *event.Meta
	enriched                bool   // meta came from the cache (else: from the path)
	gen                     uint64 // cache generation meta was resolved at
	pathMeta                *event.Meta
	waited                  bool // this file's one wait started (or was skipped)
	deadline                time.Time
	lines                   []event.Log // parked lines, in file order
	lastSeen                time.Time
}

// New builds an Enricher. It starts no goroutine and sends no request: Run does.
func New(cfg Config, logger *slog.Logger, opts Options) (*Enricher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.In == nil || opts.Out == nil {
		return nil, errors.New("Options.In and Options.Out are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Enricher{
		cfg:       cfg,
		log:       logger.With("component", "enrich"),
		in:        opts.In,
		out:       opts.Out,
		nodeMeta:  &event.Meta{Node: cfg.NodeName},
		syncDone:  make(chan struct{}),
		changed:   make(chan struct{}, 1),
		deleted:   make(map[string]*deletedPod),
		podCaches: make(map[string]*podCache),
		excluded:  make(map[string]string),
		files:     make(map[string]*fileState),
		parked:    make(map[*fileState]struct{}),
	}
	if cfg.ExcludeAnnotation != "" {
		e.excludeContainersKey = cfg.ExcludeAnnotation + "-containers"
	}
	e.m = newMetrics(e)
	if err := e.m.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if !cfg.Enabled {
		e.synced.Store(true)
		close(e.syncDone)
		return e, nil
	}
	client := opts.Client
	if client == nil {
		c, err := newClient(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		client = c
	}

	selector := fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	e.pods = newInformer(listWatch(e.m, "pods", &e.m.podWatches, client,
		func(o *metav1.ListOptions) { o.FieldSelector = selector },
		client.ListPods, client.WatchPods), &corev1.Pod{}, cache.Indexers{pathUIDIndex: pathUIDIndexFunc})
	if err := e.pods.SetTransform(e.transformPod); err != nil {
		return nil, fmt.Errorf("pod transform: %w", err)
	}
	if err := e.pods.SetWatchErrorHandler(e.watchErrorHandler("pods")); err != nil {
		return nil, fmt.Errorf("pod watch error handler: %w", err)
	}
	if _, err := e.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    e.onPodAdd,
		UpdateFunc: func(_, _ any) { e.bump() },
		DeleteFunc: e.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("pod event handler: %w", err)
	}
	if cfg.NamespaceLabels {
		e.namespaces = newInformer(listWatch(e.m, "namespaces", &e.m.nsWatches, client, nil,
			client.ListNamespaces, client.WatchNamespaces), &corev1.Namespace{}, cache.Indexers{})
		if err := e.namespaces.SetTransform(transformNamespace); err != nil {
			return nil, fmt.Errorf("namespace transform: %w", err)
		}
		if err := e.namespaces.SetWatchErrorHandler(e.watchErrorHandler("namespaces")); err != nil {
			return nil, fmt.Errorf("namespace watch error handler: %w", err)
		}
		if _, err := e.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { e.bump() },
			UpdateFunc: func(_, _ any) { e.bump() },
			DeleteFunc: func(any) { e.bump() },
		}); err != nil {
			return nil, fmt.Errorf("namespace event handler: %w", err)
		}
	}
	return e, nil
}

// newInformer builds an informer of obj's type over lw, without resync, with exactly the
// given indexes. (client-go's informer factory adds a namespace index, which enrich never
// reads: it looks pods up by the UID of their log paths.)
func newInformer(lw cache.ListerWatcher, obj runtime.Object, indexers cache.Indexers) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{Indexers: indexers})
}

// startInformers runs the informers until the returned stop is called; stop returns once they
// have ended.
func (e *Enricher) startInformers() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, inf := range []cache.SharedIndexInformer{e.pods, e.namespaces} {
		if inf != nil {
			wg.Go(func() { inf.RunWithContext(ctx) })
		}
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

func (e *Enricher) watchErrorHandler(resource string) cache.WatchErrorHandler {
	return func(r *cache.Reflector, err error) {
		e.m.watchErrors.WithLabelValues(resource).Inc()
		e.log.Warn("list/watch failed; client-go retries with backoff", "resource", resource, "err", err)
	}
}

// Synced reports whether the initial cache sync completed. Always true when disabled.
func (e *Enricher) Synced() bool { return e.synced.Load() }

func (e *Enricher) bump() {
	e.gen.Add(1)
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *Enricher) onPodAdd(obj any) {
	if p, ok := obj.(*corev1.Pod); ok {
		e.mu.Lock()
		delete(e.deleted, pathUID(p))
		e.mu.Unlock()
	}
	e.bump()
}

func (e *Enricher) onPodDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	e.mu.Lock()
	e.deleted[pathUID(p)] = &deletedPod{pod: p, deletedAt: now, lastSeen: now}
	for len(e.deleted) > e.cfg.MaxDeletedPods {
		var oldest string
		var at time.Time
		for uid, d := range e.deleted {
			if oldest == "" || d.deletedAt.Before(at) {
				oldest, at = uid, d.deletedAt
			}
		}
		e.forgetLocked(oldest)
	}
	e.mu.Unlock()
	e.bump()
}

// forgetLocked drops a deleted pod and what was built from it. e.mu is held.
func (e *Enricher) forgetLocked(uid string) {
	delete(e.deleted, uid)
	delete(e.podCaches, uid)
	for path, u := range e.excluded {
		if u == uid {
			delete(e.excluded, path)
		}
	}
}

func (e *Enricher) livePodCount() int {
	if e.pods == nil {
		return 0
	}
	return len(e.pods.GetIndexer().ListKeys())
}

func (e *Enricher) deletedPodCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.deleted)
}

// lookupPod returns the pod whose log paths carry uid: from the informer's cache, else from the
// pods deleted within their grace.
func (e *Enricher) lookupPod(uid string) *corev1.Pod {
	if e.pods == nil {
		return nil
	}
	objs, err := e.pods.GetIndexer().ByIndex(pathUIDIndex, uid)
	if err == nil {
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok {
				return p
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.deleted[uid]; d != nil {
		return d.pod
	}
	return nil
}

func (e *Enricher) namespaceOf(name string) *corev1.Namespace {
	if e.namespaces == nil {
		return nil
	}
	obj, ok, err := e.namespaces.GetIndexer().GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	ns, _ := obj.(*corev1.Namespace)
	return ns
}

// podCacheLocked returns the cache entry of p, rebuilding it when p (or its namespace) is a
// newer version than the one the entry was built from. e.mu is held.
func (e *Enricher) podCacheLocked(uid string, p *corev1.Pod, ns *corev1.Namespace) *podCache {
	pc := e.podCaches[uid]
	if pc == nil || pc.pod != p || pc.ns != ns {
		pc = &podCache{pod: p, ns: ns, info: e.podInfo(p)}
		e.podCaches[uid] = pc
	}
	return pc
}

// metaFor returns the shared Meta of (uid, container, log file attempt), or nil when the pod is
// unknown.
func (e *Enricher) metaFor(uid, container string, attempt int) *event.Meta {
	p := e.lookupPod(uid)
	if p == nil {
		return nil
	}
	ns := e.namespaceOf(p.Namespace)
	e.mu.Lock()
	defer e.mu.Unlock()
	pc := e.podCacheLocked(uid, p, ns)
	image, id, previous := containerIdentity(p, container, attempt)
	key := container
	if previous {
		key += "/previous"
	}
	if m := pc.metas[key]; m != nil {
		return m
	}
	m := &event.Meta{
		Namespace:   p.Namespace,
		Pod:         p.Name,
		PodUID:      uid,
		Container:   container,
		ContainerID: id,
		Image:       image,
		Node:        e.cfg.NodeName,
		Labels:      p.Labels,
		Annotations: pc.info.annotations,
		Owner:       pc.info.owner,
	}
	if ns != nil {
		m.NamespaceLabels = ns.Labels
	}
	if pc.metas == nil {
		pc.metas = make(map[string]*event.Meta)
	}
	pc.metas[key] = m
	return m
}

// Excluded reports whether the file at path belongs to a pod annotated to be excluded, as a
// whole or for this container. The tailer asks before opening a file; each excluded file is
// counted once in ferry_enrich_excluded_files_total. A file whose pod is not in the cache is
// not excluded. Until the initial sync is done (or timed out) it waits for it. Safe for
// concurrent use.
func (e *Enricher) Excluded(path string) bool {
	if !e.cfg.Enabled || e.cfg.ExcludeAnnotation == "" {
		return false
	}
	_, _, uid, container, ok := ParsePath(path)
	if !ok {
		return false
	}
	if !e.synced.Load() {
		t := time.NewTimer(e.cfg.SyncTimeout)
		select {
		case <-e.syncDone:
		case <-t.C:
		}
		t.Stop()
	}
	p := e.lookupPod(uid)
	if p == nil {
		return false
	}
	ns := e.namespaceOf(p.Namespace)
	e.mu.Lock()
	defer e.mu.Unlock()
	info := e.podCacheLocked(uid, p, ns).info
	if !info.excludeAll && !slices.Contains(info.excludeContainers, container) {
		return false
	}
	if _, counted := e.excluded[path]; !counted {
		e.excluded[path] = uid
		e.m.excludedFiles.Inc()
	}
	return true
}

// Run starts the informers (when enabled) and enriches batches from In to Out until In is
// closed and drained (lines still waiting for their pod are released first); then it closes Out
// and returns nil. Cancelling ctx is the hard stop: Run closes Out and returns nil at once,
// abandoning what it holds (the tailer re-reads unacknowledged lines after a restart). With
// Enabled false it fills each line's Meta from its path alone.
func (e *Enricher) Run(ctx context.Context) error {
	defer close(e.out)
	err := e.run(ctx)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return nil // the hard stop is not a failure
	}
	return err
}

func (e *Enricher) run(ctx context.Context) error {
	if e.cfg.Enabled {
		stop := e.startInformers()
		defer stop()
		if err := e.waitInitialSync(ctx); err != nil {
			return err
		}
	}

	sweepEvery := min(max(e.cfg.DeleteGrace/4, 100*time.Millisecond), 5*time.Second)
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	var waitC <-chan time.Time
	setWait := func() {
		var next time.Time
		for fs := range e.parked {
			if next.IsZero() || fs.deadline.Before(next) {
				next = fs.deadline
			}
		}
		if next.IsZero() {
			wait.Stop()
			waitC = nil
			return
		}
		wait.Reset(time.Until(next))
		waitC = wait.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch, ok := <-e.in:
			if !ok {
				// Drained: release every parked file, enriched if its pod arrived meanwhile.
				if err := e.releaseParked(ctx, func(*fileState) bool { return true }); err != nil {
					return err
				}
				return nil
			}
			if err := e.process(ctx, batch); err != nil {
				return err
			}
			setWait()
		case <-waitC:
			now := time.Now()
			if err := e.releaseParked(ctx, func(fs *fileState) bool { return !fs.deadline.After(now) }); err != nil {
				return err
			}
			setWait()
		case <-e.changed:
			if err := e.releaseParked(ctx, func(fs *fileState) bool {
				_, hit := e.resolve(fs)
				return hit
			}); err != nil {
				return err
			}
			setWait()
		case <-sweep.C:
			e.sweep(time.Now())
		}
	}
}

// waitInitialSync waits for the informers' first sync, at most SyncTimeout; after that the logs
// flow anyway and Synced turns true whenever the sync completes.
func (e *Enricher) waitInitialSync(ctx context.Context) error {
	t := time.NewTimer(e.cfg.SyncTimeout)
	defer t.Stop()
	done := make(chan struct{})
	syncCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(done)
		syncs := []cache.InformerSynced{e.pods.HasSynced}
		if e.namespaces != nil {
			syncs = append(syncs, e.namespaces.HasSynced)
		}
		if cache.WaitForCacheSync(syncCtx.Done(), syncs...) {
			e.markSynced()
		}
	}()
	select {
	case <-done:
	case <-t.C:
		e.log.Warn("pod cache not synced in time; lines flow with the metadata their paths give until it is",
			"sync_timeout", e.cfg.SyncTimeout.String())
		cancel()
		<-done
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
	e.syncOnce.Do(func() { close(e.syncDone) })
	return nil
}

func (e *Enricher) markSynced() {
	if !e.synced.Swap(true) {
		e.m.synced.Set(1)
		e.log.Info("pod cache synced", "node", e.cfg.NodeName, "pods", e.livePodCount())
	}
}

// file returns the state of path, creating it.
func (e *Enricher) file(path string) *fileState {
	fs := e.files[path]
	if fs == nil {
		fs = &fileState{path: path}
		fs.ns, fs.pod, fs.uid, fs.container, fs.ok = ParsePath(path)
		fs.attempt = logAttempt(path)
		if fs.ok {
			fs.pathMeta = &event.Meta{Namespace: fs.ns, Pod: fs.pod, PodUID: fs.uid, Container: fs.container, Node: e.cfg.NodeName}
		}
		e.files[path] = fs
	}
	return fs
}

// resolve returns the Meta of fs's lines and whether it came from the cache.
func (e *Enricher) resolve(fs *fileState) (*event.Meta, bool) {
	if !fs.ok {
		return e.nodeMeta, false
	}
	if !e.cfg.Enabled {
		return fs.pathMeta, true
	}
	g := e.gen.Load()
	if fs.meta != nil && fs.gen == g {
		return fs.meta, fs.enriched
	}
	if m := e.metaFor(fs.uid, fs.container, fs.attempt); m != nil {
		fs.meta, fs.enriched, fs.gen = m, true, g
	} else {
		fs.meta, fs.enriched, fs.gen = fs.pathMeta, false, g
	}
	return fs.meta, fs.enriched
}

// countMiss counts n lines of fs shipped with only their path's metadata.
// The tailer's end markers (event.Log.End, with processing on) go through
// in their file's order but are never shipped: they are not counted.
func (e *Enricher) countMiss(fs *fileState, n int) {
	if n == 0 {
		return
	}
	if !fs.ok {
		e.m.misses.WithLabelValues(reasonBadPath).Add(float64(n))
	} else if e.cfg.Enabled {
		e.m.misses.WithLabelValues(reasonNotInCache).Add(float64(n))
	}
}

// process enriches one batch. Lines of a file whose pod is not in the cache are parked (once
// per file, up to MissWait); the other lines go out at once, in the order they came.
func (e *Enricher) process(ctx context.Context, batch []event.Log) error {
	now := time.Now()
	var (
		cur  *fileState
		meta *event.Meta
		hit  bool
	)
	k := 0
	for i := range batch {
		l := &batch[i]
		if cur == nil || l.Path != cur.path {
			cur = e.file(l.Path)
			cur.lastSeen = now
			if cur.lines == nil {
				meta, hit = e.resolve(cur)
				if !hit && cur.ok && !cur.waited {
					cur.waited = true
					if e.cfg.MissWait > 0 && e.synced.Load() {
						cur.deadline = now.Add(e.cfg.MissWait)
						cur.lines = make([]event.Log, 0, len(batch)-i)
						e.parked[cur] = struct{}{}
					}
				}
			}
		}
		if cur.lines != nil {
			cur.lines = append(cur.lines, *l)
			e.parkedLines++
			continue
		}
		l.Meta = meta
		if !hit && !l.End { // a tailer's end marker is not a line (see countMiss)
			e.countMiss(cur, 1)
		}
		if k != i {
			batch[k] = *l
		}
		k++
	}
	e.m.parkedLines.Set(float64(e.parkedLines))
	// What was parked was copied: clear it from this batch, whose last
	// holder recycles it (see event.Recycle).
	clear(batch[k:])
	if k > 0 {
		if err := e.send(ctx, batch[:k]); err != nil {
			return err
		}
	}
	// Over the bound: release files, earliest deadline first, until under it.
	for e.parkedLines > e.cfg.MaxParkedLines {
		var first *fileState
		for fs := range e.parked {
			if first == nil || fs.deadline.Before(first.deadline) {
				first = fs
			}
		}
		if err := e.release(ctx, first); err != nil {
			return err
		}
	}
	return nil
}

// releaseParked releases every parked file for which pick is true.
func (e *Enricher) releaseParked(ctx context.Context, pick func(*fileState) bool) error {
	var picked []*fileState
	for fs := range e.parked {
		if pick(fs) {
			picked = append(picked, fs)
		}
	}
	for _, fs := range picked {
		if err := e.release(ctx, fs); err != nil {
			return err
		}
	}
	return nil
}

// release sends a parked file's lines, enriched if its pod is now known, else with the
// metadata their path gives (counted as misses). Later lines of the file do not wait again.
func (e *Enricher) release(ctx context.Context, fs *fileState) error {
	lines := fs.lines
	fs.lines = nil
	delete(e.parked, fs)
	e.parkedLines -= len(lines)
	e.m.parkedLines.Set(float64(e.parkedLines))
	meta, hit := e.resolve(fs)
	for i := range lines {
		lines[i].Meta = meta
	}
	if !hit {
		n := 0
		for i := range lines {
			if !lines[i].End {
				n++
			}
		}
		e.countMiss(fs, n)
	}
	if len(lines) == 0 {
		return nil
	}
	return e.send(ctx, lines)
}

func (e *Enricher) send(ctx context.Context, batch []event.Log) error {
	select {
	case e.out <- batch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweep forgets deleted pods whose grace has passed (counted from the deletion and from the last
// line seen of their files) and file states idle for long, and notices a late initial sync.
func (e *Enricher) sweep(now time.Time) {
	if e.cfg.Enabled && !e.synced.Load() {
		if e.pods.HasSynced() && (e.namespaces == nil || e.namespaces.HasSynced()) {
			e.markSynced()
		}
	}
	grace := e.cfg.DeleteGrace
	idle := grace + time.Minute
	lastSeen := make(map[string]time.Time)
	for path, fs := range e.files {
		if fs.lines == nil && now.Sub(fs.lastSeen) > idle {
			delete(e.files, path)
			continue
		}
		if fs.ok && fs.lastSeen.After(lastSeen[fs.uid]) {
			lastSeen[fs.uid] = fs.lastSeen
		}
	}
	forgot := false
	e.mu.Lock()
	for uid, d := range e.deleted {
		if t := lastSeen[uid]; t.After(d.lastSeen) {
			d.lastSeen = t
		}
		if now.Sub(d.lastSeen) >= grace {
			e.forgetLocked(uid)
			forgot = true
		}
	}
	// Entries of pods that left without a trace (none should) do not outlive a sweep.
	for uid := range e.podCaches {
		if _, dead := e.deleted[uid]; !dead && e.lookupLiveLocked(uid) == nil {
			delete(e.podCaches, uid)
		}
	}
	e.mu.Unlock()
	if forgot {
		e.gen.Add(1)
	}
}

func (e *Enricher) lookupLiveLocked(uid string) *corev1.Pod {
	if e.pods == nil {
		return nil
	}
	objs, err := e.pods.GetIndexer().ByIndex(pathUIDIndex, uid)
	if err != nil || len(objs) == 0 {
		return nil
	}
	p, _ := objs[0].(*corev1.Pod)
	return p
}
