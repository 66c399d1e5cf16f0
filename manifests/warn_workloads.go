package manifests

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// localClasses are the storage classes bosun's node-local provisioner
// serves (an unset class included).
var localClasses = []string{"local-path", "standard"}

// unsupportedWorkloadFields warns about the fields of the newer kinds that
// bosun's controllers and agents accept but do not act on.
func unsupportedWorkloadFields(obj Obj) field.ErrorList {
	var errs field.ErrorList
	warn := func(set bool, p *field.Path, detail string) {
		if set {
			errs = append(errs, &field.Error{Field: p.String(), Detail: detail})
		}
	}
	spec := field.NewPath("spec")
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		if ru := o.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			warn(ru.MaxUnavailable != nil, spec.Child("updateStrategy", "rollingUpdate", "maxUnavailable"), ignoredDetail+" (pods are updated one at a time)")
		}
		for i := range o.Spec.VolumeClaimTemplates {
			errs = append(errs, claimWarnings(&o.Spec.VolumeClaimTemplates[i].Spec, spec.Child("volumeClaimTemplates").Index(i).Child("spec"))...)
		}
	case *batchv1.Job:
		errs = append(errs, jobWarnings(&o.Spec, spec)...)
	case *batchv1.CronJob:
		errs = append(errs, jobWarnings(&o.Spec.JobTemplate.Spec, spec.Child("jobTemplate", "spec"))...)
	case *autoscalingv2.HorizontalPodAutoscaler:
		for i, m := range o.Spec.Metrics {
			mp := spec.Child("metrics").Index(i)
			switch {
			case !oneOf(m.Type, metricTypes):
				// Refused by validateMetric.
			case m.Type != autoscalingv2.ResourceMetricSourceType:
				warn(true, mp.Child("type"), ignoredDetail+": bosun scales on cpu and memory Resource metrics only")
			case m.Resource != nil && m.Resource.Name != corev1.ResourceCPU && m.Resource.Name != corev1.ResourceMemory:
				warn(true, mp.Child("resource", "name"), ignoredDetail+": bosun scales on cpu and memory Resource metrics only")
			}
		}
	case *corev1.PersistentVolumeClaim:
		errs = append(errs, claimWarnings(&o.Spec, spec)...)
	case *corev1.PersistentVolume:
		warn(o.Spec.HostPath == nil && o.Spec.Local == nil, spec, "bosun's agents mount only hostPath and local PersistentVolumes: pods using this one will not start")
		warn(o.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle, spec.Child("persistentVolumeReclaimPolicy"), "Recycle is deprecated in Kubernetes and not supported by bosun: the volume is kept as with Retain")
		warn(o.Spec.VolumeMode != nil && *o.Spec.VolumeMode == corev1.PersistentVolumeBlock, spec.Child("volumeMode"), ignoredDetail+": volumes are mounted as directories")
	case *corev1.ServiceAccount:
		warn(len(o.Secrets) > 0, field.NewPath("secrets"), ignoredDetail)
		warn(len(o.ImagePullSecrets) > 0, field.NewPath("imagePullSecrets"), ignoredDetail+" (set imagePullSecrets in the pod spec)")
		warn(o.AutomountServiceAccountToken != nil && *o.AutomountServiceAccountToken, field.NewPath("automountServiceAccountToken"), ignoredDetail+": bosun mounts no service account token yet")
	case *corev1.ResourceQuota:
		errs = append(errs, quotaScopeWarnings(o)...)
	case *corev1.LimitRange:
		for i, it := range o.Spec.Limits {
			warn(it.Type == corev1.LimitTypePersistentVolumeClaim, spec.Child("limits").Index(i).Child("type"), ignoredDetail+": bosun applies Container and Pod limits")
		}
	}
	return errs
}

// jobWarnings warns about Job fields bosun's Job controller ignores.
func jobWarnings(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		set  bool
		name string
	}{{s.BackoffLimitPerIndex != nil, "backoffLimitPerIndex"}, {s.MaxFailedIndexes != nil, "maxFailedIndexes"},
		{s.SuccessPolicy != nil, "successPolicy"}, {s.ManagedBy != nil, "managedBy"}} {
		if f.set {
			errs = append(errs, &field.Error{Field: p.Child(f.name).String(), Detail: ignoredDetail})
		}
	}
	// Failed is the default with a podFailurePolicy; without one it was
	// written in Git.
	if rp := s.PodReplacementPolicy; rp != nil && *rp == batchv1.Failed && s.PodFailurePolicy == nil {
		errs = append(errs, &field.Error{Field: p.Child("podReplacementPolicy").String(),
			Detail: ignoredDetail + ": a replacement pod starts while the failed one terminates (TerminatingOrFailed)"})
	}
	if pfp := s.PodFailurePolicy; pfp != nil {
		for i, r := range pfp.Rules {
			if r.Action == batchv1.PodFailurePolicyActionFailIndex {
				errs = append(errs, &field.Error{Field: p.Child("podFailurePolicy", "rules").Index(i).Child("action").String(),
					Detail: "FailIndex is not supported by bosun yet: without backoffLimitPerIndex the rule does nothing"})
			}
		}
	}
	return errs
}

// claimWarnings warns about claim fields bosun's provisioner ignores.
func claimWarnings(s *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	warn := func(set bool, f, detail string) {
		if set {
			errs = append(errs, &field.Error{Field: p.Child(f).String(), Detail: detail})
		}
	}
	warn(s.Selector != nil, "selector", ignoredDetail)
	warn(s.DataSource != nil || s.DataSourceRef != nil, "dataSource", ignoredDetail+": the volume starts empty")
	warn(s.VolumeMode != nil && *s.VolumeMode == corev1.PersistentVolumeBlock, "volumeMode", ignoredDetail+": volumes are directories")
	warn(s.StorageClassName != nil && !oneOf(*s.StorageClassName, localClasses) && s.VolumeName == "", "storageClassName",
		"bosun's provisioner serves only local-path, standard and an unset class, and binds a claim of another class only to the PersistentVolume its volumeName names (or whose claimRef names it): otherwise it stays Pending")
	return errs
}

// enforcedScopes are the quota scopes bosun's quota admission applies.
var enforcedScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort}

// quotaScopeWarnings warns about quota scopes bosun does not enforce (the
// whole quota is then not enforced, as its status Events say).
func quotaScopeWarnings(q *corev1.ResourceQuota) field.ErrorList {
	var errs field.ErrorList
	const detail = "is not supported by bosun yet: a quota with this scope is not enforced"
	for i, sc := range q.Spec.Scopes {
		if oneOf(sc, quotaScopes) && !oneOf(sc, enforcedScopes) {
			errs = append(errs, &field.Error{Field: field.NewPath("spec", "scopes").Index(i).String(), Detail: detail})
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for i, m := range sel.MatchExpressions {
			ops := []corev1.ScopeSelectorOperator{corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist}
			if !oneOf(m.ScopeName, enforcedScopes) || !oneOf(m.Operator, ops) {
				errs = append(errs, &field.Error{Field: field.NewPath("spec", "scopeSelector", "matchExpressions").Index(i).String(),
					Detail: detail + " (Terminating, NotTerminating, BestEffort and NotBestEffort with Exists or DoesNotExist are)"})
			}
		}
	}
	return errs
}
