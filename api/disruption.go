package api

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What the disruption controller (reconcile/disruption) and the API
// server's eviction subresource share about PodDisruptionBudgets.

// DisruptionDeletionTimeout is how long a pod an eviction let go stays in
// a budget's status.disruptedPods, not counted as healthy, while it is not
// deleted (Kubernetes' DeletionTimeout).
const DisruptionDeletionTimeout = 2 * time.Minute

// MaxDisruptedPods is the most entries a budget's status.disruptedPods
// may hold: beyond, evictions are refused until the disruption controller
// has caught up (Kubernetes' MaxDisruptedPodSize).
const MaxDisruptedPods = 2000

// PodReady reports whether pod's Ready condition is True: what a budget
// counts as healthy.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SetDisruptionAllowed sets pdb's DisruptionAllowed condition from
// status.disruptionsAllowed: True (reason SufficientPods) when above 0,
// else False (InsufficientPods); its transition time is now when its status
// changes.
func SetDisruptionAllowed(pdb *policyv1.PodDisruptionBudget, now time.Time) {
	cond := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.InsufficientPodsReason,
		ObservedGeneration: pdb.Status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now).Rfc3339Copy(),
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&pdb.Status.Conditions, cond)
}

// DisruptionAllowedUpToDate reports whether pdb's DisruptionAllowed
// condition agrees with status.disruptionsAllowed and the status observes
// pdb's generation.
func DisruptionAllowedUpToDate(pdb *policyv1.PodDisruptionBudget) bool {
	cond := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil || pdb.Status.ObservedGeneration != pdb.Generation {
		return false
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		return cond.Status == metav1.ConditionTrue && cond.Reason == policyv1.SufficientPodsReason
	}
	return cond.Status == metav1.ConditionFalse && cond.Reason == policyv1.InsufficientPodsReason
}
