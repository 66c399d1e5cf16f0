package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs, in its work queue and as the source of
// its Events.
const Name = "nodelifecycle"

// LeaseNamespace is the namespace of the node Leases, each named after its node.
const LeaseNamespace = corev1.NamespaceNodeLease

// Defaults of Config.
const (
	DefaultClusterCIDR            = "10.244.0.0/16"
	DefaultNodeCIDRMaskSize       = 24
	DefaultNodeMonitorGracePeriod = 40 * time.Second
	DefaultPodEvictionTimeout     = 300 * time.Second
	DefaultEvictionQPS            = 10
	DefaultMonitorPeriod          = 5 * time.Second
)

// indexNodeName is the controller's own pod index by spec.nodeName. Informer
// indexes cannot be added twice and other controllers may add
// cache.IndexNodeName, so this one has a name of its own.
const indexNodeName = Name + "/" + cache.IndexNodeName

// Writer is how the node lifecycle controller updates Nodes and Pods, deletes
// evicted Pods and records Events: each method is a compare-and-swap on
// resourceVersion (see package reconcile). *store.Store is a Writer.
type Writer interface {
	reconcile.Updater
	reconcile.Deleter
}

// Getter is how the node lifecycle controller re-reads Pods from the
// store itself, not the cache. *store.Store is a Getter.
type Getter = reconcile.Getter

// Config configures a Controller. Writer, Getter and Informers are required
// (the control plane passes one *store.Store as both Writer and Getter); every
// other zero field takes its default.
type Config struct {
	// Writer updates Nodes (pod CIDRs, conditions, taints) and Pods (Ready
	// false) and deletes evicted Pods.
	Writer Writer
	// Getter re-reads a Pod whose eviction met a conflict.
	Getter Getter
	// Recorder receives the controller's Events (CIDRNotAvailable); nil
	// records none.
	Recorder *events.Recorder
	// Informers supplies the Node, Lease and Pod caches.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock is the controller's only time source: heartbeat ages, taint times,
	// eviction deadlines, the monitor ticker and the eviction rate limit. Default
	// clock.RealClock{}; tests pass a fake clock.
	Clock clock.WithTicker
	// Workers is how many nodes are reconciled at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider

	// ClusterCIDR is the range pod CIDRs are cut from; default 10.244.0.0/16.
	ClusterCIDR *net.IPNet
	// NodeCIDRMaskSize is the prefix length of each node's pod CIDR; default 24.
	NodeCIDRMaskSize int
	// NodeMonitorGracePeriod is how long a node may go without a Lease renewal
	// or Ready heartbeat the controller saw before it is marked Unknown; default 40 s.
	NodeMonitorGracePeriod time.Duration
	// PodEvictionTimeout is how long pods stay on an unreachable or not-ready node
	// before they are deleted, for pods without a toleration of the node's
	// NoExecute taint (tolerationSeconds overrides it); default 300 s.
	PodEvictionTimeout time.Duration
	// EvictionQPS is the largest number of pod evictions per second (burst 1);
	// default 10.
	EvictionQPS float32
	// MonitorPeriod is how often every node is looked at; default 5 s.
	MonitorPeriod time.Duration
}

// Controller allocates pod CIDRs to nodes, watches their heartbeats, taints
// unreachable and not-ready nodes, and evicts their pods.
type Controller struct {
	writer Writer
	getter Getter
	rec    *events.Recorder
	log    *slog.Logger
	clock  clock.WithTicker
	cfg    Config
	nodes  *cache.Informer
	leases *cache.Informer
	pods   *cache.Informer
	podRes api.Resource
	evRes  api.Resource
	cidrs  *cidrSet
	queue  *reconcile.Controller
	evict  *evictor

	mu     sync.Mutex
	health map[string]*nodeHealth // by node name
	// reported holds nodes for which CIDR exhaustion was already reported.
	reported map[string]bool
}

