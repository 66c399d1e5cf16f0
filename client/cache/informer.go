package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
)

// ListWatcher lists and watches the objects of one resource: the store on the
// control plane (store.ListWatch), bosun's API through the HTTP client on node
// agents (client.ListWatch). An Informer calls it from one goroutine.
type ListWatcher interface {
	// List returns every object and the revision (resourceVersion) the list
	// was read at.
	List(ctx context.Context) ([]api.Object, int64, error)
	// Watch calls fn with every change strictly after revision rev, in
	// revision order, and blocks until the watch ends. It returns nil when ctx
	// ended or the watch ended cleanly (the informer then watches again from
	// the last revision it saw), an error wrapping api.ErrCompacted when rev
	// is no longer available (the informer lists again), and another error
	// when the watch failed (the informer lists again after a backoff). For watch.Deleted, obj is the last state
	// with the revision of the deletion as resourceVersion; every obj's
	// resourceVersion is the revision of its change.
	Watch(ctx context.Context, rev int64, fn func(typ watch.EventType, obj api.Object)) error
}

// Source makes the ListWatcher of a resource; *store.Store is one.
type Source[L ListWatcher] interface {
	// ListWatcher returns the ListWatcher of r in all namespaces.
	ListWatcher(r api.Resource) L
}

// Handler receives an Informer's changes. Any field may be nil. The objects are
// the informer's shared copies: read them, never change them (DeepCopyObject
// first). Handlers run on the informer's goroutine, one event at a time and in
// revision order, so they must not block long: enqueue keys, do the work elsewhere.
// They may read the informer (Get, List, ByIndex) but must not call AddHandler.
type Handler struct {
	// OnAdd is called for an object that appeared (and for every object of the
	// first list).
	OnAdd func(obj api.Object)
	// OnUpdate is called when an object changed; old is the previous cached state.
	OnUpdate func(old, new api.Object)
	// OnDelete is called with the last known state of an object that was removed.
	OnDelete func(obj api.Object)
}

// IndexFunc returns the values under which obj is found in an index; nil or
// empty means "not in this index". It must be a pure function of obj.
type IndexFunc func(obj api.Object) []string

// Default backoff bounds of the informer's retries after a failed list or watch.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Options tune an Informer; the zero value is ready to use.
type Options struct {
	// Logger receives list and watch failures; nil discards.
	Logger *slog.Logger
	// Clock times the backoff between failed attempts; nil is the real clock.
	Clock clock.Clock
	// MinBackoff and MaxBackoff bound the doubling wait after a failure;
	// zero means DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Informer keeps an in-memory copy of one resource, kept current by list+watch
// through a ListWatcher, and calls handlers on changes. Reads (Get, List, ByIndex) are
// safe from any goroutine and return shared objects: callers must DeepCopy an
// object before changing it.
//
// Create it with NewInformer, add handlers and indexes, then Run it (or use
// Informers, which shares one Informer per resource).
type Informer struct {
	lw  ListWatcher
	r   api.Resource
	log *slog.Logger

	clock                  clock.Clock
	minBackoff, maxBackoff time.Duration

	// dispatch serialises applying events with handler calls and with AddHandler,
	// so a late handler sees a snapshot followed by every later change exactly once.
	dispatch sync.Mutex
	handlers []Handler

	mu       sync.RWMutex
	items    map[string]api.Object            // key -> object
	byNS     map[string]map[string]api.Object // namespace -> key -> object
	byLabel  map[string]map[string]map[string]api.Object
	indexers map[string]IndexFunc
	indices  map[string]map[string]map[string]api.Object // index -> value -> key -> object
	lastRev  int64

	started atomic.Bool
	synced  atomic.Bool
	syncCh  chan struct{}

	// Test hooks: interrupt ends the current watch (the informer then watches
	// again from its last revision); beforeWatch, when set, is called with that
	// revision before every Watch.
	interrupt   chan struct{}
	beforeWatch func(rev int64)
}

// NewInformer returns an Informer of resource r fed by lw. logger (nil
// discards) receives list and watch failures. Nothing runs until Run.
func NewInformer(lw ListWatcher, r api.Resource, logger *slog.Logger) *Informer {
	return NewInformerWithOptions(lw, r, Options{Logger: logger})
}

// NewInformerWithOptions is NewInformer with a clock and backoff bounds.
func NewInformerWithOptions(lw ListWatcher, r api.Resource, opts Options) *Informer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	return &Informer{
		lw:         lw,
		r:          r,
		log:        opts.Logger.With("resource", r.Name),
		clock:      opts.Clock,
		minBackoff: opts.MinBackoff,
		maxBackoff: max(opts.MaxBackoff, opts.MinBackoff),
		items:      map[string]api.Object{},
		byNS:       map[string]map[string]api.Object{},
		byLabel:    map[string]map[string]map[string]api.Object{},
		indexers:   map[string]IndexFunc{},
		indices:    map[string]map[string]map[string]api.Object{},
		syncCh:     make(chan struct{}),
		interrupt:  make(chan struct{}, 1),
	}
}

