package quota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// scopeRequirements returns every scope requirement of rq: each of
// spec.scopes as "Exists", then spec.scopeSelector's expressions.
func scopeRequirements(rq *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var reqs []corev1.ScopedResourceSelectorRequirement
	for _, s := range rq.Spec.Scopes {
		reqs = append(reqs, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if rq.Spec.ScopeSelector != nil {
		reqs = append(reqs, rq.Spec.ScopeSelector.MatchExpressions...)
	}
	return reqs
}

// CheckScopes returns an error naming the quota and the scope when rq uses a
// scope bosun does not evaluate (PriorityClass, CrossNamespacePodAffinity,
// VolumeAttributesClass) or an operator its scope does not take. Such a
// quota is not enforced and its status is not computed: the controller
// records a Warning Event with this message.
func CheckScopes(rq *corev1.ResourceQuota) error {
	for _, r := range scopeRequirements(rq) {
		switch r.ScopeName {
		case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
			corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort:
			if r.Operator != corev1.ScopeSelectorOpExists && r.Operator != corev1.ScopeSelectorOpDoesNotExist {
				return fmt.Errorf("resourcequota %s/%s: scopeSelector: operator %q of scope %s: want Exists or DoesNotExist",
					rq.Namespace, rq.Name, r.Operator, r.ScopeName)
			}
		case corev1.ResourceQuotaScopePriorityClass:
			return fmt.Errorf("resourcequota %s/%s: scope PriorityClass is not supported: bosun has no PriorityClass objects yet; "+
				"this quota is not enforced: remove the scope or the quota", rq.Namespace, rq.Name)
		default:
			return fmt.Errorf("resourcequota %s/%s: scope %s is not supported (bosun evaluates Terminating, NotTerminating, BestEffort "+
				"and NotBestEffort); this quota is not enforced", rq.Namespace, rq.Name, r.ScopeName)
		}
	}
	return nil
}

// scoped reports whether rq has any scope: then only pods and their
// compute resources count against it.
func scoped(rq *corev1.ResourceQuota) bool {
	return len(scopeRequirements(rq)) > 0
}

// podMatches reports whether pod falls under every scope of rq. rq must
// have passed CheckScopes.
func podMatches(rq *corev1.ResourceQuota, pod *corev1.Pod) bool {
	for _, r := range scopeRequirements(rq) {
		in := podInScope(r.ScopeName, pod)
		if r.Operator == corev1.ScopeSelectorOpDoesNotExist {
			in = !in
		}
		if !in {
			return false
		}
	}
	return true
}

// podInScope reports whether pod is in one of the evaluated scopes.
func podInScope(scope corev1.ResourceQuotaScope, pod *corev1.Pod) bool {
	switch scope {
	case corev1.ResourceQuotaScopeTerminating:
		return terminating(pod)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !terminating(pod)
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod)
	}
	return false
}

// terminating reports whether pod has an active deadline (Jobs' pods with
// activeDeadlineSeconds), Kubernetes' Terminating scope.
func terminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// bestEffort reports whether pod's QoS class is BestEffort: no container
// (init containers included) requests or limits cpu or memory, and the pod
// sets none at pod level.
func bestEffort(pod *corev1.Pod) bool {
	if hasComputeResources(pod.Spec.Resources) {
		return false
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if hasComputeResources(&cs[i].Resources) {
				return false
			}
		}
	}
	return true
}

func hasComputeResources(r *corev1.ResourceRequirements) bool {
	if r == nil {
		return false
	}
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := list[n]; ok && !q.IsZero() {
				return true
			}
		}
	}
	return false
}

// podResourcesOf returns the names of hard a pod-scoped evaluation counts:
// all pod resources, or, for a scoped quota, only those (other resources of
// a scoped quota are not counted).
func podResourcesOf(hard corev1.ResourceList) []corev1.ResourceName {
	var out []corev1.ResourceName
	for _, n := range names(hard) {
		if isPodResource(n) {
			out = append(out, n)
		}
	}
	return out
}
