package manifests

import (
	"fmt"
	"strings"

	"github.com/robfig/cron/v3"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWorkloadObject validates the kinds added for DaemonSets,
// StatefulSets, Jobs, CronJobs, autoscaling, storage and namespace
// policy; it reports false for any other type.
func validateWorkloadObject(obj Obj) (field.ErrorList, bool) {
	meta := func(m *metav1.ObjectMeta, namespaced bool) field.ErrorList {
		return validateMeta(m, namespaced, apivalidation.NameIsDNSSubdomain)
	}
	switch o := obj.(type) {
	case *appsv1.DaemonSet:
		return append(meta(&o.ObjectMeta, true), validateDaemonSet(o)...), true
	case *appsv1.StatefulSet:
		return append(meta(&o.ObjectMeta, true), validateStatefulSet(o)...), true
	case *batchv1.Job:
		return append(meta(&o.ObjectMeta, true), validateJob(o)...), true
	case *batchv1.CronJob:
		return append(meta(&o.ObjectMeta, true), validateCronJob(o)...), true
	case *corev1.PersistentVolumeClaim:
		return append(meta(&o.ObjectMeta, true), validateClaimSpec(&o.Spec, field.NewPath("spec"))...), true
	case *corev1.PersistentVolume:
		return append(meta(&o.ObjectMeta, false), validatePV(o)...), true
	case *corev1.ServiceAccount:
		return meta(&o.ObjectMeta, true), true
	case *corev1.ResourceQuota:
		return append(meta(&o.ObjectMeta, true), validateQuota(o)...), true
	case *corev1.LimitRange:
		return append(meta(&o.ObjectMeta, true), validateLimitRange(o)...), true
	}
	if errs, ok := validateHPAObject(obj); ok {
		return errs, true
	}
	return nil, false
}

// validateDaemonSet is kube-apiserver's ValidateDaemonSetSpec.
func validateDaemonSet(o *appsv1.DaemonSet) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	errs := validateSelectedTemplate(s.Selector, &s.Template, "DaemonSet", p)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativeIfSet(s.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	sp := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, validateSurgeUnavailable(ru.MaxSurge, ru.MaxUnavailable, sp.Child("rollingUpdate"))...)
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.UpdateStrategy.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return errs
}

