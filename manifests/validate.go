package manifests

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validate checks objects one by one (as the API server would on create) and
// across the set: the same object defined twice (naming both files), Services
// using the same nodePort or clusterIP (naming both files), a Service selector
// that matches no pod template in the set (warning), and objects in a
// namespace that is neither "default", "kube-system" nor defined in the set
// (warning). Objects should be defaulted first (Decode and Load do that).
// It is ValidateWith with no live state and no service CIDR.
func Validate(objs []Object) Problems {
	return ValidateWith(objs, Options{})
}

// ValidateWith is Validate with the checks that depend on the cluster:
// clusterIPs outside opts.ServiceCIDRs, and with opts.Live set, objects in
// a namespace that exists nowhere (an error unless Live.CreateNamespaces)
// and clusterIPs or nodePorts already allocated to live Services the set
// does not define. opts.Path and opts.Limits are not used.
func ValidateWith(objs []Object, opts Options) Problems {
	return validate(objs, opts, true)
}

// validate checks objs; complete is false when a limit stopped reading the
// tree, and then the checks that need the whole tree to be right (warnings
// about namespaces and selectors, missing namespaces) are skipped.
func validate(objs []Object, opts Options, complete bool) Problems {
	var ps Problems
	for _, o := range objs {
		if o.Obj == nil {
			continue
		}
		for _, e := range validateObject(o.Obj) {
			if !covered(e.Field, o.dropped) {
				ps = append(ps, problemFor(o, e, false))
			}
		}
		for _, u := range unsupportedFields(o.Obj) {
			ps = append(ps, problemAt(o, u.path, u.msg, false))
		}
		for _, e := range append(ignoredFields(o.Obj), pdbWarnings(o.Obj)...) {
			ps = append(ps, problemAt(o, e.Field, e.Detail, true))
		}
	}
	ps = append(ps, crossValidate(objs, opts, complete)...)
	sortProblems(ps)
	return ps
}

// ValidateObject returns the errors sync reports about obj on its own,
// without file or line: the API server's field rules for the kind, the pod
// fields bosun cannot run (ephemeralContainers, hostNetwork, ...), duplicate
// hostPorts in a pod, image references that do not parse, and
// metadata.namespace on a cluster-scoped kind. Warnings and the checks
// that need the rest of the set or the cluster (namespaces, clusterIP and
// nodePort conflicts, the service CIDR; see ValidateServiceCIDR) are not
// included. obj should be defaulted with SetDefaults first.
func ValidateObject(obj Obj) field.ErrorList {
	errs := validateObject(obj)
	for _, u := range unsupportedFields(obj) {
		errs = append(errs, field.Forbidden(field.NewPath(u.path), u.msg))
	}
	return errs
}

// unsupported is a field bosun refuses although Kubernetes accepts it.
type unsupported struct {
	path, msg string
}

// unsupportedFields lists the pod fields of obj bosun cannot run.
func unsupportedFields(obj Obj) []unsupported {
	spec, path := podSpecOf(obj)
	if spec == nil {
		return nil
	}
	const setup = "is not supported by bosun yet: its pods would not run as written; remove it or run the setup in the main container"
	const hostNS = "is not supported by bosun yet: every pod gets namespaces of its own; remove it"
	var out []unsupported
	for _, f := range []struct {
		n         int
		name, msg string
	}{{len(spec.EphemeralContainers), "ephemeralContainers", setup},
		{b2i(spec.HostNetwork), "hostNetwork", hostNS}, {b2i(spec.HostPID), "hostPID", hostNS}, {b2i(spec.HostIPC), "hostIPC", hostNS}} {
		if f.n > 0 {
			out = append(out, unsupported{path.Child(f.name).String(), f.msg})
		}
	}
	return out
}

// covered reports whether field is, contains or lies inside one of the
// paths whose values were dropped while decoding.
func covered(field string, dropped []string) bool {
	for _, d := range dropped {
		if within(field, d) || within(d, field) {
			return true
		}
	}
	return false
}

