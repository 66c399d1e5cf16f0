package api

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Object is what bosun stores and serves: a pointer to a typed Kubernetes object, such as
// *corev1.Pod or *appsv1.Deployment.
type Object interface {
	metav1.Object
	runtime.Object
}

// Resource describes one kind of stored object.
type Resource struct {
	// Group, Version and Kind name the type: "apps", "v1", "Deployment". The core group is "".
	Group, Version, Kind string
	// Name is the plural, lower-case resource name used in keys and URLs: "deployments".
	Name string
	// Singular is the lower-case singular name: "deployment".
	Singular string
	// ShortNames are kubectl's abbreviations: "deploy".
	ShortNames []string
	// Namespaced is true for kinds that live in a namespace.
	Namespaced bool
	// New returns a new, empty typed object of the kind (TypeMeta unset).
	New func() Object
	// Storage, when set, says that the objects are stored as another
	// version's, under the same keys, and how to convert: as Kubernetes
	// stores events.k8s.io/v1 Events as core/v1 Events.
	Storage *Storage
}

// Storage converts the objects of a resource stored as another's.
type Storage struct {
	// As is the resource whose form the objects are stored in.
	As Resource
	// To returns obj in the stored form; From returns a stored object in
	// the resource's own.
	To, From func(obj Object) Object
}

// GVK returns the resource's group, version and kind.
func (r Resource) GVK() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// GVR returns the resource's group, version and plural resource name.
func (r Resource) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Name}
}

// APIVersion returns the apiVersion string of the kind: "apps/v1", or "v1" for the core group.
func (r Resource) APIVersion() string {
	return r.GVK().GroupVersion().String()
}

// ListKind returns the kind of a list of the resource: "DeploymentList".
func (r Resource) ListKind() string { return r.Kind + "List" }

// String returns "deployments.apps", or the bare plural for the core group.
func (r Resource) String() string {
	if r.Group == "" {
		return r.Name
	}
	return r.Name + "." + r.Group
}

// GoType returns the Go type of r's objects, a pointer type such as *corev1.Pod.
func (r Resource) GoType() reflect.Type { return reflect.TypeOf(r.New()) }

