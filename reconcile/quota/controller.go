package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs, its work queue and its Events.
const Name = "resourcequota"

// DefaultResyncPeriod is how often every quota is recomputed even when
// nothing it counts changed, as kube-controller-manager's
// --resource-quota-sync-period.
const DefaultResyncPeriod = 5 * time.Minute

// ReasonUnsupportedScope is the reason of the Warning Event recorded on a
// quota with a scope bosun does not evaluate.
const ReasonUnsupportedScope = "UnsupportedScope"

// cacheWait is how long a quota waits for a cache it just started.
const cacheWait = time.Second

// Writer is how the controller writes a quota's status: a compare-and-swap
// on resourceVersion. *store.Store is a Writer.
type Writer = reconcile.Updater

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer writes quotas' status.
	Writer Writer
	// Informers supplies the ResourceQuota and pod caches, and the caches
	// of the other kinds quotas count, started when a quota first names
	// one.
	Informers *cache.Informers
	// Recorder receives a Warning Event for each quota that cannot be
	// enforced; nil records none.
	Recorder *events.Recorder
	// ResyncPeriod is how often every quota is recomputed; default
	// DefaultResyncPeriod.
	ResyncPeriod time.Duration
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the work queue and tells the time of terminating pods;
	// default the real clock.
	Clock clock.WithTicker
	// Workers is how many quotas are computed at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
}

// Controller keeps ResourceQuotas' status (hard and used) current, as
// Kubernetes' resource quota controller does.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	quotas *cache.Informer
	queue  *reconcile.Controller

	mu      sync.Mutex
	watched map[string]*cache.Informer // by resource "name.group"
}

// New returns a Controller and registers its handlers on cfg.Informers; call
// it before cfg.Informers.Start. It panics when cfg.Writer or cfg.Informers
// is nil (a wiring mistake).
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("quota: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.ResyncPeriod, DefaultResyncPeriod)
	c := &Controller{
		cfg:     cfg,
		log:     cfg.Logger.With("controller", Name),
		quotas:  cfg.Informers.ForKind("resourcequotas"),
		watched: map[string]*cache.Informer{},
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger,
		Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.quotas.AddHandler(c.queue.EnqueueHandler())
	pods := cfg.Informers.ForKind("pods")
	pods.AddHandler(c.podHandler())
	c.watched[resourceID(pods.Resource())] = pods
	return c
}

// Run waits for the quota and pod caches, then computes quotas until ctx
// ends, every quota again each ResyncPeriod. It returns nil when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.quotas, c.watched["pods."]) {
		return nil
	}
	go c.resync(ctx)
	return c.queue.Run(ctx)
}

// resync queues every quota each ResyncPeriod until ctx ends.
func (c *Controller) resync(ctx context.Context) {
	t := c.cfg.Clock.NewTicker(c.cfg.ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			for _, o := range c.quotas.List("", nil) {
				c.queue.EnqueueObject(o)
			}
		}
	}
}

// Len returns how many quota keys wait in the work queue.
func (c *Controller) Len() int { return c.queue.Len() }

func resourceID(r api.Resource) string { return r.Name + "." + r.Group }

// enqueueNamespace queues every quota of namespace.
func (c *Controller) enqueueNamespace(namespace string) {
	for _, o := range c.quotas.List(namespace, nil) {
		c.queue.EnqueueObject(o)
	}
}

// objectHandler queues the quotas of the namespace of any object that
// appears, changes or goes.
func (c *Controller) objectHandler() cache.Handler {
	return cache.Handler{
		OnAdd:    func(o api.Object) { c.enqueueNamespace(o.GetNamespace()) },
		OnUpdate: func(_, o api.Object) { c.enqueueNamespace(o.GetNamespace()) },
		OnDelete: func(o api.Object) { c.enqueueNamespace(o.GetNamespace()) },
	}
}

// podHandler is objectHandler for pods, skipping the many updates (status,
// readiness) that change nothing a quota counts.
func (c *Controller) podHandler() cache.Handler {
	h := c.objectHandler()
	h.OnUpdate = func(old, o api.Object) {
		a, b := old.(*corev1.Pod), o.(*corev1.Pod)
		now := c.cfg.Clock.Now()
		if (a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) || !equal(PodUsage(a, now), PodUsage(b, now)) {
			c.enqueueNamespace(b.Namespace)
		}
	}
	return h
}

// informer returns the cache of r, creating and starting it (with ctx) the
// first time a quota needs it.
func (c *Controller) informer(ctx context.Context, r api.Resource) *cache.Informer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if inf, ok := c.watched[resourceID(r)]; ok {
		return inf
	}
	inf := c.cfg.Informers.For(r)
	inf.AddHandler(c.objectHandler())
	c.watched[resourceID(r)] = inf
	c.cfg.Informers.Start(ctx)
	return inf
}

