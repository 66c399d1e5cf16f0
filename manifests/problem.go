package manifests

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrInvalid is wrapped by the error Problems.Err returns when a set of
// manifests has at least one error (warnings alone never produce it).
var ErrInvalid = errors.New("invalid manifests")

// Problem is one thing wrong (or a warning) in a manifest.
type Problem struct {
	// File is the slash path relative to the repository root, e.g. "apps/web.yaml".
	File string
	// Line is the 1-based line of the offending field (or of the document when
	// the field is not in the file); 0 when not known.
	Line int
	// Object names the object, e.g. "Deployment default/web"; "" when the
	// object could not be identified.
	Object string
	// Field is the field path as Kubernetes prints it, e.g.
	// "spec.template.spec.containers[0].image"; "" when not about a field.
	Field string
	// Message is a lower-case sentence saying what is wrong.
	Message string
	// Warning is true for a warning, which does not reject the commit.
	Warning bool
}

// String formats the problem as
// "apps/web.yaml:12: Deployment default/web: spec.replicas: must be greater than or equal to 0",
// leaving out empty parts and prefixing warnings with "warning: ".
func (p Problem) String() string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems, usually sorted by file and line.
type Problems []Problem

// Errors returns only the problems that are not warnings.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ps Problems) Warnings() Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}

// Err returns nil when ps holds no errors; otherwise an error wrapping
// ErrInvalid whose message lists every error, one per line.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, p := range errs {
		lines[i] = p.String()
	}
	noun := "errors"
	if len(errs) == 1 {
		noun = "error"
	}
	return fmt.Errorf("%w: %d %s:\n%s", ErrInvalid, len(errs), noun, strings.Join(lines, "\n"))
}

// String returns the problems' String forms, one per line.
func (ps Problems) String() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders ps as Load and Validate order theirs: by file and line,
// then field and message. For problems found elsewhere (Pod Security,
// checks against the cluster) merged into a Result's.
func (ps Problems) Sort() { sortProblems(ps) }

// sortProblems orders problems by file and line, then by field and message
// so that the order does not depend on map iteration.
func sortProblems(ps Problems) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Field, b.Field), cmp.Compare(a.Message, b.Message))
	})
}

// Obj is the interface every decoded object satisfies: a typed pointer such as
// *corev1.Pod or *appsv1.Deployment.
type Obj interface {
	metav1.Object
	runtime.Object
}

// Object is one decoded, defaulted manifest.
type Object struct {
	// Obj is a typed pointer with TypeMeta (apiVersion, kind) set:
	// *corev1.Pod, *corev1.ReplicationController, *corev1.Service,
	// *corev1.ConfigMap, *corev1.Secret, *corev1.Namespace,
	// *corev1.PersistentVolumeClaim, *corev1.PersistentVolume,
	// *corev1.ServiceAccount, *corev1.ResourceQuota, *corev1.LimitRange,
	// *appsv1.ReplicaSet, *appsv1.Deployment, *appsv1.DaemonSet,
	// *appsv1.StatefulSet, *batchv1.Job, *batchv1.CronJob,
	// *autoscalingv2.HorizontalPodAutoscaler or
	// *policyv1.PodDisruptionBudget.
	Obj Obj
	// File is the slash path of the file relative to the repository root.
	File string
	// Line is the line where the document starts (its first non-comment line).
	Line int
	// RenderedBy is the file that rendered the object (a kustomization or
	// bosun-helm.yaml, see Rendered); "" for a plain manifest.
	RenderedBy string
	// Encrypted reports that the object comes from a SOPS-encrypted file.
	Encrypted bool

	// src maps field paths back to lines; nil for objects built by callers.
	src *source
	// dropped lists the field paths whose values could not be decoded; the
	// object is then incomplete and validation errors about them are not
	// reported again.
	dropped []string
}

// GVK returns the object's group, version and kind.
func (o Object) GVK() schema.GroupVersionKind {
	if o.Obj == nil {
		return schema.GroupVersionKind{}
	}
	return o.Obj.GetObjectKind().GroupVersionKind()
}

// ID returns the identity of the object.
func (o Object) ID() ID {
	if o.Obj == nil {
		return ID{}
	}
	gvk := o.GVK()
	ns := o.Obj.GetNamespace()
	if !isNamespaced(gvk.Kind) {
		ns = "" // a cluster-scoped object has none, even when the file sets one
	}
	return ID{Group: gvk.Group, Kind: gvk.Kind, Namespace: ns, Name: o.Obj.GetName()}
}

// ID names an object: kind and group plus namespace and name ("" namespace
// for cluster-scoped kinds).
type ID struct {
	Group, Kind, Namespace, Name string
}

// String formats the ID as "Deployment default/web" or "Namespace shop".
func (id ID) String() string {
	if id.Namespace == "" {
		return id.Kind + " " + id.Name
	}
	return id.Kind + " " + id.Namespace + "/" + id.Name
}

// Limits bound hostile input. Zero fields take the defaults.
type Limits struct {
	// MaxFileBytes bounds one file; default 4 MiB. A larger file is a problem
	// naming the file and the limit.
	MaxFileBytes int64
	// MaxDocuments bounds the number of documents in one tree (all files
	// together); default 10000.
	MaxDocuments int
	// MaxTotalBytes bounds the whole tree; default 256 MiB.
	MaxTotalBytes int64
}