// Resource returns the resource the informer keeps.
func (i *Informer) Resource() api.Resource { return i.r }

// AddHandler registers h. Call it before Run; if the informer already runs, h is
// first called with OnAdd for every cached object (from the caller's goroutine),
// then receives every later change.
func (i *Informer) AddHandler(h Handler) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	i.handlers = append(i.handlers, h)
	if !i.started.Load() || h.OnAdd == nil {
		return
	}
	i.mu.RLock()
	objs := make([]api.Object, 0, len(i.items))
	for _, o := range i.items {
		objs = append(objs, o)
	}
	i.mu.RUnlock()
	for _, o := range objs {
		h.OnAdd(o)
	}
}

// AddIndex adds index name computed by fn; ByIndex(name, v) then returns the
// objects for which fn returns v. Call it before Run (added later, the index is
// built from the current cache). Adding a name that already exists does nothing
// and keeps the first function, so every controller sharing the informer may add
// the ready-made indexes it needs (IndexOwnerUID, IndexNodeName); give indexes of
// your own a name of your own.
func (i *Informer) AddIndex(name string, fn IndexFunc) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if _, ok := i.indexers[name]; ok {
		return
	}
	i.indexers[name] = fn
	idx := map[string]map[string]api.Object{}
	i.indices[name] = idx
	for key, obj := range i.items {
		for _, v := range fn(obj) {
			addTo(idx, v, key, obj)
		}
	}
}

// Run lists every object of the resource, then watches from the list's revision
// and applies each change to the cache before calling the handlers. When a
// watch ends without error, Run watches again from the last revision it saw
// (after the shortest backoff). When the watch fails (including when etcd
// compacted the revisions it needed), Run lists again, emits the difference
// with the cache as Add, Update and Delete events and watches from the new
// revision; failures are retried with a doubling backoff (by default 100 ms to
// 10 s). Run blocks until ctx ends and then returns nil; it returns an error
// only when the informer was already run.
func (i *Informer) Run(ctx context.Context) error {
	if !i.started.CompareAndSwap(false, true) {
		return fmt.Errorf("cache: %s informer: Run called twice", i.r.Name)
	}
	backoff := i.minBackoff
	needList := true
	for ctx.Err() == nil {
		if needList {
			if err := i.relist(ctx); err != nil {
				if ctx.Err() != nil {
					break
				}
				i.log.Warn("listing for the cache failed; retrying", "err", err, "retryIn", backoff)
				backoff = i.wait(ctx, backoff)
				continue
			}
			needList = false
		}
		err := i.watch(ctx)
		switch {
		case ctx.Err() != nil:
		case err == nil:
			// Interrupted (tests): watch again from lastRev.
		case errors.Is(err, errWatchEnded):
			i.log.Debug("watch ended; watching again", "revision", i.LastRevision())
			i.wait(ctx, i.minBackoff)
		case errors.Is(err, api.ErrCompacted):
			i.log.Info("watch fell behind etcd's compaction; listing again", "revision", i.LastRevision(), "err", err)
			needList = true
		default:
			i.log.Warn("watch failed; listing again", "revision", i.LastRevision(), "err", err, "retryIn", backoff)
			needList = true
			backoff = i.wait(ctx, backoff)
			continue
		}
		backoff = i.minBackoff
	}
	return nil
}

// errWatchEnded is returned by watch when the ListWatcher's watch ended
// without error while ctx is still alive.
var errWatchEnded = errors.New("watch ended")

// wait sleeps d on the informer's clock (or until ctx ends) and returns the
// next backoff.
func (i *Informer) wait(ctx context.Context, d time.Duration) time.Duration {
	t := i.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
	return min(2*d, i.maxBackoff)
}

