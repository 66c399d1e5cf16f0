package apply

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bosun-dev/bosun/api"
)

// scaleTarget names an object a HorizontalPodAutoscaler scales: its API
// group, kind, namespace and name.
type scaleTarget struct {
	group, kind, namespace, name string
}

// scalableKinds are the kinds whose spec.replicas an HPA can own here, by
// API group.
var scalableKinds = map[scaleTarget]bool{
	{group: "apps", kind: "Deployment"}:        true,
	{group: "apps", kind: "StatefulSet"}:       true,
	{group: "apps", kind: "ReplicaSet"}:        true,
	{group: "", kind: "ReplicationController"}: true,
}

// autoscaled is the set of objects whose live spec.replicas an HPA owns.
type autoscaled map[scaleTarget]bool

// isAutoscaler reports whether obj is a HorizontalPodAutoscaler.
func isAutoscaler(obj api.Object) bool {
	_, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	return ok
}

// add records the target of hpa (stored in namespace ns).
func (a autoscaled) add(obj api.Object, ns string) {
	hpa, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return
	}
	ref := hpa.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return
	}
	a[scaleTarget{group: gv.Group, kind: ref.Kind, namespace: ns, name: ref.Name}] = true
}

// owns reports whether an HPA owns the replicas of obj of resource r.
func (a autoscaled) owns(r api.Resource, ns, name string) bool {
	if !scalableKinds[scaleTarget{group: r.Group, kind: r.Kind}] {
		return false
	}
	return a[scaleTarget{group: r.Group, kind: r.Kind, namespace: ns, name: name}]
}

// keepReplicas copies the live spec.replicas into out, so that a sync
// leaves the count an HPA set alone.
func keepReplicas(cur, out map[string]any) {
	cs, _ := cur["spec"].(map[string]any)
	os, _ := out["spec"].(map[string]any)
	if cs == nil || os == nil {
		return
	}
	if v, ok := cs["replicas"]; ok {
		os["replicas"] = v
	} else {
		delete(os, "replicas")
	}
}
