package nodelifecycle

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/reconcile"
)

// annotationMirror marks mirror pods, which belong to their node's agent.
const annotationMirror = corev1.MirrorPodAnnotationKey

// queueEvictions hands the evictor every pod of node whose eviction deadline has
// passed and returns how long until the next deadline (0 when none is pending).
func (c *Controller) queueEvictions(node *corev1.Node, pods []*corev1.Pod, now time.Time) time.Duration {
	taints := noExecuteTaints(node)
	if len(taints) == 0 {
		return 0
	}
	var next time.Duration
	for _, pod := range pods {
		if !evictable(pod) {
			continue
		}
		deadline, forever := c.evictionDeadline(node.Name, pod, taints, now)
		if forever {
			continue
		}
		if d := deadline.Sub(now); d > 0 {
			if next == 0 || d < next {
				next = d
			}
			continue
		}
		c.evict.add(reconcile.KeyOf(pod))
	}
	return next
}

func evictable(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	_, mirror := pod.Annotations[annotationMirror]
	return !mirror
}

// evictionDeadline returns when pod must leave a node with the NoExecute taints
// taints, as Kubernetes' taint manager decides: for each taint, the smallest
// tolerationSeconds of the pod's tolerations that match it (a matching toleration
// without tolerationSeconds tolerates it forever; no matching toleration means
// PodEvictionTimeout, the default toleration Kubernetes' admission adds to every
// pod), counted from the taint's timeAdded; the earliest over all taints.
// forever is true when the pod tolerates every taint forever.
func (c *Controller) evictionDeadline(node string, pod *corev1.Pod, taints []corev1.Taint, now time.Time) (deadline time.Time, forever bool) {
	found := false
	for i := range taints {
		d, ok := tolerationTime(pod, &taints[i], c.cfg.PodEvictionTimeout)
		if !ok {
			continue
		}
		at := c.taintAdded(node, taints[i], now).Add(d)
		if !found || at.Before(deadline) {
			deadline, found = at, true
		}
	}
	return deadline, !found
}

// tolerationTime returns how long pod tolerates taint; ok is false for forever.
func tolerationTime(pod *corev1.Pod, taint *corev1.Taint, def time.Duration) (d time.Duration, ok bool) {
	matched := false
	var least *int64
	for i := range pod.Spec.Tolerations {
		tol := &pod.Spec.Tolerations[i]
		if !tol.ToleratesTaint(logr.Discard(), taint, false) {
			continue
		}
		matched = true
		if s := tol.TolerationSeconds; s != nil && (least == nil || *s < *least) {
			least = s
		}
	}
	switch {
	case !matched:
		return def, true
	case least == nil:
		return 0, false
	case *least <= 0:
		return 0, true
	default:
		return time.Duration(*least) * time.Second, true
	}
}

// evictor deletes pods whose eviction deadline passed, one at a time, at most
// EvictionQPS per second (burst 1) on the controller's clock. Each pod is checked
// again against the current caches right before it is deleted, and deleted with
// compare-and-swap on the resourceVersion it was checked at.
type evictor struct {
	c        *Controller
	limiter  flowcontrol.PassiveRateLimiter
	interval time.Duration

	mu      sync.Mutex
	pending map[string]bool
	order   []string
	wake    chan struct{}
	// waiting is true while the evictor waits for the rate limiter (tests).
	waiting atomic.Bool
}

func newEvictor(c *Controller, qps float32) *evictor {
	return &evictor{
		c:        c,
		limiter:  flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(qps, 1, c.clock),
		interval: time.Duration(float64(time.Second) / float64(qps)),
		pending:  map[string]bool{},
		wake:     make(chan struct{}, 1),
	}
}

// add queues a pod key; a key already queued is not queued twice.
func (e *evictor) add(key string) {
	e.mu.Lock()
	if !e.pending[key] {
		e.pending[key] = true
		e.order = append(e.order, key)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// len returns how many pods wait for eviction.
func (e *evictor) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.order)
}

func (e *evictor) pop() (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.order) == 0 {
		return "", false
	}
	key := e.order[0]
	e.order = e.order[1:]
	delete(e.pending, key)
	return key, true
}

// run evicts queued pods until ctx ends.
func (e *evictor) run(ctx context.Context) {
	for {
		key, ok := e.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				continue
			}
		}
		pod := e.due(key)
		if pod == nil {
			continue
		}
		for !e.limiter.TryAccept() {
			e.waiting.Store(true)
			select {
			case <-ctx.Done():
				e.waiting.Store(false)
				return
			case <-e.c.clock.After(e.interval):
			}
		}
		e.waiting.Store(false)
		e.c.deletePod(ctx, pod)
	}
}

// due returns the cached pod key when it still has to be evicted now, else nil.
func (e *evictor) due(key string) *corev1.Pod {
	ns, name := reconcile.SplitKey(key)
	o, ok := e.c.pods.Get(ns, name)
	if !ok {
		return nil
	}
	pod := o.(*corev1.Pod)
	if !e.c.dueForEviction(pod) {
		return nil
	}
	return pod
}

// dueForEviction reports whether pod is on a node with NoExecute lifecycle
// taints and past its eviction deadline, judged from the node cache.
func (c *Controller) dueForEviction(pod *corev1.Pod) bool {
	if !evictable(pod) || pod.Spec.NodeName == "" {
		return false
	}
	n, ok := c.nodes.Get("", pod.Spec.NodeName)
	if !ok {
		return false
	}
	taints := noExecuteTaints(n.(*corev1.Node))
	if len(taints) == 0 {
		return false
	}
	now := c.clock.Now()
	deadline, forever := c.evictionDeadline(pod.Spec.NodeName, pod, taints, now)
	return !forever && !now.Before(deadline)
}

// deletePod deletes pod with compare-and-swap on its resourceVersion. When the
// pod changed since it was cached (say, the controller itself just marked it not
// ready), it is read again from the store, checked again and deleted at its
// fresh resourceVersion; a pod that changed once more or disappeared is left to
// the next monitor pass.
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod) {
	_, err := reconcile.DeletePod(ctx, c.writer, pod, c.clock.Now())
	if errors.Is(err, api.ErrConflict) {
		fresh := &corev1.Pod{}
		if err = c.getter.Get(ctx, pod.Namespace, pod.Name, fresh); err == nil {
			if !c.dueForEviction(fresh) {
				return
			}
			pod = fresh
			_, err = reconcile.DeletePod(ctx, c.writer, pod, c.clock.Now())
		}
	}
	switch {
	case err == nil:
		c.log.Info("evicted pod from an unreachable or not-ready node; its controller replaces it elsewhere",
			"pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
	case errors.Is(err, api.ErrNotFound), errors.Is(err, api.ErrConflict):
		c.log.Debug("pod changed before its eviction; looking again on the next pass",
			"pod", pod.Namespace+"/"+pod.Name, "err", err)
	case ctx.Err() != nil:
	default:
		c.log.Warn("evicting a pod failed; retrying on the next pass", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}
