package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/api"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config.
const (
	// DefaultBindWorkers is the number of goroutines writing bindings.
	DefaultBindWorkers = 16
	// maxBindBatch is the most bindings a bind worker writes in one transaction.
	maxBindBatch = 64
	// FlushInterval is how often every unschedulable pod is tried again even
	// when nothing in the cluster changed.
	FlushInterval = 60 * time.Second
)

// Batch collects pod updates that Commit writes in one transaction: all of
// them or none, each a compare-and-swap on the resourceVersion of the pod as
// read. A Batch is used by one goroutine and committed once. *store.Txn is a
// Batch.
type Batch interface {
	// Update adds the replacement of old, a pod as read from the cache, by obj;
	// nothing is sent. The error is for a pair that can never be written
	// (api.ErrInvalid).
	Update(old, obj api.Object) error
	// Commit writes the batch, blocking until it is committed or refused, and
	// returns the revision it was written at. The error wraps api.ErrConflict
	// when a pod changed since it was read (and api.ErrNotFound when it is
	// gone); then nothing was written.
	Commit(ctx context.Context) (int64, error)
}

// Config configures a Scheduler. NewBatch and Informers are required; the
// control plane passes a function returning its *store.Store's Txn as
// NewBatch.
type Config struct {
	// NewBatch starts an empty Batch, for writing bindings and conditions:
	// many bindings in one transaction, a condition or a lone binding in a
	// batch of one (a compare-and-swap against the pod as cached, with no
	// read first). With a *store.Store st it is
	// func() scheduler.Batch { return st.Txn() }.
	NewBatch func() Batch
	// Informers provides the pods and nodes informers (shared with the other
	// controllers); New registers handlers on them, so call New before
	// Informers.Start.
	Informers *cache.Informers
	// Logger receives decisions (debug) and failures; nil discards.
	Logger *slog.Logger
	// Clock times backoff and the periodic retry of unschedulable pods, and
	// stamps conditions; nil means the real clock.
	Clock clock.WithTicker
	// BindWorkers is the number of goroutines writing bindings and conditions;
	// 0 means DefaultBindWorkers.
	BindWorkers int
	// PercentageOfNodesToScore is kube-scheduler's option: 0 adapts to the
	// cluster size (50% minus 1% per 125 nodes, at least 5%); at least 100 nodes
	// are searched; 100 searches every node.
	PercentageOfNodesToScore int32
	// Seed seeds the random tie-break between equally scored nodes; 0 picks one
	// from the clock. The seed used is logged.
	Seed uint64
	// Metrics, when not nil, receives kube-scheduler's metrics (see
	// NewMetrics).
	Metrics *Metrics
	// Recorder receives the Events kube-scheduler writes: Scheduled for a
	// binding, FailedScheduling with the per-node reasons for every attempt
	// that found no node. nil records none.
	Recorder *events.Recorder
}

// Metrics are kube-scheduler's metrics of one Scheduler: attempts by
// result, how long a decision takes, and the pods waiting. Make them once
// per process (NewMetrics) and pass them to every Scheduler it runs (a
// new one each leadership term).
type Metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pending  *prometheus.GaugeVec
	mu       sync.Mutex
	current  *Scheduler // whose queue the pending gauges read
}

// NewMetrics registers scheduler_schedule_attempts_total{result},
// scheduler_scheduling_attempt_duration_seconds{result} and
// scheduler_pending_pods{queue} on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scheduler_schedule_attempts_total",
			Help: "Number of attempts to schedule pods, by the result: 'unschedulable' means a pod could not be scheduled, 'scheduled' that it was."}, []string{"result", "profile"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "scheduler_scheduling_attempt_duration_seconds",
			Help: "Scheduling attempt latency in seconds (the decision, not the binding's write).", Buckets: []float64{
				.00001, .00005, .0001, .0005, .001, .005, .01, .05, .1, .5, 1}}, []string{"result", "profile"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scheduler_pending_pods",
			Help: "Number of pending pods, by the queue: 'active' waiting to be tried (or backing off), 'unschedulable' waiting for the cluster to change."}, []string{"queue"}),
	}
	reg.MustRegister(m.attempts, m.duration, prometheus.CollectorFunc(m.collectPending))
	return m
}