// Default limits used for zero fields of Limits.
const (
	DefaultMaxFileBytes  int64 = 4 << 20
	DefaultMaxDocuments        = 10000
	DefaultMaxTotalBytes int64 = 256 << 20
)

// withDefaults fills zero fields with the defaults.
func (l Limits) withDefaults() Limits {
	// Spelled out rather than with internal/defaults: manifests depends on
	// no bosun package but api (ARCHITECTURE.md).
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = DefaultMaxDocuments
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	return l
}

// Options control Load.
type Options struct {
	// Path is the subdirectory (or single file) of the tree to read; "" or
	// "." is the root. Slash-separated.
	Path string
	// Limits bound hostile input.
	Limits Limits
	// ServiceCIDRs are the ranges Service clusterIPs are allocated from
	// (the server's --service-cidr); a clusterIP outside all of them is an
	// error. Empty: not checked.
	ServiceCIDRs []netip.Prefix
	// Live describes the cluster the tree is validated for; nil validates
	// offline (bosun validate), where a namespace the tree does not define
	// is only a warning.
	Live *LiveState
	// Renderers render the directories that are not plain manifests
	// (Kustomize, Helm); nil reads every directory as plain files.
	Renderers []Renderer
	// Decrypter decrypts SOPS-encrypted files; nil makes an encrypted
	// file an error.
	Decrypter Decrypter
	// RequireEncryptedSecrets makes a Secret that does not come from an
	// encrypted file an error instead of a warning.
	RequireEncryptedSecrets bool
}

// LiveState is what validation needs to know about the cluster a tree is
// about to be applied to.
type LiveState struct {
	// Namespaces are the names of the Namespaces that exist in the cluster.
	// An object in a namespace neither here nor defined in the tree is an
	// error (a warning when CreateNamespaces is set).
	Namespaces map[string]bool
	// Services are live Services. Those with the namespace and name of a
	// Service in the tree are skipped (the tree replaces them); a Service
	// of the tree using the clusterIP or nodePort of one of the others is
	// an error naming it.
	Services []*corev1.Service
	// CreateNamespaces means missing namespaces will be created by the sync
	// (--create-namespaces): an object in one is a warning, not an error.
	CreateNamespaces bool
}

// Result is what a tree decodes to.
type Result struct {
	// Objects are the decoded, defaulted objects, sorted by File, then Line.
	// Objects with errors are included only when they could be decoded.
	Objects []Object
	// Problems holds every problem of the tree, sorted by File, then Line.
	Problems Problems
	// SyncWindows are the tree's sync windows (bosun.dev/v1alpha1
	// SyncWindow), valid ones only, sorted by File, then Line. They are
	// not objects of the cluster.
	SyncWindows []SyncWindowAt
}

// kindInfo describes one supported kind.
type kindInfo struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	newObj     func() Obj
}

var supportedKinds = []kindInfo{
	{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, true, func() Obj { return &corev1.Pod{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "ReplicationController"}, true, func() Obj { return &corev1.ReplicationController{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, true, func() Obj { return &corev1.Service{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, true, func() Obj { return &corev1.ConfigMap{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, true, func() Obj { return &corev1.Secret{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, false, func() Obj { return &corev1.Namespace{} }},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, true, func() Obj { return &appsv1.ReplicaSet{} }},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, true, func() Obj { return &appsv1.Deployment{} }},
	{schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, true, func() Obj { return &policyv1.PodDisruptionBudget{} }},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}, true, func() Obj { return &appsv1.DaemonSet{} }},
	{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, true, func() Obj { return &appsv1.StatefulSet{} }},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, true, func() Obj { return &batchv1.Job{} }},
	{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"}, true, func() Obj { return &batchv1.CronJob{} }},
	{schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, true, func() Obj { return &autoscalingv2.HorizontalPodAutoscaler{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, true, func() Obj { return &corev1.PersistentVolumeClaim{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolume"}, false, func() Obj { return &corev1.PersistentVolume{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, true, func() Obj { return &corev1.ServiceAccount{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "ResourceQuota"}, true, func() Obj { return &corev1.ResourceQuota{} }},
	{schema.GroupVersionKind{Version: "v1", Kind: "LimitRange"}, true, func() Obj { return &corev1.LimitRange{} }},
}

// Supported lists the supported apiVersion/kind pairs.
func Supported() []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, len(supportedKinds))
	for i, k := range supportedKinds {
		out[i] = k.gvk
	}
	return out
}

// lookupKind finds a supported kind by its exact name.
func lookupKind(kind string) (kindInfo, bool) {
	for _, k := range supportedKinds {
		if k.gvk.Kind == kind {
			return k, true
		}
	}
	return kindInfo{}, false
}

// supportedList renders the supported kinds for messages.
func supportedList() string {
	parts := make([]string, len(supportedKinds))
	for i, k := range supportedKinds {
		parts[i] = k.gvk.GroupVersion().String() + " " + k.gvk.Kind
	}
	return strings.Join(parts, ", ")
}

// isNamespaced reports whether the kind of gvk is namespaced (unknown kinds
// count as namespaced).
func isNamespaced(kind string) bool {
	k, ok := lookupKind(kind)
	return !ok || k.namespaced
}
