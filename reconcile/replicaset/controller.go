package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
	// DefaultBurstReplicas caps the pods created or deleted for one owner in one
	// pass, as kube-controller-manager's burstReplicas.
	DefaultBurstReplicas = 500
	// DefaultExpectationsTimeout is how long the controller waits for the
	// informer to report the pods it created or deleted before it looks at
	// an owner again anyway, as Kubernetes' ControllerExpectations do.
	DefaultExpectationsTimeout = expectations.DefaultTimeout
	// DefaultCreateParallelism bounds the concurrent pod writes of one pass.
	DefaultCreateParallelism = 32
)

// Writer is how the controller creates, deletes, adopts and releases pods and
// writes its owners' status: each method is a compare-and-swap on
// resourceVersion (see package reconcile). *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Getter is how the controller re-reads an owner before it adopts pods, from
// the store itself, not the cache. *store.Store is a Getter.
type Getter = reconcile.Getter

// Batch collects pod creations written in one transaction (see
// reconcile.CreateBatch). *store.Txn is a Batch.
type Batch = reconcile.CreateBatch

// Config configures a Controller. Writer, Getter, NewBatch and Informers are
// required; the control plane passes one *store.Store as Writer and Getter, and
// a function returning its Txn as NewBatch.
type Config struct {
	// Writer creates, deletes, adopts and releases pods, and writes the
	// owners' status.
	Writer Writer
	// Getter re-reads an owner before it adopts pods.
	Getter Getter
	// NewBatch starts an empty Batch, for creating many pods in one
	// transaction. With a *store.Store st it is
	// func() replicaset.Batch { return st.Txn() }.
	NewBatch func() Batch
	// Informers provides the shared pod and owner caches. New registers handlers
	// and indexes on them, so it must be called before Informers.Start.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock is used for availability (minReadySeconds), expectations and the
	// work queue; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many owners are reconciled at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Admit admits each pod before it is created (ResourceQuota, LimitRange,
	// the default ServiceAccount); nil admits every pod. A refusal creates
	// nothing, is recorded as a FailedCreate Warning Event and the
	// ReplicaFailure condition, and is tried again with backoff.
	Admit reconcile.PodAdmitter
	// Kind is the kind served: KindReplicaSet ("" too) or KindReplicationController.
	Kind string
	// BurstReplicas caps the pods created or deleted per owner per pass; default
	// DefaultBurstReplicas.
	BurstReplicas int
	// CreateParallelism bounds concurrent pod creates or deletes within one pass;
	// default DefaultCreateParallelism.
	CreateParallelism int
	// ExpectationsTimeout is how long to wait for the cache to report the pods a
	// pass created or deleted before acting again anyway; default
	// DefaultExpectationsTimeout.
	ExpectationsTimeout time.Duration
	// Recorder receives the Events of the owners: SuccessfulCreate,
	// SuccessfulDelete and FailedCreate, as Kubernetes' controllers write
	// them. nil records none.
	Recorder *events.Recorder
}

// Reasons of the controller's Events, as Kubernetes' ReplicaSet and
// ReplicationController controllers write them (FailedCreate too, the
// ReplicaFailure condition's reason).
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
)

// Controller keeps the pods of every ReplicaSet (or every ReplicationController)
// in line with its spec and reports its status. Create it with New.
type Controller struct {
	kind        kindInfo
	writer      Writer
	getter      Getter
	newBatch    func() Batch
	admit       reconcile.PodAdmitter
	owners      *cache.Informer
	pods        *cache.Informer
	log         *slog.Logger
	clock       clock.WithTicker
	exp         *expectations.Set
	burst       int
	parallelism int
	rec         *events.Recorder
	queue       *reconcile.Controller
	orphanIndex string
	ownerIndex  string
	locks       keyLocks
}

