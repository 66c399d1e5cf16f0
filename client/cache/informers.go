package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Informers is a set of shared informers, one per resource, created on first use,
// so that every controller watching pods shares one cache and one watch. It is
// safe for concurrent use.
type Informers struct {
	lw  func(api.Resource) ListWatcher
	log *slog.Logger

	mu        sync.Mutex
	informers map[string]*Informer // by resource plural name
	order     []*Informer
	started   map[*Informer]bool
}

// NewInformers returns an empty set of informers fed by src (a *store.Store on
// the control plane); logger (nil discards) is passed to each informer.
func NewInformers[L ListWatcher](src Source[L], logger *slog.Logger) *Informers {
	defaults.Logger(&logger)
	return &Informers{
		lw:        func(r api.Resource) ListWatcher { return src.ListWatcher(r) },
		log:       logger,
		informers: map[string]*Informer{},
		started:   map[*Informer]bool{},
	}
}

// For returns the informer of r, creating it on first use: the same instance for
// the same resource. Call it (and add handlers and indexes) before Start; an
// informer created after Start runs only once Start is called again.
func (f *Informers) For(r api.Resource) *Informer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inf, ok := f.informers[r.Name]; ok {
		return inf
	}
	inf := NewInformer(f.lw(r), r, f.log)
	f.informers[r.Name] = inf
	f.order = append(f.order, inf)
	return inf
}

// ForKind returns For(r) for the resource api.Lookup(name) finds ("pods",
// "pod", "po", "Pod", ...). It panics on an unknown name: that is a programming
// error.
func (f *Informers) ForKind(name string) *Informer {
	r, ok := api.Lookup(name)
	if !ok {
		panic(fmt.Sprintf("cache: unknown resource %q", name))
	}
	return f.For(r)
}

// Start runs, each in its own goroutine until ctx ends, every informer created
// so far that is not running yet. It does not block; it may be called again to
// start informers created later.
func (f *Informers) Start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, inf := range f.order {
		if f.started[inf] {
			continue
		}
		f.started[inf] = true
		go func() { _ = inf.Run(ctx) }()
	}
}

// WaitForCacheSync blocks until every one of infs has synced or ctx ends, and
// reports whether they all synced (false means ctx ended), as client-go's
// cache.WaitForCacheSync. Controllers call it at the start of Run.
func WaitForCacheSync(ctx context.Context, infs ...*Informer) bool {
	for _, inf := range infs {
		if inf.WaitForSync(ctx) != nil {
			return false
		}
	}
	return true
}

// WaitForSync blocks until every informer created so far has synced, or ctx
// ends (then it returns an error wrapping ctx's). Informers not started never
// sync.
func (f *Informers) WaitForSync(ctx context.Context) error {
	f.mu.Lock()
	list := append([]*Informer(nil), f.order...)
	f.mu.Unlock()
	for _, inf := range list {
		if err := inf.WaitForSync(ctx); err != nil {
			return err
		}
	}
	return nil
}
