package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/podsecurity"
)

// alwaysThere are the namespaces every cluster has: the system namespaces
// controller (reconcile/sysnamespaces) makes them again when they go.
var alwaysThere = sets.New(metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease)

// validate checks an object the API is about to create (old nil) or
// replace, as strictly as sync checks a manifest: its metadata (name,
// namespace, labels, annotations), for a Git kind every rule sync applies
// (package manifests), a Node's taints and pod CIDRs, and on update the
// fields Kubernetes keeps fixed. It answers 422 Invalid with one cause per
// field, as kube-apiserver does, or 404 when the object's namespace does
// not exist (kube-apiserver's NamespaceLifecycle).
func (s *Server) validate(w http.ResponseWriter, req *http.Request, t target, old, obj api.Object) *apiError {
	if o, ok := obj.(manifests.Obj); ok && isGitKind(t.r) {
		manifests.SetDefaults(o)
	}
	errs := validateMeta(t.r, obj)
	if old != nil {
		errs = append(errs, apivalidation.ValidateObjectMetaUpdate(withSystemFields(metaOf(obj), metaOf(old)), metaOf(old), field.NewPath("metadata"))...)
	}
	errs = append(errs, validateKind(t.r, obj)...)
	if len(errs) > 0 {
		return invalid(t, obj.GetName(), errs)
	}
	if old == nil && t.r.Namespaced {
		if aerr := s.namespaceExists(req, obj.GetNamespace()); aerr != nil {
			return aerr
		}
	}
	return s.podSecurity(w, req, old, obj)
}

// podSecurity checks a pod against the Pod Security level of its
// namespace, as kube-apiserver's PodSecurity admission: 403 Forbidden when
// the enforce level refuses it, a Warning header per warn-level violation.
// An update is checked when it changes what the levels look at.
func (s *Server) podSecurity(w http.ResponseWriter, req *http.Request, old, obj api.Object) *apiError {
	pod, ok := obj.(*corev1.Pod)
	if !ok || s.cfg.PodSecurity == nil {
		return nil
	}
	if was, ok := old.(*corev1.Pod); ok && !podsecurity.UpdateNeedsCheck(pod, was) {
		return nil
	}
	ns := &corev1.Namespace{}
	if err := s.cfg.Store.Get(req.Context(), "", pod.Namespace, ns); err != nil && !errors.Is(err, api.ErrNotFound) {
		return errInternal(err)
	}
	r := s.cfg.PodSecurity.Check(ns.Labels, &pod.ObjectMeta, &pod.Spec)
	if r.Denied() {
		e := errForbidden("pods %q is forbidden: %s", pod.Name, r.DeniedMessage())
		e.status.Details = &metav1.StatusDetails{Name: pod.Name, Kind: "pods"}
		return e
	}
	for _, msg := range r.Warnings() {
		w.Header().Add("Warning", `299 - `+strconv.Quote(msg))
	}
	return nil
}

// metaOf returns obj's ObjectMeta; every kind the API serves has one.
func metaOf(obj api.Object) *metav1.ObjectMeta {
	if a, ok := obj.(interface{ GetObjectMeta() metav1.Object }); ok {
		if m, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m
		}
	}
	return &metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), Labels: obj.GetLabels(), Annotations: obj.GetAnnotations()}
}

// withSystemFields returns a copy of m with the fields the server keeps
// (creation time, generation) and those a client may leave out (uid,
// resourceVersion, checked before) taken from old, as kube-apiserver
// fills them before it compares the two.
func withSystemFields(m, old *metav1.ObjectMeta) *metav1.ObjectMeta {
	c := m.DeepCopy()
	c.CreationTimestamp, c.Generation = old.CreationTimestamp, old.Generation
	if c.UID == "" {
		c.UID = old.UID
	}
	if c.ResourceVersion == "" {
		c.ResourceVersion = old.ResourceVersion
	}
	return c
}

