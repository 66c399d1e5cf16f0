package statefulset

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// apiTime is now as an API timestamp.
func apiTime(now time.Time) metav1.Time { return metav1.NewTime(now) }

// computeStatus counts s's pods as Kubernetes' StatefulSet status does.
func (c *Controller) computeStatus(s *syncState) appsv1.StatefulSetStatus {
	set := s.set
	now := c.clock.Now()
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    s.current.Name,
		UpdateRevision:     s.update.Name,
		Conditions:         set.Status.Conditions,
	}
	if s.collisionCount != 0 || set.Status.CollisionCount != nil {
		cc := s.collisionCount
		st.CollisionCount = &cc
	}
	for _, pod := range s.pods {
		st.Replicas++
		if isTerminating(pod) {
			continue
		}
		if isRunningAndReady(pod) {
			st.ReadyReplicas++
			if availableIn(pod, set.Spec.MinReadySeconds, now) == 0 {
				st.AvailableReplicas++
			}
		}
		if revisionOf(pod) == s.current.Name {
			st.CurrentReplicas++
		}
		if revisionOf(pod) == s.update.Name {
			st.UpdatedReplicas++
		}
	}
	// A rolling update is complete when every pod is updated and ready.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && int(st.Replicas) == replicas(set) {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// writeStatus writes st when it differs from set's.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	if statusEqual(set.Status, st) {
		return nil
	}
	s := set.DeepCopy()
	s.Status = st
	if err := c.writer.Update(ctx, s); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("statefulset: %s/%s: update status: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// statusEqual compares the fields the controller writes.
func statusEqual(a, b appsv1.StatefulSetStatus) bool {
	cc := func(p *int32) int32 {
		if p == nil {
			return -1
		}
		return *p
	}
	return a.ObservedGeneration == b.ObservedGeneration && a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.CurrentReplicas == b.CurrentReplicas && a.UpdatedReplicas == b.UpdatedReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.CurrentRevision == b.CurrentRevision && a.UpdateRevision == b.UpdateRevision && cc(a.CollisionCount) == cc(b.CollisionCount)
}
