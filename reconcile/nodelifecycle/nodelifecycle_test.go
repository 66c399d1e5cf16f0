package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	t   *testing.T
	s   *store.Store
	clk *clocktesting.FakeClock
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	s := storetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &env{t: t, s: s, clk: clocktesting.NewFakeClock(t0), ctx: ctx}
}

// start runs a controller with cfg (store, informers, clock and logger filled
// in) and returns it with a function that stops it and waits until it stopped.
func (e *env) start(cfg Config) (*Controller, func()) {
	e.t.Helper()
	log := storetest.Logger(e.t)
	inf := cache.NewInformers(e.s, log)
	cfg.Writer, cfg.Getter, cfg.Informers, cfg.Clock, cfg.Logger = e.s, e.s, inf, e.clk, log
	cfg.Recorder = eventstest.Recorder(e.t, e.s, Name)
	c, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	inf.Start(ctx)
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	e.t.Cleanup(stop) // before etcd closes
	if err := inf.WaitForSync(ctx); err != nil {
		e.t.Fatal(err)
	}
	return c, stop
}

// eventually waits until cond returns "" (cond's answer is what is still
// wrong), for up to 10 s.
func (e *env) eventually(what string, cond func() string) {
	e.t.Helper()
	testutil.EventuallyNoDiff(e.t, 10*time.Second, what, cond)
}

func (e *env) node(name string) *corev1.Node {
	e.t.Helper()
	n := &corev1.Node{}
	if err := e.s.Get(e.ctx, "", name, n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// podExists reports whether default/name is stored.
// podExists reports whether pod name exists and is not terminating (an
// evicted running pod is marked for its agent to stop, then removed).
func (e *env) podExists(name string) bool {
	e.t.Helper()
	pod := &corev1.Pod{}
	err := e.s.Get(e.ctx, "default", name, pod)
	if errors.Is(err, api.ErrNotFound) {
		return false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return pod.DeletionTimestamp == nil
}

// addNode creates a node, with a Ready condition (status "" = none) and a Lease
// renewed now when lease is true.
func (e *env) addNode(name string, ready corev1.ConditionStatus, lease bool) {
	e.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if ready != "" {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready,
			LastHeartbeatTime: metav1.NewTime(e.clk.Now())}}
	}
	if err := e.s.Create(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	if lease {
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: LeaseNamespace, Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40),
				RenewTime: ptr.To(metav1.NewMicroTime(e.clk.Now()))},
		}
		if err := e.s.Create(e.ctx, l); err != nil {
			e.t.Fatal(err)
		}
	}
}

// renew renews the node's Lease at the clock's time and waits until c saw it.
func (e *env) renew(c *Controller, name string) {
	e.t.Helper()
	l := &coordinationv1.Lease{}
	if err := e.s.Get(e.ctx, LeaseNamespace, name, l); err != nil {
		e.t.Fatal(err)
	}
	at := e.clk.Now()
	l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(at))
	if err := e.s.Update(e.ctx, l); err != nil {
		e.t.Fatal(err)
	}
	want := l.Spec.RenewTime.Time // as stored: microseconds
	e.eventually("lease "+name+" renewal seen", func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		if h := c.health[name]; h == nil || !h.renew.Equal(want) {
			return "not yet"
		}
		return ""
	})
}

// waitReconciled waits until c finished a Reconcile of node at the clock's time.
func (e *env) waitReconciled(c *Controller, node string) {
	e.t.Helper()
	now := e.clk.Now()
	e.eventually("reconcile of "+node+" at "+now.String(), func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		if h := c.health[node]; h == nil || h.reconciled.Before(now) {
			return "not yet"
		}
		return ""
	})
}

// advance moves the clock by d in steps of at most 10 s, renewing the Leases of
// the nodes alive before each step, and waits for a reconcile of each node in
// watch after every step.
func (e *env) advance(c *Controller, d time.Duration, alive []string, watch ...string) {
	e.t.Helper()
	for d > 0 {
		step := min(d, 10*time.Second)
		for _, n := range alive {
			e.renew(c, n)
		}
		e.clk.Step(step)
		d -= step
		for _, n := range append(alive, watch...) {
			e.waitReconciled(c, n)
		}
	}
}

