package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/reconcile/expectations"
)

// Defaults of Config.
const (
	// DefaultBurstReplicas caps the pods created or deleted for one DaemonSet
	// in one pass, as kube-controller-manager's daemon controller (250).
	DefaultBurstReplicas = 250
	// DefaultCreateParallelism bounds the concurrent pod writes of one pass.
	DefaultCreateParallelism = 32
	// DefaultExpectationsTimeout is how long the controller waits for the
	// cache to report the pods it created or deleted before acting again
	// anyway.
	DefaultExpectationsTimeout = expectations.DefaultTimeout
)

// Reasons of the controller's Events, as Kubernetes' daemon controller
// writes them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
	ReasonFailedDaemonPod  = "FailedDaemonPod"
	ReasonSucceededDaemon  = "SucceededDaemonPod"
	ReasonSelectingAll     = "SelectingAll"
)

// Writer is how the controller creates, updates and deletes pods and
// ControllerRevisions and writes DaemonSet status: each method is a
// compare-and-swap on resourceVersion. *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Getter re-reads a DaemonSet or a ControllerRevision from the store itself
// before adopting objects or handling a hash collision. *store.Store is one.
type Getter = reconcile.Getter

// Batch collects pod creations written in one transaction (see
// reconcile.CreateBatch). *store.Txn is a Batch.
type Batch = reconcile.CreateBatch

// Config configures a Controller. Writer, Getter, NewBatch and Informers are
// required; the control plane passes one *store.Store as Writer and Getter
// and a function returning its Txn as NewBatch.
type Config struct {
	// Writer writes pods, ControllerRevisions and DaemonSet status.
	Writer Writer
	// Getter re-reads objects before adoption and on hash collisions.
	Getter Getter
	// NewBatch starts an empty Batch; with a *store.Store st it is
	// func() daemonset.Batch { return st.Txn() }.
	NewBatch func() Batch
	// Informers provides the shared DaemonSet, ControllerRevision, Pod and
	// Node caches. New registers handlers and indexes on them, so it must be
	// called before Informers.Start.
	Informers *cache.Informers
	// Admit admits each pod before it is created (ResourceQuota,
	// LimitRange); nil admits every pod.
	Admit reconcile.PodAdmitter
	// Recorder receives the DaemonSets' Events (SuccessfulCreate,
	// SuccessfulDelete, FailedCreate, ...); nil records none.
	Recorder *events.Recorder
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives availability (minReadySeconds), graceful deletion times,
	// expectations and the work queue; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many DaemonSets are reconciled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// BurstReplicas caps the pods created or deleted per DaemonSet per pass;
	// default DefaultBurstReplicas.
	BurstReplicas int
	// CreateParallelism bounds concurrent pod writes within one pass; default
	// DefaultCreateParallelism.
	CreateParallelism int
	// ExpectationsTimeout: default DefaultExpectationsTimeout.
	ExpectationsTimeout time.Duration
}

// Controller runs one daemon pod on every eligible node for each DaemonSet,
// rolls template changes out, keeps the history and reports status. Create
// it with New.
type Controller struct {
	writer       Writer
	getter       Getter
	newBatch     func() Batch
	admit        reconcile.PodAdmitter
	rec          *events.Recorder
	log          *slog.Logger
	clock        clock.WithTicker
	sets         *cache.Informer
	revisions    *cache.Informer
	pods         *cache.Informer
	nodes        *cache.Informer
	podsRes      api.Resource
	revisionsRes api.Resource
	exp          *expectations.Set
	burst        int
	parallelism  int
	queue        *reconcile.Controller
	// failedBackoff spaces out the deletions of failed daemon pods per
	// DaemonSet and node (1 s doubling to 15 min), as Kubernetes does.
	failedBackoff *flowcontrol.Backoff
}

// indexOwner is the shared owner-UID index of the pod and revision caches;
// indexOrphans indexes pods and revisions without a controller by namespace.
const (
	indexOwner   = cache.IndexOwnerUID
	indexOrphans = "daemonset.orphans"
)