// validateSurgeUnavailable checks a rolling update's maxSurge and
// maxUnavailable: integers >= 0 or percentages, maxUnavailable at most
// 100%, and not both 0.
func validateSurgeUnavailable(surge, unavailable *intstr.IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	nu, ns := -1, -1
	if unavailable != nil {
		n, e := validateIntOrPercent(*unavailable, p.Child("maxUnavailable"))
		errs = append(errs, e...)
		if len(e) == 0 {
			nu = n
			if unavailable.Type == intstr.String && n > 100 {
				errs = append(errs, field.Invalid(p.Child("maxUnavailable"), unavailable.StrVal, "must not be greater than 100%"))
			}
		}
	}
	if surge != nil {
		n, e := validateIntOrPercent(*surge, p.Child("maxSurge"))
		errs = append(errs, e...)
		if len(e) == 0 {
			ns = n
		}
	}
	if nu == 0 && ns == 0 {
		errs = append(errs, field.Invalid(p.Child("maxUnavailable"), unavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

// validateStatefulSet is kube-apiserver's ValidateStatefulSetSpec.
func validateStatefulSet(o *appsv1.StatefulSet) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	var errs field.ErrorList
	policies := []appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}
	if !oneOf(s.PodManagementPolicy, policies) {
		errs = append(errs, field.NotSupported(p.Child("podManagementPolicy"), s.PodManagementPolicy, policies))
	}
	sp := p.Child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(sp.Child("rollingUpdate"), s.UpdateStrategy.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			errs = append(errs, nonNegativeIfSet(ru.Partition, sp.Child("rollingUpdate", "partition"))...)
			if ru.MaxUnavailable != nil {
				n, e := validateIntOrPercent(*ru.MaxUnavailable, sp.Child("rollingUpdate", "maxUnavailable"))
				if len(e) == 0 && n == 0 {
					e = field.ErrorList{field.Invalid(sp.Child("rollingUpdate", "maxUnavailable"), ru.MaxUnavailable.String(), "must be greater than 0")}
				}
				errs = append(errs, e...)
			}
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.UpdateStrategy.Type,
			[]appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType}))
	}
	if rp := s.PersistentVolumeClaimRetentionPolicy; rp != nil {
		kinds := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		rpp := p.Child("persistentVolumeClaimRetentionPolicy")
		if !oneOf(rp.WhenDeleted, kinds) {
			errs = append(errs, field.NotSupported(rpp.Child("whenDeleted"), rp.WhenDeleted, kinds))
		}
		if !oneOf(rp.WhenScaled, kinds) {
			errs = append(errs, field.NotSupported(rpp.Child("whenScaled"), rp.WhenScaled, kinds))
		}
	}
	if s.Ordinals != nil {
		errs = append(errs, nonNegative(int64(s.Ordinals.Start), p.Child("ordinals", "start"))...)
	}
	errs = append(errs, nonNegativeIfSet(s.Replicas, p.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(s.MinReadySeconds), p.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativeIfSet(s.RevisionHistoryLimit, p.Child("revisionHistoryLimit"))...)
	if s.ServiceName != "" {
		errs = append(errs, dnsLabel(s.ServiceName, p.Child("serviceName"))...)
	}
	claims := make([]string, 0, len(s.VolumeClaimTemplates))
	for _, c := range s.VolumeClaimTemplates {
		claims = append(claims, c.Name)
	}
	errs = append(errs, validateSelectedTemplateWith(s.Selector, &s.Template, podRules{template: "StatefulSet", claimVolumes: claims}, p)...)
	vp := p.Child("volumeClaimTemplates")
	names := map[string]bool{}
	for i := range s.VolumeClaimTemplates {
		c := &s.VolumeClaimTemplates[i]
		cp := vp.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(cp.Child("metadata", "name"), ""))
		case names[c.Name]:
			errs = append(errs, field.Duplicate(cp.Child("metadata", "name"), c.Name))
		default:
			errs = append(errs, dnsSubdomain(c.Name, cp.Child("metadata", "name"))...)
		}
		names[c.Name] = true
		errs = append(errs, validateLabels(c.Labels, cp.Child("metadata", "labels"))...)
		errs = append(errs, validateClaimSpec(&c.Spec, cp.Child("spec"))...)
	}
	return errs
}

// jobNameLabels are the labels kube-apiserver puts on a Job's pod template
// when it generates the Job's selector.
var jobNameLabels = []string{batchv1.ControllerUidLabel, batchv1.JobNameLabel, "controller-uid", "job-name"}

// validateJob is kube-apiserver's ValidateJob for a Job written to Git:
// the selector is generated on create (from the Job's uid), so one written
// in Git needs manualSelector: true.
func validateJob(o *batchv1.Job) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	errs := validateJobSpec(s, p)
	manual := s.ManualSelector != nil && *s.ManualSelector
	switch {
	case manual && s.Selector == nil:
		errs = append(errs, field.Required(p.Child("selector"), "a Job with manualSelector: true needs a selector that matches its template labels"))
	case manual:
		sel, e := validateLabelSelector(s.Selector, "Job", p.Child("selector"))
		errs = append(errs, e...)
		if sel != nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	case s.Selector != nil && o.UID != "":
		errs = append(errs, validateGeneratedSelector(o)...)
	case s.Selector != nil:
		errs = append(errs, field.Invalid(p.Child("selector"), s.Selector, "`selector` not auto-generated: remove it (the selector is generated when the Job is created) or set manualSelector: true"))
	}
	if !manual && o.UID == "" {
		for _, l := range jobNameLabels {
			if _, ok := s.Template.Labels[l]; ok {
				errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels").Key(l), s.Template.Labels[l], "is set when the Job is created: remove it"))
			}
		}
	}
	if s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion && s.Completions != nil && *s.Completions > 0 {
		host := fmt.Sprintf("%s-%d", o.Name, *s.Completions-1)
		if len(validation.IsDNS1123Label(host)) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), o.Name, "will not able to create pod with invalid DNS label: "+host))
		}
	}
	return errs
}