// validateMeta checks the name (a DNS label for Namespaces, else a DNS
// subdomain, as Kubernetes' validation of those kinds), the namespace
// (required for namespaced kinds, forbidden for the others), labels and
// annotations.
func validateMeta(r api.Resource, obj api.Object) field.ErrorList {
	nameFn := apivalidation.NameIsDNSSubdomain
	if r.Group == "" && r.Kind == "Namespace" {
		nameFn = apivalidation.ValidateNamespaceName
	}
	return apivalidation.ValidateObjectMeta(metaOf(obj), r.Namespaced, nameFn, field.NewPath("metadata"))
}

// validateKind applies the rules of obj's kind: sync's own (package
// manifests) for the kinds Git holds, and Kubernetes' Node rules for
// Nodes.
func validateKind(r api.Resource, obj api.Object) field.ErrorList {
	if isGitKind(r) {
		if o, ok := obj.(manifests.Obj); ok {
			return manifests.ValidateObject(o)
		}
	}
	if n, ok := obj.(*corev1.Node); ok {
		return validateNode(n)
	}
	return nil
}

// validateNode checks what Kubernetes' node validation checks of the
// fields bosun reads: taints (qualified key, label value, a known effect,
// no key and effect twice) and pod CIDRs (CIDRs, at most one per family,
// the first equal to spec.podCIDR).
func validateNode(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	type keyEffect struct{ key, effect string }
	seen := map[keyEffect]bool{}
	for i, taint := range n.Spec.Taints {
		tp := p.Child("taints").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(taint.Key, tp.Child("key"))...)
		for _, msg := range validation.IsValidLabelValue(taint.Value) {
			errs = append(errs, field.Invalid(tp.Child("value"), taint.Value, msg))
		}
		switch taint.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
			errs = append(errs, field.Required(tp.Child("effect"), ""))
		default:
			errs = append(errs, field.NotSupported(tp.Child("effect"), taint.Effect,
				[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}))
		}
		k := keyEffect{taint.Key, string(taint.Effect)}
		if seen[k] {
			errs = append(errs, field.Duplicate(tp, fmt.Sprintf("taint %s:%s", taint.Key, taint.Effect)))
		}
		seen[k] = true
	}
	families := map[bool]bool{}
	for i, c := range n.Spec.PodCIDRs {
		cp := p.Child("podCIDRs").Index(i)
		prefix, err := netip.ParsePrefix(c)
		if err != nil {
			errs = append(errs, field.Invalid(cp, c, "must be a CIDR such as 10.244.1.0/24"))
			continue
		}
		if families[prefix.Addr().Is4()] {
			errs = append(errs, field.Invalid(cp, c, "may specify no more than one CIDR for each IP family"))
		}
		families[prefix.Addr().Is4()] = true
	}
	if n.Spec.PodCIDR != "" && len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		errs = append(errs, field.Invalid(p.Child("podCIDRs"), n.Spec.PodCIDRs, "the first entry must equal spec.podCIDR"))
	}
	return errs
}

// namespaceExists answers 404, as kube-apiserver does, when ns does not
// exist or is being deleted.
func (s *Server) namespaceExists(req *http.Request, ns string) *apiError {
	if alwaysThere.Has(ns) {
		return nil
	}
	got := &corev1.Namespace{}
	err := s.cfg.Store.Get(req.Context(), "", ns, got)
	switch {
	case errors.Is(err, api.ErrNotFound):
		e := newStatusError(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("namespaces %q not found", ns))
		e.status.Details = &metav1.StatusDetails{Name: ns, Kind: "namespaces"}
		return e
	case err != nil:
		return errInternal(err)
	case got.GetDeletionTimestamp() != nil:
		return newStatusError(http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// invalid is the 422 Invalid of obj's errors, worded and detailed as
// kube-apiserver's (apimachinery's NewInvalid).
func invalid(t target, name string, errs field.ErrorList) *apiError {
	st := apierrors.NewInvalid(schema.GroupKind{Group: t.r.Group, Kind: t.r.Kind}, name, errs).Status()
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	return &apiError{status: st}
}