func (e *env) addPod(name, node string, tolerations ...corev1.Toleration) {
	e.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.9",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	if err := e.s.Create(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

func podReady(t *testing.T, e *env, name string) corev1.ConditionStatus {
	t.Helper()
	p := &corev1.Pod{}
	if err := e.s.Get(e.ctx, "default", name, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

func taintsOf(n *corev1.Node) map[string]corev1.Taint {
	out := map[string]corev1.Taint{}
	for _, t := range n.Spec.Taints {
		out[t.Key+":"+string(t.Effect)] = t
	}
	return out
}

func TestCIDRAllocationStableAcrossRestart(t *testing.T) {
	e := newEnv(t)
	_, stop := e.start(Config{})
	for _, n := range []string{"a", "b", "c"} {
		e.addNode(n, corev1.ConditionTrue, true)
	}
	cluster := mustCIDR(t, DefaultClusterCIDR)
	got := map[string]string{}
	e.eventually("3 nodes get pod CIDRs", func() string {
		for _, n := range []string{"a", "b", "c"} {
			node := e.node(n)
			if node.Spec.PodCIDR == "" {
				return "node " + n + " has no pod CIDR"
			}
			got[n] = node.Spec.PodCIDR
			if len(node.Spec.PodCIDRs) != 1 || node.Spec.PodCIDRs[0] != node.Spec.PodCIDR {
				return fmt.Sprintf("node %s: podCIDRs %v, podCIDR %s", n, node.Spec.PodCIDRs, node.Spec.PodCIDR)
			}
		}
		return ""
	})
	seen := map[string]bool{}
	for n, c := range got {
		ip, sub, err := net.ParseCIDR(c)
		if err != nil || !cluster.Contains(ip) {
			t.Errorf("node %s: pod CIDR %s not in %s", n, c, cluster)
			continue
		}
		if ones, _ := sub.Mask.Size(); ones != DefaultNodeCIDRMaskSize {
			t.Errorf("node %s: pod CIDR %s is not a /%d", n, c, DefaultNodeCIDRMaskSize)
		}
		if seen[c] {
			t.Errorf("pod CIDR %s given twice: %v", c, got)
		}
		seen[c] = true
	}

	stop()
	_, stop = e.start(Config{})
	defer stop()
	e.addNode("d", corev1.ConditionTrue, true)
	var d string
	e.eventually("node d gets a pod CIDR", func() string {
		d = e.node("d").Spec.PodCIDR
		if d == "" {
			return "none yet"
		}
		return ""
	})
	if seen[d] {
		t.Errorf("restarted controller gave node d %s, already used: %v", d, got)
	}
	for n, c := range got {
		if now := e.node(n).Spec.PodCIDR; now != c {
			t.Errorf("node %s: pod CIDR changed across restart: %s -> %s", n, c, now)
		}
	}
}

func TestCIDRRangeExhausted(t *testing.T) {
	e := newEnv(t)
	_, stop := e.start(Config{ClusterCIDR: mustCIDR(t, "10.9.0.0/23"), NodeCIDRMaskSize: 24})
	defer stop()
	e.addNode("a", corev1.ConditionTrue, true)
	e.addNode("b", corev1.ConditionTrue, true)
	var aCIDR string
	e.eventually("a and b get pod CIDRs", func() string {
		aCIDR = e.node("a").Spec.PodCIDR
		if aCIDR == "" || e.node("b").Spec.PodCIDR == "" {
			return "not yet"
		}
		return ""
	})
	e.addNode("c", corev1.ConditionTrue, true)
	e.eventually("CIDRNotAvailable event for c", func() string {
		evs := eventstest.Find(e.t, e.s, "default", "c", ReasonCIDRNotAvailable)
		if len(evs) != 1 {
			return fmt.Sprintf("%d events", len(evs))
		}
		ev := evs[0]
		if ev.Reason != ReasonCIDRNotAvailable || ev.Type != corev1.EventTypeWarning ||
			ev.InvolvedObject.Kind != "Node" || ev.InvolvedObject.Name != "c" || ev.Message == "" {
			return fmt.Sprintf("event %+v", ev)
		}
		return ""
	})
	if c := e.node("c").Spec.PodCIDR; c != "" {
		t.Fatalf("node c got %s from an exhausted range", c)
	}
	nodes, _ := api.Lookup("nodes")
	if err := e.s.Delete(e.ctx, nodes, "", "a", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("c gets a's freed CIDR", func() string {
		if c := e.node("c").Spec.PodCIDR; c != aCIDR {
			return "c has " + c
		}
		return ""
	})
}

func TestUnreachableNodeLifecycle(t *testing.T) {
	e := newEnv(t)
	c, stop := e.start(Config{EvictionQPS: 100})
	defer stop()
	e.addNode("dead", corev1.ConditionTrue, true)
	e.addNode("alive", corev1.ConditionTrue, true)
	unreachableFor := func(secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	e.addPod("plain", "dead")
	e.addPod("tol600", "dead", unreachableFor(ptr.To[int64](600)))
	e.addPod("forever", "dead", unreachableFor(nil))
	e.addPod("safe", "alive")
	e.renew(c, "dead") // the controller has seen the Lease: its grace period starts now
	e.waitReconciled(c, "alive")
	alive := []string{"alive"}

	// Within the grace period nothing happens.
	e.advance(c, 40*time.Second, alive, "dead")
	if n := e.node("dead"); len(n.Spec.Taints) != 0 || readyStatus(n) != corev1.ConditionTrue {
		t.Fatalf("dead node changed within the grace period: taints %v, Ready %s", n.Spec.Taints, readyStatus(n))
	}

	// Past it: Unknown, tainted, pods not ready; the live node is untouched.
	e.advance(c, 10*time.Second, alive, "dead")
	taintedAt := e.clk.Now()
	e.eventually("dead node marked unreachable", func() string {
		n := e.node("dead")
		ready := condition(n, corev1.NodeReady)
		if ready == nil || ready.Status != corev1.ConditionUnknown || ready.Reason != ReasonNodeStatusUnknown ||
			ready.Message != MessageNodeStatusUnknown {
			return fmt.Sprintf("Ready = %+v", ready)
		}
		taints := taintsOf(n)
		for _, eff := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			tt, ok := taints[corev1.TaintNodeUnreachable+":"+string(eff)]
			if !ok || tt.TimeAdded == nil || !tt.TimeAdded.Time.Equal(taintedAt) {
				return fmt.Sprintf("taints = %v", n.Spec.Taints)
			}
		}
		for _, p := range []string{"plain", "tol600", "forever"} {
			if s := podReady(t, e, p); s != corev1.ConditionFalse {
				return "pod " + p + " Ready=" + string(s)
			}
		}
		return ""
	})
	if n := e.node("alive"); len(n.Spec.Taints) != 0 || readyStatus(n) != corev1.ConditionTrue {
		t.Errorf("live node changed: taints %v, Ready %s", n.Spec.Taints, readyStatus(n))
	}
	if s := podReady(t, e, "safe"); s != corev1.ConditionTrue {
		t.Errorf("pod on the live node: Ready=%s", s)
	}

	// Just before the eviction timeout every pod is still there.
	e.advance(c, 290*time.Second, alive, "dead")
	for _, p := range []string{"plain", "tol600", "forever"} {
		if !e.podExists(p) {
			t.Fatalf("pod %s evicted before the eviction timeout", p)
		}
	}
	// After it, the pod without toleration goes; the tolerating ones stay.
	e.advance(c, 20*time.Second, alive, "dead")
	e.eventually("pod plain evicted", func() string {
		if e.podExists("plain") {
			return "still there"
		}
		return ""
	})
	if !e.podExists("tol600") || !e.podExists("forever") || !e.podExists("safe") {
		t.Fatal("a tolerating pod or a pod of the live node was evicted at the eviction timeout")
	}
	// After tolerationSeconds the 600 s one goes too; the forever one never.
	e.advance(c, 300*time.Second, alive, "dead")
	e.eventually("pod tol600 evicted", func() string {
		if e.podExists("tol600") {
			return "still there"
		}
		return ""
	})
	if !e.podExists("forever") || !e.podExists("safe") {
		t.Fatal("pod forever or safe evicted")
	}
	if got := e.clk.Now().Sub(taintedAt); got < 600*time.Second {
		t.Fatalf("test bug: only %v after tainting", got)
	}

	// The lease renews again: the taints go, Ready stays for the agent to set.
	e.renew(c, "dead")
	e.eventually("taints removed", func() string {
		if n := e.node("dead"); len(n.Spec.Taints) != 0 {
			return fmt.Sprintf("taints %v", n.Spec.Taints)
		}
		return ""
	})
	if s := readyStatus(e.node("dead")); s != corev1.ConditionUnknown {
		t.Errorf("Ready = %s after the lease renewed; the agent, not the controller, sets it True", s)
	}
	if !e.podExists("forever") {
		t.Error("pod forever evicted")
	}
}

// A pod that appears on a node after the node was marked unreachable (a stale
// binding, or a cache that had not seen it yet) is marked not ready too, without
// waiting for the next monitor period.
func TestPodArrivingOnUnreachableNode(t *testing.T) {
	e := newEnv(t)
	c, stop := e.start(Config{})
	defer stop()
	e.addNode("dead", corev1.ConditionTrue, true)
	e.renew(c, "dead")
	e.waitReconciled(c, "dead")
	e.advance(c, 50*time.Second, nil, "dead")
	e.eventually("dead node tainted", func() string {
		if lifecycleTaint(e.node("dead")) != corev1.TaintNodeUnreachable {
			return fmt.Sprintf("taints %v", e.node("dead").Spec.Taints)
		}
		return ""
	})
	e.addPod("late", "dead") // the clock does not move: only the pod event can queue the node
	e.eventually("late pod marked not ready", func() string {
		if s := podReady(t, e, "late"); s != corev1.ConditionFalse {
			return "Ready=" + string(s)
		}
		return ""
	})
}

func TestNotReadyNodeTainted(t *testing.T) {
	e := newEnv(t)
	c, stop := e.start(Config{})
	defer stop()
	e.addNode("sick", corev1.ConditionFalse, true)
	e.renew(c, "sick")
	e.eventually("not-ready taints", func() string {
		taints := taintsOf(e.node("sick"))
		_, ns := taints[corev1.TaintNodeNotReady+":"+string(corev1.TaintEffectNoSchedule)]
		_, ne := taints[corev1.TaintNodeNotReady+":"+string(corev1.TaintEffectNoExecute)]
		if !ns || !ne || len(taints) != 2 {
			return fmt.Sprintf("taints %v", taints)
		}
		return ""
	})
	if s := readyStatus(e.node("sick")); s != corev1.ConditionFalse {
		t.Errorf("Ready = %s, want the agent's False kept", s)
	}
	// The agent reports Ready again: the taints go.
	e.eventually("agent sets Ready=True", func() string {
		n := e.node("sick")
		condition(n, corev1.NodeReady).Status = corev1.ConditionTrue
		condition(n, corev1.NodeReady).LastHeartbeatTime = metav1.NewTime(e.clk.Now().Add(time.Second))
		if err := e.s.Update(e.ctx, n); err != nil {
			return err.Error()
		}
		return ""
	})
	e.eventually("not-ready taints removed", func() string {
		if n := e.node("sick"); len(n.Spec.Taints) != 0 {
			return fmt.Sprintf("taints %v", n.Spec.Taints)
		}
		return ""
	})
}

func TestEvictionRateLimited(t *testing.T) {
	e := newEnv(t)
	c, stop := e.start(Config{EvictionQPS: 1, PodEvictionTimeout: 60 * time.Second})
	defer stop()
	e.addNode("dead", corev1.ConditionTrue, true)
	pods := []string{"p1", "p2", "p3"}
	for _, p := range pods {
		e.addPod(p, "dead")
	}
	e.renew(c, "dead")
	e.advance(c, 50*time.Second, nil, "dead") // unreachable at t0+50
	e.advance(c, 60*time.Second, nil, "dead") // eviction due now, at t0+110
	remaining := func() int {
		n := 0
		for _, p := range pods {
			if e.podExists(p) {
				n++
			}
		}
		return n
	}
	for want := 2; want >= 0; want-- {
		e.eventually(fmt.Sprintf("%d pods left", want), func() string {
			if got := remaining(); got != want {
				n := e.node("dead")
				c.mu.Lock()
				h := *c.health["dead"]
				c.mu.Unlock()
				return fmt.Sprintf("%d left (clock %s, taints %v, queued evictions %d, waiting %v, probe %s, reconciled %s)",
					got, e.clk.Now(), n.Spec.Taints, c.evict.len(), c.evict.waiting.Load(), h.probe, h.reconciled)
			}
			if want > 0 && !c.evict.waiting.Load() {
				return "evictor not waiting for the rate limit"
			}
			return ""
		})
		// The evictor waits for the clock: no further eviction without a step.
		if got := remaining(); got != want {
			t.Fatalf("%d pods left while the evictor waits, want %d", got, want)
		}
		e.clk.Step(time.Second)
	}
}
