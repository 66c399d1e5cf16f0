package apiserver

import (
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
)

// The scale subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets,
// ReplicationControllers and StatefulSets: read here, written only through Git.

// scalable reports whether r has a scale subresource.
func scalable(r api.Resource) bool {
	switch r.Group + "/" + r.Name {
	case "apps/deployments", "apps/replicasets", "/replicationcontrollers", "apps/statefulsets":
		return true
	}
	return false
}

// subresources returns the discovery entries of r's subresources other
// than status: scale (autoscaling/v1 Scale), and pods' eviction (policy/v1
// Eviction), which kubectl scale and kubectl drain look up before using them.
func subresources(r api.Resource) []metav1.APIResource {
	switch {
	case scalable(r):
		return []metav1.APIResource{{Name: r.Name + "/scale", Namespaced: r.Namespaced,
			Group: "autoscaling", Version: "v1", Kind: "Scale", Verbs: metav1.Verbs{"get", "patch", "update"}}}
	case r.Group == "" && r.Name == "pods":
		return []metav1.APIResource{{Name: "pods/eviction", Namespaced: true,
			Group: "policy", Version: "v1", Kind: "Eviction", Verbs: metav1.Verbs{"create"}}}
	}
	return nil
}

// scaleOf returns the Scale of a Deployment, ReplicaSet,
// ReplicationController or StatefulSet, as kube-apiserver answers it: spec.replicas,
// status.replicas and the selector as a string.
func scaleOf(obj api.Object) (*autoscalingv1.Scale, error) {
	var spec *int32
	var status int32
	var sel labels.Selector
	var err error
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec, status = o.Spec.Replicas, o.Status.Replicas
		sel, err = metav1.LabelSelectorAsSelector(o.Spec.Selector)
	case *appsv1.ReplicaSet:
		spec, status = o.Spec.Replicas, o.Status.Replicas
		sel, err = metav1.LabelSelectorAsSelector(o.Spec.Selector)
	case *corev1.ReplicationController:
		spec, status = o.Spec.Replicas, o.Status.Replicas
		sel = labels.SelectorFromSet(o.Spec.Selector)
	case *appsv1.StatefulSet:
		spec, status = o.Spec.Replicas, o.Status.Replicas
		sel, err = metav1.LabelSelectorAsSelector(o.Spec.Selector)
	default:
		return nil, fmt.Errorf("apiserver: %T has no scale subresource", obj)
	}
	if err != nil {
		return nil, fmt.Errorf("apiserver: the selector of %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	replicas := int32(1)
	if spec != nil {
		replicas = *spec
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
			ResourceVersion: obj.GetResourceVersion(), CreationTimestamp: obj.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: sel.String()},
	}, nil
}

// serveScale answers .../{name}/scale: GET reads the Scale; PUT and PATCH
// are refused (403), since replicas are desired state and get in only
// through Git: the message names the manifest's file and line and `bosun
// scale`, which commits the change.
func (s *Server) serveScale(w http.ResponseWriter, req *http.Request, t target) *apiError {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		obj, aerr := s.read(req, t)
		if aerr != nil {
			return aerr
		}
		sc, err := scaleOf(obj)
		if err != nil {
			return errInternal(err)
		}
		writeJSON(w, http.StatusOK, sc)
		return nil
	case http.MethodPut, http.MethodPatch:
		obj, aerr := s.read(req, t)
		if aerr != nil {
			return aerr
		}
		if managedByGit(obj) && s.cfg.GitWrites != nil {
			return s.commitScale(w, req, t, obj)
		}
		return scaleRefused(req, t, obj)
	}
	return errMethodNotAllowed("%s is not supported on %s: the scale subresource is read with GET (and changed in Git)", req.Method, req.URL.Path)
}

// scaleRefused is the 403 of a write to the scale of obj: for an object
// from Git the refusal of its other writes (its file and line, its commit)
// plus the `bosun scale` command that commits the change; for others the
// Git-only rule's message.
func scaleRefused(req *http.Request, t target, obj api.Object) *apiError {
	details := &metav1.StatusDetails{Name: t.name, Group: t.r.Group, Kind: t.r.Name}
	if managedByGit(obj) {
		e := managedError(t, obj)
		e.status.Code, e.status.Reason = http.StatusForbidden, metav1.StatusReasonForbidden
		e.status.Message += fmt.Sprintf("; to scale it, run `bosun scale %s/%s -n %s --replicas=N`, which commits the change",
			t.r.Singular, t.name, t.namespace)
		e.status.Details = details
		return e
	}
	if e := gitOnly(req, t, obj, obj); e != nil {
		return e
	}
	e := errForbidden("%s %s: its replicas are desired state, which gets in only through Git", t.r.Kind, t.key())
	e.status.Details = details
	return e
}
