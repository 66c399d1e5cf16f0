package daemonset

import (
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// isReady reports whether the pod's Ready condition is True.
func isReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableAt returns when a ready pod is (or becomes) available: Ready for
// minReadySeconds (by the condition's lastTransitionTime), as Kubernetes'
// IsPodAvailable; ok is false for a pod that is not ready.
func availableAt(p *corev1.Pod, minReadySeconds int32) (at time.Time, ok bool) {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return time.Time{}, false
	}
	if minReadySeconds <= 0 {
		return time.Time{}, true
	}
	return c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second), true
}

// isAvailable reports whether p is available at now.
func isAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	at, ok := availableAt(p, minReadySeconds)
	return ok && (minReadySeconds <= 0 || !at.IsZero() && at.Before(now))
}

// calculateStatus computes ds's status as Kubernetes' updateDaemonSetStatus:
// per node the DaemonSet should run on, whether it has a daemon pod and
// whether the oldest one is ready, available and up to date; daemon pods on
// other nodes are misscheduled. observedGeneration advances only after a pass
// that managed pods (synced). wait > 0 is how long until a ready pod becomes
// available (minReadySeconds).
func calculateStatus(ds *appsv1.DaemonSet, h history, nodes []*corev1.Node, tols []corev1.Toleration, byNode map[string][]*corev1.Pod, now time.Time, synced bool) (st appsv1.DaemonSetStatus, wait time.Duration) {
	st = *ds.Status.DeepCopy()
	if synced {
		st.ObservedGeneration = ds.Generation
	}
	var desired, current, misscheduled, ready, updated, available int32
	gen := h.templateGeneration(ds)
	for _, n := range nodes {
		e := judge(ds, tols, n)
		pods := byNode[n.Name]
		if !e.shouldRun {
			if len(pods) > 0 {
				misscheduled++
			}
			continue
		}
		desired++
		if len(pods) == 0 {
			continue
		}
		current++
		pod := slices.MinFunc(pods, byAge)
		if isReady(pod) {
			ready++
			if isAvailable(pod, ds.Spec.MinReadySeconds, now) {
				available++
			} else if at, _ := availableAt(pod, ds.Spec.MinReadySeconds); at.After(now) && (wait == 0 || at.Sub(now) < wait) {
				wait = at.Sub(now)
			}
		}
		if isUpdated(pod, h.hash(), gen) {
			updated++
		}
	}
	st.DesiredNumberScheduled = desired
	st.CurrentNumberScheduled = current
	st.NumberMisscheduled = misscheduled
	st.NumberReady = ready
	st.UpdatedNumberScheduled = updated
	st.NumberAvailable = available
	st.NumberUnavailable = desired - available
	if wait > 0 {
		wait += 10 * time.Millisecond
	}
	return st, wait
}
