package daemonset

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// groupByNode groups pods by the node they are for (bound or targeted by
// their affinity). Pods both terminal and being deleted are left out unless
// includeDeletedTerminal, as Kubernetes' getNodesToDaemonPods.
func groupByNode(pods []*corev1.Pod, includeDeletedTerminal bool) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !includeDeletedTerminal && isTerminal(p) && p.DeletionTimestamp != nil {
			continue
		}
		node, err := targetNode(p)
		if err != nil {
			continue
		}
		out[node] = append(out[node], p)
	}
	return out
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// byAge orders daemon pods as Kubernetes' podByCreationTimestampAndPhase:
// bound before unbound, then oldest first, then by name.
func byAge(a, b *corev1.Pod) int {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		if a.Spec.NodeName != "" {
			return -1
		}
		return 1
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

// plan is what one pass does: nodes needing a daemon pod, pods to delete.
type plan struct {
	create []string
	delete []*corev1.Pod
}

// podsOnNode decides, for one node, whether a daemon pod must be created and
// which daemon pods must go, as Kubernetes' podsShouldBeOnNode: failed pods
// are deleted (with a per-node backoff), succeeded ones too; without surge
// only the oldest running pod is kept; with surge an old and a new pod may
// run together until the new one is available; a node the DaemonSet no longer
// tolerates loses all of them.
func (c *Controller) podsOnNode(ds *appsv1.DaemonSet, node *corev1.Node, e eligibility, pods []*corev1.Pod, hash string, p *plan) {
	exists := len(pods) > 0
	switch {
	case e.shouldRun && !exists:
		p.create = append(p.create, node.Name)
	case e.shouldContinue:
		running := c.pruneEnded(ds, node.Name, pods, p)
		if !allowsSurge(ds) {
			if len(running) > 1 {
				slices.SortFunc(running, byAge)
				p.delete = append(p.delete, running[1:]...)
			}
			return
		}
		if len(running) <= 1 {
			if len(running) == 0 && e.shouldRun {
				p.create = append(p.create, node.Name)
			}
			return
		}
		c.pruneSurge(ds, running, hash, p)
	case exists:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				p.delete = append(p.delete, pod)
			}
		}
	}
}

// pruneEnded plans the deletion of node's failed (backoff permitting) and
// succeeded daemon pods and returns the others not being deleted.
func (c *Controller) pruneEnded(ds *appsv1.DaemonSet, node string, pods []*corev1.Pod, p *plan) []*corev1.Pod {
	var running []*corev1.Pod
	for _, pod := range pods {
		switch {
		case pod.DeletionTimestamp != nil:
		case pod.Status.Phase == corev1.PodFailed:
			bkey := string(ds.UID) + "/" + node
			now := c.clock.Now()
			if c.failedBackoff.IsInBackOffSinceUpdate(bkey, now) {
				c.queue.EnqueueAfter(reconcile.KeyOf(ds), c.failedBackoff.Get(bkey))
				continue
			}
			c.failedBackoff.Next(bkey, now)
			c.rec.Eventf(events.Ref(ds), corev1.EventTypeWarning, ReasonFailedDaemonPod,
				"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node)
			p.delete = append(p.delete, pod)
		case pod.Status.Phase == corev1.PodSucceeded:
			c.rec.Eventf(events.Ref(ds), corev1.EventTypeNormal, ReasonSucceededDaemon,
				"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node)
			p.delete = append(p.delete, pod)
		default:
			running = append(running, pod)
		}
	}
	return running
}

// pruneSurge keeps at most the oldest new pod and the oldest old pod of a
// surging node; the old one goes once it is not ready or the new one is
// available.
func (c *Controller) pruneSurge(ds *appsv1.DaemonSet, running []*corev1.Pod, hash string, p *plan) {
	slices.SortFunc(running, byAge)
	var oldestNew, oldestOld *corev1.Pod
	for _, pod := range running {
		switch {
		case pod.Labels[LabelRevisionHash] == hash && oldestNew == nil:
			oldestNew = pod
		case pod.Labels[LabelRevisionHash] != hash && oldestOld == nil:
			oldestOld = pod
		default:
			p.delete = append(p.delete, pod)
		}
	}
	if oldestNew == nil || oldestOld == nil {
		return
	}
	if !isReady(oldestOld) || isAvailable(oldestNew, ds.Spec.MinReadySeconds, c.clock.Now()) {
		p.delete = append(p.delete, oldestOld)
	}
}

// manage creates the missing daemon pods and deletes those that must go
// (Kubernetes' manage), plus the pods of nodes that no longer exist.
func (c *Controller) manage(ctx context.Context, key string, ds *appsv1.DaemonSet, h history, nodes []*corev1.Node, tols []corev1.Toleration, byNode map[string][]*corev1.Pod) error {
	var p plan
	hash := h.hash()
	known := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		known[n.Name] = true
		c.podsOnNode(ds, n, judge(ds, tols, n), byNode[n.Name], hash, &p)
	}
	// Pods for nodes that are gone: Kubernetes deletes the unscheduled ones
	// here and leaves bound ones to its pod garbage collector, which bosun
	// does not have; no agent will finish them, so they are removed at once.
	var gone []*corev1.Pod
	for node, pods := range byNode {
		if known[node] {
			continue
		}
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil || pod.Spec.NodeName != "" {
				gone = append(gone, pod)
			}
		}
	}
	return c.syncNodes(ctx, key, ds, p.delete, gone, p.create, h)
}

