package daemonset

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/reconcile"
)

// ownerKey returns the key of the DaemonSet in the cache that controls obj
// (same UID), or "".
func (c *Controller) ownerKey(obj api.Object) string {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil || ref.Kind != "DaemonSet" || (ref.APIVersion != "apps/v1" && ref.APIVersion != "extensions/v1beta1") {
		return ""
	}
	ds, ok := c.sets.Get(obj.GetNamespace(), ref.Name)
	if !ok || ds.GetUID() != ref.UID {
		return ""
	}
	return reconcile.KeyOf(ds)
}

// enqueueMatching queues every DaemonSet of obj's namespace whose selector
// selects obj: the candidates to adopt an orphan.
func (c *Controller) enqueueMatching(obj api.Object) {
	set := labels.Set(obj.GetLabels())
	for _, o := range c.sets.List(obj.GetNamespace(), nil) {
		sel, err := selectorOf(o.(*appsv1.DaemonSet))
		if err == nil && sel.Matches(set) {
			c.queue.EnqueueObject(o)
		}
	}
}

// enqueueOwnerOrMatching queues obj's DaemonSet, or for an orphan those that
// may adopt it.
func (c *Controller) enqueueOwnerOrMatching(obj api.Object) {
	if metav1.GetControllerOfNoCopy(obj) == nil {
		c.enqueueMatching(obj)
		return
	}
	if key := c.ownerKey(obj); key != "" {
		c.queue.Enqueue(key)
	}
}

func (c *Controller) podAdded(obj api.Object) {
	if obj.GetDeletionTimestamp() != nil {
		c.podDeleted(obj)
		return
	}
	if key := c.ownerKey(obj); key != "" {
		c.exp.CreationObserved(key)
		c.queue.Enqueue(key)
		return
	}
	if metav1.GetControllerOfNoCopy(obj) == nil {
		c.enqueueMatching(obj)
	}
}

func (c *Controller) podUpdated(old, cur api.Object) {
	if old.GetResourceVersion() == cur.GetResourceVersion() {
		return
	}
	if cur.GetDeletionTimestamp() != nil {
		if key := c.ownerKey(cur); key != "" {
			c.exp.DeletionObserved(key, reconcile.KeyOf(cur))
		}
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(old), metav1.GetControllerOfNoCopy(cur)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if key := c.ownerKey(old); key != "" {
			c.queue.Enqueue(key)
		}
	}
	if curRef != nil {
		if key := c.ownerKey(cur); key != "" {
			c.queue.Enqueue(key)
		}
		return
	}
	if oldRef != nil || !labels.Equals(old.GetLabels(), cur.GetLabels()) {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) podDeleted(obj api.Object) {
	if key := c.ownerKey(obj); key != "" {
		c.exp.DeletionObserved(key, reconcile.KeyOf(obj))
		c.queue.Enqueue(key)
	}
}

// nodeAdded queues every DaemonSet: a node joined or left.
func (c *Controller) nodeAdded(api.Object) {
	for _, o := range c.sets.List("", nil) {
		c.queue.EnqueueObject(o)
	}
}

// nodeUpdated queues the DaemonSets whose verdict on the node changed. Only
// labels and taints decide eligibility, so other changes (status
// heartbeats) are ignored, as in Kubernetes.
func (c *Controller) nodeUpdated(old, cur api.Object) {
	on, cn := old.(*corev1.Node), cur.(*corev1.Node)
	if equality.Semantic.DeepEqual(on.Labels, cn.Labels) && equality.Semantic.DeepEqual(on.Spec.Taints, cn.Spec.Taints) {
		return
	}
	for _, o := range c.sets.List("", nil) {
		ds := o.(*appsv1.DaemonSet)
		tols := daemonTolerations(ds)
		if judge(ds, tols, on) != judge(ds, tols, cn) {
			c.queue.EnqueueObject(ds)
		}
	}
}