// relist lists all objects, replaces the cache with them and emits the
// difference (everything as Add on the first list).
func (i *Informer) relist(ctx context.Context) error {
	objs, rev, err := i.lw.List(ctx)
	if err != nil {
		return fmt.Errorf("cache: %s informer: %w", i.r.Name, err)
	}
	i.dispatch.Lock()
	defer i.dispatch.Unlock()

	type change struct{ old, new api.Object }
	var changes []change
	fresh := make(map[string]struct{}, len(objs))
	i.mu.Lock()
	for _, o := range objs {
		key := keyOf(o)
		fresh[key] = struct{}{}
		old, ok := i.items[key]
		switch {
		case !ok:
			changes = append(changes, change{nil, o})
		case old.GetResourceVersion() != o.GetResourceVersion():
			changes = append(changes, change{old, o})
		default:
			continue // unchanged: keep the instance readers may hold
		}
		i.put(key, old, o)
	}
	for key, old := range i.items {
		if _, ok := fresh[key]; !ok {
			changes = append(changes, change{old, nil})
			i.remove(key, old)
		}
	}
	i.lastRev = rev
	i.mu.Unlock()

	for _, ch := range changes {
		i.emit(ch.old, ch.new)
	}
	if i.synced.CompareAndSwap(false, true) {
		close(i.syncCh)
	}
	return nil
}

// watch watches from lastRev and applies events until the watch ends; it returns
// the watch's error (nil when ctx ended or the watch was interrupted).
func (i *Informer) watch(ctx context.Context) error {
	from := i.LastRevision()
	if i.beforeWatch != nil {
		i.beforeWatch(from)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-i.interrupt:
			cancel()
		case <-done:
		}
	}()
	err := i.lw.Watch(wctx, from, i.apply)
	switch {
	case wctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("cache: %s informer: %w", i.r.Name, err)
	default:
		return fmt.Errorf("cache: %s informer: watch from revision %d: %w", i.r.Name, from, errWatchEnded)
	}
}

// apply applies one watch event to the cache and calls the handlers. The
// object's resourceVersion is the revision of the change.
func (i *Informer) apply(typ watch.EventType, obj api.Object) {
	i.dispatch.Lock()
	defer i.dispatch.Unlock()
	key := keyOf(obj)
	rev := rvOf(obj)
	i.mu.Lock()
	old, had := i.items[key]
	if rev > i.lastRev {
		i.lastRev = rev
	}
	if had && rvOf(old) >= rev {
		i.mu.Unlock() // stale: the cache already has this or a newer state
		return
	}
	if typ == watch.Deleted {
		if !had {
			i.mu.Unlock()
			return
		}
		i.remove(key, old)
		i.mu.Unlock()
		i.emit(old, nil)
		return
	}
	i.put(key, old, obj)
	i.mu.Unlock()
	if had {
		i.emit(old, obj)
	} else {
		i.emit(nil, obj)
	}
}

// emit calls the handlers for one change: add (old nil), update or delete (new nil).
// The caller holds dispatch.
func (i *Informer) emit(old, new api.Object) {
	for _, h := range i.handlers {
		switch {
		case old == nil:
			if h.OnAdd != nil {
				h.OnAdd(new)
			}
		case new == nil:
			if h.OnDelete != nil {
				h.OnDelete(old)
			}
		default:
			if h.OnUpdate != nil {
				h.OnUpdate(old, new)
			}
		}
	}
}

// put stores obj under key, replacing old (nil when new); the caller holds mu.
func (i *Informer) put(key string, old, obj api.Object) {
	if old != nil {
		i.unindex(key, old)
	}
	i.items[key] = obj
	addTo(i.byNS, obj.GetNamespace(), key, obj)
	for k, v := range obj.GetLabels() {
		vals := i.byLabel[k]
		if vals == nil {
			vals = map[string]map[string]api.Object{}
			i.byLabel[k] = vals
		}
		addTo(vals, v, key, obj)
	}
	for name, fn := range i.indexers {
		idx := i.indices[name]
		for _, v := range fn(obj) {
			addTo(idx, v, key, obj)
		}
	}
}

// remove deletes key (holding old); the caller holds mu.
func (i *Informer) remove(key string, old api.Object) {
	delete(i.items, key)
	i.unindex(key, old)
}

// unindex removes old's entries under key from every index; the caller holds mu.
func (i *Informer) unindex(key string, old api.Object) {
	removeFrom(i.byNS, old.GetNamespace(), key)
	for k, v := range old.GetLabels() {
		if vals := i.byLabel[k]; vals != nil {
			removeFrom(vals, v, key)
			if len(vals) == 0 {
				delete(i.byLabel, k)
			}
		}
	}
	for name, fn := range i.indexers {
		idx := i.indices[name]
		for _, v := range fn(old) {
			removeFrom(idx, v, key)
		}
	}
}

