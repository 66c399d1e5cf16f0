package proxy

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
)

// Source supplies the Services and Endpoints the Proxier programs.
type Source interface {
	// Run keeps the source current until ctx ends and returns nil then.
	// It calls notify, which must not block, after every change.
	Run(ctx context.Context, notify func()) error
	// Synced reports whether the Services and Endpoints were each listed
	// once: before that, a sync would delete the rules of every Service.
	Synced() bool
	// Snapshot returns the current Services and Endpoints. The objects are
	// shared: callers must not change them, and the Source never changes
	// one either: a changed Service or Endpoints is a new object (nftables
	// mode recomputes only the Services whose objects changed).
	Snapshot() ([]*corev1.Service, []*corev1.Endpoints)
}

// snapshot is a concurrency-safe set of Services and Endpoints keyed by
// namespace/name.
type snapshot struct {
	mu        sync.Mutex
	services  map[string]*corev1.Service
	endpoints map[string]*corev1.Endpoints
	svcSynced bool
	epSynced  bool
}

func newSnapshot() *snapshot {
	return &snapshot{services: map[string]*corev1.Service{}, endpoints: map[string]*corev1.Endpoints{}}
}

func key(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (s *snapshot) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svcSynced && s.epSynced
}

func (s *snapshot) Snapshot() ([]*corev1.Service, []*corev1.Endpoints) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svcs := make([]*corev1.Service, 0, len(s.services))
	for _, v := range s.services {
		svcs = append(svcs, v)
	}
	eps := make([]*corev1.Endpoints, 0, len(s.endpoints))
	for _, v := range s.endpoints {
		eps = append(eps, v)
	}
	return svcs, eps
}

// MemorySource is a Source fed directly by its owner (tests, or a caller
// that already watches the API). Its zero value is not usable: use
// NewMemorySource.
type MemorySource struct {
	*snapshot
	nmu    sync.Mutex
	notify func()
}

// NewMemorySource returns an empty MemorySource that counts as synced.
func NewMemorySource() *MemorySource {
	s := newSnapshot()
	s.svcSynced, s.epSynced = true, true
	return &MemorySource{snapshot: s}
}

// Run implements Source: it only records notify and waits for ctx.
func (m *MemorySource) Run(ctx context.Context, notify func()) error {
	m.nmu.Lock()
	m.notify = notify
	m.nmu.Unlock()
	<-ctx.Done()
	m.nmu.Lock()
	m.notify = nil
	m.nmu.Unlock()
	return nil
}

func (m *MemorySource) changed() {
	m.nmu.Lock()
	n := m.notify
	m.nmu.Unlock()
	if n != nil {
		n()
	}
}

// update changes the maps with f under the lock, then tells the watcher.
func (m *MemorySource) update(f func()) {
	m.mu.Lock()
	f()
	m.mu.Unlock()
	m.changed()
}

// SetService adds or replaces a Service. svc is kept: change a copy, not it.
func (m *MemorySource) SetService(svc *corev1.Service) {
	m.update(func() { m.services[key(svc)] = svc })
}

// DeleteService removes the Service namespace/name.
func (m *MemorySource) DeleteService(namespace, name string) {
	m.update(func() { delete(m.services, namespace+"/"+name) })
}

// SetEndpoints adds or replaces an Endpoints. ep is kept: change a copy, not it.
func (m *MemorySource) SetEndpoints(ep *corev1.Endpoints) {
	m.update(func() { m.endpoints[key(ep)] = ep })
}

// DeleteEndpoints removes the Endpoints namespace/name.
func (m *MemorySource) DeleteEndpoints(namespace, name string) {
	m.update(func() { delete(m.endpoints, namespace+"/"+name) })
}

// APISource is the Source of a node agent: two informers (package
// client/cache) list and watch Services and Endpoints through bosun's API, as
// kube-proxy does through kube-apiserver. A watch that ends is started again
// from the last revision seen; after 410 Expired or a failure the informer
// lists again, with backoff.
type APISource struct {
	services, endpoints *cache.Informer
}

// NewAPISource returns an APISource reading through c. logger may be nil
// (discard).
func NewAPISource(c *client.Client, logger *slog.Logger) *APISource {
	svcRes, epRes := mustResource("services"), mustResource("endpoints")
	return &APISource{
		services:  cache.NewInformer(client.ListWatch{Client: c, Resource: svcRes}, svcRes, logger),
		endpoints: cache.NewInformer(client.ListWatch{Client: c, Resource: epRes}, epRes, logger),
	}
}

func mustResource(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic("proxy: the store has no resource " + name)
	}
	return r
}

// Run implements Source: it runs both informers until ctx ends, calling
// notify after every change and once each informer has synced. Run it once.
func (a *APISource) Run(ctx context.Context, notify func()) error {
	h := cache.Handler{
		OnAdd:    func(api.Object) { notify() },
		OnUpdate: func(_, _ api.Object) { notify() },
		OnDelete: func(api.Object) { notify() },
	}
	var wg sync.WaitGroup
	for _, inf := range []*cache.Informer{a.services, a.endpoints} {
		inf.AddHandler(h)
		wg.Go(func() { _ = inf.Run(ctx) }) // Run fails only when run twice
		wg.Go(func() {
			if inf.WaitForSync(ctx) == nil {
				notify() // an empty list has no change to notify
			}
		})
	}
	wg.Wait()
	return nil
}

// Synced implements Source: both informers listed once.
func (a *APISource) Synced() bool { return a.services.HasSynced() && a.endpoints.HasSynced() }

// Snapshot implements Source from the informers' caches.
func (a *APISource) Snapshot() ([]*corev1.Service, []*corev1.Endpoints) {
	return typed[*corev1.Service](a.services.List("", nil)), typed[*corev1.Endpoints](a.endpoints.List("", nil))
}

// typed returns the objects of type T among objs.
func typed[T api.Object](objs []api.Object) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
