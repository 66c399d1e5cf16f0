package podenv

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

// Objects reads the API objects a pod refers to. A caller computing the
// environments of several containers of one pod should remember what it
// read, so that they all see the same objects.
type Objects interface {
	// ConfigMap returns the ConfigMap of the pod's namespace, or nil and
	// no error when it does not exist.
	ConfigMap(ctx context.Context, name string) (*corev1.ConfigMap, error)
	// Secret returns the Secret of the pod's namespace, or nil and no
	// error when it does not exist.
	Secret(ctx context.Context, name string) (*corev1.Secret, error)
	// Services returns the Services of every namespace.
	Services(ctx context.Context) ([]*corev1.Service, error)
}

// Config configures a Resolver.
type Config struct {
	// NodeName is spec.nodeName for fieldRef.
	NodeName string
	// HostIP is status.hostIP for fieldRef.
	HostIP string
	// Capacity is the node's allocatable, the value of a limits.*
	// resourceFieldRef whose container sets no limit.
	Capacity corev1.ResourceList
	// ServiceEnv computes the service variables of a pod in a namespace
	// (pods with enableServiceLinks false get none); nil: none.
	ServiceEnv func(services []*corev1.Service, namespace string) []corev1.EnvVar
	// Logger receives skipped envFrom keys; nil discards.
	Logger *slog.Logger
}

// Resolver computes containers' environments.
type Resolver struct{ cfg Config }

// New returns a Resolver for cfg.
func New(cfg Config) *Resolver {
	defaults.Logger(&cfg.Logger)
	return &Resolver{cfg: cfg}
}

// List is an ordered set of environment variables: a later value of a
// name replaces the earlier one in place.
type List struct {
	names []string
	vals  map[string]string
}

func (l *List) set(name, val string) {
	if l.vals == nil {
		l.vals = map[string]string{}
	}
	if _, ok := l.vals[name]; !ok {
		l.names = append(l.names, name)
	}
	l.vals[name] = val
}

// Get returns the value of the variable name, and whether it is set.
func (l *List) Get(name string) (string, bool) {
	v, ok := l.vals[name]
	return v, ok
}

