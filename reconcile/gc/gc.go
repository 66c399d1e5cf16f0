package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/util/workqueue"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// DefaultScanInterval is how often the collector looks at every dependent, as a
// safety net behind the owner-deletion events.
const DefaultScanInterval = time.Minute

// defaultDependents are the resources whose objects the collector deletes when
// their owners are gone.
var defaultDependents = []string{"deployments", "replicasets", "replicationcontrollers", "pods", "endpoints",
	"jobs", "controllerrevisions", "persistentvolumeclaims"}

// defaultOwners are the resources whose deletions the collector follows.
var defaultOwners = []string{"deployments", "replicasets", "replicationcontrollers", "services",
	"daemonsets", "statefulsets", "jobs", "cronjobs"}

// Writer is how the garbage collector updates and deletes dependents: each
// method is a compare-and-swap on resourceVersion (see package reconcile).
// *store.Store is a Writer.
type Writer interface {
	reconcile.Updater
	reconcile.Deleter
}

// Getter is how the garbage collector reads owners the caches do not hold from
// the store itself, not the cache. *store.Store is a Getter.
type Getter = reconcile.Getter

// Config configures a Controller. Writer, Getter and Informers are required;
// the control plane passes one *store.Store as both Writer and Getter.
type Config struct {
	// Writer deletes dependents whose owners are all gone and removes the
	// references to gone owners from the others.
	Writer Writer
	// Getter reads an owner the caches do not hold, to learn whether it is
	// still there.
	Getter Getter
	// Informers provides the shared caches; New registers handlers and indexes on
	// them, so it must be called before Informers.Start.
	Informers *cache.Informers
	// Logger receives the collector's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the periodic scan and the work queue; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many dependents are examined at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// ScanInterval is the period of the full scan; default DefaultScanInterval.
	ScanInterval time.Duration
	// Dependents are the plural resource names whose objects are collected;
	// default deployments, replicasets, replicationcontrollers, pods, endpoints,
	// jobs, controllerrevisions, persistentvolumeclaims.
	Dependents []string
	// Owners are the plural resource names whose deletions queue their
	// dependents; default deployments, replicasets, replicationcontrollers,
	// services, daemonsets, statefulsets, jobs, cronjobs. Owners of other kinds are still checked, by the periodic scan and
	// on dependent changes, with a read from the store.
	Owners []string
}

// Controller is the garbage collector. Create it with New.
type Controller struct {
	writer     Writer
	getter     Getter
	log        *slog.Logger
	clock      clock.WithTicker
	interval   time.Duration
	queue      *reconcile.Controller
	dependents map[string]*cache.Informer // by plural resource name
	owners     map[string]*cache.Informer // by plural resource name
	byGK       map[schema.GroupKind]api.Resource
}