// within reports whether path p is base or below it.
func within(p, base string) bool {
	if !strings.HasPrefix(p, base) {
		return false
	}
	rest := p[len(base):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// problemFor turns a field error about o into a Problem with file and line.
func problemFor(o Object, e *field.Error, warning bool) Problem {
	return Problem{
		File:    o.File,
		Line:    fieldLine(o, e.Field),
		Object:  objectLabel(o.ID()),
		Field:   e.Field,
		Message: errorMessage(e) + renderedNote(o.RenderedBy),
		Warning: warning,
	}
}

// fieldLine finds the line of a field of o, falling back to the closest
// enclosing field in the file and then to the object's line.
func fieldLine(o Object, path string) int {
	if o.src == nil {
		return o.Line
	}
	line, found := o.src.line(path)
	if !found && strings.HasPrefix(path, "data[") {
		if _, ok := o.Obj.(*corev1.Secret); ok {
			if l, f := o.src.line("stringData" + strings.TrimPrefix(path, "data")); f {
				return l
			}
		}
	}
	return line
}

// errorMessage renders a field error without its field, starting lower-case.
func errorMessage(e *field.Error) string {
	s := e.ErrorBody()
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// validateObject validates one object on its own.
func validateObject(obj Obj) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Pod:
		errs := validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
		return append(errs, validatePodSpec(&o.Spec, field.NewPath("spec"), podRules{})...)
	case *corev1.ReplicationController:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validateRC(o)...)
	case *corev1.Service:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNS1035Label), validateService(o)...)
	case *corev1.ConfigMap:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validateConfigMap(o)...)
	case *corev1.Secret:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validateSecret(o)...)
	case *corev1.Namespace:
		errs := validateMeta(&o.ObjectMeta, false, apivalidation.NameIsDNSLabel)
		for i, f := range o.Spec.Finalizers {
			errs = append(errs, validateQualifiedName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
		}
		return errs
	case *appsv1.ReplicaSet:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validateReplicaSet(o)...)
	case *appsv1.Deployment:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validateDeployment(o)...)
	case *policyv1.PodDisruptionBudget:
		return append(validateMeta(&o.ObjectMeta, true, apivalidation.NameIsDNSSubdomain), validatePDB(o)...)
	}
	if errs, ok := validateWorkloadObject(obj); ok {
		return errs
	}
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("unsupported type %T", obj))}
}

// validateMeta validates an object's metadata on create. Labels are checked
// one by one so that each problem points at its own line.
func validateMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	p := field.NewPath("metadata")
	meta := m.DeepCopy()
	lbls := meta.Labels
	meta.Labels = nil
	var errs field.ErrorList
	if !namespaced && meta.Namespace != "" {
		// Reported here rather than by ValidateObjectMeta, with a hint.
		errs = append(errs, field.Forbidden(p.Child("namespace"), "not allowed on a cluster-scoped kind: remove metadata.namespace"))
		meta.Namespace = ""
	}
	errs = append(errs, apivalidation.ValidateObjectMeta(meta, namespaced, nameFn, p)...)
	if m.GenerateName != "" && m.Name == "" {
		errs = append(errs, field.Forbidden(p.Child("generateName"), "is not supported in a Git repository: set metadata.name"))
	}
	return append(errs, validateLabels(lbls, p.Child("labels"))...)
}

// validateLabels checks label keys and values, one error per label.
func validateLabels(m map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(m) {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, "invalid label key: "+msg))
		}
		for _, msg := range validation.IsValidLabelValue(m[k]) {
			errs = append(errs, field.Invalid(p.Key(k), m[k], "invalid label value: "+msg))
		}
	}
	return errs
}

func sortedKeys[K ~string, V any](m map[K]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}

func validateQualifiedName(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, validation.IsQualifiedName(v))
}

