package api

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultTerminationGracePeriodSeconds is the grace period of a pod whose spec
// does not say, as Kubernetes defaults spec.terminationGracePeriodSeconds.
const DefaultTerminationGracePeriodSeconds = 30

// GracefulPodDelete applies a delete of pod the way kube-apiserver's pod
// strategy does. It returns true when the deletion is graceful: pod was changed
// in place (metadata.deletionTimestamp = now + grace,
// metadata.deletionGracePeriodSeconds = grace) and the caller must write it back
// with a compare-and-swap update; the node agent running the pod stops its
// containers within the grace period and then removes the object. It returns
// false when the caller must remove the object at once: the pod is not bound to
// a node (nothing runs it), it already ended (phase Succeeded or Failed), or the
// grace period is 0.
//
// gracePeriod is DeleteOptions.gracePeriodSeconds (nil: the pod's
// spec.terminationGracePeriodSeconds, else 30 s). A pod already terminating
// keeps its deadline unless the new grace period ends sooner, as Kubernetes
// allows only shortening it; it returns true then too (the write is a no-op
// when nothing changed).
func GracefulPodDelete(pod *corev1.Pod, now time.Time, gracePeriod *int64) bool {
	grace := int64(DefaultTerminationGracePeriodSeconds)
	switch {
	case gracePeriod != nil:
		grace = *gracePeriod
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if grace < 0 {
		grace = 0
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || grace == 0 {
		return false
	}
	deadline := metav1.NewTime(now.Add(time.Duration(grace) * time.Second).Truncate(time.Second))
	if pod.DeletionTimestamp != nil {
		if !deadline.Before(pod.DeletionTimestamp) {
			return true
		}
	}
	pod.DeletionTimestamp = &deadline
	pod.DeletionGracePeriodSeconds = &grace
	return true
}
