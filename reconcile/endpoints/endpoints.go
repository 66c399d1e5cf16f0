package endpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"k8s.io/client-go/util/workqueue"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs and in its work queue.
const Name = "endpoints"

// Writer is how the endpoints controller creates, updates and deletes
// Endpoints: each method is a compare-and-swap on resourceVersion (see package
// reconcile). *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Config configures a Controller. Writer and Informers are required; the
// control plane passes its *store.Store as Writer.
type Config struct {
	// Writer creates, updates and deletes the Endpoints of Services.
	Writer Writer
	// Informers supplies the Service, Pod and Endpoints caches.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the work queue's delays; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many Services are reconciled at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
}

// Controller keeps the Endpoints of every Service with a selector.
type Controller struct {
	writer    Writer
	log       *slog.Logger
	services  *cache.Informer
	pods      *cache.Informer
	endpoints *cache.Informer
	epRes     api.Resource
	// slices is the EndpointSlice informer (discovery.k8s.io/v1).
	slices   *cache.Informer
	sliceRes api.Resource
	queue    *reconcile.Controller
}

// New returns a Controller and registers its handlers on the Service, Pod and
// Endpoints informers of cfg.Informers; call it before cfg.Informers.Start. It
// panics when cfg.Writer or cfg.Informers is nil (a wiring mistake).
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("endpoints: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	epRes, _ := api.Lookup("endpoints")
	sliceRes, _ := api.Lookup("endpointslices.discovery.k8s.io")
	c := &Controller{
		writer:    cfg.Writer,
		log:       cfg.Logger.With("controller", Name),
		services:  cfg.Informers.ForKind("services"),
		pods:      cfg.Informers.ForKind("pods"),
		endpoints: cfg.Informers.ForKind("endpoints"),
		epRes:     epRes,
		slices:    cfg.Informers.For(sliceRes),
		sliceRes:  sliceRes,
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	enqueue := func(o api.Object) { c.queue.EnqueueObject(o) }
	// Someone else changed or removed a slice: look at its Service again.
	enqueueService := func(o api.Object) {
		if svc := o.GetLabels()[LabelServiceName]; svc != "" {
			c.queue.Enqueue(o.GetNamespace() + "/" + svc)
		}
	}
	c.slices.AddHandler(cache.Handler{
		OnUpdate: func(_, o api.Object) { enqueueService(o) },
		OnDelete: enqueueService,
	})
	c.services.AddHandler(c.queue.EnqueueHandler())
	c.endpoints.AddHandler(cache.Handler{
		// Someone else changed or removed an Endpoints: look at its Service again.
		OnUpdate: func(_, o api.Object) { enqueue(o) },
		OnDelete: enqueue,
	})
	c.pods.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { c.enqueueServicesOf(o.(*corev1.Pod), nil) },
		OnUpdate: c.podUpdated,
		OnDelete: func(o api.Object) { c.enqueueServicesOf(o.(*corev1.Pod), nil) },
	})
	return c
}

// Run waits for the caches to sync, then reconciles Services until ctx ends. It
// returns nil when ctx ends (also while it still waits for the caches).
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.services, c.pods, c.endpoints, c.slices) {
		return nil // ctx ended
	}
	return c.queue.Run(ctx)
}

// Len returns how many Service keys wait in the work queue.
func (c *Controller) Len() int { return c.queue.Len() }

// podUpdated enqueues the Services of a pod whose change matters to Endpoints.
func (c *Controller) podUpdated(oldObj, newObj api.Object) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion || !relevantChange(old, cur) {
		return
	}
	if maps.Equal(old.Labels, cur.Labels) {
		c.enqueueServicesOf(cur, nil)
		return
	}
	c.enqueueServicesOf(cur, old)
}

// relevantChange reports whether anything an Endpoints shows of a pod changed.
func relevantChange(old, cur *corev1.Pod) bool {
	return old.Status.PodIP != cur.Status.PodIP ||
		old.Spec.NodeName != cur.Spec.NodeName ||
		old.Status.Phase != cur.Status.Phase ||
		podReady(old) != podReady(cur) ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain ||
		old.UID != cur.UID ||
		!maps.Equal(old.Labels, cur.Labels) ||
		!apiequality.Semantic.DeepEqual(old.Spec.Containers, cur.Spec.Containers)
}

// enqueueServicesOf enqueues every Service in pod's namespace whose selector
// matches pod's labels or, when old is not nil, old's labels. It costs one pass
// over the namespace's Services, found through the cache's namespace index.
func (c *Controller) enqueueServicesOf(pod, old *corev1.Pod) {
	for _, o := range c.services.List(pod.Namespace, nil) {
		svc := o.(*corev1.Service)
		if selects(svc.Spec.Selector, pod.Labels) || (old != nil && selects(svc.Spec.Selector, old.Labels)) {
			c.queue.EnqueueObject(svc)
		}
	}
}

