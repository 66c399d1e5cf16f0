package replicaset

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// isPodActive reports whether a pod counts towards replicas: not being deleted
// and not terminated (Succeeded or Failed).
func isPodActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// readyCondition returns the pod's Ready condition, or nil.
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// isPodReady reports whether the pod's Ready condition is True.
func isPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// availableIn says whether a pod is available at now, as Kubernetes defines it:
// Ready, and Ready for longer than minReadySeconds (by the Ready condition's
// lastTransitionTime). For a ready pod that is not available yet, wait is how
// long until it will be; otherwise wait is 0.
func availableIn(p *corev1.Pod, minReadySeconds int32, now time.Time) (available bool, wait time.Duration) {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false, 0
	}
	if minReadySeconds <= 0 {
		return true, 0
	}
	if c.LastTransitionTime.IsZero() {
		return false, 0
	}
	at := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second)
	if at.Before(now) {
		return true, 0
	}
	return false, at.Sub(now)
}

// podReadyTime returns when a ready pod became ready, or nil.
func podReadyTime(p *corev1.Pod) *metav1.Time {
	if c := readyCondition(p); c != nil && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
		return &c.LastTransitionTime
	}
	return nil
}

// maxContainerRestarts returns the highest restart count of the pod's containers.
func maxContainerRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n = max(n, cs.RestartCount)
	}
	return n
}

// phaseOrdinal orders phases for deletion: Pending before Unknown before Running.
// Any other phase (including "") ranks with Pending, as in Kubernetes.
func phaseOrdinal(p corev1.PodPhase) int {
	switch p {
	case corev1.PodUnknown:
		return 1
	case corev1.PodRunning:
		return 2
	}
	return 0
}

// rankedPod is a pod with the number of related active pods on its node.
type rankedPod struct {
	pod  *corev1.Pod
	rank int
}

// deletionLess reports whether a should be deleted before b. It is Kubernetes'
// ActivePodsWithRanks order (without logarithmic scale-down buckets):
//  1. unscheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. more related pods on the same node before fewer;
//  5. of two ready pods, the more recently ready first;
//  6. higher container restart counts first;
//  7. newer creationTimestamp first (a zero timestamp first of all).
func deletionLess(a, b rankedPod) bool {
	pa, pb := a.pod, b.pod
	if pa.Spec.NodeName != pb.Spec.NodeName && (pa.Spec.NodeName == "" || pb.Spec.NodeName == "") {
		return pa.Spec.NodeName == ""
	}
	if oa, ob := phaseOrdinal(pa.Status.Phase), phaseOrdinal(pb.Status.Phase); oa != ob {
		return oa < ob
	}
	ra, rb := isPodReady(pa), isPodReady(pb)
	if ra != rb {
		return !ra
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if ra && rb {
		ta, tb := podReadyTime(pa), podReadyTime(pb)
		if !timesEqual(ta, tb) {
			return afterOrZero(ta, tb)
		}
	}
	if ca, cb := maxContainerRestarts(pa), maxContainerRestarts(pb); ca != cb {
		return ca > cb
	}
	if !pa.CreationTimestamp.Equal(&pb.CreationTimestamp) {
		return afterOrZero(&pa.CreationTimestamp, &pb.CreationTimestamp)
	}
	return false
}

func timesEqual(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

// afterOrZero reports whether a is zero (and b not) or, both set, a is after b.
func afterOrZero(a, b *metav1.Time) bool {
	az, bz := a == nil || a.IsZero(), b == nil || b.IsZero()
	if az || bz {
		return az && !bz
	}
	return a.After(b.Time)
}

// podsToDelete picks the n pods of active to delete first. related are the
// active pods the ranking counts per node: the owner's own and those of its
// siblings (other ReplicaSets of the same Deployment).
func podsToDelete(active, related []*corev1.Pod, n int) []*corev1.Pod {
	if n >= len(active) {
		return active
	}
	return rankForDeletion(active, related)[:n]
}

// rankForDeletion returns active sorted in deletion order (deletionLess), each
// pod ranked by the number of active pods of related on its node.
func rankForDeletion(active, related []*corev1.Pod) []*corev1.Pod {
	onNode := map[string]int{}
	for _, p := range related {
		if isPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	ranked := make([]rankedPod, len(active))
	for i, p := range active {
		ranked[i] = rankedPod{pod: p, rank: onNode[p.Spec.NodeName]}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return deletionLess(ranked[i], ranked[j]) })
	out := make([]*corev1.Pod, len(ranked))
	for i := range out {
		out[i] = ranked[i].pod
	}
	return out
}
