package hpa

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-dev/bosun/api"
)

// scaleTarget is an HPA's target as its scale subresource shows it.
type scaleTarget struct {
	obj      api.Object
	replicas int32
	// selector is the target's pod selector; nil when it has none.
	selector labels.Selector
}

// newTarget returns an empty object of the kind ref names, or an error for
// a kind that has no scale subresource here.
func newTarget(ref autoscalingv2.CrossVersionObjectReference) (api.Object, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid API version in scale target reference: %w", err)
	}
	switch {
	case gv.Group == "apps" && ref.Kind == "Deployment":
		return &appsv1.Deployment{}, nil
	case gv.Group == "apps" && ref.Kind == "StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case gv.Group == "apps" && ref.Kind == "ReplicaSet":
		return &appsv1.ReplicaSet{}, nil
	case gv.Group == "" && ref.Kind == "ReplicationController":
		return &corev1.ReplicationController{}, nil
	}
	return nil, fmt.Errorf("no matches for kind %q in group %q: the HPA scales Deployments, StatefulSets, ReplicaSets and ReplicationControllers", ref.Kind, gv.Group)
}

// getTarget reads the HPA's target from the store (not the cache: its
// resourceVersion conditions the write of the new size).
func (c *Controller) getTarget(ctx context.Context, namespace string, ref autoscalingv2.CrossVersionObjectReference) (scaleTarget, error) {
	obj, err := newTarget(ref)
	if err != nil {
		return scaleTarget{}, err
	}
	if err := c.getter.Get(ctx, namespace, ref.Name, obj); err != nil {
		return scaleTarget{}, fmt.Errorf("hpa: get %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	t := scaleTarget{obj: obj}
	var ls *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		t.replicas, ls = replicasOf(o.Spec.Replicas), o.Spec.Selector
	case *appsv1.StatefulSet:
		t.replicas, ls = replicasOf(o.Spec.Replicas), o.Spec.Selector
	case *appsv1.ReplicaSet:
		t.replicas, ls = replicasOf(o.Spec.Replicas), o.Spec.Selector
	case *corev1.ReplicationController:
		t.replicas = replicasOf(o.Spec.Replicas)
		if len(o.Spec.Selector) > 0 {
			t.selector = labels.SelectorFromSet(o.Spec.Selector)
		}
		return t, nil
	}
	if ls != nil && (len(ls.MatchLabels) > 0 || len(ls.MatchExpressions) > 0) {
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return scaleTarget{}, fmt.Errorf("hpa: %s %s/%s: spec.selector: %w", ref.Kind, namespace, ref.Name, err)
		}
		t.selector = sel
	}
	return t, nil
}

// replicasOf is spec.replicas with its default of 1.
func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// setReplicas writes n into t's spec.replicas with a compare-and-swap
// Update of the live object.
func (c *Controller) setReplicas(ctx context.Context, t scaleTarget, n int32) error {
	obj := t.obj.DeepCopyObject().(api.Object)
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
	if err := c.writer.Update(ctx, obj); err != nil {
		return fmt.Errorf("hpa: scale %s/%s to %d: %w", obj.GetNamespace(), obj.GetName(), n, err)
	}
	return nil
}