// Resources returns the table of every resource bosun stores and serves, in a stable order:
// v1 Namespace, Pod, ReplicationController, Service, Endpoints, ConfigMap, Secret,
// Node, Event, ServiceAccount, PersistentVolumeClaim, PersistentVolume,
// ResourceQuota, LimitRange; apps/v1 ReplicaSet, Deployment, DaemonSet,
// StatefulSet, ControllerRevision; batch/v1 Job, CronJob; autoscaling/v2
// HorizontalPodAutoscaler; policy/v1 PodDisruptionBudget;
// discovery.k8s.io/v1 EndpointSlice; coordination.k8s.io/v1 Lease;
// events.k8s.io/v1 Event (stored as the core Event).
// Each call returns a fresh slice that the caller may modify.
func Resources() []Resource {
	coreEvents := Resource{Version: "v1", Kind: "Event", Name: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true,
		New: func() Object { return &corev1.Event{} }}
	return []Resource{
		{Version: "v1", Kind: "Namespace", Name: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
			New: func() Object { return &corev1.Namespace{} }},
		{Version: "v1", Kind: "Pod", Name: "pods", Singular: "pod", ShortNames: []string{"po"}, Namespaced: true,
			New: func() Object { return &corev1.Pod{} }},
		{Version: "v1", Kind: "ReplicationController", Name: "replicationcontrollers", Singular: "replicationcontroller",
			ShortNames: []string{"rc"}, Namespaced: true,
			New: func() Object { return &corev1.ReplicationController{} }},
		{Version: "v1", Kind: "Service", Name: "services", Singular: "service", ShortNames: []string{"svc"}, Namespaced: true,
			New: func() Object { return &corev1.Service{} }},
		{Version: "v1", Kind: "Endpoints", Name: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Namespaced: true,
			New: func() Object { return &corev1.Endpoints{} }},
		{Version: "v1", Kind: "ConfigMap", Name: "configmaps", Singular: "configmap", ShortNames: []string{"cm"}, Namespaced: true,
			New: func() Object { return &corev1.ConfigMap{} }},
		{Version: "v1", Kind: "Secret", Name: "secrets", Singular: "secret", Namespaced: true,
			New: func() Object { return &corev1.Secret{} }},
		{Version: "v1", Kind: "Node", Name: "nodes", Singular: "node", ShortNames: []string{"no"},
			New: func() Object { return &corev1.Node{} }},
		coreEvents,
		{Version: "v1", Kind: "ServiceAccount", Name: "serviceaccounts", Singular: "serviceaccount", ShortNames: []string{"sa"},
			Namespaced: true, New: func() Object { return &corev1.ServiceAccount{} }},
		{Version: "v1", Kind: "PersistentVolumeClaim", Name: "persistentvolumeclaims", Singular: "persistentvolumeclaim",
			ShortNames: []string{"pvc"}, Namespaced: true, New: func() Object { return &corev1.PersistentVolumeClaim{} }},
		{Version: "v1", Kind: "PersistentVolume", Name: "persistentvolumes", Singular: "persistentvolume",
			ShortNames: []string{"pv"}, New: func() Object { return &corev1.PersistentVolume{} }},
		{Version: "v1", Kind: "ResourceQuota", Name: "resourcequotas", Singular: "resourcequota", ShortNames: []string{"quota"},
			Namespaced: true, New: func() Object { return &corev1.ResourceQuota{} }},
		{Version: "v1", Kind: "LimitRange", Name: "limitranges", Singular: "limitrange", ShortNames: []string{"limits"},
			Namespaced: true, New: func() Object { return &corev1.LimitRange{} }},
		{Group: "apps", Version: "v1", Kind: "ReplicaSet", Name: "replicasets", Singular: "replicaset",
			ShortNames: []string{"rs"}, Namespaced: true,
			New: func() Object { return &appsv1.ReplicaSet{} }},
		{Group: "apps", Version: "v1", Kind: "Deployment", Name: "deployments", Singular: "deployment",
			ShortNames: []string{"deploy"}, Namespaced: true,
			New: func() Object { return &appsv1.Deployment{} }},
		{Group: "apps", Version: "v1", Kind: "DaemonSet", Name: "daemonsets", Singular: "daemonset",
			ShortNames: []string{"ds"}, Namespaced: true,
			New: func() Object { return &appsv1.DaemonSet{} }},
		{Group: "apps", Version: "v1", Kind: "StatefulSet", Name: "statefulsets", Singular: "statefulset",
			ShortNames: []string{"sts"}, Namespaced: true,
			New: func() Object { return &appsv1.StatefulSet{} }},
		{Group: "apps", Version: "v1", Kind: "ControllerRevision", Name: "controllerrevisions", Singular: "controllerrevision",
			Namespaced: true, New: func() Object { return &appsv1.ControllerRevision{} }},
		{Group: "batch", Version: "v1", Kind: "Job", Name: "jobs", Singular: "job", Namespaced: true,
			New: func() Object { return &batchv1.Job{} }},
		{Group: "batch", Version: "v1", Kind: "CronJob", Name: "cronjobs", Singular: "cronjob",
			ShortNames: []string{"cj"}, Namespaced: true,
			New: func() Object { return &batchv1.CronJob{} }},
		{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Name: "horizontalpodautoscalers",
			Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Namespaced: true,
			New: func() Object { return &autoscalingv2.HorizontalPodAutoscaler{} }},
		{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget", Name: "poddisruptionbudgets", Singular: "poddisruptionbudget",
			ShortNames: []string{"pdb"}, Namespaced: true,
			New: func() Object { return &policyv1.PodDisruptionBudget{} }},
		{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Name: "endpointslices", Singular: "endpointslice",
			Namespaced: true,
			New:        func() Object { return &discoveryv1.EndpointSlice{} }},
		{Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Name: "leases", Singular: "lease", Namespaced: true,
			New: func() Object { return &coordinationv1.Lease{} }},
		{Group: "events.k8s.io", Version: "v1", Kind: "Event", Name: "events", Singular: "event", ShortNames: []string{"ev"}, Namespaced: true,
			New:     func() Object { return &eventsv1.Event{} },
			Storage: &Storage{As: coreEvents, To: toCoreEvent, From: fromCoreEvent}},
	}
}

// ResourceFor finds the resource of a group/version/kind.
func ResourceFor(gvk schema.GroupVersionKind) (Resource, bool) {
	for _, r := range Resources() {
		if r.GVK() == gvk {
			return r, true
		}
	}
	return Resource{}, false
}

// Lookup finds a resource by plural, singular, short name or kind, case-insensitively
// ("deploy", "deployments", "Deployment"). A group may follow after a dot, as kubectl
// accepts it: "deployments.apps", "leases.coordination.k8s.io".
func Lookup(name string) (Resource, bool) {
	name = strings.ToLower(name)
	group, hasGroup := "", false
	if i := strings.IndexByte(name, '.'); i >= 0 {
		name, group, hasGroup = name[:i], name[i+1:], true
	}
	for _, r := range Resources() {
		if hasGroup && r.Group != group {
			continue
		}
		if name == r.Name || name == r.Singular || name == strings.ToLower(r.Kind) {
			return r, true
		}
		for _, s := range r.ShortNames {
			if name == s {
				return r, true
			}
		}
	}
	return Resource{}, false
}

// ResourceOf finds the resource of a typed object by its Go type. The error wraps
// ErrInvalid for a type bosun does not serve.
func ResourceOf(obj Object) (Resource, error) {
	return resourceOf(Resources(), obj)
}

func resourceOf(table []Resource, obj Object) (Resource, error) {
	if obj == nil {
		return Resource{}, fmt.Errorf("api: %w: nil object", ErrInvalid)
	}
	t := reflect.TypeOf(obj)
	for _, r := range table {
		if r.GoType() == t {
			return r, nil
		}
	}
	return Resource{}, fmt.Errorf("api: %w: no resource has Go type %s", ErrInvalid, t)
}

// NewerResourceVersion reports whether resourceVersion a is newer than b (both
// decimal etcd revisions; an unparsable one counts as older).
func NewerResourceVersion(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA != nil {
		return false
	}
	if errB != nil {
		return true
	}
	return x > y
}