// New validates cfg, fills in defaults and returns a Controller whose handlers
// are registered on the Node, Lease and Pod informers; call it before
// cfg.Informers.Start.
func New(cfg Config) (*Controller, error) {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.Informers == nil {
		return nil, errors.New("nodelifecycle: Config.Writer, Config.Getter and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	if cfg.ClusterCIDR == nil {
		_, cfg.ClusterCIDR, _ = net.ParseCIDR(DefaultClusterCIDR)
	}
	if cfg.NodeCIDRMaskSize == 0 {
		cfg.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
	}
	defaults.Positive(&cfg.NodeMonitorGracePeriod, DefaultNodeMonitorGracePeriod)
	defaults.Positive(&cfg.PodEvictionTimeout, DefaultPodEvictionTimeout)
	defaults.Positive(&cfg.EvictionQPS, DefaultEvictionQPS)
	defaults.Positive(&cfg.MonitorPeriod, DefaultMonitorPeriod)
	cidrs, err := newCIDRSet(cfg.ClusterCIDR, cfg.NodeCIDRMaskSize)
	if err != nil {
		return nil, err
	}
	podRes, _ := api.Lookup("pods")
	evRes, _ := api.Lookup("events")
	c := &Controller{
		writer:   cfg.Writer,
		getter:   cfg.Getter,
		rec:      cfg.Recorder,
		log:      cfg.Logger.With("controller", Name),
		clock:    cfg.Clock,
		cfg:      cfg,
		nodes:    cfg.Informers.ForKind("nodes"),
		leases:   cfg.Informers.ForKind("leases"),
		pods:     cfg.Informers.ForKind("pods"),
		podRes:   podRes,
		evRes:    evRes,
		cidrs:    cidrs,
		health:   map[string]*nodeHealth{},
		reported: map[string]bool{},
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.evict = newEvictor(c, cfg.EvictionQPS)

	c.pods.AddIndex(indexNodeName, cache.IndexByNodeName)
	c.nodes.AddHandler(cache.Handler{
		OnAdd:    c.nodeChanged,
		OnUpdate: func(_, o api.Object) { c.nodeChanged(o) },
		OnDelete: c.nodeDeleted,
	})
	leaseEvent := func(o api.Object) {
		if o.GetNamespace() == LeaseNamespace {
			c.queue.Enqueue(o.GetName())
		}
	}
	c.leases.AddHandler(cache.Handler{
		OnAdd:    leaseEvent,
		OnUpdate: func(_, o api.Object) { leaseEvent(o) },
	})
	c.pods.AddHandler(cache.Handler{
		OnAdd:    c.podChanged,
		OnUpdate: func(_, o api.Object) { c.podChanged(o) },
	})
	return c, nil
}

// podChanged queues the node of a pod that arrives or changes while its node is
// unhealthy (unreachable in the controller's eyes, or carrying a lifecycle
// taint), so that the pod is marked not ready and queued for eviction like the
// pods the node had when it went away. Pods of healthy nodes queue nothing.
func (c *Controller) podChanged(o api.Object) {
	pod := o.(*corev1.Pod)
	node := pod.Spec.NodeName
	if node == "" || pod.DeletionTimestamp != nil {
		return
	}
	if c.unhealthy(node) {
		c.queue.Enqueue(node)
	}
}

// unhealthy reports whether the controller last judged node unreachable, or the
// cached node carries a lifecycle taint.
func (c *Controller) unhealthy(node string) bool {
	c.mu.Lock()
	h := c.health[node]
	unreachable := h != nil && c.clock.Now().Sub(h.probe) > c.cfg.NodeMonitorGracePeriod
	c.mu.Unlock()
	if unreachable {
		return true
	}
	if o, ok := c.nodes.Get("", node); ok {
		for _, t := range o.(*corev1.Node).Spec.Taints {
			if isLifecycleTaint(t) {
				return true
			}
		}
	}
	return false
}

// nodeChanged records the node's pod CIDRs as taken and queues the node.
func (c *Controller) nodeChanged(o api.Object) {
	node := o.(*corev1.Node)
	if cidrs := podCIDRsOf(node); len(cidrs) > 0 {
		if err := c.cidrs.observe(node.Name, cidrs); err != nil {
			c.log.Warn("a node's pod CIDR overlaps another node's; fix spec.podCIDR of one of them", "node", node.Name, "err", err)
		}
	}
	c.queue.Enqueue(node.Name)
}

// nodeDeleted frees the node's pod CIDR and forgets its health; nodes still
// waiting for a CIDR are queued, since one may now be free.
func (c *Controller) nodeDeleted(o api.Object) {
	name := o.GetName()
	c.cidrs.release(name)
	c.mu.Lock()
	delete(c.health, name)
	delete(c.reported, name)
	c.mu.Unlock()
	for _, n := range c.nodes.List("", nil) {
		if len(podCIDRsOf(n.(*corev1.Node))) == 0 {
			c.queue.Enqueue(n.GetName())
		}
	}
}

func podCIDRsOf(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) > 0 {
		return node.Spec.PodCIDRs
	}
	if node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return nil
}

// Run waits for the caches to sync, then reconciles nodes, looks at every node
// each MonitorPeriod (on the clock's ticker) and evicts pods, until ctx ends. It
// returns nil when ctx ends (also while it still waits for the caches).
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.nodes, c.leases, c.pods) {
		return nil // ctx ended
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.monitor(ctx) })
	wg.Go(func() { c.evict.run(ctx) })
	err := c.queue.Run(ctx)
	wg.Wait()
	return err
}