// attempt counts one scheduling decision.
func (m *Metrics) attempt(scheduled bool, d time.Duration) {
	if m == nil {
		return
	}
	result := "scheduled"
	if !scheduled {
		result = "unschedulable"
	}
	m.attempts.WithLabelValues(result, "default-scheduler").Inc()
	m.duration.WithLabelValues(result, "default-scheduler").Observe(d.Seconds())
}

// setCurrent makes s the Scheduler whose queue scheduler_pending_pods
// reports (nil: none runs).
func (m *Metrics) setCurrent(s *Scheduler) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.current = s
	m.mu.Unlock()
}

// collectPending reports the queue of the Scheduler running now.
func (m *Metrics) collectPending(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	s := m.current
	m.mu.Unlock()
	if s == nil {
		return
	}
	unsched := s.queue.NumUnschedulable()
	m.pending.WithLabelValues("active").Set(float64(max(s.queue.Len()-unsched, 0)))
	m.pending.WithLabelValues("unschedulable").Set(float64(unsched))
	m.pending.Collect(ch)
}

// Reasons of the scheduler's Events, as kube-scheduler's.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
)

// Stats counts what a Scheduler did since New.
type Stats struct {
	// Bound is the number of bindings written.
	Bound int64
	// BindFailures is the number of bindings refused (conflict, pod gone, ...).
	BindFailures int64
	// Unschedulable is the number of attempts that found no node.
	Unschedulable int64
	// ConditionWrites is the number of PodScheduled=False conditions written.
	ConditionWrites int64
}

// Scheduler assigns pods without a node to nodes (see the package doc).
type Scheduler struct {
	newBatch func() Batch
	log      *slog.Logger
	clock    clock.WithTicker
	workers  int
	seed     uint64
	rec      *events.Recorder
	metrics  *Metrics
	pods     *cache.Informer
	nodes    *cache.Informer
	claims   *cache.Informer
	volumes  *cache.Informer
	snap     *Snapshot
	queue    *queue

	bound, bindFailures, unschedulable, condWrites atomic.Int64
}

// New returns a Scheduler and registers its handlers on cfg.Informers' pods
// and nodes informers; call it before Informers.Start. It panics when
// cfg.NewBatch or cfg.Informers is nil (a wiring mistake).
func New(cfg Config) *Scheduler {
	if cfg.NewBatch == nil || cfg.Informers == nil {
		panic("scheduler: Config.NewBatch and Config.Informers are required")
	}
	s := &Scheduler{
		newBatch: cfg.NewBatch,
		log:      cfg.Logger,
		clock:    cfg.Clock,
		workers:  cfg.BindWorkers,
		seed:     cfg.Seed,
		rec:      cfg.Recorder,
		metrics:  cfg.Metrics,
	}
	defaults.Logger(&s.log)
	s.log = s.log.With("controller", "scheduler")
	defaults.Clock(&s.clock)
	defaults.Positive(&s.workers, DefaultBindWorkers)
	if s.seed == 0 {
		s.seed = uint64(s.clock.Now().UnixNano())
	}
	s.snap = NewSnapshot(SnapshotOptions{
		PercentageOfNodesToScore: cfg.PercentageOfNodesToScore,
		Rand:                     rand.New(rand.NewPCG(s.seed, s.seed>>1|1)),
	})
	s.queue = newQueue(s.clock)
	s.pods = cfg.Informers.ForKind("pods")
	s.nodes = cfg.Informers.ForKind("nodes")
	s.claims = cfg.Informers.ForKind("persistentvolumeclaims")
	s.volumes = cfg.Informers.ForKind("persistentvolumes")
	// A claim or volume appearing or binding may let a waiting pod fit.
	retry := cache.Handler{
		OnAdd:    func(api.Object) { s.queue.MoveAll() },
		OnUpdate: func(old, o api.Object) { s.volumeChanged(old, o) },
	}
	s.claims.AddHandler(retry)
	s.volumes.AddHandler(retry)
	s.pods.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { s.onPod(nil, o.(*corev1.Pod)) },
		OnUpdate: func(old, o api.Object) { s.onPod(old.(*corev1.Pod), o.(*corev1.Pod)) },
		OnDelete: func(o api.Object) { s.onPodDelete(o.(*corev1.Pod)) },
	})
	s.nodes.AddHandler(cache.Handler{
		OnAdd: func(o api.Object) {
			s.snap.SetNode(o.(*corev1.Node))
			s.queue.MoveAll()
		},
		OnUpdate: func(old, o api.Object) {
			n := o.(*corev1.Node)
			s.snap.SetNode(n)
			if schedulingChanged(old.(*corev1.Node), n) {
				s.queue.MoveAll()
			}
		},
		OnDelete: func(o api.Object) { s.snap.RemoveNode(o.GetName()) },
	})
	return s
}