// Reconcile makes the Endpoints namespace/name (key) and the Service's
// EndpointSlices match the Service of that name: created or updated from
// the pods the Service selects when the Service has a selector, deleted (if
// this controller made them) when the Service is gone; an Endpoints is left
// alone when the Service has no selector (its slices are deleted). It writes
// only when the content differs, with compare-and-swap; a conflict returns
// an error so that the key is retried from fresh caches.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	var cur *corev1.Endpoints
	if o, ok := c.endpoints.Get(ns, name); ok {
		cur = o.(*corev1.Endpoints)
	}
	o, ok := c.services.Get(ns, name)
	if !ok {
		return reconcile.Result{}, errors.Join(c.deleteOwned(ctx, cur, name), c.deleteSlices(ctx, ns, name))
	}
	svc := o.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 {
		return reconcile.Result{}, c.deleteSlices(ctx, ns, name) // user-managed Endpoints
	}
	if svc.DeletionTimestamp != nil {
		return reconcile.Result{}, nil // going away; its deletion event follows
	}
	if cur != nil && cur.Labels[api.LabelManagedBy] == api.ManagedByValue {
		c.log.Warn("an Endpoints object from Git shadows a Service with a selector; the controller leaves it alone: remove it from the repository or the Service's selector",
			"service", key)
		return reconcile.Result{}, nil
	}

	var pods []*corev1.Pod
	for _, p := range c.pods.List(ns, labels.SelectorFromSet(svc.Spec.Selector)) {
		pods = append(pods, p.(*corev1.Pod))
	}
	subsets := Subsets(svc, pods)
	res, err := c.syncEndpoints(ctx, svc, cur, subsets)
	if err != nil {
		return res, err
	}
	return res, c.syncSlices(ctx, svc, EndpointSlices(svc, subsets))
}

// syncEndpoints writes the Endpoints of svc with subsets, cur being the
// current one (nil: none).
func (c *Controller) syncEndpoints(ctx context.Context, svc *corev1.Service, cur *corev1.Endpoints, subsets []corev1.EndpointSubset) (reconcile.Result, error) {
	key := svc.Namespace + "/" + svc.Name
	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       svc.Namespace,
			Name:            svc.Name,
			Labels:          endpointsLabels(svc),
			OwnerReferences: []metav1.OwnerReference{ownerRef(svc)},
		},
		Subsets: subsets,
	}

	if cur == nil {
		if err := c.writer.Create(ctx, want); err != nil {
			return reconcile.Result{}, fmt.Errorf("endpoints: create %s: %w", key, err)
		}
		c.log.Debug("created endpoints", "service", key, "revision", want.ResourceVersion)
		return reconcile.Result{}, nil
	}
	if upToDate(cur, want) {
		return reconcile.Result{}, nil
	}
	next := cur.DeepCopy()
	next.Labels = want.Labels
	next.OwnerReferences = replaceServiceOwner(next.OwnerReferences, want.OwnerReferences[0])
	next.Subsets = want.Subsets
	if err := c.writer.Update(ctx, next); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return reconcile.Result{Requeue: true}, nil // deleted meanwhile: create it next time
		}
		return reconcile.Result{}, fmt.Errorf("endpoints: update %s: %w", key, err)
	}
	c.log.Debug("updated endpoints", "service", key, "revision", next.ResourceVersion)
	return reconcile.Result{}, nil
}

// deleteOwned deletes ep (may be nil) when this controller made it: it has a
// controller owner reference to a Service of its own name.
func (c *Controller) deleteOwned(ctx context.Context, ep *corev1.Endpoints, name string) error {
	if ep == nil || !ownedByService(ep, name) {
		return nil
	}
	err := c.writer.Delete(ctx, c.epRes, ep.Namespace, ep.Name, ep.ResourceVersion)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("endpoints: delete %s/%s: %w", ep.Namespace, ep.Name, err)
	}
	c.log.Debug("deleted endpoints of a deleted service", "service", ep.Namespace+"/"+ep.Name)
	return nil
}

// ownerRef is the controller owner reference the controller puts on the
// Endpoints of svc; it marks the Endpoints as made by this controller.
func ownerRef(svc *corev1.Service) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: "v1",
		Kind:       "Service",
		Name:       svc.Name,
		UID:        svc.UID,
		Controller: ptr.To(true),
	}
}

// ownedByService reports whether ep has a controller owner reference to a
// Service named name.
func ownedByService(ep *corev1.Endpoints, name string) bool {
	for _, r := range ep.OwnerReferences {
		if r.Controller != nil && *r.Controller && r.Kind == "Service" && r.APIVersion == "v1" && r.Name == name {
			return true
		}
	}
	return false
}

// replaceServiceOwner returns refs with every reference to a Service of ref's
// name replaced by ref.
func replaceServiceOwner(refs []metav1.OwnerReference, ref metav1.OwnerReference) []metav1.OwnerReference {
	out := []metav1.OwnerReference{ref}
	for _, r := range refs {
		if r.Kind == "Service" && r.APIVersion == "v1" && r.Name == ref.Name {
			continue
		}
		out = append(out, r)
	}
	return out
}

// endpointsLabels are the labels of svc's Endpoints: the Service's own labels
// (except sync's managed-by label), plus LabelHeadless for headless Services.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		if k != api.LabelManagedBy {
			out[k] = v
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[LabelHeadless] = ""
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// upToDate reports whether cur already says what want says: same labels, the
// same controller owner, and the same subsets in any order.
func upToDate(cur, want *corev1.Endpoints) bool {
	if !maps.Equal(cur.Labels, want.Labels) {
		return false
	}
	if len(cur.OwnerReferences) == 0 || !hasOwner(cur.OwnerReferences, want.OwnerReferences[0]) {
		return false
	}
	return apiequality.Semantic.DeepEqual(Canonical(cur.Subsets), want.Subsets)
}

func hasOwner(refs []metav1.OwnerReference, want metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.UID == want.UID && r.Kind == want.Kind && r.Name == want.Name &&
			r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}
