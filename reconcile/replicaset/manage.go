package replicaset

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// claimPods returns the active pods o controls, after adopting the orphans its
// selector selects and releasing the pods it controls that its selector no
// longer selects, as Kubernetes' PodControllerRefManager does; and the number of
// o's pods being deleted. A conflict while adopting or releasing skips that pod:
// the pod's own change queues o again.
func (c *Controller) claimPods(ctx context.Context, o *owner) (active []*corev1.Pod, terminating int32, err error) {
	uid := o.obj.GetUID()
	ns := o.obj.GetNamespace()
	deleting := o.rs.DeletionTimestamp != nil
	for _, obj := range c.pods.ByIndex(c.ownerIndex, string(uid)) {
		pod := asPod(obj)
		ref := metav1.GetControllerOfNoCopy(pod)
		if pod == nil || ref == nil || ref.UID != uid || pod.Namespace != ns {
			continue
		}
		if pod.DeletionTimestamp != nil {
			if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
				terminating++
			}
			continue
		}
		if !isPodActive(pod) {
			continue
		}
		if o.selector.Matches(labels.Set(pod.Labels)) {
			active = append(active, pod)
			continue
		}
		if deleting {
			continue
		}
		if err := c.release(ctx, o, pod); err != nil {
			return nil, 0, err
		}
	}
	if deleting {
		return active, terminating, nil
	}
	var orphans []*corev1.Pod
	for _, obj := range c.pods.ByIndex(c.orphanIndex, ns) {
		pod := asPod(obj)
		if pod == nil || !isPodActive(pod) || !o.selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		orphans = append(orphans, pod)
	}
	if len(orphans) == 0 {
		return active, terminating, nil
	}
	if ok, err := c.canAdopt(ctx, o); err != nil || !ok {
		return active, terminating, err
	}
	for _, pod := range orphans {
		adopted, err := c.adopt(ctx, o, pod)
		if err != nil {
			return nil, 0, err
		}
		if adopted != nil {
			active = append(active, adopted)
		}
	}
	return active, terminating, nil
}

// canAdopt re-reads o from the store (the cache may lag): only the same object
// (same UID), not being deleted, may adopt pods.
func (c *Controller) canAdopt(ctx context.Context, o *owner) (bool, error) {
	fresh := c.kind.resource.New()
	if err := c.getter.Get(ctx, o.obj.GetNamespace(), o.obj.GetName(), fresh); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("replicaset: %s %s: re-read before adopting: %w", c.kind.name, reconcile.KeyOf(o.obj), err)
	}
	return fresh.GetUID() == o.obj.GetUID() && fresh.GetDeletionTimestamp() == nil, nil
}

// adopt adds o's controller reference to an orphan pod (compare-and-swap). It
// returns the updated pod, or nil when the pod changed or vanished meanwhile.
func (c *Controller) adopt(ctx context.Context, o *owner, pod *corev1.Pod) (*corev1.Pod, error) {
	p := pod.DeepCopy()
	p.OwnerReferences = append(p.OwnerReferences, c.kind.controllerRef(o))
	if err := c.writer.Update(ctx, p); err != nil {
		if errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("replicaset: %s %s: adopt pod %s: %w", c.kind.name, reconcile.KeyOf(o.obj), pod.Name, err)
	}
	c.log.Info("adopted pod", "owner", reconcile.KeyOf(o.obj), "pod", pod.Name)
	return p, nil
}

// release removes o's ownerReferences from a pod it no longer selects.
func (c *Controller) release(ctx context.Context, o *owner, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	p.OwnerReferences = slices.DeleteFunc(p.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == o.obj.GetUID() })
	if err := c.writer.Update(ctx, p); err != nil {
		if errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("replicaset: %s %s: release pod %s: %w", c.kind.name, reconcile.KeyOf(o.obj), pod.Name, err)
	}
	c.log.Info("released pod", "owner", reconcile.KeyOf(o.obj), "pod", pod.Name)
	return nil
}

