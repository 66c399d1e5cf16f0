package daemonset

import (
	"context"
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/reconcile"
)

// claim returns the objects of inf that ds controls, after adopting the
// orphans (not being deleted) its selector selects and releasing those it
// controls that its selector no longer selects, as Kubernetes'
// ControllerRefManager. Objects changed meanwhile are skipped: their own
// events queue ds again. Copies are returned for the objects written.
func (c *Controller) claim(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, inf *cache.Informer, kind string) ([]api.Object, error) {
	var out []api.Object
	for _, obj := range inf.ByIndex(indexOwner, string(ds.UID)) {
		if !isControlledBy(obj, ds) || obj.GetNamespace() != ds.Namespace {
			continue
		}
		if sel.Matches(labels.Set(obj.GetLabels())) {
			out = append(out, obj)
			continue
		}
		if obj.GetDeletionTimestamp() != nil {
			continue
		}
		if err := c.setOwner(ctx, ds, obj, false); err != nil {
			return nil, fmt.Errorf("daemonset %s: release %s %s: %w", reconcile.KeyOf(ds), kind, obj.GetName(), err)
		}
	}
	var orphans []api.Object
	for _, obj := range inf.ByIndex(indexOrphans, ds.Namespace) {
		if obj.GetDeletionTimestamp() == nil && sel.Matches(labels.Set(obj.GetLabels())) {
			orphans = append(orphans, obj)
		}
	}
	if len(orphans) == 0 {
		return out, nil
	}
	if ok, err := c.canAdopt(ctx, ds); err != nil || !ok {
		return out, err
	}
	for _, obj := range orphans {
		cp := obj.DeepCopyObject().(api.Object)
		err := c.setOwner(ctx, ds, cp, true)
		if err != nil {
			return nil, fmt.Errorf("daemonset %s: adopt %s %s: %w", reconcile.KeyOf(ds), kind, obj.GetName(), err)
		}
		if isControlledBy(cp, ds) {
			out = append(out, cp)
		}
	}
	return out, nil
}

// setOwner adds (adopt) or removes ds's controller reference on obj with a
// compare-and-swap write; a conflict or a vanished object is not an error
// (obj is left unchanged then).
func (c *Controller) setOwner(ctx context.Context, ds *appsv1.DaemonSet, obj api.Object, adopt bool) error {
	cp := obj
	if !adopt {
		cp = obj.DeepCopyObject().(api.Object)
	}
	refs := slices.DeleteFunc(slices.Clone(cp.GetOwnerReferences()), func(r metav1.OwnerReference) bool { return r.UID == ds.UID })
	if adopt {
		refs = append(refs, controllerRef(ds))
	}
	cp.SetOwnerReferences(refs)
	err := c.writer.Update(ctx, cp)
	if errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrNotFound) {
		if adopt {
			cp.SetOwnerReferences(nil)
		}
		return nil
	}
	return err
}

// canAdopt re-reads ds from the store (the cache may lag): only the same
// DaemonSet, not being deleted, adopts.
func (c *Controller) canAdopt(ctx context.Context, ds *appsv1.DaemonSet) (bool, error) {
	fresh := &appsv1.DaemonSet{}
	if err := c.getter.Get(ctx, ds.Namespace, ds.Name, fresh); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("daemonset %s: re-read before adopting: %w", reconcile.KeyOf(ds), err)
	}
	return fresh.UID == ds.UID && fresh.DeletionTimestamp == nil, nil
}

// claimPods returns the pods ds controls (terminating ones too).
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	objs, err := c.claim(ctx, ds, sel, c.pods, "pod")
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*corev1.Pod)
	}
	return out, nil
}

// claimRevisions returns the ControllerRevisions ds controls.
func (c *Controller) claimRevisions(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	objs, err := c.claim(ctx, ds, sel, c.revisions, "controllerrevision")
	if err != nil {
		return nil, err
	}
	out := make([]*appsv1.ControllerRevision, len(objs))
	for i, o := range objs {
		out[i] = o.(*appsv1.ControllerRevision)
	}
	return out, nil
}