// validateGeneratedSelector checks a created Job's generated selector (one
// with a uid, written through the API by a CronJob controller or read back
// from the store) as kube-apiserver does: the template carries the uid and
// name labels and the selector selects them.
func validateGeneratedSelector(o *batchv1.Job) field.ErrorList {
	var errs field.ErrorList
	want := map[string]string{batchv1.ControllerUidLabel: string(o.UID), batchv1.JobNameLabel: o.Name,
		"controller-uid": string(o.UID), "job-name": o.Name}
	lp := field.NewPath("spec", "template", "metadata", "labels")
	for _, k := range sortedKeys(want) {
		if got, ok := o.Spec.Template.Labels[k]; !ok {
			errs = append(errs, field.Required(lp.Key(k), fmt.Sprintf("must be '%s'", want[k])))
		} else if got != want[k] {
			errs = append(errs, field.Invalid(lp.Key(k), got, fmt.Sprintf("must be '%s'", want[k])))
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector); err == nil && !sel.Matches(labels.Set(want)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), o.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// maxIndexedParallelism is kube-apiserver's limit on an Indexed Job's
// parallelism.
const maxIndexedParallelism = 100000

// validateJobSpec is kube-apiserver's validateJobSpec (shared by Jobs and
// CronJob job templates), for the fields bosun's Job controller uses.
func validateJobSpec(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, nonNegativeIfSet(s.Parallelism, p.Child("parallelism"))...)
	errs = append(errs, nonNegativeIfSet(s.Completions, p.Child("completions"))...)
	if s.ActiveDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, nonNegativeIfSet(s.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, nonNegativeIfSet(s.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegativeIfSet(s.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegativeIfSet(s.MaxFailedIndexes, p.Child("maxFailedIndexes"))...)
	if s.MaxFailedIndexes != nil && s.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	indexed := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion
	if m := s.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(p.Child("completionMode"), *m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
	}
	if indexed {
		if s.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
		}
		if s.Parallelism != nil && *s.Parallelism > maxIndexedParallelism {
			errs = append(errs, field.Invalid(p.Child("parallelism"), *s.Parallelism, fmt.Sprintf("must be less than or equal to %d when completion mode is Indexed", maxIndexedParallelism)))
		}
	} else {
		if s.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(p.Child("backoffLimitPerIndex"), *s.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if s.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *s.MaxFailedIndexes, "requires indexed completion mode"))
		}
		if s.SuccessPolicy != nil {
			errs = append(errs, field.Invalid(p.Child("successPolicy"), field.OmitValueType{}, "requires indexed completion mode"))
		}
	}
	if s.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(s, p.Child("podFailurePolicy"))...)
	}
	if rp := s.PodReplacementPolicy; rp != nil {
		switch {
		case !oneOf(*rp, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}):
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *rp, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}))
		case s.PodFailurePolicy != nil && *rp != batchv1.Failed:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *rp, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	tp := p.Child("template")
	errs = append(errs, validateLabels(s.Template.Labels, tp.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(s.Template.Annotations, tp.Child("metadata", "annotations"))...)
	errs = append(errs, validatePodSpec(&s.Template.Spec, tp.Child("spec"), podRules{template: "Job", job: true})...)
	if s.PodFailurePolicy != nil && s.Template.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), s.Template.Spec.RestartPolicy, `only "Never" is supported when podFailurePolicy is specified`))
	}
	return errs
}

// maxPodFailurePolicyRules is kube-apiserver's limit on rules.
const maxPodFailurePolicyRules = 20

