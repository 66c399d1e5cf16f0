package replicaset

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-dev/bosun/api"
)

// The kinds a Controller can serve (Config.Kind).
const (
	KindReplicaSet            = "ReplicaSet"
	KindReplicationController = "ReplicationController"
)

// kindInfo is what differs between ReplicaSets and ReplicationControllers: the
// stored resource and the conversion of both to one view, an apps/v1 ReplicaSet,
// as Kubernetes' own ReplicationController manager does.
type kindInfo struct {
	name     string
	resource api.Resource
	gvk      schema.GroupVersionKind
}

// lookupKind returns the kindInfo of "ReplicaSet" ("" too) or "ReplicationController".
func lookupKind(name string) (kindInfo, error) {
	var gvk schema.GroupVersionKind
	switch name {
	case "", KindReplicaSet:
		gvk = appsv1.SchemeGroupVersion.WithKind(KindReplicaSet)
	case KindReplicationController:
		gvk = corev1.SchemeGroupVersion.WithKind(KindReplicationController)
	default:
		return kindInfo{}, fmt.Errorf("replicaset: unknown kind %q: want %q or %q", name, KindReplicaSet, KindReplicationController)
	}
	r, ok := api.ResourceFor(gvk)
	if !ok {
		return kindInfo{}, fmt.Errorf("replicaset: the store has no resource for %s", gvk)
	}
	return kindInfo{name: gvk.Kind, resource: r, gvk: gvk}, nil
}

// owner is one ReplicaSet or ReplicationController as the controller sees it.
type owner struct {
	// obj is the stored object (from the cache: never modify it).
	obj api.Object
	// rs is obj viewed as a ReplicaSet; it shares obj's maps and slices.
	rs *appsv1.ReplicaSet
	// selector selects the pods the owner manages; labels.Nothing() when the
	// spec's selector is empty, so that an empty selector never adopts a
	// namespace's every pod.
	selector labels.Selector
	// hasTemplate is false for a ReplicationController without a template.
	hasTemplate bool
}

// view turns a stored object of k's kind into an owner. The error is terminal
// in nature: the selector cannot be parsed, or obj is of another Go type.
func (k kindInfo) view(obj api.Object) (*owner, error) {
	o := &owner{obj: obj, hasTemplate: true}
	switch t := obj.(type) {
	case *appsv1.ReplicaSet:
		o.rs = t
	case *corev1.ReplicationController:
		o.rs = rcAsReplicaSet(t)
		o.hasTemplate = t.Spec.Template != nil
	default:
		return nil, fmt.Errorf("replicaset: %s controller got a %T", k.name, obj)
	}
	sel := o.rs.Spec.Selector
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		o.selector = labels.Nothing()
		return o, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("replicaset: %s %s/%s: spec.selector: %w", k.name, obj.GetNamespace(), obj.GetName(), err)
	}
	o.selector = s
	return o, nil
}

// replicas returns spec.replicas, 1 when unset (the API's default).
func (o *owner) replicas() int {
	if o.rs.Spec.Replicas == nil {
		return 1
	}
	return int(*o.rs.Spec.Replicas)
}

// withStatus returns a deep copy of obj with its status replaced by st.
func (k kindInfo) withStatus(obj api.Object, st appsv1.ReplicaSetStatus) api.Object {
	switch t := obj.(type) {
	case *appsv1.ReplicaSet:
		c := t.DeepCopy()
		c.Status = *st.DeepCopy()
		return c
	case *corev1.ReplicationController:
		c := t.DeepCopy()
		c.Status = replicaSetStatusAsRC(st)
		return c
	}
	return nil
}

// controllerRef returns the controller ownerReference pods of o carry.
func (k kindInfo) controllerRef(o *owner) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         k.gvk.GroupVersion().String(),
		Kind:               k.gvk.Kind,
		Name:               o.obj.GetName(),
		UID:                o.obj.GetUID(),
		Controller:         ptrTo(true),
		BlockOwnerDeletion: ptrTo(true),
	}
}

// refersToKind reports whether ref names an object of k's kind.
func (k kindInfo) refersToKind(ref *metav1.OwnerReference) bool {
	if ref.Kind != k.gvk.Kind {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == k.gvk.Group
}

// rcAsReplicaSet views a ReplicationController as a ReplicaSet. Maps and slices
// are shared with rc.
func rcAsReplicaSet(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if len(rc.Spec.Selector) > 0 {
		rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	return rs
}

// replicaSetStatusAsRC converts a ReplicaSet status to a ReplicationController's.
func replicaSetStatusAsRC(st appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{
		Replicas:             st.Replicas,
		FullyLabeledReplicas: st.FullyLabeledReplicas,
		ReadyReplicas:        st.ReadyReplicas,
		AvailableReplicas:    st.AvailableReplicas,
		ObservedGeneration:   st.ObservedGeneration,
	}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{
			Type:               corev1.ReplicationControllerConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
		})
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }
