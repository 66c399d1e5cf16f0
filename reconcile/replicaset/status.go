package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Reasons of the ReplicaFailure condition.
const (
	ReasonFailedCreate = "FailedCreate"
	ReasonFailedDelete = "FailedDelete"
)

// calculateStatus computes o's status from its active pods at now. manageErr is
// the error of this pass's creates (diff < 0) or deletes (diff > 0), which sets
// the ReplicaFailure condition; a pass without error clears it. wait > 0 is how
// long until the next ready pod becomes available (minReadySeconds).
func calculateStatus(o *owner, active []*corev1.Pod, terminating int32, withTerminating bool, manageErr error, diff int, now time.Time) (st appsv1.ReplicaSetStatus, wait time.Duration) {
	st.Replicas = int32(len(active))
	st.ObservedGeneration = o.rs.Generation
	templateLabels := labels.Set(o.rs.Spec.Template.Labels).AsSelectorPreValidated()
	for _, p := range active {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if isPodReady(p) {
			st.ReadyReplicas++
		}
		avail, w := availableIn(p, o.rs.Spec.MinReadySeconds, now)
		if avail {
			st.AvailableReplicas++
		} else if w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	if wait > 0 {
		// Available means ready for strictly longer than minReadySeconds.
		wait += 10 * time.Millisecond
	}
	if withTerminating {
		st.TerminatingReplicas = ptrTo(terminating)
	}
	var failure *appsv1.ReplicaSetCondition
	for i := range o.rs.Status.Conditions {
		c := o.rs.Status.Conditions[i]
		if c.Type == appsv1.ReplicaSetReplicaFailure {
			failure = &c
			if manageErr == nil {
				continue // cleared
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	if manageErr != nil && failure == nil {
		reason := ReasonFailedDelete
		if diff < 0 {
			reason = ReasonFailedCreate
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{
			Type:               appsv1.ReplicaSetReplicaFailure,
			Status:             corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now),
			Reason:             reason,
			Message:            manageErr.Error(),
		})
	}
	return st, wait
}

// statusEqual reports whether two statuses are the same (times compared as
// instants).
func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}