func addTo(m map[string]map[string]api.Object, v, key string, obj api.Object) {
	set := m[v]
	if set == nil {
		set = map[string]api.Object{}
		m[v] = set
	}
	set[key] = obj
}

func removeFrom(m map[string]map[string]api.Object, v, key string) {
	if set := m[v]; set != nil {
		delete(set, key)
		if len(set) == 0 {
			delete(m, v)
		}
	}
}

// HasSynced reports whether the first list has been applied and its OnAdd
// handlers called.
func (i *Informer) HasSynced() bool { return i.synced.Load() }

// WaitForSync blocks until HasSynced or ctx ends (then it returns an error
// wrapping ctx's).
func (i *Informer) WaitForSync(ctx context.Context) error {
	select {
	case <-i.syncCh:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cache: waiting for the %s informer to sync: %w", i.r.Name, ctx.Err())
	}
}

// Get returns the cached object namespace/name (namespace ignored for
// cluster-scoped resources). The object is shared: DeepCopy before changing it.
func (i *Informer) Get(namespace, name string) (api.Object, bool) {
	key := name
	if i.r.Namespaced {
		key = namespace + "/" + name
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	obj, ok := i.items[key]
	return obj, ok
}

// List returns the cached objects in namespace ("" = all namespaces) whose labels
// match sel (nil = everything), in no particular order. The objects are shared:
// DeepCopy before changing them. Cost: it scans the smallest of the namespace's
// objects and, for each "=", "==" or "in" requirement of sel, the objects carrying
// one of the label values it allows; so selecting a controller's pods by their
// labels costs about the number of such pods.
func (i *Informer) List(namespace string, sel labels.Selector) []api.Object {
	if sel != nil && sel.Empty() {
		sel = nil
	}
	if !i.r.Namespaced {
		namespace = ""
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	// Candidates: the namespace's objects, or the buckets of the label values
	// one requirement allows (disjoint sets), whichever is smallest.
	var candidates []map[string]api.Object
	size := len(i.items)
	if namespace != "" {
		ns := i.byNS[namespace]
		if len(ns) == 0 {
			return nil
		}
		candidates, size = []map[string]api.Object{ns}, len(ns)
	}
	if sel != nil {
		reqs, selectable := sel.Requirements()
		if !selectable {
			return nil
		}
		for _, req := range reqs {
			switch req.Operator() {
			case selection.Equals, selection.DoubleEquals, selection.In:
			default:
				continue
			}
			vals := i.byLabel[req.Key()]
			var sets []map[string]api.Object
			n := 0
			for v := range req.Values() {
				if set := vals[v]; len(set) > 0 {
					sets = append(sets, set)
					n += len(set)
				}
			}
			if n == 0 {
				return nil
			}
			if n < size {
				candidates, size = sets, n
			}
		}
	}
	if candidates == nil {
		candidates = []map[string]api.Object{i.items}
	}
	out := make([]api.Object, 0, min(size, 1024))
	for _, set := range candidates {
		for _, obj := range set {
			if namespace != "" && obj.GetNamespace() != namespace {
				continue
			}
			if sel != nil && !sel.Matches(labels.Set(obj.GetLabels())) {
				continue
			}
			out = append(out, obj)
		}
	}
	return out
}

// ByIndex returns the cached objects that index name maps to value, in no
// particular order, in time proportional to their number. The objects are shared:
// DeepCopy before changing them. An unknown index panics (programming error).
func (i *Informer) ByIndex(index, value string) []api.Object {
	i.mu.RLock()
	defer i.mu.RUnlock()
	idx, ok := i.indices[index]
	if !ok {
		panic(fmt.Sprintf("cache: %s: no index %q", i.r.Name, index))
	}
	set := idx[value]
	out := make([]api.Object, 0, len(set))
	for _, obj := range set {
		out = append(out, obj)
	}
	return out
}

// LastRevision returns the etcd revision the cache reflects: that of the last
// list or of the last event applied (0 before the first list).
func (i *Informer) LastRevision() int64 {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.lastRev
}

// keyOf returns "namespace/name", or "name" for cluster-scoped objects.
func keyOf(obj api.Object) string {
	if ns := obj.GetNamespace(); ns != "" {
		return ns + "/" + obj.GetName()
	}
	return obj.GetName()
}

// rvOf returns obj's resourceVersion as a revision (0 when unparsable).
func rvOf(obj api.Object) int64 {
	rv, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	return rv
}
