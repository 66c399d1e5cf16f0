package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	kcache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// ListWatcher lists and watches the objects of one resource: the store on the
// control plane (store.ListWatch), bosun's API through the HTTP client on node
// agents (client.ListWatch).
type ListWatcher interface {
	// List returns every object and the revision (resourceVersion) the list
	// was read at.
	List(ctx context.Context) ([]api.Object, int64, error)
	// Watch calls fn with every change strictly after revision rev, in
	// revision order, and blocks until the watch ends. It returns nil when ctx
	// ended or the watch ended cleanly (the informer then watches again from
	// the last revision it saw), an error wrapping api.ErrCompacted when rev
	// is no longer available (the informer lists again), and another error
	// when the watch failed (the informer lists again after a backoff). For
	// watch.Deleted, obj is the last state with the revision of the deletion
	// as resourceVersion; every obj's resourceVersion is the revision of its
	// change.
	Watch(ctx context.Context, rev int64, fn func(typ watch.EventType, obj api.Object)) error
}

// Source makes the ListWatcher of a resource; *store.Store is one.
type Source[L ListWatcher] interface {
	// ListWatcher returns the ListWatcher of r in all namespaces.
	ListWatcher(r api.Resource) L
}

// Handler receives an Informer's changes. Any field may be nil. The objects are
// the informer's shared copies: read them, never change them (DeepCopyObject
// first). Each handler runs on a goroutine of its own and sees the changes one
// at a time and in revision order; the cache is updated before the handlers
// are called, so it may already hold a newer state than the change a handler
// is given. Handlers must not block long: enqueue keys, do the work elsewhere.
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

// Names of the indexes every Informer keeps for List; AddIndex ignores them.
const (
	indexNamespace = "cache:namespace"
	indexLabel     = "cache:label" // "key=value" for every label
)

// Informer keeps an in-memory copy of one resource, kept current by list+watch
// through a ListWatcher, and calls handlers on changes. It is client-go's
// SharedIndexInformer (k8s.io/client-go/tools/cache: Reflector, DeltaFIFO,
// indexer, one goroutine per handler) behind bosun's read API. Reads (Get,
// List, ByIndex) are safe from any goroutine and return shared objects:
// callers must DeepCopy an object before changing it.
//
// Create it with NewInformer, add handlers and indexes, then Run it (or use
// Informers, which shares one Informer per resource).
type Informer struct {
	r   api.Resource
	log *slog.Logger
	lw  *listerWatcher
	inf kcache.SharedIndexInformer

	mu      sync.Mutex
	indexes map[string]bool
	regs    []kcache.ResourceEventHandlerRegistration

	started atomic.Bool
	stopped chan struct{} // closed when Run returns
}

// NewInformer returns an Informer of resource r fed by lw. logger (nil
// discards) receives list and watch failures. Nothing runs until Run.
func NewInformer(lw ListWatcher, r api.Resource, logger *slog.Logger) *Informer {
	defaults.Logger(&logger)
	i := &Informer{
		r:       r,
		log:     logger.With("resource", r.Name),
		lw:      &listerWatcher{lw: lw, interrupt: make(chan struct{}, 1)},
		indexes: map[string]bool{},
		stopped: make(chan struct{}),
	}
	i.inf = kcache.NewSharedIndexInformerWithOptions(i.lw, r.New(), kcache.SharedIndexInformerOptions{
		ObjectDescription: r.Name,
		Indexers: kcache.Indexers{
			indexNamespace: kcache.MetaNamespaceIndexFunc,
			indexLabel:     indexByLabel,
		},
	})
	return i
}

// Resource returns the resource the informer keeps.
func (i *Informer) Resource() api.Resource { return i.r }

// AddHandler registers h. Called before Run, h receives OnAdd for every object
// of the first list, then every change. Called while the informer runs, h is
// first called with OnAdd for every cached object, then receives every later
// change; when the informer has already synced, AddHandler returns only after
// those OnAdd calls.
func (i *Informer) AddHandler(h Handler) {
	reg, err := i.inf.AddEventHandler(kcache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(api.Object); ok && h.OnAdd != nil {
				h.OnAdd(o)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(api.Object)
			o, ok2 := newObj.(api.Object)
			// A relist hands over every listed object; an unchanged one
			// (same resourceVersion) is no change.
			if !ok1 || !ok2 || h.OnUpdate == nil || old.GetResourceVersion() == o.GetResourceVersion() {
				return
			}
			h.OnUpdate(old, o)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(kcache.DeletedFinalStateUnknown); ok { // deleted while no watch ran
				obj = t.Obj
			}
			if o, ok := obj.(api.Object); ok && h.OnDelete != nil {
				h.OnDelete(o)
			}
		},
	})
	if err != nil { // the informer stopped: no more changes will come
		i.log.Warn("handler not added: the informer has stopped", "err", err)
		return
	}
	i.mu.Lock()
	i.regs = append(i.regs, reg)
	i.mu.Unlock()
	if i.inf.HasSynced() {
		select {
		case <-reg.HasSyncedChecker().Done():
		case <-i.stopped:
		}
	}
}

// AddIndex adds index name computed by fn; ByIndex(name, v) then returns the
// objects for which fn returns v. Call it before Run (added later, the index is
// built from the current cache). Adding a name that already exists does nothing
// and keeps the first function, so every controller sharing the informer may add
// the ready-made indexes it needs (IndexOwnerUID, IndexNodeName); give indexes of
// your own a name of your own (names starting with "cache:" are reserved).
func (i *Informer) AddIndex(name string, fn IndexFunc) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.indexes[name] {
		return
	}
	err := i.inf.AddIndexers(kcache.Indexers{name: func(obj any) ([]string, error) {
		o, ok := obj.(api.Object)
		if !ok {
			return nil, nil
		}
		return fn(o), nil
	}})
	if err != nil {
		i.log.Warn("index not added", "index", name, "err", err)
		return
	}
	i.indexes[name] = true
}