// Snapshot returns the scheduler's view of the cluster (for tests and metrics).
func (s *Scheduler) Snapshot() *Snapshot { return s.snap }

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Bound:           s.bound.Load(),
		BindFailures:    s.bindFailures.Load(),
		Unschedulable:   s.unschedulable.Load(),
		ConditionWrites: s.condWrites.Load(),
	}
}

// Pending returns the number of pods waiting to be scheduled or bound.
func (s *Scheduler) Pending() int { return s.queue.Len() }

func (s *Scheduler) onPod(old, pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		s.queue.Delete(pod)
		s.snap.SetPod(pod)
		if terminal(pod) && (old == nil || !terminal(old)) {
			s.queue.MoveAll() // its resources are free again
		}
		return
	}
	if Schedulable(pod) {
		s.queue.Add(pod)
	} else {
		s.queue.Delete(pod)
	}
}

// volumeChanged retries the unschedulable pods when a claim or volume
// changed in a way that may let one fit (not for status-only churn).
func (s *Scheduler) volumeChanged(old, o api.Object) {
	switch cur := o.(type) {
	case *corev1.PersistentVolumeClaim:
		prev := old.(*corev1.PersistentVolumeClaim)
		if prev.Spec.VolumeName != cur.Spec.VolumeName || !equalStrPtr(prev.Spec.StorageClassName, cur.Spec.StorageClassName) {
			s.queue.MoveAll()
		}
	case *corev1.PersistentVolume:
		prev := old.(*corev1.PersistentVolume)
		if prev.Status.Phase != cur.Status.Phase {
			s.queue.MoveAll()
		}
	}
}

func equalStrPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (s *Scheduler) onPodDelete(pod *corev1.Pod) {
	s.queue.Delete(pod)
	s.snap.RemovePod(pod)
	if pod.Spec.NodeName != "" {
		s.queue.MoveAll()
	}
}

// schedulingChanged says whether a node update may let a pod fit that did not:
// allocatable, labels, taints, unschedulable or condition statuses changed.
// Heartbeat-only updates do not count.
func schedulingChanged(old, n *corev1.Node) bool {
	if old.Spec.Unschedulable != n.Spec.Unschedulable || !equalLabels(old.Labels, n.Labels) ||
		len(old.Spec.Taints) != len(n.Spec.Taints) || len(old.Status.Allocatable) != len(n.Status.Allocatable) ||
		len(old.Status.Conditions) != len(n.Status.Conditions) {
		return true
	}
	for i := range old.Spec.Taints {
		a, b := &old.Spec.Taints[i], &n.Spec.Taints[i]
		if a.Key != b.Key || a.Value != b.Value || a.Effect != b.Effect {
			return true
		}
	}
	for k, q := range old.Status.Allocatable {
		if q2, ok := n.Status.Allocatable[k]; !ok || q.Cmp(q2) != 0 {
			return true
		}
	}
	for i := range old.Status.Conditions {
		a, b := &old.Status.Conditions[i], &n.Status.Conditions[i]
		if a.Type != b.Type || a.Status != b.Status {
			return true
		}
	}
	return false
}

// job is work for a bind worker: a binding (node set) or an unschedulable
// condition (message set).
type job struct {
	qp      *queuedPod
	pod     *corev1.Pod // the version decided on (shared, read only)
	node    string
	message string
	// claims are the pod's unbound claims (as cached) to annotate with the
	// selected node in the binding's transaction.
	claims []*corev1.PersistentVolumeClaim
}

