package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"

	"k8s.io/client-go/util/workqueue"

	"github.com/bosun-dev/bosun/api"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs and in its work queue.
const Name = "disruption"

// DeletionTimeout is how long a pod an eviction let go stays in a budget's
// status.disruptedPods (not counted as healthy) while it is not deleted;
// after that the controller assumes the deletion will not happen and
// counts the pod again, as Kubernetes' disruption controller does.
const DeletionTimeout = api.DisruptionDeletionTimeout

// Writer is how the controller writes the status of PodDisruptionBudgets:
// a compare-and-swap on resourceVersion (see package reconcile).
// *store.Store is a Writer.
type Writer interface {
	reconcile.Updater
}

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer writes the budgets' status.
	Writer Writer
	// Informers supplies the PodDisruptionBudget, Pod, ReplicaSet,
	// ReplicationController and Deployment caches; New registers handlers,
	// so call it before Informers.Start.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock stamps conditions and expires disruptedPods; default
	// clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many budgets are reconciled at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Recorder receives the UnmanagedPods Warning Event of a budget that
	// selects pods without a controller; nil records none.
	Recorder *events.Recorder
}

// ReasonUnmanagedPods is the reason of the Warning Event on a budget that
// selects pods without a controller, as Kubernetes' disruption controller
// writes it.
const ReasonUnmanagedPods = "UnmanagedPods"

// Controller keeps the status of every PodDisruptionBudget. Create it with New.
type Controller struct {
	writer      Writer
	log         *slog.Logger
	clock       clock.WithTicker
	pdbs        *cache.Informer
	pods        *cache.Informer
	replicaSets *cache.Informer
	rcs         *cache.Informer
	deployments *cache.Informer
	queue       *reconcile.Controller
	rec         *events.Recorder
}

// New returns a Controller and registers its handlers on cfg.Informers. It
// panics when cfg.Writer or cfg.Informers is nil (a wiring mistake).
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("disruption: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	c := &Controller{
		writer:      cfg.Writer,
		log:         cfg.Logger.With("controller", Name),
		clock:       cfg.Clock,
		pdbs:        cfg.Informers.ForKind("poddisruptionbudgets"),
		pods:        cfg.Informers.ForKind("pods"),
		replicaSets: cfg.Informers.ForKind("replicasets"),
		rcs:         cfg.Informers.ForKind("replicationcontrollers"),
		deployments: cfg.Informers.ForKind("deployments"),
		rec:         cfg.Recorder,
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.pdbs.AddHandler(c.queue.EnqueueHandler())
	c.pods.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { c.enqueueBudgetsOf(o, nil) },
		OnUpdate: func(old, o api.Object) { c.enqueueBudgetsOf(o, old) },
		OnDelete: func(o api.Object) { c.enqueueBudgetsOf(o, nil) },
	})
	// A controller's scale is the denominator of percentages and of
	// maxUnavailable: look again at the budgets of its namespace.
	scaled := cache.Handler{
		OnAdd:    c.enqueueNamespace,
		OnUpdate: func(_, o api.Object) { c.enqueueNamespace(o) },
		OnDelete: c.enqueueNamespace,
	}
	c.replicaSets.AddHandler(scaled)
	c.rcs.AddHandler(scaled)
	c.deployments.AddHandler(scaled)
	return c
}

// Run waits for the caches to sync, then reconciles budgets until ctx ends.
// It returns nil when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.pdbs, c.pods, c.replicaSets, c.rcs, c.deployments) {
		return nil
	}
	return c.queue.Run(ctx)
}

// Len returns how many budget keys wait in the work queue.
func (c *Controller) Len() int { return c.queue.Len() }

// enqueueBudgetsOf queues the budgets of pod's namespace that select pod,
// or old (the pod before an update, may be nil).
func (c *Controller) enqueueBudgetsOf(pod, old api.Object) {
	for _, o := range c.pdbs.List(pod.GetNamespace(), nil) {
		sel := selectorOf(o.(*policyv1.PodDisruptionBudget))
		if sel.Matches(labels.Set(pod.GetLabels())) || (old != nil && sel.Matches(labels.Set(old.GetLabels()))) {
			c.queue.EnqueueObject(o)
		}
	}
}