// manageReplicas creates or deletes pods so that o has spec.replicas active
// pods, at most BurstReplicas per pass. diff is active pods minus wanted ones
// before acting (negative: pods were missing).
func (c *Controller) manageReplicas(ctx context.Context, key string, o *owner, active []*corev1.Pod) (diff int, err error) {
	diff = len(active) - o.replicas()
	switch {
	case diff < 0:
		if !o.hasTemplate {
			return diff, reconcile.Terminal(fmt.Errorf("replicaset: %s %s: spec.template is missing: add a pod template", c.kind.name, key))
		}
		n := min(-diff, c.burst)
		c.exp.Expect(key, n, nil)
		ref := c.kind.controllerRef(o)
		created, err := slowStartChunks(ctx, n, createTxnSize, c.parallelism, func(ctx context.Context, k int) (int, error) {
			return c.createPods(ctx, o, ref, k)
		})
		// Creations that failed or were never tried will never be observed.
		for range n - created {
			c.exp.CreationObserved(key)
		}
		if err != nil {
			return diff, fmt.Errorf("replicaset: %s %s: created %d of %d pods: %w", c.kind.name, key, created, n, err)
		}
		c.log.Debug("created pods", "owner", key, "count", created)
	case diff > 0:
		n := min(diff, c.burst)
		victims := podsToDelete(active, c.relatedPods(o, active), n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = reconcile.KeyOf(p)
		}
		c.exp.Expect(key, 0, keys)
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		sem := make(chan struct{}, c.parallelism)
		for i, p := range victims {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_, err := reconcile.DeletePod(ctx, c.writer, p, c.clock.Now())
				if err == nil {
					c.rec.Eventf(events.Ref(o.obj), corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
					return
				}
				// This deletion will never be observed (failed), or was
				// observed already (the pod is gone).
				c.exp.DeletionObserved(key, keys[i])
				if errors.Is(err, api.ErrNotFound) {
					return
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			return diff, fmt.Errorf("replicaset: %s %s: delete %d of %d pods failed: %w", c.kind.name, key, len(errs), n, errors.Join(errs...))
		}
		c.log.Debug("deleted pods", "owner", key, "count", n)
	}
	return diff, nil
}

// relatedPods returns the pods the deletion ranking counts per node: for an
// owner controlled by something else (a ReplicaSet of a Deployment), the pods
// of every owner that controller controls; otherwise o's own active pods.
func (c *Controller) relatedPods(o *owner, active []*corev1.Pod) []*corev1.Pod {
	parent := metav1.GetControllerOfNoCopy(o.obj)
	if parent == nil {
		return active
	}
	var out []*corev1.Pod
	for _, sib := range c.owners.ByIndex(c.ownerIndex, string(parent.UID)) {
		ref := metav1.GetControllerOfNoCopy(sib)
		if ref == nil || ref.UID != parent.UID || sib.GetNamespace() != o.obj.GetNamespace() {
			continue
		}
		for _, obj := range c.pods.ByIndex(c.ownerIndex, string(sib.GetUID())) {
			if pr := metav1.GetControllerOfNoCopy(obj); pr != nil && pr.UID == sib.GetUID() {
				out = append(out, asPod(obj))
			}
		}
	}
	return out
}

// maxNameRetries is how often a create is retried when the generated name is
// taken.
const maxNameRetries = 3

// createPod creates p, one pod of o named <owner>-<random>, trying other
// random names when the one drawn is taken.
func (c *Controller) createPod(ctx context.Context, o *owner, p *corev1.Pod) error {
	var err error
	for range maxNameRetries {
		p.Name = ""
		if err = c.writer.Create(ctx, p); err == nil {
			c.recordCreated(o, p)
		}
		if err == nil || !errors.Is(err, api.ErrExists) {
			break
		}
	}
	if err != nil && !errors.Is(err, api.ErrExists) && ctx.Err() == nil {
		c.rec.Eventf(events.Ref(o.obj), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
	}
	return err
}

// admittedPods returns up to k new pods of o that admission let in, and the
// refusal that stopped it short (recorded as a FailedCreate Event).
func (c *Controller) admittedPods(ctx context.Context, o *owner, ref metav1.OwnerReference, k int) ([]*corev1.Pod, error) {
	pods := make([]*corev1.Pod, 0, k)
	for range k {
		p := c.newPod(o, ref)
		if c.admit != nil {
			if err := c.admit.AdmitPod(ctx, p); err != nil {
				if errors.Is(err, api.ErrForbidden) && ctx.Err() == nil {
					c.rec.Eventf(events.Ref(o.obj), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
				}
				return pods, err
			}
		}
		pods = append(pods, p)
	}
	return pods, nil
}

// recordCreated records the SuccessfulCreate Event of pod p of o.
func (c *Controller) recordCreated(o *owner, p *corev1.Pod) {
	c.rec.Eventf(events.Ref(o.obj), corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Name)
}

// newPod returns a pod of o from its template, named <owner>-<random> by
// the store.
func (c *Controller) newPod(o *owner, ref metav1.OwnerReference) *corev1.Pod {
	tmpl := &o.rs.Spec.Template
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       o.obj.GetNamespace(),
			GenerateName:    o.obj.GetName() + "-",
			Labels:          maps.Clone(tmpl.Labels),
			Annotations:     maps.Clone(tmpl.Annotations),
			Finalizers:      slices.Clone(tmpl.Finalizers),
			OwnerReferences: []metav1.OwnerReference{ref},
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

// createTxnSize is how many pods one etcd transaction creates: one raft
// entry and one fsync for many pods, instead of one each.
const createTxnSize = 50

// createPods creates k pods of o in one transaction and returns how many it
// created. A random name that collides makes the transaction fail whole;
// it is retried with new names. A store whose transactions are too small
// (an external etcd's --max-txn-ops) gets the pods one by one.
func (c *Controller) createPods(ctx context.Context, o *owner, ref metav1.OwnerReference, k int) (int, error) {
	pods, refused := c.admittedPods(ctx, o, ref, k)
	created, err := c.createAdmitted(ctx, o, pods)
	if err == nil {
		err = refused
	}
	return created, err
}

// createAdmitted creates pods, in one transaction when there are several.
func (c *Controller) createAdmitted(ctx context.Context, o *owner, pods []*corev1.Pod) (int, error) {
	switch len(pods) {
	case 0:
		return 0, nil
	case 1:
		if err := c.createPod(ctx, o, pods[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var err error
	for range maxNameRetries {
		txn := c.newBatch()
		for _, p := range pods {
			p.Name = "" // a new random name on each try
			if err = txn.Create(p); err != nil {
				return 0, err
			}
		}
		if _, err = txn.Commit(ctx); err == nil {
			for _, p := range pods {
				c.recordCreated(o, p)
			}
			return len(pods), nil
		}
		if errors.Is(err, api.ErrTooLarge) {
			created := 0
			for _, p := range pods {
				if err := c.createPod(ctx, o, p); err != nil {
					return created, err
				}
				created++
			}
			return created, nil
		}
		if !errors.Is(err, api.ErrExists) && !errors.Is(err, api.ErrConflict) {
			return 0, err
		}
	}
	return 0, err
}

// slowStartChunks creates count objects in batches of 1, 2, 4, ... (as
// slowStart), each batch split into chunks of at most chunk objects that
// fn creates at once (at most parallelism chunks at a time). It stops after
// the first batch with a failure and returns how many were created.
func slowStartChunks(ctx context.Context, count, chunk, parallelism int, fn func(ctx context.Context, k int) (int, error)) (int, error) {
	created := 0
	sem := make(chan struct{}, max(parallelism, 1))
	for batch := min(count, 1); batch > 0; batch = min(2*batch, count-created) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for left := batch; left > 0; left -= chunk {
			k := min(left, chunk)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				n, err := fn(ctx, k)
				mu.Lock()
				created += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if firstErr != nil {
			return created, firstErr
		}
	}
	return created, nil
}