// New returns a Controller for cfg.Kind and registers its handlers and indexes on
// the owner and pod informers. It panics when cfg.Kind is unknown or Writer,
// Getter, NewBatch or Informers is nil: those are programming errors.
func New(cfg Config) *Controller {
	k, err := lookupKind(cfg.Kind)
	if err != nil {
		panic(err)
	}
	if cfg.Writer == nil || cfg.Getter == nil || cfg.NewBatch == nil || cfg.Informers == nil {
		panic("replicaset: Config.Writer, Config.Getter, Config.NewBatch and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.BurstReplicas, DefaultBurstReplicas)
	defaults.Positive(&cfg.CreateParallelism, DefaultCreateParallelism)
	defaults.Positive(&cfg.ExpectationsTimeout, DefaultExpectationsTimeout)
	podsRes, _ := api.Lookup("pods")
	name := strings.ToLower(k.name)
	c := &Controller{
		kind:        k,
		writer:      cfg.Writer,
		getter:      cfg.Getter,
		newBatch:    cfg.NewBatch,
		admit:       cfg.Admit,
		owners:      cfg.Informers.For(k.resource),
		pods:        cfg.Informers.For(podsRes),
		log:         cfg.Logger.With("controller", name),
		clock:       cfg.Clock,
		exp:         expectations.New(cfg.Clock, cfg.ExpectationsTimeout),
		burst:       cfg.BurstReplicas,
		parallelism: cfg.CreateParallelism,
		rec:         cfg.Recorder,
		orphanIndex: name + ".orphans",
		ownerIndex:  cache.IndexOwnerUID,
	}
	c.queue = reconcile.NewController(name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.pods.AddIndex(c.ownerIndex, cache.IndexByOwnerUID)
	c.owners.AddIndex(c.ownerIndex, cache.IndexByOwnerUID)
	c.pods.AddIndex(c.orphanIndex, orphanNamespace)
	c.owners.AddHandler(cache.Handler{
		OnAdd:    func(obj api.Object) { c.queue.EnqueueObject(obj) },
		OnUpdate: func(_, obj api.Object) { c.queue.EnqueueObject(obj) },
		OnDelete: func(obj api.Object) {
			c.exp.Forget(reconcile.KeyOf(obj))
			c.queue.EnqueueObject(obj)
		},
	})
	c.pods.AddHandler(cache.Handler{
		OnAdd:    c.podAdded,
		OnUpdate: c.podUpdated,
		OnDelete: c.podDeleted,
	})
	return c
}

// NewReplicaSets returns New(cfg) serving ReplicaSets.
func NewReplicaSets(cfg Config) *Controller {
	cfg.Kind = KindReplicaSet
	return New(cfg)
}

// NewReplicationControllers returns New(cfg) serving ReplicationControllers.
func NewReplicationControllers(cfg Config) *Controller {
	cfg.Kind = KindReplicationController
	return New(cfg)
}

// orphanNamespace indexes pods without a controller ownerReference by namespace.
func orphanNamespace(obj api.Object) []string {
	if metav1.GetControllerOfNoCopy(obj) != nil {
		return nil
	}
	return []string{obj.GetNamespace()}
}

// Kind returns the kind the controller serves.
func (c *Controller) Kind() string { return c.kind.name }

// Run reconciles owners until ctx ends, then returns nil. The informers must be
// started (Informers.Start) by the caller; Run waits for the owner and pod caches
// to sync before it reconciles anything.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.owners, c.pods) {
		return nil // ctx ended
	}
	c.log.Info("controller started", "kind", c.kind.name)
	return c.queue.Run(ctx)
}

// Enqueue queues the owner key "namespace/name" for reconciliation.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// Reconcile brings one owner, named by key "namespace/name", towards its spec:
// it adopts and releases pods, creates or deletes pods (unless an earlier pass's
// writes are not in the cache yet) and writes the status when it changed.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	unlock := c.locks.lock(key)
	defer unlock()

	ns, name := reconcile.SplitKey(key)
	obj, ok := c.owners.Get(ns, name)
	if !ok {
		c.exp.Forget(key)
		return reconcile.Result{}, nil
	}
	o, err := c.kind.view(obj)
	if err != nil {
		return reconcile.Result{}, reconcile.Terminal(err)
	}
	synced, expWait := c.exp.Satisfied(key)

	active, terminating, err := c.claimPods(ctx, o)
	if err != nil {
		return reconcile.Result{}, err
	}

	var manageErr error
	var diff int
	if synced && o.rs.DeletionTimestamp == nil {
		diff, manageErr = c.manageReplicas(ctx, key, o, active)
	}

	now := c.clock.Now()
	st, availWait := calculateStatus(o, active, terminating, c.kind.name == KindReplicaSet, manageErr, diff, now)
	var res reconcile.Result
	if !statusEqual(o.rs.Status, st) {
		updated := c.kind.withStatus(obj, st)
		if err := c.writer.Update(ctx, updated); err != nil {
			switch {
			case errors.Is(err, api.ErrNotFound):
				return reconcile.Result{}, nil
			case errors.Is(err, api.ErrConflict):
				// Someone wrote the owner since the cache saw it: look again
				// once the cache has the new version.
				res.Requeue = true
			default:
				return reconcile.Result{}, fmt.Errorf("replicaset: %s %s: update status: %w", c.kind.name, key, err)
			}
		}
	}
	if manageErr != nil {
		return reconcile.Result{}, manageErr
	}
	if availWait > 0 {
		res.RequeueAfter = availWait
	}
	if !synced && (res.RequeueAfter == 0 || expWait < res.RequeueAfter) {
		// The pod events that satisfy the expectations queue the owner again; this
		// is the safety net for when they never come.
		res.RequeueAfter = expWait
	}
	return res, nil
}