// Run waits for the pods and nodes informers to sync, then schedules pods one
// at a time and hands bindings to the bind workers, until ctx ends. It returns
// nil when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.pods.WaitForSync(ctx); err != nil {
		return nil //nolint:nilerr // ctx ended
	}
	if err := s.nodes.WaitForSync(ctx); err != nil {
		return nil //nolint:nilerr // ctx ended
	}
	if !cache.WaitForCacheSync(ctx, s.claims, s.volumes) {
		return nil // ctx ended
	}
	s.metrics.setCurrent(s)
	defer s.metrics.setCurrent(nil)
	s.log.Info("scheduler started", "nodes", s.snap.NumNodes(), "pending", s.queue.Len(),
		"bindWorkers", s.workers, "seed", s.seed)
	jobs := make(chan job, 4*s.workers)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			batch := make([]job, 0, maxBindBatch)
			for j := range jobs {
				batch = append(batch[:0], j)
			drain:
				for len(batch) < maxBindBatch {
					select {
					case j, ok := <-jobs:
						if !ok {
							break drain
						}
						batch = append(batch, j)
					default:
						break drain
					}
				}
				s.workBatch(ctx, batch)
			}
		})
	}
	t := s.clock.NewTicker(FlushInterval)
	defer t.Stop()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				s.queue.MoveAll()
			}
		}
	})
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	for {
		qp := s.queue.Pop(ctx)
		if qp == nil {
			break
		}
		pod := qp.Pod()
		if !Schedulable(pod) {
			s.queue.Done(qp)
			continue
		}
		began := time.Now()
		node, claims, fe := s.schedule(pod)
		s.metrics.attempt(fe == nil, time.Since(began))
		if fe != nil {
			s.unschedulable.Add(1)
			s.queue.Unschedulable(qp)
			msg := fe.Error()
			s.rec.Event(events.Ref(pod), corev1.EventTypeWarning, ReasonFailedScheduling, msg)
			if debug {
				s.log.Debug("pod fits no node", "pod", pod.Namespace+"/"+pod.Name, "message", msg)
			}
			if needsCondition(pod, msg) {
				jobs <- job{qp: qp, pod: pod, message: msg}
			}
			continue
		}
		if debug {
			s.log.Debug("pod scheduled", "pod", pod.Namespace+"/"+pod.Name, "node", node)
		}
		s.snap.Assume(pod, node)
		jobs <- job{qp: qp, pod: pod, node: node, claims: claims}
	}
	close(jobs)
	wg.Wait()
	return nil
}

// schedule decides on pod's node, with its claims' constraints when it has
// claims; claims are the unbound ones to annotate with the node.
func (s *Scheduler) schedule(pod *corev1.Pod) (node string, claims []*corev1.PersistentVolumeClaim, fe *FitError) {
	if !hasClaims(pod) {
		node, fe = s.snap.Schedule(pod)
		return node, nil, fe
	}
	vols, msg := s.volumesOf(pod)
	if msg != "" {
		n := s.snap.NumNodes()
		if n == 0 {
			return "", nil, &FitError{}
		}
		return "", nil, &FitError{NumAllNodes: n, PreFilterMsg: msg}
	}
	node, fe = s.snap.ScheduleWithVolumes(pod, vols.affinity)
	return node, vols.unbound, fe
}

// workBatch writes the bindings of a batch in one transaction (each binding
// still compare-and-swap on its pod's resourceVersion) and the conditions one by
// one. When the transaction fails (one pod changed), every binding of it is
// written on its own, so only the changed pods back off.
func (s *Scheduler) workBatch(ctx context.Context, batch []job) {
	var binds []job
	for _, j := range batch {
		if j.node == "" || len(j.claims) > 0 {
			s.work(ctx, j)
		} else {
			binds = append(binds, j)
		}
	}
	if len(binds) == 1 {
		s.work(ctx, binds[0])
	}
	if len(binds) <= 1 {
		return
	}
	txn := s.newBatch()
	now := s.clock.Now()
	for _, j := range binds {
		if err := txn.Update(j.pod, bindingOf(j, now)); err != nil {
			txn = nil
			break
		}
	}
	if txn != nil {
		if _, err := txn.Commit(ctx); err == nil {
			s.bound.Add(int64(len(binds)))
			for _, j := range binds {
				s.queue.Done(j.qp)
				s.recordScheduled(j)
			}
			return
		}
	}
	for _, j := range binds {
		s.work(ctx, j)
	}
}