// Env computes a container's environment as kubelet does: the envFrom
// sources in order (invalid names skipped), then env in order, each value
// expanded ($(VAR)) over the variables defined before it and the service
// variables, which come last and only where not defined.
func (r *Resolver) Env(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, podIP string, objs Objects) (*List, error) {
	env := &List{}
	svc := &List{}
	if r.cfg.ServiceEnv != nil && (pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks) {
		services, err := objs.Services(ctx)
		switch {
		case err != nil && staticpods.IsStatic(pod):
			// As kubelet: static pods do not wait for the API.
			r.cfg.Logger.Warn("starting a static pod without service environment variables: the services cannot be listed",
				"pod", pod.Namespace+"/"+pod.Name, "error", err)
		case err != nil:
			return nil, err
		default:
			for _, e := range r.cfg.ServiceEnv(services, pod.Namespace) {
				svc.set(e.Name, e.Value)
			}
		}
	}
	for i, ef := range spec.EnvFrom {
		var data map[string]string
		var what string
		switch {
		case ef.ConfigMapRef != nil:
			what = "configMap " + pod.Namespace + "/" + ef.ConfigMapRef.Name
			cm, err := objs.ConfigMap(ctx, ef.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, ConfigErrorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			what = "secret " + pod.Namespace + "/" + ef.SecretRef.Name
			s, err := objs.Secret(ctx, ef.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, ConfigErrorf("secret %q not found", ef.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
		default:
			return nil, ConfigErrorf("spec.containers[%s].envFrom[%d]: neither configMapRef nor secretRef is set", spec.Name, i)
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var invalid []string
		for _, k := range keys {
			name := ef.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				invalid = append(invalid, name)
				continue
			}
			env.set(name, data[k])
		}
		if len(invalid) > 0 {
			r.cfg.Logger.Warn(fmt.Sprintf("keys [%s] from the EnvFrom %s were skipped since they are considered invalid environment variable names",
				strings.Join(invalid, ", "), what), "pod", pod.Namespace+"/"+pod.Name, "container", spec.Name)
		}
	}
	mapping := func(name string) (string, bool) {
		if v, ok := env.Get(name); ok {
			return v, true
		}
		return svc.Get(name)
	}
	for _, e := range spec.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, Expand(e.Value, mapping))
			continue
		}
		v, ok, err := r.valueFrom(ctx, pod, spec, podIP, e, objs)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	for _, name := range svc.names {
		if _, ok := env.Get(name); !ok {
			env.set(name, svc.vals[name])
		}
	}
	return env, nil
}

// valueFrom resolves one valueFrom; ok is false for an optional
// reference that is missing (the variable is left out).
func (r *Resolver) valueFrom(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, podIP string, e corev1.EnvVar, objs Objects) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := r.podFieldValue(pod, podIP, vf.FieldRef.FieldPath)
		if err != nil {
			return "", false, ConfigErrorf("env %s: %v", e.Name, err)
		}
		return v, true, nil
	case vf.ResourceFieldRef != nil:
		v, err := r.resourceFieldValue(pod, spec, vf.ResourceFieldRef)
		if err != nil {
			return "", false, ConfigErrorf("env %s: %v", e.Name, err)
		}
		return v, true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := objs.ConfigMap(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if optional {
				return "", false, nil
			}
			return "", false, ConfigErrorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, ConfigErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := objs.Secret(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if s == nil {
			if optional {
				return "", false, nil
			}
			return "", false, ConfigErrorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if v, ok := s.StringData[ref.Key]; ok {
			return v, true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, ConfigErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	}
	return "", false, ConfigErrorf("env %s: valueFrom.%s is not supported by bosun: use fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef",
		e.Name, setField(vf))
}

// setField names the field set in an EnvVarSource that bosun does not know.
func setField(vf *corev1.EnvVarSource) string {
	if vf.FileKeyRef != nil {
		return "fileKeyRef"
	}
	return "(unknown)"
}

var subscriptRE = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']*)'\]$`)

// podFieldValue is the value of a fieldRef of the downward API.
func (r *Resolver) podFieldValue(pod *corev1.Pod, podIP, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return r.cfg.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs": // one address: the lists hold just it
		return r.cfg.HostIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	if m := subscriptRE.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("fieldRef.fieldPath %q is not supported: use metadata.name, metadata.namespace, metadata.uid, "+
		"metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.hostIP, status.hostIPs, "+
		"status.podIP or status.podIPs", path)
}

// resourceFieldValue is the value of an env resourceFieldRef of the
// container spec (the default container).
func (r *Resolver) resourceFieldValue(pod *corev1.Pod, spec *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	ctr := spec
	if ref.ContainerName != "" && ref.ContainerName != spec.Name {
		ctr = nil
	}
	return ResourceFieldValue(pod, ctr, ref, r.cfg.Capacity)
}

// ResourceFieldValue is the value of a downward API resourceFieldRef, as
// kubelet computes it: the limit or request of ctr (nil: the container
// ref.containerName names) divided by the divisor and rounded up; a limit
// the container does not set is the node's allocatable, a request it does
// not set is 0.
func ResourceFieldValue(pod *corev1.Pod, ctr *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if ctr == nil {
		ctr = findContainer(pod, ref.ContainerName)
		if ctr == nil {
			return "", fmt.Errorf("resourceFieldRef.containerName %q: no such container in the pod", ref.ContainerName)
		}
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	name := corev1.ResourceName(res)
	if !ok || (kind != "limits" && kind != "requests") ||
		(name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourceEphemeralStorage) {
		return "", fmt.Errorf("resourceFieldRef.resource %q is not supported: use limits.cpu, limits.memory, "+
			"limits.ephemeral-storage, requests.cpu, requests.memory or requests.ephemeral-storage", ref.Resource)
	}
	var q resource.Quantity
	var have bool
	if kind == "limits" {
		if q, have = ctr.Resources.Limits[name]; !have {
			q, have = allocatable[name]
		}
	} else {
		q, have = ctr.Resources.Requests[name]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if !have {
		return "0", nil
	}
	if name == corev1.ResourceCPU {
		if divisor.MilliValue() <= 0 {
			return "", fmt.Errorf("resourceFieldRef.divisor %s: must be at least 1m for cpu", divisor.String())
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	if divisor.Value() <= 0 {
		return "", fmt.Errorf("resourceFieldRef.divisor %s: must be at least 1 for %s", divisor.String(), name)
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// findContainer returns the app or init container called name, or nil.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// VolumeFieldValue is the content of a downwardAPI volume file with a
// fieldRef: metadata.name, metadata.namespace, metadata.uid, a label or an
// annotation (metadata.labels['KEY']), or all of them (metadata.labels,
// metadata.annotations: one KEY="value" line each, sorted, as kubelet
// writes them).
func VolumeFieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if m := subscriptRE.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("fieldRef.fieldPath %q is not supported in a volume: use metadata.name, metadata.namespace, "+
		"metadata.uid, metadata.labels, metadata.annotations, metadata.labels['KEY'] or metadata.annotations['KEY']", path)
}

// formatMap writes a map as kubelet's downward API volume does: KEY="value"
// lines (the value Go-quoted) in key order, without a final newline.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// KeyValues returns the variables in order, as the runtime takes them.
func (l *List) KeyValues() []runtime.KeyValue {
	out := make([]runtime.KeyValue, 0, len(l.names))
	for _, n := range l.names {
		out = append(out, runtime.KeyValue{Key: n, Value: l.vals[n]})
	}
	return out
}