// ownerKeyOfPod returns the key of the owner of c's kind that controls pod (found
// in the cache, with a matching UID), or "".
func (c *Controller) ownerKeyOfPod(pod api.Object) string {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || !c.kind.refersToKind(ref) {
		return ""
	}
	obj, ok := c.owners.Get(pod.GetNamespace(), ref.Name)
	if !ok || obj.GetUID() != ref.UID {
		return ""
	}
	return reconcile.KeyOf(obj)
}

// enqueueMatchingOwners queues every owner in pod's namespace whose selector
// selects it: the candidates to adopt an orphan.
func (c *Controller) enqueueMatchingOwners(pod api.Object) {
	set := labels.Set(pod.GetLabels())
	for _, obj := range c.owners.List(pod.GetNamespace(), nil) {
		o, err := c.kind.view(obj)
		if err != nil {
			continue
		}
		if o.selector.Matches(set) {
			c.queue.EnqueueObject(obj)
		}
	}
}

func (c *Controller) podAdded(obj api.Object) {
	if obj.GetDeletionTimestamp() != nil {
		// Seen for the first time already being deleted (e.g. after a relist).
		c.podDeleted(obj)
		return
	}
	if metav1.GetControllerOfNoCopy(obj) != nil {
		if key := c.ownerKeyOfPod(obj); key != "" {
			c.exp.CreationObserved(key)
			c.queue.Enqueue(key)
		}
		return
	}
	c.enqueueMatchingOwners(obj)
}

func (c *Controller) podUpdated(old, cur api.Object) {
	if old.GetResourceVersion() == cur.GetResourceVersion() {
		return
	}
	if cur.GetDeletionTimestamp() != nil {
		if key := c.ownerKeyOfPod(cur); key != "" {
			c.exp.DeletionObserved(key, reconcile.KeyOf(cur))
		}
	}
	labelsChanged := !labels.Equals(old.GetLabels(), cur.GetLabels())
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	refChanged := !refsEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if key := c.ownerKeyOfPod(old); key != "" {
			c.queue.Enqueue(key)
		}
	}
	if curRef != nil {
		if key := c.ownerKeyOfPod(cur); key != "" {
			c.queue.Enqueue(key)
		}
		return
	}
	if labelsChanged || refChanged {
		c.enqueueMatchingOwners(cur)
	}
}

func (c *Controller) podDeleted(obj api.Object) {
	if key := c.ownerKeyOfPod(obj); key != "" {
		c.exp.DeletionObserved(key, reconcile.KeyOf(obj))
		c.queue.Enqueue(key)
	}
}

func refsEqual(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
}

// asPod returns obj as a pod (the pod informer holds only pods).
func asPod(obj api.Object) *corev1.Pod {
	p, _ := obj.(*corev1.Pod)
	return p
}

// keyLocks serialises Reconcile calls for one key. The work queue already never
// runs one key twice at once; this also holds for direct calls (tests, tools).
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (l *keyLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		k.refs--
		if k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
