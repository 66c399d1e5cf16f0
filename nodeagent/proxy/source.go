package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
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
	// shared: callers must not change them.
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

// SetService adds or replaces a Service.
func (m *MemorySource) SetService(svc *corev1.Service) {
	m.mu.Lock()
	m.services[key(svc)] = svc
	m.mu.Unlock()
	m.changed()
}

// DeleteService removes the Service namespace/name.
func (m *MemorySource) DeleteService(namespace, name string) {
	m.mu.Lock()
	delete(m.services, namespace+"/"+name)
	m.mu.Unlock()
	m.changed()
}

// SetEndpoints adds or replaces an Endpoints.
func (m *MemorySource) SetEndpoints(ep *corev1.Endpoints) {
	m.mu.Lock()
	m.endpoints[key(ep)] = ep
	m.mu.Unlock()
	m.changed()
}

// DeleteEndpoints removes the Endpoints namespace/name.
func (m *MemorySource) DeleteEndpoints(namespace, name string) {
	m.mu.Lock()
	delete(m.endpoints, namespace+"/"+name)
	m.mu.Unlock()
	m.changed()
}

// APISource is the Source of a node agent: it lists and watches Services
// and Endpoints through bosun's API, as kube-proxy does through
// kube-apiserver. A watch that ends (410 Expired, dropped stream, server
// restart) is followed by a fresh list, after a doubling backoff (200 ms to
// 10 s) when the attempt failed.
type APISource struct {
	*snapshot
	c     *client.Client
	log   *slog.Logger
	clock clock.Clock
}

// NewAPISource returns an APISource reading through c. logger may be nil
// (discard); clk may be nil (real time).
func NewAPISource(c *client.Client, logger *slog.Logger, clk clock.Clock) *APISource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &APISource{snapshot: newSnapshot(), c: c, log: logger, clock: clk}
}

// Run implements Source: it list-watches Services and Endpoints until ctx
// ends.
func (a *APISource) Run(ctx context.Context, notify func()) error {
	svcRes, ok1 := api.Lookup("services")
	epRes, ok2 := api.Lookup("endpoints")
	if !ok1 || !ok2 {
		return fmt.Errorf("proxy: services or endpoints missing from the store's resources")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		a.listWatch(ctx, svcRes, notify, func(objs []api.Object) {
			m := make(map[string]*corev1.Service, len(objs))
			for _, o := range objs {
				if s, ok := o.(*corev1.Service); ok {
					m[key(s)] = s
				}
			}
			a.mu.Lock()
			a.services, a.svcSynced = m, true
			a.mu.Unlock()
		}, func(typ string, o api.Object) {
			s, ok := o.(*corev1.Service)
			if !ok {
				return
			}
			a.mu.Lock()
			if typ == "DELETED" {
				delete(a.services, key(s))
			} else {
				a.services[key(s)] = s
			}
			a.mu.Unlock()
		})
	})
	wg.Go(func() {
		a.listWatch(ctx, epRes, notify, func(objs []api.Object) {
			m := make(map[string]*corev1.Endpoints, len(objs))
			for _, o := range objs {
				if e, ok := o.(*corev1.Endpoints); ok {
					m[key(e)] = e
				}
			}
			a.mu.Lock()
			a.endpoints, a.epSynced = m, true
			a.mu.Unlock()
		}, func(typ string, o api.Object) {
			e, ok := o.(*corev1.Endpoints)
			if !ok {
				return
			}
			a.mu.Lock()
			if typ == "DELETED" {
				delete(a.endpoints, key(e))
			} else {
				a.endpoints[key(e)] = e
			}
			a.mu.Unlock()
		})
	})
	wg.Wait()
	return nil
}

// listWatch lists r, hands the list to set, then watches and hands each
// event to apply, relisting whenever the watch ends, until ctx ends.
func (a *APISource) listWatch(ctx context.Context, r api.Resource, notify func(),
	set func([]api.Object), apply func(typ string, o api.Object)) {
	const minBackoff, maxBackoff = 200 * time.Millisecond, 10 * time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		err := func() error {
			objs, rv, err := a.c.ListWith(ctx, r, "", client.ListOptions{})
			if err != nil {
				return fmt.Errorf("proxy: list %s: %w", r.Name, err)
			}
			set(objs)
			notify()
			err = a.c.WatchWith(ctx, r, "", client.ListOptions{}, rv, func(ev client.Event) error {
				apply(ev.Type, ev.Object)
				notify()
				return nil
			})
			if err != nil {
				return fmt.Errorf("proxy: watch %s: %w", r.Name, err)
			}
			return nil
		}()
		if ctx.Err() != nil {
			return
		}
		wait := minBackoff
		if err != nil {
			if rs := client.Reason(err); rs == metav1.StatusReasonExpired || rs == metav1.StatusReasonGone {
				a.log.Info("watch expired; listing again", "resource", r.Name)
			} else {
				a.log.Warn("list or watch failed; retrying", "resource", r.Name, "err", err, "retryIn", backoff)
				wait = backoff
				backoff = min(2*backoff, maxBackoff)
			}
		} else {
			backoff = minBackoff
		}
		t := a.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}
