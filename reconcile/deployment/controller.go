package deployment

import (
	"context"
	"log/slog"

	"k8s.io/client-go/util/workqueue"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// indexControllerUID finds ReplicaSets by the UID of their controller
// (ownerReference with controller: true). It is the package's own index so that
// it does not collide with other controllers' indexes on the shared informer.
const indexControllerUID = "deployment.controllerUID"

// Writer is how the Deployment controller creates, updates and deletes
// ReplicaSets and writes Deployments: each method is a compare-and-swap on
// resourceVersion (see package reconcile). *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Getter is how the Deployment controller re-reads a Deployment or ReplicaSet
// from the store itself, not the cache. *store.Store is a Getter.
type Getter = reconcile.Getter

// Config is what New needs. Writer, Getter and Informers are required; the
// control plane passes one *store.Store as both Writer and Getter.
type Config struct {
	// Writer creates, scales and deletes the Deployments' ReplicaSets and
	// writes the Deployments' status and revision annotation.
	Writer Writer
	// Getter re-reads a Deployment before it adopts ReplicaSets, and a
	// ReplicaSet whose name a create found taken.
	Getter Getter
	// Informers provides the deployments, replicasets and pods caches.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the time of conditions and progress deadlines; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many Deployments are reconciled at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Recorder receives the ScalingReplicaSet Events Kubernetes' Deployment
	// controller writes; nil records none.
	Recorder *events.Recorder
}

// ReasonScalingReplicaSet is the reason of the Event written when a
// Deployment's ReplicaSet is scaled.
const ReasonScalingReplicaSet = "ScalingReplicaSet"

// Controller is the Deployment controller. Create it with New.
type Controller struct {
	writer Writer
	getter Getter
	log    *slog.Logger
	clock  clock.WithTicker
	queue  *reconcile.Controller
	rec    *events.Recorder

	deployments *cache.Informer
	replicaSets *cache.Informer
	pods        *cache.Informer

	rsResource api.Resource
	gvk        metav1.GroupVersionKind
}

// New returns a Deployment controller and registers its handlers on the
// deployments, replicasets and pods informers of cfg.Informers, so it must be
// called before cfg.Informers.Start. Nothing runs until Run.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.Informers == nil {
		panic("deployment: Config.Writer, Config.Getter and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	deployRes, ok1 := api.Lookup("deployments.apps")
	rsRes, ok2 := api.Lookup("replicasets.apps")
	podRes, ok3 := api.Lookup("pods")
	if !ok1 || !ok2 || !ok3 {
		panic("deployment: the store lacks deployments, replicasets or pods") // programming error
	}
	c := &Controller{
		writer:      cfg.Writer,
		getter:      cfg.Getter,
		log:         cfg.Logger.With("controller", "deployment"),
		clock:       cfg.Clock,
		rec:         cfg.Recorder,
		deployments: cfg.Informers.For(deployRes),
		replicaSets: cfg.Informers.For(rsRes),
		pods:        cfg.Informers.For(podRes),
		rsResource:  rsRes,
		gvk:         metav1.GroupVersionKind{Group: deployRes.Group, Version: deployRes.Version, Kind: deployRes.Kind},
	}
	c.queue = reconcile.NewController("deployment", c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.replicaSets.AddIndex(indexControllerUID, indexByControllerUID)
	c.deployments.AddHandler(c.queue.EnqueueHandler())
	c.replicaSets.AddHandler(cache.Handler{
		OnAdd:    c.onReplicaSetAdd,
		OnUpdate: c.onReplicaSetUpdate,
		OnDelete: c.onReplicaSetDelete,
	})
	c.pods.AddHandler(cache.Handler{
		OnUpdate: c.onPodUpdate,
		OnDelete: c.onPodDelete,
	})
	return c
}

// Run waits for the caches to sync, then reconciles Deployments until ctx ends.
// It returns nil when ctx ends (also while it still waits for the caches).
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.deployments, c.replicaSets, c.pods) {
		return nil // ctx ended
	}
	return c.queue.Run(ctx)
}

// Enqueue asks for the Deployment with key "namespace/name" to be reconciled.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

func indexByControllerUID(obj api.Object) []string {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		return []string{string(ref.UID)}
	}
	return nil
}

// deploymentForRef returns the key of the Deployment ref points to, when it
// names a Deployment in namespace that the cache holds with the same UID.
func (c *Controller) deploymentForRef(namespace string, ref *metav1.OwnerReference) (*appsv1.Deployment, bool) {
	if ref == nil || ref.Kind != c.gvk.Kind || ref.APIVersion != appsv1.SchemeGroupVersion.String() {
		return nil, false
	}
	obj, ok := c.deployments.Get(namespace, ref.Name)
	if !ok || obj.GetUID() != ref.UID {
		return nil, false
	}
	d, ok := obj.(*appsv1.Deployment)
	return d, ok
}

// enqueueMatching queues every Deployment in rs's namespace whose selector
// matches rs's labels: candidates to adopt an orphan.
func (c *Controller) enqueueMatching(rs api.Object) {
	set := labels.Set(rs.GetLabels())
	for _, o := range c.deployments.List(rs.GetNamespace(), nil) {
		d, ok := o.(*appsv1.Deployment)
		if !ok || d.Spec.Selector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(set) {
			c.queue.EnqueueObject(d)
		}
	}
}

func (c *Controller) onReplicaSetAdd(obj api.Object) {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		if d, ok := c.deploymentForRef(obj.GetNamespace(), ref); ok {
			c.queue.EnqueueObject(d)
		}
		return
	}
	c.enqueueMatching(obj)
}

func (c *Controller) onReplicaSetUpdate(old, cur api.Object) {
	if old.GetResourceVersion() == cur.GetResourceVersion() {
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if d, ok := c.deploymentForRef(old.GetNamespace(), oldRef); ok {
			c.queue.EnqueueObject(d)
		}
	}
	if curRef != nil {
		if d, ok := c.deploymentForRef(cur.GetNamespace(), curRef); ok {
			c.queue.EnqueueObject(d)
		}
		return
	}
	if refChanged || !labels.Equals(old.GetLabels(), cur.GetLabels()) {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) onReplicaSetDelete(obj api.Object) {
	if d, ok := c.deploymentForRef(obj.GetNamespace(), metav1.GetControllerOf(obj)); ok {
		c.queue.EnqueueObject(d)
	}
}

// recreateDeploymentOfPod returns the Recreate Deployment that controls pod's
// ReplicaSet: only those wait for old pods to go.
func (c *Controller) recreateDeploymentOfPod(pod api.Object) (*appsv1.Deployment, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil, false
	}
	rs, ok := c.replicaSets.Get(pod.GetNamespace(), ref.Name)
	if !ok || rs.GetUID() != ref.UID {
		return nil, false
	}
	d, ok := c.deploymentForRef(pod.GetNamespace(), metav1.GetControllerOf(rs))
	if !ok || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return nil, false
	}
	return d, true
}

func (c *Controller) onPodDelete(obj api.Object) {
	if d, ok := c.recreateDeploymentOfPod(obj); ok {
		c.queue.EnqueueObject(d)
	}
}

// onPodUpdate reacts to a pod of a Recreate Deployment reaching a terminal phase,
// which no longer counts as an old pod still running.
func (c *Controller) onPodUpdate(old, cur api.Object) {
	op, ok1 := old.(*corev1.Pod)
	np, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 || op.Status.Phase == np.Status.Phase || !podTerminal(np) {
		return
	}
	if d, ok := c.recreateDeploymentOfPod(cur); ok {
		c.queue.EnqueueObject(d)
	}
}

func podTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