// invalid returns a field.Invalid error at p for value and each of msgs, the
// messages of one of apimachinery's validation.Is* checks.
func invalid(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

func nonNegative(v int64, p *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(v, p)
}

// nonNegativeIfSet is nonNegative for an optional field: nil is valid.
func nonNegativeIfSet(v *int32, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	return nonNegative(int64(*v), p)
}

// validateSelectedTemplate checks the label selector of a Deployment or
// ReplicaSet under spec p and its pod template against it.
func validateSelectedTemplate(selector *metav1.LabelSelector, t *corev1.PodTemplateSpec, kind string, p *field.Path) field.ErrorList {
	return validateSelectedTemplateWith(selector, t, podRules{template: kind}, p)
}

// validateSelectedTemplateWith is validateSelectedTemplate with the rules
// of the template's pod spec (r.template names the kind).
func validateSelectedTemplateWith(selector *metav1.LabelSelector, t *corev1.PodTemplateSpec, r podRules, p *field.Path) field.ErrorList {
	sel, errs := validateLabelSelector(selector, r.template, p.Child("selector"))
	return append(errs, validateTemplateWith(t, sel, r, p.Child("template"))...)
}

// validateTemplate checks a workload's pod template and that selector
// matches its labels.
func validateTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, kind string, p *field.Path) field.ErrorList {
	return validateTemplateWith(t, sel, podRules{template: kind}, p)
}

// validateTemplateWith is validateTemplate with the rules of the pod spec.
func validateTemplateWith(t *corev1.PodTemplateSpec, sel labels.Selector, r podRules, p *field.Path) field.ErrorList {
	kind := r.template
	var errs field.ErrorList
	mp := p.Child("metadata")
	errs = append(errs, validateLabels(t.Labels, mp.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, mp.Child("annotations"))...)
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(mp.Child("labels"), t.Labels, fmt.Sprintf("`selector` does not match template `labels`: the %s selects pods with %s", kind, sel.String())))
	}
	errs = append(errs, validatePodSpec(&t.Spec, p.Child("spec"), r)...)
	return errs
}

// validateLabelSelector checks a required label selector and converts it.
func validateLabelSelector(s *metav1.LabelSelector, kind string, p *field.Path) (labels.Selector, field.ErrorList) {
	if s == nil {
		return nil, field.ErrorList{field.Required(p, "a "+kind+" needs a selector that matches its template labels")}
	}
	errs := metav1validation.ValidateLabelSelector(s, metav1validation.LabelSelectorValidationOptions{}, p)
	if len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, s, "empty selector is invalid for "+strings.ToLower(kind)))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(p, s, "invalid label selector: "+err.Error())}
	}
	return sel, nil
}

