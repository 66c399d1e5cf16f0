package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Writer creates, updates and deletes pods, claims and revisions, and writes
// the sets' status: each a compare-and-swap on resourceVersion. *store.Store
// is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer writes pods, claims, revisions and status.
	Writer Writer
	// Informers provides the statefulsets, pods, persistentvolumeclaims and
	// controllerrevisions caches; New registers handlers and indexes, so call
	// it before Informers.Start.
	Informers *cache.Informers
	// Admit admits each pod before it is created (quota, LimitRange); nil
	// admits every pod.
	Admit reconcile.PodAdmitter
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock times minReadySeconds, graceful deletion and the work queue;
	// default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many sets are reconciled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Recorder receives SuccessfulCreate, SuccessfulDelete and FailedCreate
	// Events worded as Kubernetes'; nil records none.
	Recorder *events.Recorder
}

// Reasons of the controller's Events, as Kubernetes' StatefulSet controller.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonFailedDelete     = "FailedDelete"
)

// Controller keeps the pods and claims of every StatefulSet in line with its
// spec and reports its status. Create it with New.
type Controller struct {
	writer    Writer
	admit     reconcile.PodAdmitter
	sets      *cache.Informer
	pods      *cache.Informer
	claims    *cache.Informer
	revisions *cache.Informer
	log       *slog.Logger
	clock     clock.WithTicker
	rec       *events.Recorder
	queue     *reconcile.Controller
	res       resources
}

// resources are the kinds the controller writes.
type resources struct{ pods, claims, revisions api.Resource }

// New returns a Controller and registers its handlers and indexes. It panics
// when Writer or Informers is nil: a wiring mistake.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("statefulset: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	c := &Controller{
		writer:    cfg.Writer,
		admit:     cfg.Admit,
		sets:      cfg.Informers.ForKind("statefulsets"),
		pods:      cfg.Informers.ForKind("pods"),
		claims:    cfg.Informers.ForKind("persistentvolumeclaims"),
		revisions: cfg.Informers.ForKind("controllerrevisions"),
		log:       cfg.Logger.With("controller", "statefulset"),
		clock:     cfg.Clock,
		rec:       cfg.Recorder,
	}
	c.res.pods, _ = api.Lookup("pods")
	c.res.claims, _ = api.Lookup("persistentvolumeclaims")
	c.res.revisions, _ = api.Lookup("controllerrevisions")
	c.queue = reconcile.NewController("statefulset", c, reconcile.ControllerOptions{
		Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.pods.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.revisions.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.sets.AddHandler(c.queue.EnqueueHandler())
	owned := cache.Handler{
		OnAdd:    c.enqueueOwner,
		OnUpdate: func(_, o api.Object) { c.enqueueOwner(o) },
		OnDelete: c.enqueueOwner,
	}
	c.pods.AddHandler(cache.Handler{
		OnAdd:    c.podChanged,
		OnUpdate: func(_, o api.Object) { c.podChanged(o) },
		OnDelete: c.podChanged,
	})
	c.revisions.AddHandler(owned)
	c.claims.AddHandler(cache.Handler{OnDelete: c.claimDeleted})
	return c
}

// enqueueOwner queues the StatefulSet that controls obj.
func (c *Controller) enqueueOwner(obj api.Object) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil && ref.Kind == "StatefulSet" {
		c.queue.Enqueue(obj.GetNamespace() + "/" + ref.Name)
	}
}

// podChanged queues the pod's controller, or for an orphan every set whose
// name prefixes the pod's (a candidate to adopt it).
func (c *Controller) podChanged(obj api.Object) {
	if metav1.GetControllerOfNoCopy(obj) != nil {
		c.enqueueOwner(obj)
		return
	}
	if set, _ := parentAndOrdinal(obj.GetName()); set != "" {
		c.queue.Enqueue(obj.GetNamespace() + "/" + set)
	}
}

// claimDeleted queues the set whose claim "<template>-<set>-<ordinal>" went
// away: its pod may need the claim again.
func (c *Controller) claimDeleted(obj api.Object) {
	for _, o := range c.sets.List(obj.GetNamespace(), nil) {
		if strings.Contains(obj.GetName(), "-"+o.GetName()+"-") {
			c.queue.EnqueueObject(o)
		}
	}
}

// Run reconciles sets until ctx ends, then returns nil. The informers must be
// started by the caller; Run waits for their caches first.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.sets, c.pods, c.claims, c.revisions) {
		return nil // ctx ended
	}
	c.log.Info("controller started")
	return c.queue.Run(ctx)
}

// Enqueue queues the set key "namespace/name".
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// Reconcile brings one StatefulSet, named by key "namespace/name", towards
// its spec and writes its status.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.sets.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	set := obj.(*appsv1.StatefulSet)
	if set.DeletionTimestamp != nil {
		return reconcile.Result{}, nil // garbage collection removes the pods
	}
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("statefulset: %s: spec.selector: invalid or empty: %v", key, err))
	}
	s := &syncState{set: set, key: key}
	if err := c.loadRevisions(ctx, s); err != nil {
		return reconcile.Result{}, err
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	s.pods = pods
	res, syncErr := c.sync(ctx, s)
	st := c.computeStatus(s)
	if err := c.writeStatus(ctx, set, st); err != nil {
		return reconcile.Result{}, errors.Join(syncErr, err)
	}
	if err := c.truncateHistory(ctx, s); err != nil && syncErr == nil {
		syncErr = err
	}
	return res, syncErr
}

// claimPods returns the pods set controls, after adopting orphans its
// selector selects and whose name makes them its members, and releasing
// controlled pods it no longer selects.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labelsMatcher) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, obj := range c.pods.List(set.Namespace, nil) {
		pod := obj.(*corev1.Pod)
		ref := metav1.GetControllerOfNoCopy(pod)
		member := isMemberOf(set, pod)
		matches := sel.Matches(labelSet(pod.Labels))
		switch {
		case ref != nil && ref.UID == set.UID && matches && member:
			out = append(out, pod)
		case ref != nil && ref.UID == set.UID:
			if err := c.release(ctx, set, pod); err != nil {
				return nil, err
			}
		case ref == nil && matches && member && pod.DeletionTimestamp == nil:
			adopted, err := c.adopt(ctx, set, pod)
			if err != nil {
				return nil, err
			}
			if adopted != nil {
				out = append(out, adopted)
			}
		}
	}
	return out, nil
}

// adopt makes set the controller of an orphan pod; nil when the pod changed.
func (c *Controller) adopt(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) (*corev1.Pod, error) {
	p := pod.DeepCopy()
	p.OwnerReferences = append(p.OwnerReferences, controllerRef(set))
	if err := c.writer.Update(ctx, p); err != nil {
		if errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("statefulset: %s/%s: adopt pod %s: %w", set.Namespace, set.Name, pod.Name, err)
	}
	return p, nil
}

// release removes set's references from a pod it no longer selects.
func (c *Controller) release(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	refs := p.OwnerReferences[:0]
	for _, r := range p.OwnerReferences {
		if r.UID != set.UID {
			refs = append(refs, r)
		}
	}
	p.OwnerReferences = refs
	if err := c.writer.Update(ctx, p); err != nil && !errors.Is(err, api.ErrConflict) && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("statefulset: %s/%s: release pod %s: %w", set.Namespace, set.Name, pod.Name, err)
	}
	return nil
}

// controllerRef is the controller reference of set's pods and revisions.
func controllerRef(set *appsv1.StatefulSet) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID,
		Controller: &t, BlockOwnerDeletion: &t}
}