// New returns a Controller and registers its handlers and indexes on the
// informers. It panics when Writer, Getter, NewBatch or Informers is nil.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.NewBatch == nil || cfg.Informers == nil {
		panic("daemonset: Config.Writer, Config.Getter, Config.NewBatch and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.BurstReplicas, DefaultBurstReplicas)
	defaults.Positive(&cfg.CreateParallelism, DefaultCreateParallelism)
	defaults.Positive(&cfg.ExpectationsTimeout, DefaultExpectationsTimeout)
	c := &Controller{
		writer:       cfg.Writer,
		getter:       cfg.Getter,
		newBatch:     cfg.NewBatch,
		admit:        cfg.Admit,
		rec:          cfg.Recorder,
		log:          cfg.Logger.With("controller", "daemonset"),
		clock:        cfg.Clock,
		sets:         cfg.Informers.For(mustLookup("daemonsets")),
		revisions:    cfg.Informers.For(mustLookup("controllerrevisions")),
		pods:         cfg.Informers.For(mustLookup("pods")),
		nodes:        cfg.Informers.For(mustLookup("nodes")),
		podsRes:      mustLookup("pods"),
		revisionsRes: mustLookup("controllerrevisions"),
		exp:          expectations.New(cfg.Clock, cfg.ExpectationsTimeout),
		burst:        cfg.BurstReplicas,
		parallelism:  cfg.CreateParallelism,
	}
	c.failedBackoff = flowcontrol.NewBackOff(time.Second, 15*time.Minute)
	c.failedBackoff.Clock = cfg.Clock
	c.queue = reconcile.NewController("daemonset", c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	for _, inf := range []*cache.Informer{c.pods, c.revisions} {
		inf.AddIndex(indexOwner, cache.IndexByOwnerUID)
		inf.AddIndex(indexOrphans, orphanNamespace)
	}
	c.sets.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { c.queue.EnqueueObject(o) },
		OnUpdate: func(_, o api.Object) { c.queue.EnqueueObject(o) },
		OnDelete: func(o api.Object) {
			c.exp.Forget(reconcile.KeyOf(o))
			c.queue.EnqueueObject(o)
		},
	})
	c.pods.AddHandler(cache.Handler{OnAdd: c.podAdded, OnUpdate: c.podUpdated, OnDelete: c.podDeleted})
	c.revisions.AddHandler(cache.Handler{
		OnAdd:    c.enqueueOwnerOrMatching,
		OnUpdate: func(_, o api.Object) { c.enqueueOwnerOrMatching(o) },
		OnDelete: c.enqueueOwnerOrMatching,
	})
	c.nodes.AddHandler(cache.Handler{OnAdd: c.nodeAdded, OnUpdate: c.nodeUpdated, OnDelete: c.nodeAdded})
	return c
}

func mustLookup(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic("daemonset: resource " + name + " is not served")
	}
	return r
}

// orphanNamespace indexes objects without a controller reference by namespace.
func orphanNamespace(obj api.Object) []string {
	if metav1.GetControllerOfNoCopy(obj) != nil {
		return nil
	}
	return []string{obj.GetNamespace()}
}

// Run reconciles DaemonSets until ctx ends, then returns nil. The caller
// starts the informers; Run waits for the caches to sync first.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.sets, c.revisions, c.pods, c.nodes) {
		return nil
	}
	c.log.Info("controller started")
	return c.queue.Run(ctx)
}