// Reconcile computes the status of the quota key names and writes it when it
// changed.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	o, ok := c.quotas.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	rq := o.(*corev1.ResourceQuota)
	if err := CheckScopes(rq); err != nil {
		if c.cfg.Recorder != nil {
			c.cfg.Recorder.Event(events.Ref(rq), corev1.EventTypeWarning, ReasonUnsupportedScope, err.Error())
		}
		return reconcile.Result{}, nil
	}
	used, after, ready := c.usage(ctx, rq)
	if !ready {
		return reconcile.Result{RequeueAfter: cacheWait}, nil
	}
	status := corev1.ResourceQuotaStatus{Hard: mask(rq.Spec.Hard, names(rq.Spec.Hard)), Used: zeroFilled(used, rq.Spec.Hard)}
	res := reconcile.Result{}
	if after > 0 {
		res.RequeueAfter = after
	}
	if equal(status.Hard, rq.Status.Hard) && equal(status.Used, rq.Status.Used) {
		return res, nil
	}
	up := rq.DeepCopy()
	up.Status = status
	if err := c.cfg.Writer.Update(ctx, up); errors.Is(err, api.ErrConflict) {
		return reconcile.Result{Requeue: true}, nil
	} else if errors.Is(err, api.ErrNotFound) {
		return reconcile.Result{}, nil
	} else if err != nil {
		return reconcile.Result{}, fmt.Errorf("quota: write status of resourcequota %s: %w", key, err)
	}
	return res, nil
}

// usage computes rq's used resources from the caches. after is when a
// terminating pod stops counting (0: none); ready is false while a cache
// the quota needs has not synced.
func (c *Controller) usage(ctx context.Context, rq *corev1.ResourceQuota) (used corev1.ResourceList, after time.Duration, ready bool) {
	used = corev1.ResourceList{}
	var podNames []corev1.ResourceName
	ready = true
	for _, n := range names(rq.Spec.Hard) {
		if isPodResource(n) {
			podNames = append(podNames, n)
			continue
		}
		if scoped(rq) {
			continue // a scoped quota counts pods only
		}
		r, ok := sourceOf(n)
		if !ok {
			continue // unknown resource: used stays 0
		}
		inf := c.informer(ctx, r)
		if !inf.HasSynced() {
			ready = false
			continue
		}
		if q, ok := objectUsage(n, inf.List(rq.Namespace, nil)); ok {
			used[n] = q
		}
	}
	if len(podNames) > 0 {
		var pu corev1.ResourceList
		pu, after = c.podUsage(rq, podNames)
		used = add(used, pu)
	}
	return used, after, ready
}

// podUsage sums the usage of rq's namespace's pods that rq's scopes match.
func (c *Controller) podUsage(rq *corev1.ResourceQuota, podNames []corev1.ResourceName) (corev1.ResourceList, time.Duration) {
	now := c.cfg.Clock.Now()
	used := corev1.ResourceList{}
	var next time.Time
	for _, o := range c.watched["pods."].List(rq.Namespace, nil) {
		pod := o.(*corev1.Pod)
		if !podMatches(rq, pod) {
			continue
		}
		if PodCounted(pod, now) {
			if at, ok := uncountedAt(pod); ok && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		used = add(used, mask(PodUsage(pod, now), podNames))
	}
	if next.IsZero() {
		return used, 0
	}
	return used, max(next.Sub(now), time.Second)
}

// sourceOf returns the resource whose objects a non-pod quota resource
// counts.
func sourceOf(n corev1.ResourceName) (api.Resource, bool) {
	s := string(n)
	plural, group := "", ""
	switch {
	case n == corev1.ResourceServices || n == corev1.ResourceServicesNodePorts || n == ServicesLoadBalancers:
		plural = "services"
	case n == corev1.ResourceConfigMaps || n == corev1.ResourceSecrets || n == corev1.ResourceReplicationControllers ||
		n == corev1.ResourceQuotas || n == corev1.ResourcePersistentVolumeClaims:
		plural = s
	case n == corev1.ResourceRequestsStorage || strings.Contains(s, storageClassSuffix):
		plural = "persistentvolumeclaims"
	case strings.HasPrefix(s, "count/"):
		plural, group, _ = strings.Cut(strings.TrimPrefix(s, "count/"), ".")
	default:
		return api.Resource{}, false
	}
	for _, r := range api.Resources() {
		if r.Name == plural && r.Group == group && r.Namespaced && r.Storage == nil {
			return r, true
		}
	}
	return api.Resource{}, false
}

// objectUsage returns what objs (one namespace's objects of n's source)
// use of n.
func objectUsage(n corev1.ResourceName, objs []api.Object) (resource.Quantity, bool) {
	var total int64
	var sum resource.Quantity
	s := string(n)
	switch {
	case n == corev1.ResourceServicesNodePorts || n == ServicesLoadBalancers:
		for _, o := range objs {
			svc := o.(*corev1.Service)
			if n == ServicesLoadBalancers && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				total++
			}
			if n == corev1.ResourceServicesNodePorts {
				total += nodePorts(svc)
			}
		}
	case n == corev1.ResourceRequestsStorage || strings.Contains(s, storageClassSuffix):
		class, what, _ := strings.Cut(s, storageClassSuffix)
		for _, o := range objs {
			pvc := o.(*corev1.PersistentVolumeClaim)
			if strings.Contains(s, storageClassSuffix) && (pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != class) {
				continue
			}
			if what == string(corev1.ResourcePersistentVolumeClaims) {
				total++
			} else if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				sum.Add(q)
			}
		}
		if !sum.IsZero() {
			return sum, true
		}
	default: // object counts
		total = int64(len(objs))
	}
	return *resource.NewQuantity(total, resource.DecimalSI), true
}

// nodePorts returns how many node ports svc holds, as Kubernetes' service
// evaluator counts them.
func nodePorts(svc *corev1.Service) int64 {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return int64(len(svc.Spec.Ports))
	case corev1.ServiceTypeLoadBalancer:
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			var n int64
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					n++
				}
			}
			return n
		}
		return int64(len(svc.Spec.Ports))
	}
	return 0
}
