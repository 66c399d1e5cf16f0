package podsecurity

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Levels, as the namespace labels and --pod-security-default spell them.
const (
	LevelPrivileged = string(psapi.LevelPrivileged)
	LevelBaseline   = string(psapi.LevelBaseline)
	LevelRestricted = string(psapi.LevelRestricted)
)

// DefaultLevel is the level a server applies where a namespace sets no
// label, unless told otherwise.
const DefaultLevel = LevelBaseline

// Namespace labels choosing a namespace's levels and their versions.
const (
	EnforceLevelLabel   = psapi.EnforceLevelLabel
	EnforceVersionLabel = psapi.EnforceVersionLabel
	WarnLevelLabel      = psapi.WarnLevelLabel
	WarnVersionLabel    = psapi.WarnVersionLabel
	AuditLevelLabel     = psapi.AuditLevelLabel
	AuditVersionLabel   = psapi.AuditVersionLabel
)

// Policy evaluates pods against the Pod Security Standards of their
// namespace's labels, with a server-wide default level for modes a
// namespace leaves unset. It holds no mutable state: one Policy may serve
// any number of goroutines.
type Policy struct {
	defaults  psapi.Policy
	evaluator policy.Evaluator
}

// New returns a Policy whose default level (for enforce, warn and audit
// alike, at version latest) is defaultLevel: privileged, baseline or
// restricted. The error names the bad level.
func New(defaultLevel string) (*Policy, error) {
	level, err := psapi.ParseLevel(defaultLevel)
	if err != nil {
		return nil, fmt.Errorf("podsecurity: default level %q: %w", defaultLevel, err)
	}
	lv := psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("podsecurity: the standard checks: %w", err)
	}
	return &Policy{defaults: psapi.Policy{Enforce: lv, Warn: lv, Audit: lv}, evaluator: evaluator}, nil
}

// DefaultLevel returns the level applied where a namespace sets no label.
func (p *Policy) DefaultLevel() string { return string(p.defaults.Enforce.Level) }

// Violation is one check a pod fails.
type Violation struct {
	// Reason names the check, e.g. "hostPath volumes".
	Reason string
	// Detail says what in the pod fails it, e.g. `volume "root"`; it may
	// be empty.
	Detail string
}

// String formats the violation as Kubernetes does: `hostPath volumes
// (volume "root")`, or the reason alone when there is no detail.
func (v Violation) String() string {
	if v.Detail == "" {
		return v.Reason
	}
	return v.Reason + " (" + v.Detail + ")"
}

// Verdict is the outcome of one mode (enforce, warn or audit).
type Verdict struct {
	// Policy is the level and version evaluated, e.g. "baseline:latest".
	Policy string
	// Violations lists the failed checks, baseline checks first, in
	// Kubernetes' order; empty when the pod meets the level.
	Violations []Violation
}

// Allowed reports whether the pod meets the level.
func (v Verdict) Allowed() bool { return len(v.Violations) == 0 }

// message formats the verdict as kube-apiserver does, after prefix
// ("violates" or "would violate"); "" when allowed.
func (v Verdict) message(prefix string) string {
	if v.Allowed() {
		return ""
	}
	parts := make([]string, len(v.Violations))
	for i, x := range v.Violations {
		parts[i] = x.String()
	}
	return fmt.Sprintf("%s PodSecurity %q: %s", prefix, v.Policy, strings.Join(parts, ", "))
}

// Result is what Check finds for one pod or pod template.
type Result struct {
	// Enforce is the verdict of the enforce level: a pod failing it is
	// refused.
	Enforce Verdict
	// Warn is the verdict of the warn level: failing it gives the writer a
	// warning.
	Warn Verdict
	// Audit is the verdict of the audit level, for the audit log.
	Audit Verdict
	// LabelErrors are the namespace's Pod Security labels that could not
	// be parsed (the verdicts then use Kubernetes' fallbacks, see the
	// package doc); nil when all were valid.
	LabelErrors field.ErrorList
}

// Denied reports whether the enforce level refuses the pod.
func (r Result) Denied() bool { return !r.Enforce.Allowed() }

// DeniedMessage returns the refusal as kube-apiserver words it, e.g.
// `violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
// or "" when the pod is allowed.
func (r Result) DeniedMessage() string { return r.Enforce.message("violates") }

// Warnings returns the warn level's warning as kube-apiserver words it
// (`would violate PodSecurity "restricted:latest": ...`), or nothing when
// the pod meets the warn level or is refused anyway (Kubernetes adds no
// warnings to a refused request).
func (r Result) Warnings() []string {
	if r.Denied() || r.Warn.Allowed() {
		return nil
	}
	return []string{r.Warn.message("would violate")}
}

// AuditMessage returns the audit level's finding, worded as Kubernetes'
// pod-security.kubernetes.io/audit-violations annotation, or "" when the
// pod meets the audit level.
func (r Result) AuditMessage() string { return r.Audit.message("would violate") }

// Check evaluates a pod (or a controller's pod template: its metadata and
// spec) in a namespace with labels nsLabels (nil for a namespace without
// labels). It never fails: labels that cannot be parsed are reported in
// LabelErrors and evaluated as Kubernetes does.
func (p *Policy) Check(nsLabels map[string]string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) Result {
	if meta == nil {
		meta = &metav1.ObjectMeta{}
	}
	pol, errs := psapi.PolicyToEvaluate(nsLabels, p.defaults)
	cache := map[psapi.LevelVersion]Verdict{}
	eval := func(lv psapi.LevelVersion) Verdict {
		if v, ok := cache[lv]; ok {
			return v
		}
		v := verdict(lv, p.evaluator.EvaluatePod(lv, meta, spec))
		cache[lv] = v
		return v
	}
	return Result{Enforce: eval(pol.Enforce), Warn: eval(pol.Warn), Audit: eval(pol.Audit), LabelErrors: errs}
}

// verdict turns the checks' results for lv into a Verdict.
func verdict(lv psapi.LevelVersion, results []policy.CheckResult) Verdict {
	agg := policy.AggregateCheckResults(results)
	v := Verdict{Policy: lv.String()}
	for i, reason := range agg.ForbiddenReasons {
		v.Violations = append(v.Violations, Violation{Reason: reason, Detail: agg.ForbiddenDetails[i]})
	}
	return v
}

// CheckNamespace validates a Namespace's Pod Security labels, as Kubernetes
// does when a Namespace is created: each label with a value that cannot be
// parsed is an error naming the label (field
// metadata.labels[pod-security.kubernetes.io/enforce], "Invalid value").
func (p *Policy) CheckNamespace(labels map[string]string) field.ErrorList {
	_, errs := psapi.PolicyToEvaluate(labels, p.defaults)
	return errs
}

// UpdateNeedsCheck reports whether an update of the pod old to pod must be
// checked again: when its spec or annotations changed. Kubernetes checks
// an update only when a container image changed, because the rest of a
// pod's spec is immutable there; bosun checks any change of the spec, so
// an update cannot add what a create would have been refused for. Writes
// of status, labels and other metadata pass, so pods admitted before a
// namespace became stricter keep working.
func UpdateNeedsCheck(pod, old *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(pod.Spec, old.Spec) ||
		!equality.Semantic.DeepEqual(pod.Annotations, old.Annotations)
}