// Enqueue queues the DaemonSet key "namespace/name" for reconciliation.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// Reconcile brings one DaemonSet, named by key "namespace/name", towards its
// spec, as Kubernetes' syncDaemonSet: it builds the revision history, creates
// and deletes daemon pods node by node (unless an earlier pass's writes are
// not in the cache yet), rolls out a new template per the update strategy,
// prunes old revisions and writes the status when it changed.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.sets.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		return reconcile.Result{}, nil
	}
	ds := obj.(*appsv1.DaemonSet)
	if ds.DeletionTimestamp != nil {
		// Its revisions may be going already: no status can be trusted.
		return reconcile.Result{}, nil
	}
	sel, err := selectorOf(ds)
	if err != nil {
		c.rec.Eventf(events.Ref(ds), corev1.EventTypeWarning, ReasonSelectingAll, "%v", err)
		return reconcile.Result{}, reconcile.Terminal(fmt.Errorf("daemonset %s: %w", key, err))
	}
	h, err := c.constructHistory(ctx, ds, sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	nodes := c.nodeList()
	tols := daemonTolerations(ds)
	synced, expWait := c.exp.Satisfied(key)
	var syncErr error
	if synced {
		syncErr = c.sync(ctx, key, ds, sel, h, nodes, tols)
	}
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return reconcile.Result{}, err
	}
	now := c.clock.Now()
	st, wait := calculateStatus(ds, h, nodes, tols, groupByNode(pods, false), now, synced)
	res, err := c.writeStatus(ctx, key, ds, st)
	if syncErr != nil {
		return reconcile.Result{}, syncErr
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if wait > 0 && (res.RequeueAfter == 0 || wait < res.RequeueAfter) {
		res.RequeueAfter = wait
	}
	if !synced && (res.RequeueAfter == 0 || expWait < res.RequeueAfter) {
		res.RequeueAfter = expWait
	}
	return res, nil
}

// sync is one pass of pod management, the rolling update and history
// cleanup (Kubernetes' updateDaemonSet).
func (c *Controller) sync(ctx context.Context, key string, ds *appsv1.DaemonSet, sel labels.Selector, h history, nodes []*corev1.Node, tols []corev1.Toleration) error {
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	if err := c.manage(ctx, key, ds, h, nodes, tols, groupByNode(pods, false)); err != nil {
		return err
	}
	if ok, _ := c.exp.Satisfied(key); ok && isRollingUpdate(ds) {
		if err := c.rollingUpdate(ctx, key, ds, h, nodes, tols, groupByNode(pods, false)); err != nil {
			return err
		}
	}
	return c.cleanupHistory(ctx, ds, h.old, pods)
}

// writeStatus writes st as ds's status when it differs.
func (c *Controller) writeStatus(ctx context.Context, key string, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) (reconcile.Result, error) {
	if equality.Semantic.DeepEqual(ds.Status, st) {
		return reconcile.Result{}, nil
	}
	updated := ds.DeepCopy()
	updated.Status = st
	err := c.writer.Update(ctx, updated)
	switch {
	case err == nil, errors.Is(err, api.ErrNotFound):
		return reconcile.Result{}, nil
	case errors.Is(err, api.ErrConflict):
		return reconcile.Result{Requeue: true}, nil
	}
	return reconcile.Result{}, fmt.Errorf("daemonset %s: update status: %w", key, err)
}

// selectorOf returns ds's pod selector; an empty or invalid one is an error
// (Kubernetes refuses to act on a DaemonSet selecting every pod).
func selectorOf(ds *appsv1.DaemonSet) (labels.Selector, error) {
	if ds.Spec.Selector == nil || (len(ds.Spec.Selector.MatchLabels) == 0 && len(ds.Spec.Selector.MatchExpressions) == 0) {
		return nil, errors.New("this daemon set is selecting all pods. A non-empty selector is required")
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("spec.selector: %w", err)
	}
	return sel, nil
}

// nodeList returns every node in the cache.
func (c *Controller) nodeList() []*corev1.Node {
	objs := c.nodes.List("", nil)
	out := make([]*corev1.Node, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Node))
	}
	return out
}

// isRollingUpdate reports whether ds rolls out with RollingUpdate (the
// default when the strategy type is empty).
func isRollingUpdate(ds *appsv1.DaemonSet) bool {
	t := ds.Spec.UpdateStrategy.Type
	return t == "" || t == appsv1.RollingUpdateDaemonSetStrategyType
}

// controllerRef returns the controller reference of ds's pods and revisions.
func controllerRef(ds *appsv1.DaemonSet) metav1.OwnerReference {
	return *metav1.NewControllerRef(ds, appsv1.SchemeGroupVersion.WithKind("DaemonSet"))
}

// isControlledBy reports whether obj's controller reference names ds.
func isControlledBy(obj metav1.Object, ds *appsv1.DaemonSet) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	return ref != nil && ref.UID == ds.UID
}