// Len returns how many node keys wait in the work queue.
func (c *Controller) Len() int { return c.queue.Len() }

// monitor queues every node each MonitorPeriod until ctx ends.
func (c *Controller) monitor(ctx context.Context) {
	t := c.clock.NewTicker(c.cfg.MonitorPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			for _, n := range c.nodes.List("", nil) {
				c.queue.Enqueue(n.GetName())
			}
		}
	}
}

// Reconcile converges one node, named by key: it allocates a pod CIDR when the
// node has none, marks the node Unknown and taints it when its heartbeats
// stopped (or taints it not-ready when its agent says Ready=False, and removes
// those taints when it is healthy again), marks its pods not ready when it is
// unreachable, and hands pods whose eviction deadline passed to the evictor. The
// node is written once, with compare-and-swap; a conflict returns an error so
// that the key is retried from fresh caches. The result asks to look again at
// the next eviction deadline.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	if !c.nodes.HasSynced() {
		return reconcile.Result{Requeue: true}, nil // CIDRs in use are not all known yet
	}
	_, name := reconcile.SplitKey(key)
	o, ok := c.nodes.Get("", name)
	if !ok {
		return reconcile.Result{}, nil
	}
	cached := o.(*corev1.Node)
	now := c.clock.Now()
	h := c.observe(cached, now)
	defer c.markReconciled(name, now)

	node := cached.DeepCopy()
	changed := false
	var exhausted error
	if len(podCIDRsOf(node)) == 0 {
		cidr, err := c.cidrs.allocate(name)
		switch {
		case errors.Is(err, ErrCIDRRangeExhausted):
			exhausted = err
		case err != nil:
			return reconcile.Result{}, err
		default:
			node.Spec.PodCIDR = cidr.String()
			node.Spec.PodCIDRs = []string{cidr.String()}
			changed = true
		}
	}

	unreachable := now.Sub(h.probe) > c.cfg.NodeMonitorGracePeriod
	if unreachable && markUnknown(node, now) {
		changed = true
	}
	want := ""
	switch {
	case unreachable:
		want = corev1.TaintNodeUnreachable
	case readyStatus(node) == corev1.ConditionFalse:
		want = corev1.TaintNodeNotReady
	}
	if setLifecycleTaints(node, want, now) {
		changed = true
	}

	if changed {
		if err := c.writer.Update(ctx, node); err != nil {
			return reconcile.Result{}, fmt.Errorf("nodelifecycle: update node %s: %w", name, err)
		}
		c.afterWrite(node)
		c.logTransitions(cached, node)
	}
	if exhausted != nil {
		c.reportExhausted(node, exhausted)
	} else {
		c.mu.Lock()
		delete(c.reported, name)
		c.mu.Unlock()
	}

	pods := c.podsOn(name)
	var errs []error
	if unreachable {
		errs = append(errs, c.markPodsNotReady(ctx, name, pods, now)...)
	}
	next := c.queueEvictions(node, pods, now)
	if err := errors.Join(errs...); err != nil {
		return reconcile.Result{}, err
	}
	if next > 0 {
		return reconcile.Result{RequeueAfter: next}, nil
	}
	return reconcile.Result{}, nil
}

// podsOn returns the cached pods bound to node (shared objects).
func (c *Controller) podsOn(node string) []*corev1.Pod {
	objs := c.pods.ByIndex(indexNodeName, node)
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// leaseOf returns the node's Lease from the cache, or nil.
func (c *Controller) leaseOf(node string) *coordinationv1.Lease {
	if o, ok := c.leases.Get(LeaseNamespace, node); ok {
		return o.(*coordinationv1.Lease)
	}
	return nil
}

// logTransitions logs the node's taint changes.
func (c *Controller) logTransitions(old, cur *corev1.Node) {
	before, after := lifecycleTaint(old), lifecycleTaint(cur)
	if before == after {
		return
	}
	switch after {
	case corev1.TaintNodeUnreachable:
		c.log.Warn("node stopped renewing its lease: marked Unknown and tainted unreachable; its pods are evicted after the eviction timeout unless it comes back",
			"node", cur.Name, "gracePeriod", c.cfg.NodeMonitorGracePeriod)
	case corev1.TaintNodeNotReady:
		c.log.Warn("node reports Ready=False: tainted not-ready", "node", cur.Name)
	default:
		c.log.Info("node is healthy again: lifecycle taints removed", "node", cur.Name, "was", before)
	}
}