// syncNodes deletes the pods del (gracefully) and gone (at once) and creates
// a daemon pod on each of the nodes create, at most BurstReplicas of each,
// with expectations set first. Creations go in slow-start batches (1, 2, 4,
// ...) of transactions of up to createTxnSize pods, stopping after a batch
// with a failure, as Kubernetes' syncNodes.
func (c *Controller) syncNodes(ctx context.Context, key string, ds *appsv1.DaemonSet, del, gone []*corev1.Pod, create []string, h history) error {
	create = create[:min(len(create), c.burst)]
	victims := append(slices.Clip(del), gone...)
	victims = victims[:min(len(victims), c.burst)]
	if len(create) == 0 && len(victims) == 0 {
		return nil
	}
	keys := make([]string, len(victims))
	for i, v := range victims {
		keys[i] = reconcile.KeyOf(v)
	}
	c.exp.Expect(key, len(create), keys)
	var errs []error
	if len(create) > 0 {
		created, err := c.createPods(ctx, ds, h, create)
		for range len(create) - created {
			c.exp.CreationObserved(key)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("daemonset %s: created %d of %d pods: %w", key, created, len(create), err))
		}
	}
	if err := c.deletePods(ctx, key, ds, victims, len(del)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deletePods deletes victims in parallel; the first graceful ones go through
// api.GracefulPodDelete (an update when the pod is running on a node), the
// rest (pods of vanished nodes) are removed at once.
func (c *Controller) deletePods(ctx context.Context, key string, ds *appsv1.DaemonSet, victims []*corev1.Pod, graceful int) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.parallelism)
	for i, pod := range victims {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := c.deletePod(ctx, pod, i < graceful)
			if err == nil {
				c.rec.Eventf(events.Ref(ds), corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", pod.Name)
				return
			}
			c.exp.DeletionObserved(key, reconcile.KeyOf(pod))
			if errors.Is(err, api.ErrNotFound) {
				return
			}
			if ctx.Err() == nil {
				c.rec.Eventf(events.Ref(ds), corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("daemonset %s: delete %d of %d pods failed: %w", key, len(errs), len(victims), errors.Join(errs...))
	}
	return nil
}

// deletePod deletes one pod as kube-apiserver would a DELETE of it: bound and
// running, it gets its deletionTimestamp (graceful) and the agent finishes
// it; otherwise it is removed at once.
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod, graceful bool) error {
	p := pod.DeepCopy()
	var grace *int64
	if !graceful {
		grace = new(int64)
	}
	if api.GracefulPodDelete(p, c.clock.Now(), grace) {
		if err := c.writer.Update(ctx, p); err != nil {
			return fmt.Errorf("pod %s: set deletionTimestamp: %w", reconcile.KeyOf(pod), err)
		}
		return nil
	}
	if err := c.writer.Delete(ctx, c.podsRes, p.Namespace, p.Name, p.ResourceVersion); err != nil {
		return fmt.Errorf("pod %s: delete: %w", reconcile.KeyOf(pod), err)
	}
	return nil
}

// createTxnSize is how many pods one etcd transaction creates.
const createTxnSize = 50

// maxNameRetries is how often a transaction is retried with new names when a
// generated name was taken.
const maxNameRetries = 3

// createPods creates a daemon pod on each of nodes in slow-start batches and
// returns how many it created.
func (c *Controller) createPods(ctx context.Context, ds *appsv1.DaemonSet, h history, nodes []string) (int, error) {
	ref := controllerRef(ds)
	gen := h.templateGeneration(ds)
	created := 0
	for pos, batch := 0, 1; pos < len(nodes); pos, batch = pos+batch, min(2*batch, len(nodes)-pos-batch) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, c.parallelism)
		for start := pos; start < pos+batch; start += createTxnSize {
			chunk := nodes[start:min(start+createTxnSize, pos+batch)]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				n, err := c.createChunk(ctx, ds, h.hash(), gen, ref, chunk)
				mu.Lock()
				defer mu.Unlock()
				created += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return created, firstErr
		}
	}
	return created, nil
}

