package statefulset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// errRefused says a pod was not admitted (quota, LimitRange): an Event says
// why; the set is tried again with backoff.
var errRefused = errors.New("statefulset: pod refused by admission")

// pass is one sync of a set: its pods by slot and the condemned ones.
type pass struct {
	*syncState
	slots     []*corev1.Pod // index i holds ordinal start+i (nil: missing)
	condemned []*corev1.Pod // out of range, ascending ordinal
	monotonic bool
	now       time.Time
	// wait is the shortest time until a ready pod becomes available.
	wait time.Duration
}

// sync creates, deletes and replaces pods of s.set, as Kubernetes'
// updateStatefulSet, and leaves s.pods as the pods after its writes.
func (c *Controller) sync(ctx context.Context, s *syncState) (reconcile.Result, error) {
	p := c.newPass(s)
	_, err := c.runPass(ctx, p)
	s.pods = p.podsAfter()
	res := reconcile.Result{}
	if p.wait > 0 {
		res.RequeueAfter = p.wait
	}
	if errors.Is(err, errRefused) {
		return reconcile.Result{Requeue: true}, nil
	}
	return res, err
}

// newPass sorts s's pods into slots and condemned.
func (c *Controller) newPass(s *syncState) *pass {
	set := s.set
	start := startOrdinal(set)
	p := &pass{
		syncState: s,
		slots:     make([]*corev1.Pod, replicas(set)),
		monotonic: set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement,
		now:       c.clock.Now(),
	}
	for _, pod := range s.pods {
		ord := ordinalOf(pod)
		switch {
		case inRange(set, ord):
			p.slots[ord-start] = pod
		case ord >= 0:
			p.condemned = append(p.condemned, pod)
		}
	}
	slices.SortFunc(p.condemned, func(a, b *corev1.Pod) int { return ordinalOf(a) - ordinalOf(b) })
	return p
}

// podsAfter lists the pods of the pass, after its writes.
func (p *pass) podsAfter() []*corev1.Pod {
	var out []*corev1.Pod
	for _, pod := range p.slots {
		if pod != nil {
			out = append(out, pod)
		}
	}
	return append(out, p.condemned...)
}

// healthy says whether pod is Running, Ready, available and not terminating;
// a ready pod not yet available shortens p.wait.
func (p *pass) healthy(pod *corev1.Pod) bool {
	if pod == nil || isTerminating(pod) {
		return false
	}
	left := availableIn(pod, p.set.Spec.MinReadySeconds, p.now)
	if left > 0 && (p.wait == 0 || left < p.wait) {
		p.wait = left
	}
	return left == 0
}

// runPass does the pass's work in Kubernetes' order: replicas in ordinal
// order, condemned pods from the highest ordinal, then the rolling update.
// done says the pass stopped early (waiting on a pod).
func (c *Controller) runPass(ctx context.Context, p *pass) (done bool, err error) {
	var firstUnhealthy *corev1.Pod
	for _, pod := range append(slices.Clone(p.slots), p.condemned...) {
		if pod != nil && !p.healthy(pod) {
			firstUnhealthy = pod
			break
		}
	}
	var errs []error
	for i := range p.slots {
		stop, err := c.processReplica(ctx, p, i)
		if err != nil {
			errs = append(errs, err)
		}
		if p.monotonic && (stop || err != nil) {
			return true, errors.Join(errs...)
		}
	}
	for _, pod := range p.condemned {
		if err := c.fixCondemnedClaims(ctx, p.set, pod); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// A condemned pod goes only once its claims have the owners the
		// retention policy asks for.
		return true, errors.Join(errs...)
	}
	for i := len(p.condemned) - 1; i >= 0; i-- {
		stop, err := c.processCondemned(ctx, p, i, firstUnhealthy)
		if err != nil {
			errs = append(errs, err)
		}
		if p.monotonic && (stop || err != nil) {
			return true, errors.Join(errs...)
		}
	}
	if len(errs) > 0 {
		return true, errors.Join(errs...)
	}
	return c.rollingUpdate(ctx, p)
}

// processReplica converges slot i: replaces a finished pod, creates a missing
// one (claims first), fixes identity and claims. stop says a monotonic pass
// must wait here.
func (c *Controller) processReplica(ctx context.Context, p *pass, i int) (stop bool, err error) {
	set := p.set
	ordinal := startOrdinal(set) + i
	pod := p.slots[i]
	if pod != nil && isTerminal(pod) {
		if !isTerminating(pod) {
			if err := c.deletePod(ctx, p, pod, func(np *corev1.Pod) { p.slots[i] = np }); err != nil {
				return true, err
			}
		}
		return true, nil // the replacement is created once the pod is gone
	}
	if pod == nil {
		np, err := c.createPod(ctx, p, ordinal)
		if err != nil {
			return true, err
		}
		p.slots[i] = np
		return true, nil
	}
	if err := c.ensureClaims(ctx, set, ordinal, pod); err != nil {
		return true, err
	}
	if isTerminating(pod) || !p.healthy(pod) {
		return true, nil
	}
	return false, c.fixIdentity(ctx, p, i)
}

// processCondemned removes condemned pod i when Kubernetes' ordering allows.
func (c *Controller) processCondemned(ctx context.Context, p *pass, i int, firstUnhealthy *corev1.Pod) (stop bool, err error) {
	pod := p.condemned[i]
	if isTerminating(pod) {
		return true, nil
	}
	if p.monotonic && !p.healthy(pod) && pod != firstUnhealthy {
		return true, nil
	}
	return true, c.deletePod(ctx, p, pod, func(np *corev1.Pod) { p.condemned[i] = np })
}