// bindingOf returns the pod of j bound to j's node, with PodScheduled=True.
func bindingOf(j job, now time.Time) *corev1.Pod {
	p := j.pod.DeepCopy()
	p.Spec.NodeName = j.node
	setCondition(p, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)
	return p
}

// work writes one binding or condition.
func (s *Scheduler) work(ctx context.Context, j job) {
	if j.node == "" {
		s.writeUnschedulable(ctx, j)
		return
	}
	p := bindingOf(j, s.clock.Now())
	err := s.bind(ctx, j, p)
	if err == nil {
		s.bound.Add(1)
		s.queue.Done(j.qp)
		s.recordScheduled(j)
		return
	}
	s.bindFailures.Add(1)
	s.snap.Forget(j.pod)
	if errors.Is(err, api.ErrNotFound) {
		s.queue.Done(j.qp)
		return
	}
	if ctx.Err() == nil {
		s.log.Debug("binding failed; retrying after backoff", "pod", p.Namespace+"/"+p.Name, "node", j.node, "err", err)
	}
	s.queue.Backoff(j.qp)
}

// recordScheduled records the Scheduled Event of a binding written.
func (s *Scheduler) recordScheduled(j job) {
	s.rec.Eventf(events.Ref(j.pod), corev1.EventTypeNormal, ReasonScheduled,
		"Successfully assigned %s/%s to %s", j.pod.Namespace, j.pod.Name, j.node)
}

// writeUnschedulable records PodScheduled=False, reason Unschedulable, with the
// fit error's message. A conflict is left alone: the next attempt writes again.
func (s *Scheduler) writeUnschedulable(ctx context.Context, j job) {
	p := j.pod.DeepCopy()
	setCondition(p, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: j.message,
	}, s.clock.Now())
	if err := s.update(ctx, j.pod, p); err != nil {
		if ctx.Err() == nil && !errors.Is(err, api.ErrConflict) && !errors.Is(err, api.ErrNotFound) {
			s.log.Warn("cannot record that a pod fits no node", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		return
	}
	s.condWrites.Add(1)
	s.queue.Refresh(p)
}

// bind writes the binding p of j and, in the same transaction, the
// selected-node annotation of j's unbound claims (kube-scheduler's
// VolumeBinding PreBind, made atomic with the binding: the volumebinding
// controller provisions the claims' volumes on that node).
func (s *Scheduler) bind(ctx context.Context, j job, p *corev1.Pod) error {
	txn := s.newBatch()
	if err := txn.Update(j.pod, p); err != nil {
		return err
	}
	old, annotated := selectNode(j.claims, j.node)
	for i := range old {
		if err := txn.Update(old[i], annotated[i]); err != nil {
			return err
		}
	}
	_, err := txn.Commit(ctx)
	return err
}

// update replaces old by obj in one compare-and-swap on old's resourceVersion.
func (s *Scheduler) update(ctx context.Context, old, obj *corev1.Pod) error {
	txn := s.newBatch()
	if err := txn.Update(old, obj); err != nil {
		return err
	}
	_, err := txn.Commit(ctx)
	return err
}

// needsCondition says whether pod lacks PodScheduled=False/Unschedulable with msg.
func needsCondition(pod *corev1.Pod, msg string) bool {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type == corev1.PodScheduled {
			return c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != msg
		}
	}
	return true
}

// setCondition sets c in pod's conditions, keeping the transition time when
// the status does not change.
func setCondition(pod *corev1.Pod, c corev1.PodCondition, now time.Time) {
	c.LastTransitionTime = metav1.NewTime(now).Rfc3339Copy()
	for i := range pod.Status.Conditions {
		old := &pod.Status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}
