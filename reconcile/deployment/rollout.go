package deployment

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rolloutRolling takes one RollingUpdate step: scale the new ReplicaSet up
// within maxSurge, or else scale old ones down within maxUnavailable; then
// clean up history once complete and write the rollout status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := func() []*appsv1.ReplicaSet { return append(slices.Clone(oldRSs), newRS) }

	scaledUp, newRS, err := c.reconcileNewReplicaSet(ctx, d, oldRSs, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, all(), newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, d, oldRSs, newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all(), newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all(), newRS, d)
}

// reconcileNewReplicaSet scales the new ReplicaSet towards spec.replicas: down
// at once when above it, up as far as maxSurge allows.
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, *appsv1.ReplicaSet, error) {
	n := desiredReplicas(d)
	switch cur := rsReplicas(newRS); {
	case cur == n:
		return false, newRS, nil
	case cur > n:
		return c.scaleAndRecord(ctx, d, newRS, n)
	}
	return c.scaleAndRecord(ctx, d, newRS, newRSNewReplicas(d, oldRSs, newRS))
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as maxUnavailable
// allows: first their unavailable replicas (oldest sets first), then available
// ones while the available total stays at spec.replicas - maxUnavailable or
// more. oldRSs entries are replaced with their updated versions.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	oldPods := sumSpecReplicas(oldRSs)
	if oldPods == 0 {
		return false, nil
	}
	allPods := oldPods + rsReplicas(newRS)
	minAvailable := desiredReplicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := allPods - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := c.cleanupUnhealthyReplicas(ctx, d, oldRSs, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, d, oldRSs, newRS)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// availableNow is how many of rs's replicas can be counted on as available:
// status.availableReplicas, but no more than spec.replicas, since a ReplicaSet
// scaled down whose status is not yet updated loses pods (unavailable ones
// first). Kubernetes counts status alone; the cap keeps a stale status from
// letting two scale-downs in a row go below the availability floor.
func availableNow(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(rs.Status.AvailableReplicas, rsReplicas(rs))
}

// cleanupUnhealthyReplicas scales old ReplicaSets down by their unavailable
// replicas, oldest first, at most maxCleanup in all.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, maxCleanup int32) (int32, error) {
	return c.scaleDownOldest(ctx, d, oldRSs, maxCleanup, func(rs *appsv1.ReplicaSet) int32 {
		return rsReplicas(rs) - rs.Status.AvailableReplicas
	})
}

// scaleDownOldest scales the ReplicaSets of oldRSs down, oldest first, each by
// at most excess(rs) replicas and all by at most limit together. It replaces
// the entries it scaled with the updated copies and returns how many replicas
// it took away.
func (c *Controller) scaleDownOldest(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, limit int32, excess func(*appsv1.ReplicaSet) int32) (int32, error) {
	sortByCreation(oldRSs)
	var total int32
	for i, rs := range oldRSs {
		if total >= limit {
			break
		}
		cur := rsReplicas(rs)
		n := min(excess(rs), limit-total)
		if cur == 0 || n <= 0 {
			continue
		}
		_, updated, err := c.scaleAndRecord(ctx, d, rs, cur-n)
		if err != nil {
			return total, err
		}
		oldRSs[i] = updated
		total += n
	}
	return total, nil
}

// scaleDownOldForRollingUpdate scales old ReplicaSets down, oldest first, by as
// many replicas as are available above spec.replicas - maxUnavailable.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	minAvailable := desiredReplicas(d) - maxUnavailable(d)
	available := availableNow(newRS)
	for _, rs := range oldRSs {
		available += availableNow(rs)
	}
	if available <= minAvailable {
		return 0, nil
	}
	return c.scaleDownOldest(ctx, d, oldRSs, available-minAvailable, rsReplicas)
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until none of their
// pods runs, then creates (or reuses) the new ReplicaSet at full size.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, sel labels.Selector) error {
	newRS, oldRSs, err := c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := func() []*appsv1.ReplicaSet { return append(slices.Clone(oldRSs), newRS) }

	scaledDown := false
	for i, rs := range oldRSs {
		if rsReplicas(rs) == 0 {
			continue
		}
		scaled, updated, err := c.scaleAndRecord(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		oldRSs[i] = updated
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all(), newRS, d)
	}
	if c.oldPodsRunning(d, newRS, oldRSs, sel) {
		return c.syncRolloutStatus(ctx, all(), newRS, d)
	}
	if newRS == nil {
		if newRS, oldRSs, err = c.getAllReplicaSetsAndSyncRevision(ctx, d, rsList, true); err != nil {
			return err
		}
	}
	if _, newRS, err = c.scaleAndRecord(ctx, d, newRS, desiredReplicas(d)); err != nil {
		return err
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, d, oldRSs); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all(), newRS, d)
}

// oldPodsRunning says whether an old ReplicaSet still reports replicas or still
// controls a pod that has not terminated (by the pods cache).
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet, sel labels.Selector) bool {
	if sumStatusReplicas(oldRSs) > 0 {
		return true
	}
	old := map[string]bool{}
	for _, rs := range oldRSs {
		old[string(rs.UID)] = true
	}
	if newRS != nil {
		delete(old, string(newRS.UID))
	}
	if len(old) == 0 {
		return false
	}
	for _, o := range c.pods.List(d.Namespace, sel) {
		ref := metav1.GetControllerOf(o)
		if ref == nil || !old[string(ref.UID)] {
			continue
		}
		if p, ok := o.(*corev1.Pod); ok && podTerminal(p) {
			continue
		}
		return true
	}
	return false
}