// rollingUpdate deletes the highest-ordinal pod at or above the partition
// that is not at the update revision, once every pod above it is healthy;
// the next pass recreates it at the update revision.
func (c *Controller) rollingUpdate(ctx context.Context, p *pass) (bool, error) {
	strategy := p.set.Spec.UpdateStrategy
	if strategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return false, nil
	}
	partition := 0
	if ru := strategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for i := len(p.slots) - 1; i >= partition; i-- {
		pod := p.slots[i]
		if pod == nil {
			return true, nil
		}
		if revisionOf(pod) != p.update.Name && !isTerminating(pod) {
			return true, c.deletePod(ctx, p, pod, func(np *corev1.Pod) { p.slots[i] = np })
		}
		if !p.healthy(pod) {
			return true, nil
		}
	}
	return false, nil
}

// revisionFor returns the revision (name and template) of a new pod with
// ordinal: the current one below the partition (or below currentReplicas
// during a rolling update without one), else the update revision.
func (p *pass) revisionFor(ordinal int) (string, *corev1.PodTemplateSpec) {
	set := p.set
	idx := ordinal - startOrdinal(set)
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		ru := set.Spec.UpdateStrategy.RollingUpdate
		partitioned := ru != nil && ru.Partition != nil
		if (partitioned && idx < int(*ru.Partition)) || (!partitioned && idx < int(set.Status.CurrentReplicas)) {
			return p.current.Name, p.currentTemplate
		}
	}
	return p.update.Name, &set.Spec.Template
}

// createPod admits and creates the pod with ordinal, its claims first.
func (c *Controller) createPod(ctx context.Context, p *pass, ordinal int) (*corev1.Pod, error) {
	set := p.set
	rev, tmpl := p.revisionFor(ordinal)
	pod := newPod(set, tmpl, rev, ordinal)
	if err := c.ensureClaims(ctx, set, ordinal, nil); err != nil {
		return nil, err
	}
	if c.admit != nil {
		if err := c.admit.AdmitPod(ctx, pod); err != nil {
			c.failedCreate(set, pod, err)
			return nil, fmt.Errorf("%w: %s: %w", errRefused, pod.Name, err)
		}
	}
	if err := c.writer.Create(ctx, pod); err != nil {
		if errors.Is(err, api.ErrExists) {
			return nil, err // the cache has not seen it yet: look again
		}
		c.failedCreate(set, pod, err)
		return nil, fmt.Errorf("statefulset: %s: create pod %s: %w", p.key, pod.Name, err)
	}
	c.rec.Eventf(events.Ref(set), corev1.EventTypeNormal, ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	c.log.Debug("created pod", "set", p.key, "pod", pod.Name, "revision", rev)
	return pod, nil
}

// failedCreate records the FailedCreate Event of pod.
func (c *Controller) failedCreate(set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	c.rec.Eventf(events.Ref(set), corev1.EventTypeWarning, ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
}

// deletePod deletes pod gracefully (api.GracefulPodDelete: a running pod is
// marked terminating, the others removed at once); replace receives the pod
// as written (marked terminating) so the pass sees it.
func (c *Controller) deletePod(ctx context.Context, p *pass, pod *corev1.Pod, replace func(*corev1.Pod)) error {
	set := p.set
	np := pod.DeepCopy()
	var err error
	if api.GracefulPodDelete(np, p.now, nil) {
		err = c.writer.Update(ctx, np)
	} else {
		err = c.writer.Delete(ctx, c.res.pods, pod.Namespace, pod.Name, pod.ResourceVersion)
		now := apiTime(p.now)
		np.DeletionTimestamp = &now
	}
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		c.rec.Eventf(events.Ref(set), corev1.EventTypeWarning, ReasonFailedDelete, "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("statefulset: %s: delete pod %s: %w", p.key, pod.Name, err)
	}
	replace(np)
	c.rec.Eventf(events.Ref(set), corev1.EventTypeNormal, ReasonSuccessfulDelete, "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// fixIdentity restores the identity labels of slot i's pod.
func (c *Controller) fixIdentity(ctx context.Context, p *pass, i int) error {
	pod := p.slots[i]
	ordinal := strconv.Itoa(startOrdinal(p.set) + i)
	if pod.Labels[LabelPodName] == pod.Name && pod.Labels[LabelPodIndex] == ordinal {
		return nil
	}
	np := pod.DeepCopy()
	if np.Labels == nil {
		np.Labels = map[string]string{}
	}
	np.Labels[LabelPodName] = pod.Name
	np.Labels[LabelPodIndex] = ordinal
	if err := c.writer.Update(ctx, np); err != nil {
		return fmt.Errorf("statefulset: %s: restore identity labels of pod %s: %w", p.key, pod.Name, err)
	}
	p.slots[i] = np
	return nil
}

// fixCondemnedClaims sets the retention owners of a condemned pod's claims
// before it is removed, so that whenScaled: Delete removes them with it.
func (c *Controller) fixCondemnedClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	ordinal := ordinalOf(pod)
	for i := range set.Spec.VolumeClaimTemplates {
		obj, ok := c.claims.Get(set.Namespace, claimName(set, set.Spec.VolumeClaimTemplates[i].Name, ordinal))
		if !ok {
			continue
		}
		if err := c.fixClaimOwners(ctx, set, obj.(*corev1.PersistentVolumeClaim), ordinal, pod); err != nil {
			return err
		}
	}
	return nil
}
