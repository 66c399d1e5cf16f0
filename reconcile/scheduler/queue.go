package scheduler

import (
	"container/heap"
	"context"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Backoff of a pod that failed to schedule or bind, as kube-scheduler's
// podInitialBackoffSeconds and podMaxBackoffSeconds: 1 s doubling up to 10 s.
const (
	initialBackoff = time.Second
	maxBackoff     = 10 * time.Second
)

// Where a pod of the queue is.
type podPlace int

const (
	inActive        podPlace = iota // waiting for its turn
	inBackoff                       // waiting for its backoff to expire
	inUnschedulable                 // waiting for a cluster change
	inFlight                        // popped: being scheduled or bound
)

// queuedPod is one pod of the queue.
type queuedPod struct {
	key      types.UID
	pod      *corev1.Pod // latest version seen (shared, read only)
	created  time.Time
	seq      uint64 // insertion order, breaks creation-time ties
	attempts int
	lastTry  time.Time
	until    time.Time // end of backoff
	place    podPlace
	index    int // position in its heap
	// moveSeq is the queue's move counter when the pod was popped.
	moveSeq uint64
}

// Pod returns the latest version of the pod the queue has seen.
func (q *queuedPod) Pod() *corev1.Pod { return q.pod }

// activeHeap orders pods by creation time, then insertion.
type activeHeap []*queuedPod

func (h activeHeap) Len() int { return len(h) }
func (h activeHeap) Less(i, j int) bool {
	if !h[i].created.Equal(h[j].created) {
		return h[i].created.Before(h[j].created)
	}
	return h[i].seq < h[j].seq
}
func (h activeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *activeHeap) Push(x any) {
	p := x.(*queuedPod)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *activeHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.index = -1
	return p
}

// backoffHeap orders pods by the end of their backoff.
type backoffHeap struct{ activeHeap }

func (h backoffHeap) Less(i, j int) bool {
	return h.activeHeap[i].until.Before(h.activeHeap[j].until)
}

// queue is the scheduling queue: pods waiting to be scheduled in creation order
// (active), pods backing off after a failure (backoff), and pods that fit no node
// waiting for a change in the cluster (unschedulable), as kube-scheduler's
// PriorityQueue without priorities.
type queue struct {
	clock clock.WithTicker

	mu      sync.Mutex
	pods    map[types.UID]*queuedPod
	active  activeHeap
	backoff backoffHeap
	unsched map[types.UID]*queuedPod
	seq     uint64
	moveSeq uint64
	wake    chan struct{}
}

func newQueue(c clock.WithTicker) *queue {
	return &queue{
		clock:   c,
		pods:    make(map[types.UID]*queuedPod),
		unsched: make(map[types.UID]*queuedPod),
		wake:    make(chan struct{}, 1),
	}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Add adds a pod to schedule, or records a newer version of a queued one. An
// unschedulable pod whose spec or labels changed goes back to active, as it may
// fit now; a change of status only (such as the scheduler's own condition) does
// not move it. Versions older than the one held are ignored.
func (q *queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := podKey(pod)
	if p := q.pods[key]; p != nil {
		if rvOlder(pod, p.pod) {
			return
		}
		old := p.pod
		p.pod = pod
		if p.place == inUnschedulable && (old.Generation != pod.Generation || !equalLabels(old.Labels, pod.Labels)) {
			delete(q.unsched, key)
			q.toActiveOrBackoff(p)
		}
		return
	}
	q.seq++
	p := &queuedPod{key: key, pod: pod, created: pod.CreationTimestamp.Time, seq: q.seq}
	q.pods[key] = p
	p.place = inActive
	heap.Push(&q.active, p)
	q.signal()
}

// rvOlder says whether a's resourceVersion is older than b's (both parse).
func rvOlder(a, b *corev1.Pod) bool {
	ra, err1 := strconv.ParseInt(a.ResourceVersion, 10, 64)
	rb, err2 := strconv.ParseInt(b.ResourceVersion, 10, 64)
	return err1 == nil && err2 == nil && ra < rb
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// Delete drops a pod from the queue (deleted, bound, or no longer ours).
func (q *queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteLocked(podKey(pod))
}

func (q *queue) deleteLocked(key types.UID) {
	p := q.pods[key]
	if p == nil {
		return
	}
	delete(q.pods, key)
	switch p.place {
	case inActive:
		heap.Remove(&q.active, p.index)
	case inBackoff:
		heap.Remove(&q.backoff, p.index)
	case inUnschedulable:
		delete(q.unsched, key)
	}
}

// Pop blocks until a pod is due and returns it, marked in flight; it returns nil
// when ctx ends. The pod stays known to the queue (so newer versions are
// recorded) until Done, Delete, Unschedulable or Backoff.
func (q *queue) Pop(ctx context.Context) *queuedPod {
	for {
		q.mu.Lock()
		now := q.clock.Now()
		for q.backoff.Len() > 0 && !q.backoff.activeHeap[0].until.After(now) {
			p := heap.Pop(&q.backoff).(*queuedPod)
			p.place = inActive
			heap.Push(&q.active, p)
		}
		if q.active.Len() > 0 {
			p := heap.Pop(&q.active).(*queuedPod)
			p.place = inFlight
			p.moveSeq = q.moveSeq
			p.attempts++
			p.lastTry = now
			q.mu.Unlock()
			return p
		}
		var timer clock.Timer
		var due <-chan time.Time
		if q.backoff.Len() > 0 {
			timer = q.clock.NewTimer(q.backoff.activeHeap[0].until.Sub(now))
			due = timer.C()
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-q.wake:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// Done drops a pod popped and bound.
func (q *queue) Done(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[p.key] == p && p.place == inFlight {
		delete(q.pods, p.key)
	}
}

// Unschedulable parks a popped pod that fits no node until the cluster changes.
// When a change was reported while it was being scheduled, it backs off instead,
// so the change is not missed.
func (q *queue) Unschedulable(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[p.key] != p || p.place != inFlight {
		return
	}
	if q.moveSeq != p.moveSeq {
		q.toActiveOrBackoff(p)
		return
	}
	p.place = inUnschedulable
	q.unsched[p.key] = p
}

// Backoff requeues a popped pod after its backoff (a failed binding).
func (q *queue) Backoff(p *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[p.key] != p || p.place != inFlight {
		return
	}
	q.toActiveOrBackoff(p)
}

// backoffDuration is 1 s doubled per attempt after the first, at most 10 s.
func backoffDuration(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func (q *queue) toActiveOrBackoff(p *queuedPod) {
	p.until = p.lastTry.Add(backoffDuration(p.attempts))
	if p.attempts > 0 && p.until.After(q.clock.Now()) {
		p.place = inBackoff
		heap.Push(&q.backoff, p)
	} else {
		p.place = inActive
		heap.Push(&q.active, p)
	}
	q.signal()
}

// MoveAll moves every unschedulable pod back to be tried again (through its
// backoff): a node was added or changed, or a pod went away.
func (q *queue) MoveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	for key, p := range q.unsched {
		delete(q.unsched, key)
		q.toActiveOrBackoff(p)
	}
}

// Len returns the number of pods known to the queue, in flight included.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pods)
}

// NumUnschedulable returns the number of pods waiting for a cluster change.
func (q *queue) NumUnschedulable() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.unsched)
}

// Refresh records a newer version of a pod the queue holds (such as the one
// the scheduler itself just wrote) without moving it; unknown pods are ignored.
func (q *queue) Refresh(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.pods[podKey(pod)]; p != nil && !rvOlder(pod, p.pod) {
		p.pod = pod
	}
}