// Run lists every object of the resource, then watches from the list's revision
// and applies each change to the cache before calling the handlers; client-go's
// Reflector does the listing and watching. When a watch ends cleanly, Run
// watches again from the last revision it saw; when the revision was compacted
// it lists again and hands the difference with the cache to the handlers as
// Add, Update and Delete; other failures are retried after a backoff (800 ms
// doubling to 30 s). Run blocks until ctx ends and then returns nil; it returns
// an error only when the informer was already run. Reflector logs go to the
// informer's logger.
func (i *Informer) Run(ctx context.Context) error {
	if !i.started.CompareAndSwap(false, true) {
		return fmt.Errorf("cache: %s informer: Run called twice", i.r.Name)
	}
	defer close(i.stopped)
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(i.log.Handler()))
	i.inf.RunWithContext(ctx)
	return nil
}

// HasSynced reports whether the first list has been applied and every handler
// added so far was called for each of its objects.
func (i *Informer) HasSynced() bool {
	if !i.inf.HasSynced() {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, reg := range i.regs {
		if !reg.HasSynced() {
			return false
		}
	}
	return true
}

// WaitForSync blocks until HasSynced or ctx ends (then it returns an error
// wrapping ctx's).
func (i *Informer) WaitForSync(ctx context.Context) error {
	i.mu.Lock()
	waits := []kcache.DoneChecker{i.inf.HasSyncedChecker()}
	for _, reg := range i.regs {
		waits = append(waits, reg.HasSyncedChecker())
	}
	i.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w.Done():
		case <-ctx.Done():
			return fmt.Errorf("cache: waiting for the %s informer to sync: %w", i.r.Name, ctx.Err())
		}
	}
	return nil
}

// Get returns the cached object namespace/name (namespace ignored for
// cluster-scoped resources). The object is shared: DeepCopy before changing it.
func (i *Informer) Get(namespace, name string) (api.Object, bool) {
	key := name
	if i.r.Namespaced {
		key = namespace + "/" + name
	}
	obj, ok, _ := i.inf.GetIndexer().GetByKey(key) // the in-memory indexer never fails
	if !ok {
		return nil, false
	}
	o, ok := obj.(api.Object)
	return o, ok
}

// List returns the cached objects in namespace ("" = all namespaces) whose labels
// match sel (nil = everything), in no particular order. The objects are shared:
// DeepCopy before changing them. Cost: when sel has "=", "==" or "in"
// requirements, it reads the objects carrying the label values each allows
// and scans the smallest such set; else it scans the namespace's objects (or
// all). So selecting a controller's pods by their labels costs about the
// number of such pods.
func (i *Informer) List(namespace string, sel labels.Selector) []api.Object {
	if sel != nil && sel.Empty() {
		sel = nil
	}
	if !i.r.Namespaced {
		namespace = ""
	}
	idx := i.inf.GetIndexer()
	var candidates []any
	found := false
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
			var set []any
			for v := range req.Values() {
				objs, _ := idx.ByIndex(indexLabel, req.Key()+"="+v) // the index exists
				set = append(set, objs...)
			}
			if len(set) == 0 {
				return nil
			}
			if !found || len(set) < len(candidates) {
				candidates, found = set, true
			}
		}
	}
	if !found {
		if namespace != "" {
			candidates, _ = idx.ByIndex(indexNamespace, namespace)
		} else {
			candidates = idx.List()
		}
	}
	out := make([]api.Object, 0, min(len(candidates), 1024))
	for _, c := range candidates {
		obj, ok := c.(api.Object)
		if !ok {
			continue
		}
		if namespace != "" && obj.GetNamespace() != namespace {
			continue
		}
		if sel != nil && !sel.Matches(labels.Set(obj.GetLabels())) {
			continue
		}
		out = append(out, obj)
	}
	return out
}

// ByIndex returns the cached objects that index name maps to value, in no
// particular order, in time proportional to their number. The objects are shared:
// DeepCopy before changing them. An unknown index panics (programming error).
func (i *Informer) ByIndex(index, value string) []api.Object {
	objs, err := i.inf.GetIndexer().ByIndex(index, value)
	if err != nil {
		panic(fmt.Sprintf("cache: %s: no index %q: %v", i.r.Name, index, err))
	}
	out := make([]api.Object, 0, len(objs))
	for _, o := range objs {
		if obj, ok := o.(api.Object); ok {
			out = append(out, obj)
		}
	}
	return out
}

// LastRevision returns the etcd revision of the last list or change the
// informer received (0 before the first list). The cache reflects it once the
// informer has applied that change, which it does before calling handlers.
func (i *Informer) LastRevision() int64 { return i.lw.lastRev.Load() }

// indexByLabel is the index List uses: "key=value" for every label.
func indexByLabel(obj any) ([]string, error) {
	o, ok := obj.(api.Object)
	if !ok {
		return nil, nil
	}
	out := make([]string, 0, len(o.GetLabels()))
	for k, v := range o.GetLabels() {
		out = append(out, k+"="+v)
	}
	return out, nil
}

// keyOf returns "namespace/name", or "name" for cluster-scoped objects: the key
// of client-go's MetaNamespaceKeyFunc.
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