// enqueueNamespace queues every budget of obj's namespace.
func (c *Controller) enqueueNamespace(obj api.Object) {
	for _, o := range c.pdbs.List(obj.GetNamespace(), nil) {
		c.queue.EnqueueObject(o)
	}
}

// selectorOf returns pdb's selector as policy/v1 reads it: none selects no
// pod, an empty one every pod of the namespace; an invalid one selects none.
func selectorOf(pdb *policyv1.PodDisruptionBudget) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// Reconcile computes the status of the budget named by key from the pods it
// selects and writes it when it differs (see the package documentation).
// When the expected number of pods cannot be computed (a selected pod's
// controller is unknown or not cached yet) the status allows no disruption
// (condition SyncFailed) and the key is retried.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	o, ok := c.pdbs.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	pdb := o.(*policyv1.PodDisruptionBudget)
	var pods []*corev1.Pod
	for _, p := range c.pods.List(ns, selectorOf(pdb)) {
		pods = append(pods, p.(*corev1.Pod))
	}
	now := c.clock.Now()
	expected, desired, unmanaged, err := c.expectedPods(pdb, pods)
	if err != nil {
		if werr := c.failSafe(ctx, pdb, now, err); werr != nil {
			return reconcile.Result{}, errors.Join(err, werr)
		}
		return reconcile.Result{}, err
	}
	if len(unmanaged) > 0 {
		c.rec.Eventf(events.Ref(pdb), corev1.EventTypeWarning, ReasonUnmanagedPods,
			"Pods %s have no controller: they count as healthy but not as expected pods, so this budget's status may be wrong; "+
				"set spec.minAvailable to an integer to account for them", strings.Join(unmanaged, ", "))
		c.log.Warn("pods selected by a disruption budget have no controller: they count as healthy but not as expected pods, so the budget's status may be wrong; use an integer minAvailable for them",
			"budget", key, "pods", unmanaged)
	}
	disrupted, recheck := disruptedPods(pdb, pods, now)
	healthy := countHealthy(pods, disrupted)
	if err := c.writeStatus(ctx, pdb, now, healthy, desired, expected, disrupted); err != nil {
		return reconcile.Result{}, err
	}
	if recheck != nil {
		return reconcile.Result{RequeueAfter: max(recheck.Sub(now), time.Millisecond)}, nil
	}
	return reconcile.Result{}, nil
}

// expectedPods returns how many pods pdb expects and how many of them must
// be healthy, as Kubernetes computes them: with an integer minAvailable
// the expected count is the number of selected pods; with maxUnavailable
// or a percentage it is the sum of the scales of the selected pods'
// controllers (a percentage is rounded up), and pods without a controller
// are returned as unmanaged (not counted).
func (c *Controller) expectedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, desired int32, unmanaged []string, err error) {
	s := pdb.Spec
	limit := s.MinAvailable
	switch {
	case s.MaxUnavailable != nil:
		limit = s.MaxUnavailable
	case s.MinAvailable == nil:
		return 0, 0, nil, nil
	case s.MinAvailable.Type == intstr.Int:
		return int32(len(pods)), s.MinAvailable.IntVal, nil, nil
	}
	if expected, unmanaged, err = c.scaleOf(pods); err != nil {
		return 0, 0, nil, err
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(limit, int(expected), true)
	if err != nil {
		return 0, 0, nil, err
	}
	if s.MaxUnavailable != nil {
		return expected, max(expected-int32(n), 0), unmanaged, nil
	}
	return expected, int32(n), unmanaged, nil
}

// scaleOf sums the spec.replicas of the controllers of pods, each counted
// once: a ReplicaSet's, or its Deployment's when a Deployment controls it,
// or a ReplicationController's. Pods without a controller are returned by
// name; a pod whose controller is none of these (or not cached) is an error.
func (c *Controller) scaleOf(pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{} // by the UID of the object whose scale counts
	var unmanaged []string
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil {
			unmanaged = append(unmanaged, p.Name)
			continue
		}
		uid, n, ok := c.controllerScale(p.Namespace, ref)
		if !ok {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", p.Name)
		}
		scales[uid] = n
	}
	var sum int32
	for _, n := range scales {
		sum += n
	}
	return sum, unmanaged, nil
}

