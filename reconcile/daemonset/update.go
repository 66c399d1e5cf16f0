package daemonset

import (
	"context"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// surgeCount and unavailableCount resolve the rolling update's maxSurge and
// maxUnavailable against desired nodes, rounding percentages up, as
// Kubernetes' SurgeCount and UnavailableCount (0 for OnDelete).
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if !isRollingUpdate(ds) || r == nil || r.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(r.MaxSurge, desired, true)
}

func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	if !isRollingUpdate(ds) {
		return 0, nil
	}
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if r == nil || r.MaxUnavailable == nil {
		// Kubernetes defaults maxUnavailable to 1.
		one := intstr.FromInt32(1)
		return intstr.GetScaledValueFromIntOrPercent(&one, desired, true)
	}
	return intstr.GetScaledValueFromIntOrPercent(r.MaxUnavailable, desired, true)
}

// allowsSurge reports whether ds's rolling update surges (maxSurge > 0).
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// isUpdated reports whether pod runs ds's current template: its revision
// hash or its template generation matches, as Kubernetes' IsPodUpdated.
func isUpdated(pod *corev1.Pod, hash string, generation int64) bool {
	return (hash != "" && pod.Labels[LabelRevisionHash] == hash) ||
		pod.Labels[LabelTemplateGeneration] == strconv.FormatInt(generation, 10)
}

// updatedAndOld returns the one updated and the one old pod of a node (not
// counting pods being deleted); ok is false when there are more of either.
func updatedAndOld(pods []*corev1.Pod, hash string, gen int64) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if isUpdated(p, hash, gen) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// rollout is the state a rolling update pass works from.
type rollout struct {
	ds                       *appsv1.DaemonSet
	hash                     string
	gen                      int64
	now                      time.Time
	byNode                   map[string][]*corev1.Pod
	maxSurge, maxUnavailable int
	desired                  int
}

func (r *rollout) available(p *corev1.Pod) bool {
	return isAvailable(p, r.ds.Spec.MinReadySeconds, r.now)
}

// rollingUpdate replaces old daemon pods with new ones within maxUnavailable
// (deleting old pods; the next pass creates their replacements) or maxSurge
// (creating new pods beside old ones, deleting the old once the new are
// available), as Kubernetes' rollingUpdate.
func (c *Controller) rollingUpdate(ctx context.Context, key string, ds *appsv1.DaemonSet, h history, nodes []*corev1.Node, tols []corev1.Toleration, byNode map[string][]*corev1.Pod) error {
	r := &rollout{ds: ds, hash: h.hash(), gen: h.templateGeneration(ds), now: c.clock.Now(), byNode: byNode}
	verdicts := make(map[string]eligibility, len(nodes))
	for _, n := range nodes {
		e := judge(ds, tols, n)
		verdicts[n.Name] = e
		if e.shouldRun {
			r.desired++
			if _, ok := byNode[n.Name]; !ok {
				byNode[n.Name] = nil
			}
		}
	}
	var err error
	if r.maxSurge, err = surgeCount(ds, r.desired); err != nil {
		return fmt.Errorf("daemonset %s: spec.updateStrategy.rollingUpdate.maxSurge: %w", key, err)
	}
	if r.maxUnavailable, err = unavailableCount(ds, r.desired); err != nil {
		return fmt.Errorf("daemonset %s: spec.updateStrategy.rollingUpdate.maxUnavailable: %w", key, err)
	}
	if r.desired > 0 && r.maxSurge == 0 && r.maxUnavailable == 0 {
		r.maxUnavailable = 1
	}
	if r.maxSurge == 0 {
		return c.syncNodes(ctx, key, ds, r.unavailablePlan(), nil, nil, h)
	}
	del, create := r.surgePlan(verdicts)
	return c.syncNodes(ctx, key, ds, del, nil, create, h)
}

// unavailablePlan picks the old pods to delete without surge: unavailable
// old pods always, available ones while fewer than maxUnavailable pods are
// unavailable.
func (r *rollout) unavailablePlan() []*corev1.Pod {
	numUnavailable := 0
	var replace, candidates []*corev1.Pod
	for _, pods := range r.byNode {
		newPod, oldPod, ok := updatedAndOld(pods, r.hash, r.gen)
		switch {
		case !ok, oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
			// The pod management pass sorts this node out; count it as unavailable.
			numUnavailable++
		case newPod != nil:
			if !r.available(newPod) {
				numUnavailable++
			}
		case !r.available(oldPod):
			replace = append(replace, oldPod)
			numUnavailable++
		case numUnavailable < r.maxUnavailable:
			candidates = append(candidates, oldPod)
		}
	}
	room := min(max(r.maxUnavailable-numUnavailable, 0), len(candidates))
	return append(replace, candidates[:room]...)
}

// surgePlan picks, with surge, the nodes to get a new pod beside their old
// one (unavailable old pods at once, available ones up to maxSurge) and the
// old pods to delete (those whose new pod is available, and those on nodes
// the DaemonSet no longer runs on once enough pods are available elsewhere).
func (r *rollout) surgePlan(verdicts map[string]eligibility) (del []*corev1.Pod, create []string) {
	var shouldNotRun []*corev1.Pod
	var candidates []string
	numSurge, numAvailable := 0, 0
	for node, pods := range r.byNode {
		newPod, oldPod, ok := updatedAndOld(pods, r.hash, r.gen)
		if !ok {
			numSurge++
			continue
		}
		switch {
		case oldPod != nil && r.available(oldPod), oldPod == nil && newPod != nil && r.available(newPod):
			numAvailable++
		}
		switch {
		case oldPod == nil:
		case newPod == nil && !r.available(oldPod):
			if !verdicts[node].shouldRun {
				del = append(del, oldPod)
				continue
			}
			create = append(create, node)
		case newPod == nil:
			if !verdicts[node].shouldRun {
				shouldNotRun = append(shouldNotRun, oldPod)
				continue
			}
			if numSurge < r.maxSurge {
				candidates = append(candidates, node)
			}
		case !r.available(newPod):
			numSurge++
		default:
			del = append(del, oldPod)
		}
	}
	if n := min(numAvailable-r.desired, len(shouldNotRun)); n > 0 {
		del = append(del, shouldNotRun[:n]...)
	}
	room := min(max(r.maxSurge-numSurge, 0), len(candidates))
	return del, append(create, candidates[:room]...)
}