// validatePodFailurePolicy checks a Job's podFailurePolicy rules: a known
// action, exactly one of onExitCodes and onPodConditions, In/NotIn with
// values, and a containerName the template has.
func validatePodFailurePolicy(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rp := p.Child("rules")
	if n := len(s.PodFailurePolicy.Rules); n > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rp, n, maxPodFailurePolicyRules))
	}
	containers := map[string]bool{}
	for _, c := range append(append([]corev1.Container{}, s.Template.Spec.InitContainers...), s.Template.Spec.Containers...) {
		containers[c.Name] = true
	}
	actions := []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	for i, r := range s.PodFailurePolicy.Rules {
		ip := rp.Index(i)
		if !oneOf(r.Action, actions) {
			errs = append(errs, field.NotSupported(ip.Child("action"), r.Action, actions))
		}
		if r.Action == batchv1.PodFailurePolicyActionFailIndex && s.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Forbidden(ip.Child("action"), "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := ip.Child("onExitCodes")
			if ec.ContainerName != nil && !containers[*ec.ContainerName] {
				errs = append(errs, field.Invalid(ep.Child("containerName"), *ec.ContainerName, "must be one of the container or initContainer names in the pod template"))
			}
			ops := []batchv1.PodFailurePolicyOnExitCodesOperator{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}
			if !oneOf(ec.Operator, ops) {
				errs = append(errs, field.NotSupported(ep.Child("operator"), ec.Operator, ops))
			}
			if len(ec.Values) == 0 {
				errs = append(errs, field.Invalid(ep.Child("values"), ec.Values, "at least one value is required"))
			}
			for j, v := range ec.Values {
				if ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && ec.Values[j-1] >= v {
					errs = append(errs, field.Invalid(ep.Child("values").Index(j), v, "must be ordered"))
				}
			}
		}
		for j, c := range r.OnPodConditions {
			cp := ip.Child("onPodConditions").Index(j)
			errs = append(errs, validateQualifiedName(string(c.Type), cp.Child("type"))...)
			statuses := []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}
			if !oneOf(c.Status, statuses) {
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, statuses))
			}
		}
	}
	return errs
}

// maxCronJobNameLength leaves room for the 11-character suffix of the
// Jobs a CronJob creates.
const maxCronJobNameLength = validation.DNS1035LabelMaxLength - 11

// validateCronJob is kube-apiserver's ValidateCronJobCreate.
func validateCronJob(o *batchv1.CronJob) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	var errs field.ErrorList
	if len(o.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), o.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	if s.Schedule == "" {
		errs = append(errs, field.Required(p.Child("schedule"), ""))
	} else {
		errs = append(errs, validateSchedule(s.Schedule, p.Child("schedule"))...)
	}
	errs = append(errs, validateTimeZone(s.TimeZone, p.Child("timeZone"))...)
	if s.StartingDeadlineSeconds != nil {
		errs = append(errs, nonNegative(*s.StartingDeadlineSeconds, p.Child("startingDeadlineSeconds"))...)
	}
	policies := []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}
	if !oneOf(s.ConcurrencyPolicy, policies) {
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), s.ConcurrencyPolicy, policies))
	}
	errs = append(errs, nonNegativeIfSet(s.SuccessfulJobsHistoryLimit, p.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, nonNegativeIfSet(s.FailedJobsHistoryLimit, p.Child("failedJobsHistoryLimit"))...)
	jp := p.Child("jobTemplate", "spec")
	js := &s.JobTemplate.Spec
	errs = append(errs, validateJobSpec(js, jp)...)
	if js.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("selector"), js.Selector, "`selector` will be auto-generated"))
	}
	if js.ManualSelector != nil && *js.ManualSelector {
		errs = append(errs, field.NotSupported(jp.Child("manualSelector"), *js.ManualSelector, []string{"nil", "false"}))
	}
	errs = append(errs, validateLabels(s.JobTemplate.Labels, p.Child("jobTemplate", "metadata", "labels"))...)
	return errs
}

// validateSchedule parses a CronJob schedule as Kubernetes does, with
// robfig/cron's standard parser (5 fields or a @descriptor); TZ= and
// CRON_TZ= prefixes are refused in favour of spec.timeZone.
func validateSchedule(schedule string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := cron.ParseStandard(schedule); err != nil {
		errs = append(errs, field.Invalid(p, schedule, err.Error()))
	}
	if strings.Contains(schedule, "TZ") {
		errs = append(errs, field.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	}
	return errs
}