// New returns a garbage collector and registers its handlers and the owner-UID
// index on the informers. It panics when Writer, Getter or Informers is nil or a
// resource name is unknown: those are programming errors.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.Informers == nil {
		panic("gc: Config.Writer, Config.Getter and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.ScanInterval, DefaultScanInterval)
	if len(cfg.Dependents) == 0 {
		cfg.Dependents = defaultDependents
	}
	if len(cfg.Owners) == 0 {
		cfg.Owners = defaultOwners
	}
	c := &Controller{
		writer:     cfg.Writer,
		getter:     cfg.Getter,
		log:        cfg.Logger.With("controller", "gc"),
		clock:      cfg.Clock,
		interval:   cfg.ScanInterval,
		dependents: map[string]*cache.Informer{},
		owners:     map[string]*cache.Informer{},
		byGK:       map[schema.GroupKind]api.Resource{},
	}
	for _, r := range api.Resources() {
		c.byGK[schema.GroupKind{Group: r.Group, Kind: r.Kind}] = r
	}
	c.queue = reconcile.NewController("gc", c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	for _, name := range cfg.Dependents {
		inf := cfg.Informers.ForKind(name)
		c.dependents[inf.Resource().Name] = inf
		inf.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
		inf.AddHandler(cache.Handler{
			OnAdd: c.dependentChanged,
			OnUpdate: func(old, cur api.Object) {
				if !sameOwners(old.GetOwnerReferences(), cur.GetOwnerReferences()) {
					c.dependentChanged(cur)
				}
			},
		})
	}
	for _, name := range cfg.Owners {
		inf := cfg.Informers.ForKind(name)
		c.owners[inf.Resource().Name] = inf
		inf.AddHandler(cache.Handler{OnDelete: c.ownerDeleted})
	}
	return c
}

// Run waits for its caches to sync, then collects garbage until ctx ends: owner
// deletions and dependent changes queue dependents, and every ScanInterval (and
// once at start) every dependent with a missing owner is queued. It returns nil.
func (c *Controller) Run(ctx context.Context) error {
	for _, m := range []map[string]*cache.Informer{c.dependents, c.owners} {
		if !cache.WaitForCacheSync(ctx, slices.Collect(maps.Values(m))...) {
			return nil // ctx ended
		}
	}
	c.log.Info("garbage collector started", "scanInterval", c.interval)
	go func() {
		t := c.clock.NewTicker(c.interval)
		defer t.Stop()
		for {
			c.Scan()
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
	return c.queue.Run(ctx)
}

// Scan queues every cached dependent one of whose owners the cache does not
// have. It returns how many it queued.
func (c *Controller) Scan() int {
	n := 0
	for _, inf := range c.dependents {
		for _, obj := range inf.List("", nil) {
			if len(obj.GetOwnerReferences()) > 0 && c.maybeDangling(obj) {
				c.queue.Enqueue(keyFor(inf.Resource(), obj))
				n++
			}
		}
	}
	return n
}

// Key returns the collector's work-queue key of obj of resource r:
// "<resource>/<namespace>/<name>".
func Key(r api.Resource, obj metav1.Object) string {
	return keyFor(r, obj)
}

func keyFor(r api.Resource, obj metav1.Object) string {
	return r.Name + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

func (c *Controller) dependentChanged(obj api.Object) {
	if len(obj.GetOwnerReferences()) == 0 || !c.maybeDangling(obj) {
		return
	}
	r, err := api.ResourceOf(obj)
	if err != nil {
		return
	}
	c.queue.Enqueue(keyFor(r, obj))
}

func (c *Controller) ownerDeleted(owner api.Object) {
	uid := string(owner.GetUID())
	for _, inf := range c.dependents {
		for _, dep := range inf.ByIndex(cache.IndexOwnerUID, uid) {
			c.queue.Enqueue(keyFor(inf.Resource(), dep))
		}
	}
}

// maybeDangling reports whether, by the cache, some owner of obj is missing (or
// of a kind without a cache, so only the store can tell).
func (c *Controller) maybeDangling(obj api.Object) bool {
	for i := range obj.GetOwnerReferences() {
		ref := &obj.GetOwnerReferences()[i]
		r, ok := c.resourceOfRef(ref)
		if !ok {
			continue
		}
		inf := c.owners[r.Name]
		if inf == nil {
			inf = c.dependents[r.Name]
		}
		if inf == nil {
			return true
		}
		o, ok := inf.Get(ownerNamespace(r, obj), ref.Name)
		if !ok || o.GetUID() != ref.UID {
			return true
		}
	}
	return false
}

// Reconcile examines one dependent, named by key "<resource>/<namespace>/<name>"
// (see Key): when every owner it references is gone (no object of that kind and
// name, or one with another UID) it deletes the dependent, compare-and-swap on its
// resourceVersion; when only some are gone it removes those references. An owner
// the cache misses is re-read from the store before it is declared gone, so a
// lagging cache never deletes the dependents of a new owner. References to kinds
// the store does not know count as present.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	resName, rest, ok := strings.Cut(key, "/")
	inf := c.dependents[resName]
	if !ok || inf == nil {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("gc: bad key %q: want <resource>/<namespace>/<name> of a collected resource", key))
	}
	ns, name, _ := strings.Cut(rest, "/")
	r := inf.Resource()
	obj, ok := inf.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	refs := obj.GetOwnerReferences()
	if len(refs) == 0 {
		return reconcile.Result{}, nil
	}
	var alive []metav1.OwnerReference
	gone := 0
	for i := range refs {
		exists, err := c.ownerExists(ctx, obj, &refs[i])
		if err != nil {
			return reconcile.Result{}, err
		}
		if exists {
			alive = append(alive, refs[i])
		} else {
			gone++
		}
	}
	if gone == 0 {
		return reconcile.Result{}, nil
	}
	log := c.log.With("resource", r.Name, "namespace", ns, "name", name)
	if len(alive) == 0 {
		var err error
		if pod, ok := obj.(*corev1.Pod); ok {
			// A running pod stops within its grace period, as when deleted.
			_, err = reconcile.DeletePod(ctx, c.writer, pod, c.clock.Now())
		} else {
			err = c.writer.Delete(ctx, r, ns, name, obj.GetResourceVersion())
		}
		switch {
		case err == nil:
			log.Info("deleted object whose owners are gone", "owner", refs[0].Kind+"/"+refs[0].Name)
		case errors.Is(err, api.ErrNotFound):
		case errors.Is(err, api.ErrConflict):
			// It changed since the cache saw it (maybe adopted): look again.
			return reconcile.Result{Requeue: true}, nil
		default:
			return reconcile.Result{}, fmt.Errorf("gc: delete %s: %w", key, err)
		}
		return reconcile.Result{}, nil
	}
	cp, ok := obj.DeepCopyObject().(api.Object)
	if !ok {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("gc: %s: copy is not a store object", key))
	}
	cp.SetOwnerReferences(alive)
	err := c.writer.Update(ctx, cp)
	switch {
	case err == nil:
		log.Info("removed references to owners that are gone", "removed", gone)
	case errors.Is(err, api.ErrNotFound):
	case errors.Is(err, api.ErrConflict):
		return reconcile.Result{Requeue: true}, nil
	default:
		return reconcile.Result{}, fmt.Errorf("gc: remove dangling owner references of %s: %w", key, err)
	}
	return reconcile.Result{}, nil
}

// ownerExists reports whether the owner ref names still exists with the same
// UID: by the cache when it has it, else by a fresh read from the store.
func (c *Controller) ownerExists(ctx context.Context, dep api.Object, ref *metav1.OwnerReference) (bool, error) {
	r, ok := c.resourceOfRef(ref)
	if !ok {
		return true, nil
	}
	ns := ownerNamespace(r, dep)
	inf := c.owners[r.Name]
	if inf == nil {
		inf = c.dependents[r.Name]
	}
	if inf != nil {
		if o, ok := inf.Get(ns, ref.Name); ok && o.GetUID() == ref.UID {
			return true, nil
		}
	}
	fresh := r.New()
	if err := c.getter.Get(ctx, ns, ref.Name, fresh); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("gc: read owner %s %s/%s: %w", r.Kind, ns, ref.Name, err)
	}
	return fresh.GetUID() == ref.UID, nil
}

// resourceOfRef finds the stored resource an ownerReference names, by group and
// kind (any version).
func (c *Controller) resourceOfRef(ref *metav1.OwnerReference) (api.Resource, bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return api.Resource{}, false
	}
	r, ok := c.byGK[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
	return r, ok
}

// ownerNamespace is where an owner of dep lives: dep's namespace, or none for
// cluster-scoped owner kinds.
func ownerNamespace(r api.Resource, dep metav1.Object) string {
	if r.Namespaced {
		return dep.GetNamespace()
	}
	return ""
}

// sameOwners reports whether two ownerReference lists name the same UIDs.
func sameOwners(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}
