package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

var (
	configMapsResource = mustResource("configmaps")
	secretsResource    = mustResource("secrets")
	servicesResource   = mustResource("services")
)

// configError is a mistake in a pod's spec or in the objects it refers to
// that only its owner can fix: the container waits with reason
// CreateContainerConfigError and this message.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// isConfigError reports whether err is (or wraps) a configError, and its message.
func isConfigError(err error) (string, bool) {
	var ce *configError
	if errors.As(err, &ce) {
		return ce.msg, true
	}
	return "", false
}

// podObjects reads (once per pod sync) the API objects a pod refers to.
type podObjects struct {
	c          *client.Client
	listSvc    func(ctx context.Context) ([]*corev1.Service, error)
	ns         string
	configMaps map[string]*corev1.ConfigMap // nil value: not found
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	svcRead    bool
}

func (a *Agent) newPodObjects(ns string) *podObjects {
	return &podObjects{c: a.c, listSvc: a.listServices, ns: ns,
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// serviceCacheTTL is how long a list of services serves pod starts.
const serviceCacheTTL = time.Second

// listServices lists the services of every namespace, reusing a list
// younger than serviceCacheTTL (many pods starting at once list once).
func (a *Agent) listServices(ctx context.Context) ([]*corev1.Service, error) {
	a.svcMu.Lock()
	defer a.svcMu.Unlock()
	if a.svcList != nil && a.clk.Since(a.svcAt) < serviceCacheTTL {
		return a.svcList, nil
	}
	objs, err := a.c.List(ctx, servicesResource, "", "")
	if err != nil {
		return nil, fmt.Errorf("nodeagent: list services for the service environment variables: %w", err)
	}
	list := make([]*corev1.Service, 0, len(objs))
	for _, obj := range objs {
		if s, ok := obj.(*corev1.Service); ok {
			list = append(list, s)
		}
	}
	a.svcList, a.svcAt = list, a.clk.Now()
	return list, nil
}

// configMap returns the ConfigMap, or nil when it does not exist.
func (o *podObjects) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	obj, err := o.c.Get(ctx, configMapsResource, o.ns, name)
	if client.IsNotFound(err) {
		o.configMaps[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nodeagent: read configmap %s/%s: %w", o.ns, name, err)
	}
	cm, _ := obj.(*corev1.ConfigMap)
	o.configMaps[name] = cm
	return cm, nil
}

// secret returns the Secret, or nil when it does not exist.
func (o *podObjects) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	obj, err := o.c.Get(ctx, secretsResource, o.ns, name)
	if client.IsNotFound(err) {
		o.secrets[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nodeagent: read secret %s/%s: %w", o.ns, name, err)
	}
	s, _ := obj.(*corev1.Secret)
	o.secrets[name] = s
	return s, nil
}

// allServices lists the services of every namespace (once).
func (o *podObjects) allServices(ctx context.Context) ([]*corev1.Service, error) {
	if o.svcRead {
		return o.services, nil
	}
	list, err := o.listSvc(ctx)
	if err != nil {
		return nil, err
	}
	o.services, o.svcRead = list, true
	return o.services, nil
}

// envList is an ordered set of environment variables: a later value of a
// name replaces the earlier one in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (l *envList) set(name, val string) {
	if l.vals == nil {
		l.vals = map[string]string{}
	}
	if _, ok := l.vals[name]; !ok {
		l.names = append(l.names, name)
	}
	l.vals[name] = val
}

func (l *envList) get(name string) (string, bool) {
	v, ok := l.vals[name]
	return v, ok
}

// makeEnv computes a container's environment as kubelet does: the envFrom
// sources in order (invalid names skipped), then env in order, each value
// expanded ($(VAR)) over the variables defined before it and the service
// variables, which come last and only where not defined.
func (a *Agent) makeEnv(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, podIP string, objs *podObjects) (*envList, error) {
	env := &envList{}
	svc := &envList{}
	if a.cfg.ServiceEnv != nil && (pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks) {
		services, err := objs.allServices(ctx)
		switch {
		case err != nil && staticpods.IsStatic(pod):
			// As kubelet: static pods do not wait for the API.
			a.log.Warn("starting a static pod without service environment variables: the services cannot be listed",
				"pod", podRef(pod), "error", err)
		case err != nil:
			return nil, err
		default:
			for _, e := range a.cfg.ServiceEnv(services, pod.Namespace) {
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
			cm, err := objs.configMap(ctx, ef.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, configErrorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			what = "secret " + pod.Namespace + "/" + ef.SecretRef.Name
			s, err := objs.secret(ctx, ef.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, configErrorf("secret %q not found", ef.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			for k, v := range s.StringData {
				data[k] = v
			}
		default:
			return nil, configErrorf("spec.containers[%s].envFrom[%d]: neither configMapRef nor secretRef is set", spec.Name, i)
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
			a.log.Warn(fmt.Sprintf("keys [%s] from the EnvFrom %s were skipped since they are considered invalid environment variable names",
				strings.Join(invalid, ", "), what), "pod", podRef(pod), "container", spec.Name)
		}
	}
	mapping := func(name string) (string, bool) {
		if v, ok := env.get(name); ok {
			return v, true
		}
		return svc.get(name)
	}
	for _, e := range spec.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, expand(e.Value, mapping))
			continue
		}
		v, ok, err := a.envValueFrom(ctx, pod, spec, podIP, e, objs)
		if err != nil {
			return nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	for _, name := range svc.names {
		if _, ok := env.get(name); !ok {
			env.set(name, svc.vals[name])
		}
	}
	return env, nil
}

// envValueFrom resolves one valueFrom; ok is false for an optional
// reference that is missing (the variable is left out).
func (a *Agent) envValueFrom(ctx context.Context, pod *corev1.Pod, spec *corev1.Container, podIP string, e corev1.EnvVar, objs *podObjects) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := a.podFieldValue(pod, podIP, vf.FieldRef.FieldPath)
		if err != nil {
			return "", false, configErrorf("env %s: %v", e.Name, err)
		}
		return v, true, nil
	case vf.ResourceFieldRef != nil:
		v, err := a.resourceFieldValue(pod, spec, vf.ResourceFieldRef)
		if err != nil {
			return "", false, configErrorf("env %s: %v", e.Name, err)
		}
		return v, true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := objs.configMap(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := objs.secret(ctx, ref.Name)
		if err != nil {
			return "", false, err
		}
		if s == nil {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf("secret %q not found", ref.Name)
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
		return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	}
	return "", false, configErrorf("env %s: valueFrom.%s is not supported by bosun: use fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef",
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
func (a *Agent) podFieldValue(pod *corev1.Pod, podIP, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return a.cfg.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return a.hostIP, nil
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
		"metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, spec.serviceAccountName, status.hostIP or status.podIP", path)
}

// resourceFieldValue is the value of a resourceFieldRef: the container's
// limit or request divided by the divisor and rounded up; an unset limit
// is the node's allocatable, as kubelet reports it.
func (a *Agent) resourceFieldValue(pod *corev1.Pod, spec *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	ctr := spec
	if ref.ContainerName != "" && ref.ContainerName != spec.Name {
		ctr = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				ctr = &pod.Spec.Containers[i]
			}
		}
		if ctr == nil {
			return "", fmt.Errorf("resourceFieldRef.containerName %q: no such container in the pod", ref.ContainerName)
		}
	}
	var name corev1.ResourceName
	var q resource.Quantity
	var have bool
	switch ref.Resource {
	case "limits.cpu", "limits.memory", "limits.ephemeral-storage":
		name = corev1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))
		q, have = ctr.Resources.Limits[name]
		if !have {
			q, have = a.cfg.Capacity[name]
		}
	case "requests.cpu", "requests.memory", "requests.ephemeral-storage":
		name = corev1.ResourceName(strings.TrimPrefix(ref.Resource, "requests."))
		q, have = ctr.Resources.Requests[name]
	default:
		return "", fmt.Errorf("resourceFieldRef.resource %q is not supported: use limits.cpu, limits.memory, requests.cpu or requests.memory", ref.Resource)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if !have {
		return "0", nil
	}
	if name == corev1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// expand replaces $(VAR) in s by mapping's value, as Kubernetes does:
// "$$" is an escaped "$", a reference to an unknown variable or an
// unclosed "$(" is kept as written, and a "$" before anything else stays.
func expand(s string, mapping func(string) (string, bool)) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(s); cursor++ {
		if s[cursor] != '$' || cursor+1 >= len(s) {
			continue
		}
		b.WriteString(s[checkpoint:cursor])
		next := s[cursor+1]
		switch {
		case next == '$':
			b.WriteByte('$')
			cursor++
		case next == '(':
			end := strings.IndexByte(s[cursor+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				cursor++
				break
			}
			name := s[cursor+2 : cursor+2+end]
			if v, ok := mapping(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			cursor += 2 + end
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			cursor++
		}
		checkpoint = cursor + 1
	}
	b.WriteString(s[checkpoint:])
	return b.String()
}

// envKeyValues returns the list as the runtime takes it.
func (l *envList) keyValues() []runtime.KeyValue {
	out := make([]runtime.KeyValue, 0, len(l.names))
	for _, n := range l.names {
		out = append(out, runtime.KeyValue{Key: n, Value: l.vals[n]})
	}
	return out
}