// controllerScale finds the controller that ref names in namespace ns and
// returns the UID of the object whose scale counts (a ReplicaSet's
// Deployment, when a Deployment controls it) and that scale.
func (c *Controller) controllerScale(ns string, ref *metav1.OwnerReference) (types.UID, int32, bool) {
	switch ref.Kind {
	case "ReplicaSet":
		o, ok := c.replicaSets.Get(ns, ref.Name)
		if !ok || o.GetUID() != ref.UID {
			return "", 0, false
		}
		rs := o.(*appsv1.ReplicaSet)
		if dref := metav1.GetControllerOfNoCopy(rs); dref != nil && dref.Kind == "Deployment" {
			d, ok := c.deployments.Get(ns, dref.Name)
			if !ok || d.GetUID() != dref.UID {
				return "", 0, false
			}
			return d.GetUID(), replicas(d.(*appsv1.Deployment).Spec.Replicas), true
		}
		return rs.UID, replicas(rs.Spec.Replicas), true
	case "ReplicationController":
		o, ok := c.rcs.Get(ns, ref.Name)
		if !ok || o.GetUID() != ref.UID {
			return "", 0, false
		}
		return o.GetUID(), replicas(o.(*corev1.ReplicationController).Spec.Replicas), true
	}
	return "", 0, false
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// disruptedPods returns the entries of pdb's status.disruptedPods that still
// hold: the pod exists, is not being deleted, and was evicted less than
// DeletionTimeout ago; and the earliest time one of them expires (nil: none).
func disruptedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, *time.Time) {
	byName := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		byName[p.Name] = p
	}
	out := map[string]metav1.Time{}
	var recheck *time.Time
	for name, at := range pdb.Status.DisruptedPods {
		p, ok := byName[name]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		expires := at.Add(DeletionTimeout)
		if !now.Before(expires) {
			continue // the eviction's delete never happened: count the pod again
		}
		out[name] = at
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
	}
	return out, recheck
}

// countHealthy counts the pods that are Ready, not being deleted and not
// recorded as disrupted.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time) int32 {
	var n int32
	for _, p := range pods {
		if _, gone := disrupted[p.Name]; gone || p.DeletionTimestamp != nil {
			continue
		}
		if api.PodReady(p) {
			n++
		}
	}
	return n
}

// writeStatus writes pdb's status from the figures, unless it says so
// already.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, now time.Time, healthy, desired, expected int32, disrupted map[string]metav1.Time) error {
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		// A budget whose first pods just appeared stays safe until counted.
		allowed = 0
	}
	st := pdb.Status
	if st.CurrentHealthy == healthy && st.DesiredHealthy == desired && st.ExpectedPods == expected &&
		st.DisruptionsAllowed == allowed && apiequality.Semantic.DeepEqual(st.DisruptedPods, disrupted) &&
		st.ObservedGeneration == pdb.Generation && api.DisruptionAllowedUpToDate(pdb) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         next.Status.Conditions,
	}
	if len(next.Status.DisruptedPods) == 0 {
		next.Status.DisruptedPods = nil
	}
	api.SetDisruptionAllowed(next, now)
	return c.update(ctx, next)
}

// failSafe writes a status that allows no disruption, saying why.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, now time.Time, cause error) error {
	next := pdb.DeepCopy()
	next.Status.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&next.Status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: next.Status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now).Rfc3339Copy(),
	})
	if apiequality.Semantic.DeepEqual(next.Status, pdb.Status) {
		return nil
	}
	return c.update(ctx, next)
}

func (c *Controller) update(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	if err := c.writer.Update(ctx, pdb); err != nil {
		return fmt.Errorf("disruption: write the status of %s/%s: %w", pdb.Namespace, pdb.Name, err)
	}
	c.log.Debug("wrote budget status", "budget", pdb.Namespace+"/"+pdb.Name, "allowed", pdb.Status.DisruptionsAllowed,
		"healthy", pdb.Status.CurrentHealthy, "desired", pdb.Status.DesiredHealthy, "revision", pdb.ResourceVersion)
	return nil
}