func validateDeployment(o *appsv1.Deployment) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	errs := nonNegativeIfSet(s.Replicas, p.Child("replicas"))
	errs = append(errs, validateSelectedTemplate(s.Selector, &s.Template, "Deployment", p)...)
	errs = append(errs, validateStrategy(&s.Strategy, p.Child("strategy"))...)
	errs = append(errs, nonNegativeIfSet(s.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	if s.ProgressDeadlineSeconds != nil {
		pd := p.Child("progressDeadlineSeconds")
		errs = append(errs, nonNegative(int64(*s.ProgressDeadlineSeconds), pd)...)
		if *s.ProgressDeadlineSeconds <= s.MinReadySeconds {
			errs = append(errs, field.Invalid(pd, *s.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStrategy(st *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch st.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if st.RollingUpdate == nil {
			break
		}
		ru := st.RollingUpdate
		rp := p.Child("rollingUpdate")
		unavailable, surge := 0, 0
		if ru.MaxUnavailable != nil {
			var e field.ErrorList
			unavailable, e = validateIntOrPercent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))
			errs = append(errs, e...)
			if ru.MaxUnavailable.Type == intstr.String && len(e) == 0 && unavailable > 100 {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.StrVal, "must not be greater than 100%"))
			}
		}
		if ru.MaxSurge != nil {
			var e field.ErrorList
			surge, e = validateIntOrPercent(*ru.MaxSurge, rp.Child("maxSurge"))
			errs = append(errs, e...)
		}
		if ru.MaxUnavailable != nil && ru.MaxSurge != nil && unavailable == 0 && surge == 0 && len(errs) == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0: the rollout could never make progress"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), st.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

// validateIntOrPercent checks a non-negative integer or a percentage such as
// "25%" and returns its number.
func validateIntOrPercent(v intstr.IntOrString, p *field.Path) (int, field.ErrorList) {
	if v.Type == intstr.Int {
		return int(v.IntVal), nonNegative(int64(v.IntVal), p)
	}
	if len(validation.IsValidPercent(v.StrVal)) > 0 {
		return 0, field.ErrorList{field.Invalid(p, v.StrVal, "must be an integer or a percentage (e.g. '25%')")}
	}
	var n int
	fmt.Sscanf(v.StrVal, "%d%%", &n)
	return n, nil
}

func validateReplicaSet(o *appsv1.ReplicaSet) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	errs := nonNegativeIfSet(s.Replicas, p.Child("replicas"))
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	return append(errs, validateSelectedTemplate(s.Selector, &s.Template, "ReplicaSet", p)...)
}

func validateRC(o *corev1.ReplicationController) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	errs := nonNegativeIfSet(s.Replicas, p.Child("replicas"))
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	var sel labels.Selector
	if len(s.Selector) == 0 {
		errs = append(errs, field.Required(p.Child("selector"), "set spec.selector or spec.template.metadata.labels"))
	} else {
		errs = append(errs, validateLabels(s.Selector, p.Child("selector"))...)
		sel = labels.SelectorFromSet(s.Selector)
	}
	if s.Template == nil {
		return append(errs, field.Required(p.Child("template"), "a ReplicationController needs a pod template"))
	}
	return append(errs, validateTemplate(s.Template, sel, "ReplicationController", p.Child("template"))...)
}

// countVolumeSources counts the sources set in a volume source.
func countVolumeSources(vs *corev1.VolumeSource) int {
	v := reflect.ValueOf(vs).Elem()
	n := 0
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

// ignoredFields returns a warning for each field of a manifest that bosun
// does not take from Git: status (controllers and agents write it) and the
// metadata the store sets or that bosun does not support in manifests.
func ignoredFields(obj Obj) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	ignored := func(p *field.Path, why string) {
		errs = append(errs, &field.Error{Field: p.String(), Detail: why})
	}
	if obj.GetUID() != "" {
		ignored(meta.Child("uid"), "is set by bosun; the value in Git is ignored")
	}
	if obj.GetResourceVersion() != "" {
		ignored(meta.Child("resourceVersion"), "is set by bosun; the value in Git is ignored")
	}
	if ts := obj.GetCreationTimestamp(); !ts.IsZero() {
		ignored(meta.Child("creationTimestamp"), "is set by bosun; the value in Git is ignored")
	}
	if obj.GetGeneration() != 0 {
		ignored(meta.Child("generation"), "is set by bosun; the value in Git is ignored")
	}
	if len(obj.GetOwnerReferences()) > 0 {
		ignored(meta.Child("ownerReferences"), "is not supported in manifests: objects from Git are owned by the repository")
	}
	if len(obj.GetFinalizers()) > 0 {
		ignored(meta.Child("finalizers"), "is not supported in manifests yet and is ignored")
	}
	if spec, path := podSpecOf(obj); spec != nil {
		errs = append(errs, unsupportedSecurity(spec, path)...)
		errs = append(errs, unsupportedPodFields(spec, path)...)
	}
	if svc, ok := obj.(*corev1.Service); ok {
		errs = append(errs, unsupportedServiceFields(svc)...)
	}
	errs = append(errs, unsupportedWorkloadFields(obj)...)
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && !v.IsNil() {
		if st := v.Elem().FieldByName("Status"); st.IsValid() && !st.IsZero() {
			ignored(field.NewPath("status"), "is written by bosun's controllers and node agents; the value in Git is ignored")
		}
	}
	return errs
}

// podSpecOf returns the pod spec of a Pod or of a controller's template,
// and its field path.
func podSpecOf(obj Obj) (*corev1.PodSpec, *field.Path) {
	tmpl := field.NewPath("spec", "template", "spec")
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.Spec, field.NewPath("spec")
	case *corev1.ReplicationController:
		if o.Spec.Template != nil {
			return &o.Spec.Template.Spec, tmpl
		}
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.Spec, tmpl
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, tmpl
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec, tmpl
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec, tmpl
	case *batchv1.Job:
		return &o.Spec.Template.Spec, tmpl
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, field.NewPath("spec", "jobTemplate", "spec", "template", "spec")
	}
	return nil, nil
}

// supportedSecurity are the securityContext fields bosun's agent applies.
var supportedSecurity = map[string]bool{"RunAsUser": true, "RunAsGroup": true, "ReadOnlyRootFilesystem": true}