// createChunk admits and creates the daemon pods of nodes in one
// transaction (retrying with new names when one was taken, one by one when
// the store refuses a transaction that large) and returns how many it
// created. A pod refused by admission is not created: FailedCreate.
func (c *Controller) createChunk(ctx context.Context, ds *appsv1.DaemonSet, hash string, gen int64, ref metav1.OwnerReference, nodes []string) (int, error) {
	var pods []*corev1.Pod
	var refused error
	for _, node := range nodes {
		pod := newPod(ds, node, hash, gen, ref)
		if c.admit != nil {
			if err := c.admit.AdmitPod(ctx, pod); err != nil {
				c.rec.Eventf(events.Ref(ds), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
				refused = cmp.Or(refused, fmt.Errorf("pod for node %s: %w", node, err))
				continue
			}
		}
		pods = append(pods, pod)
	}
	n, err := c.commitPods(ctx, pods)
	if err != nil && ctx.Err() == nil {
		c.rec.Eventf(events.Ref(ds), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
	}
	for _, p := range pods[:n] {
		c.rec.Eventf(events.Ref(ds), corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Name)
	}
	return n, cmp.Or(err, refused)
}

// commitPods writes pods in one transaction and returns how many were
// created (all or, written one by one after api.ErrTooLarge, a prefix).
func (c *Controller) commitPods(ctx context.Context, pods []*corev1.Pod) (int, error) {
	if len(pods) == 0 {
		return 0, nil
	}
	var err error
	for range maxNameRetries {
		txn := c.newBatch()
		for _, p := range pods {
			p.Name = ""
			if err = txn.Create(p); err != nil {
				return 0, err
			}
		}
		if _, err = txn.Commit(ctx); err == nil {
			return len(pods), nil
		}
		if errors.Is(err, api.ErrTooLarge) {
			return c.createOneByOne(ctx, pods)
		}
		if !errors.Is(err, api.ErrExists) && !errors.Is(err, api.ErrConflict) {
			return 0, err
		}
	}
	return 0, err
}

// createOneByOne creates pods one at a time, stopping at the first failure.
func (c *Controller) createOneByOne(ctx context.Context, pods []*corev1.Pod) (int, error) {
	for i, p := range pods {
		var err error
		for range maxNameRetries {
			p.Name = ""
			if err = c.writer.Create(ctx, p); !errors.Is(err, api.ErrExists) {
				break
			}
		}
		if err != nil {
			return i, err
		}
	}
	return len(pods), nil
}