// unsupportedSecurity warns about each securityContext field, of the pod
// and of its containers, that bosun does not apply.
func unsupportedSecurity(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(sc any, p *field.Path) {
		v := reflect.ValueOf(sc)
		if v.IsNil() {
			return
		}
		v = v.Elem()
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if supportedSecurity[f.Name] || v.Field(i).IsZero() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			errs = append(errs, &field.Error{Field: p.Child(name).String(),
				Detail: "is not supported by bosun yet and is ignored (runAsUser, runAsGroup and readOnlyRootFilesystem are applied)"})
		}
	}
	check(spec.SecurityContext, path.Child("securityContext"))
	for i := range spec.InitContainers {
		check(spec.InitContainers[i].SecurityContext, path.Child("initContainers").Index(i).Child("securityContext"))
	}
	for i := range spec.Containers {
		check(spec.Containers[i].SecurityContext, path.Child("containers").Index(i).Child("securityContext"))
	}
	return errs
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ignoredDetail is the message of a field bosun accepts but does not act on.
const ignoredDetail = "is not supported by bosun yet and is ignored"

// unsupportedPodFields warns about pod spec fields that bosun's scheduler
// and agent do not act on.
func unsupportedPodFields(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	warn := func(set bool, p *field.Path, detail string) {
		if set {
			errs = append(errs, &field.Error{Field: p.String(), Detail: detail})
		}
	}
	warn(spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace, path.Child("shareProcessNamespace"), ignoredDetail)
	warn(len(spec.ReadinessGates) > 0, path.Child("readinessGates"), ignoredDetail)
	warn(spec.ActiveDeadlineSeconds != nil, path.Child("activeDeadlineSeconds"), ignoredDetail)
	warn(len(spec.TopologySpreadConstraints) > 0, path.Child("topologySpreadConstraints"), ignoredDetail+" by the scheduler (it spreads a controller's pods over nodes on its own)")
	if a := spec.Affinity; a != nil {
		warn(a.PodAffinity != nil, path.Child("affinity", "podAffinity"), ignoredDetail+" by the scheduler")
		warn(a.PodAntiAffinity != nil, path.Child("affinity", "podAntiAffinity"), ignoredDetail+" by the scheduler")
		warn(a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0,
			path.Child("affinity", "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"), ignoredDetail+" by the scheduler (required node affinity is applied)")
	}
	for _, list := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i := range list.cs {
			c := &list.cs[i]
			cp := path.Child(list.name).Index(i)
			if l := c.Lifecycle; l != nil {
				const tcpHook = "tcpSocket hooks do not run (nor in Kubernetes' kubelet): use exec, httpGet or sleep"
				warn(l.PostStart != nil && l.PostStart.TCPSocket != nil, cp.Child("lifecycle", "postStart", "tcpSocket"), tcpHook)
				warn(l.PreStop != nil && l.PreStop.TCPSocket != nil, cp.Child("lifecycle", "preStop", "tcpSocket"), tcpHook)
			}
			warn(c.TTY, cp.Child("tty"), ignoredDetail)
			warn(c.Stdin, cp.Child("stdin"), ignoredDetail)
		}
	}
	return errs
}

// unsupportedServiceFields warns about Service fields the proxy does not
// act on.
func unsupportedServiceFields(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	warn := func(set bool, p *field.Path, detail string) {
		if set {
			errs = append(errs, &field.Error{Field: p.String(), Detail: detail})
		}
	}
	warn(svc.Spec.Type == corev1.ServiceTypeLoadBalancer, spec.Child("type"), "LoadBalancer has no load balancer to provision here: bosun serves it as a NodePort Service")
	warn(len(svc.Spec.ExternalIPs) > 0, spec.Child("externalIPs"), ignoredDetail)
	warn(svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal, spec.Child("externalTrafficPolicy"), ignoredDetail+" (traffic goes to every ready endpoint)")
	warn(svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal, spec.Child("internalTrafficPolicy"), ignoredDetail+" (traffic goes to every ready endpoint)")
	warn(len(svc.Spec.LoadBalancerSourceRanges) > 0, spec.Child("loadBalancerSourceRanges"), ignoredDetail)
	return errs
}
