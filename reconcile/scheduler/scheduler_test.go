package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// env is a scheduler running on real embedded etcd.
type env struct {
	t     *testing.T
	st    *store.Store
	inf   *cache.Informers
	sched *Scheduler
	clock *clocktesting.FakeClock
}

func startEnv(t *testing.T, nodes []*corev1.Node, pods []*corev1.Pod) *env {
	t.Helper()
	st := storetest.Start(t)
	ctx := t.Context()
	for _, n := range nodes {
		if err := st.Create(ctx, n.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		p = p.DeepCopy()
		p.UID = ""
		if err := st.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, st: st, clock: clocktesting.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))}
	e.inf = cache.NewInformers(st, storetest.Logger(t))
	e.sched = New(Config{NewBatch: func() Batch { return st.Txn() }, Informers: e.inf, Logger: storetest.Logger(t), Clock: e.clock, Seed: 7, BindWorkers: 4,
		Recorder: eventstest.Recorder(t, st, "default-scheduler")})
	infCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.inf.Start(infCtx)
	testutil.Start(t, e.sched.Run)
	return e
}

// eventually waits until cond holds, for up to 15 s; step, when positive, is
// added to the fake clock between polls (to expire backoffs).
func (e *env) eventually(what string, step time.Duration, cond func() bool) {
	e.t.Helper()
	testutil.EventuallyTrue(e.t, 15*time.Second, what, func() bool {
		if cond() {
			return true
		}
		if step > 0 {
			e.clock.Step(step)
		}
		return false
	})
}

func (e *env) pod(name string) *corev1.Pod {
	e.t.Helper()
	p := &corev1.Pod{}
	if err := e.st.Get(e.t.Context(), "default", name, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestBindsAndSpreads(t *testing.T) {
	nodes := []*corev1.Node{makeNode("a", "4", "8Gi", 110), makeNode("b", "4", "8Gi", 110), makeNode("c", "4", "8Gi", 110)}
	var pods []*corev1.Pod
	for i := range 6 {
		pods = append(pods, makePod(fmt.Sprintf("web-%d", i), "100m", "64Mi", withOwner("rs-web")))
	}
	other := makePod("other-scheduler", "", "")
	other.Spec.SchedulerName = "custom"
	preset := makePod("preset", "", "")
	preset.Spec.NodeName = "a"
	pods = append(pods, other, preset)
	e := startEnv(t, nodes, pods)
	e.eventually("6 pods are bound", 0, func() bool { return e.sched.Stats().Bound == 6 })
	perNode := map[string]int{}
	for i := range 6 {
		p := e.pod(fmt.Sprintf("web-%d", i))
		c := scheduledCondition(p)
		if p.Spec.NodeName == "" || c == nil || c.Status != corev1.ConditionTrue {
			t.Fatalf("%s: node %q, condition %+v", p.Name, p.Spec.NodeName, c)
		}
		perNode[p.Spec.NodeName]++
	}
	if perNode["a"] != 2 || perNode["b"] != 2 || perNode["c"] != 2 {
		t.Fatalf("pods per node %v, want 2 each", perNode)
	}
	if p := e.pod("other-scheduler"); p.Spec.NodeName != "" || len(p.Status.Conditions) != 0 {
		t.Fatalf("pod of another scheduler was touched: %+v", p.Spec)
	}
	if p := e.pod("preset"); p.Spec.NodeName != "a" || len(p.Status.Conditions) != 0 {
		t.Fatalf("pod with a preset node was touched: %+v", p.Status)
	}
	// The snapshot counts the bound pods plus the preset one on their nodes.
	e.eventually("the informer confirms every placement", 0, func() bool {
		s := e.sched.Snapshot()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ps := range s.pods {
			if ps.assumed {
				return false
			}
		}
		return len(s.pods) == 7
	})
}

func TestUnschedulableThenNodeAppears(t *testing.T) {
	nodes := []*corev1.Node{
		makeNode("a", "1", "8Gi", 110, withLabels("disk", "ssd")),
		makeNode("b", "1", "8Gi", 110, withLabels("disk", "ssd")),
		makeNode("c", "8", "8Gi", 110, withLabels("disk", "hdd")),
	}
	big := makePod("big", "2", "", withNodeSelector("disk", "ssd"))
	e := startEnv(t, nodes, []*corev1.Pod{big})
	const want = "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
	e.eventually("the pod has PodScheduled=False", 0, func() bool {
		c := scheduledCondition(e.pod("big"))
		return c != nil && c.Status == corev1.ConditionFalse
	})
	p := e.pod("big")
	c := scheduledCondition(p)
	if c.Reason != corev1.PodReasonUnschedulable || c.Message != want || p.Spec.NodeName != "" {
		t.Fatalf("condition %+v on node %q; want reason Unschedulable, message %q", c, p.Spec.NodeName, want)
	}
	// Retries with the same result do not write again.
	rv := p.ResourceVersion
	e.clock.Step(FlushInterval)
	e.eventually("the periodic retry runs", 0, func() bool { return e.sched.Stats().Unschedulable >= 2 })
	e.clock.Step(FlushInterval)
	e.eventually("a second periodic retry runs", 0, func() bool { return e.sched.Stats().Unschedulable >= 3 })
	if got := e.pod("big").ResourceVersion; got != rv || e.sched.Stats().ConditionWrites != 1 {
		t.Fatalf("unchanged message written again: resourceVersion %s -> %s, %d writes", rv, got, e.sched.Stats().ConditionWrites)
	}
	// A fitting node appears: the pod is tried again (after its backoff) and bound.
	if err := e.st.Create(t.Context(), makeNode("d", "4", "8Gi", 110, withLabels("disk", "ssd"))); err != nil {
		t.Fatal(err)
	}
	e.eventually("the pod is bound to d", time.Second, func() bool { return e.pod("big").Spec.NodeName == "d" })
	c = scheduledCondition(e.pod("big"))
	if c.Status != corev1.ConditionTrue || c.Reason != "" || c.Message != "" {
		t.Fatalf("condition after binding: %+v", c)
	}
	// Every attempt was a FailedScheduling Event with the per-node reasons,
	// one Event with a count; the binding a Scheduled one.
	e.eventually("the Scheduled Event is written", 0, func() bool {
		return len(eventstest.Find(t, e.st, "default", "big", ReasonScheduled)) == 1
	})
	failed := eventstest.Find(t, e.st, "default", "big", ReasonFailedScheduling)
	if len(failed) != 1 || failed[0].Message != want || failed[0].Count < 3 || failed[0].Type != corev1.EventTypeWarning {
		t.Errorf("FailedScheduling Events: %+v; want one Warning with message %q and count >= 3", failed, want)
	}
	if ev := eventstest.Find(t, e.st, "default", "big", ReasonScheduled)[0]; ev.Message != "Successfully assigned default/big to d" ||
		ev.InvolvedObject.Kind != "Pod" || ev.Source.Component != "default-scheduler" {
		t.Errorf("Scheduled Event: %+v", ev)
	}
}

func TestDeletedPodFreesRoom(t *testing.T) {
	nodes := []*corev1.Node{makeNode("only", "1", "1Gi", 110)}
	first := makePod("first", "800m", "")
	first.CreationTimestamp = metav1.NewTime(time.Unix(0, 0))
	e := startEnv(t, nodes, []*corev1.Pod{first})
	e.eventually("first is bound", 0, func() bool { return e.pod("first").Spec.NodeName == "only" })
	if err := e.st.Create(t.Context(), makePod("second", "800m", "")); err != nil {
		t.Fatal(err)
	}
	e.eventually("second is unschedulable", 0, func() bool {
		c := scheduledCondition(e.pod("second"))
		return c != nil && c.Message == "0/1 nodes are available: 1 Insufficient cpu."
	})
	if err := e.st.Delete(t.Context(), storetest.Resource(t, "pods"), "default", "first", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("second is bound once first is gone", time.Second, func() bool { return e.pod("second").Spec.NodeName == "only" })
}

// TestBindBatchConflict writes three bindings in one batch, one of them for a
// pod that changed since it was read: the other two are bound, that one is
// forgotten and backs off.
func TestBindBatchConflict(t *testing.T) {
	st := storetest.Start(t)
	ctx := t.Context()
	var pods []*corev1.Pod
	for _, name := range []string{"a", "b", "c"} {
		p := makePod(name, "100m", "")
		p.UID = ""
		if err := st.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	changed := pods[1].DeepCopy()
	changed.Labels = map[string]string{"touched": "yes"}
	if err := st.Update(ctx, changed); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(t0)
	s := New(Config{NewBatch: func() Batch { return st.Txn() }, Informers: cache.NewInformers(st, nil), Clock: clk, Seed: 1})
	s.snap.SetNode(makeNode("n", "4", "4Gi", 110))
	var batch []job
	for _, p := range pods {
		s.queue.Add(p)
		qp := popNow(t, s.queue)
		s.snap.Assume(p, "n")
		batch = append(batch, job{qp: qp, pod: p, node: "n"})
	}
	s.workBatch(ctx, batch)
	for _, name := range []string{"a", "c"} {
		p := &corev1.Pod{}
		if err := st.Get(ctx, "default", name, p); err != nil {
			t.Fatal(err)
		}
		if c := scheduledCondition(p); p.Spec.NodeName != "n" || c == nil || c.Status != corev1.ConditionTrue {
			t.Fatalf("%s not bound: node %q, condition %+v", name, p.Spec.NodeName, c)
		}
	}
	b := &corev1.Pod{}
	if err := st.Get(ctx, "default", "b", b); err != nil {
		t.Fatal(err)
	}
	if b.Spec.NodeName != "" {
		t.Fatalf("stale binding of b written: %q", b.Spec.NodeName)
	}
	if got := s.Stats(); got.Bound != 2 || got.BindFailures != 1 {
		t.Fatalf("stats %+v, want 2 bound, 1 failure", got)
	}
	if n := s.snap.NumPods(); n != 2 {
		t.Fatalf("snapshot counts %d pods, want 2 (b forgotten)", n)
	}
	if s.queue.Len() != 1 {
		t.Fatalf("queue holds %d pods, want b backing off", s.queue.Len())
	}
	assertEmptyNow(t, s.queue)
	clk.Step(time.Second)
	if p := popNow(t, s.queue); p.pod.Name != "b" {
		t.Fatalf("popped %s, want b", p.pod.Name)
	}
}

func TestSchedulingChanged(t *testing.T) {
	base := makeNode("n", "4", "8Gi", 110, withLabels("zone", "a"))
	cases := []struct {
		name   string
		change func(*corev1.Node)
		want   bool
	}{
		{"heartbeat only", func(n *corev1.Node) {
			n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(t0)
			n.ResourceVersion = "99"
		}, false},
		{"ready changes", withReady(corev1.ConditionFalse), true},
		{"cordoned", cordoned, true},
		{"label added", withLabels("disk", "ssd"), true},
		{"label value", withLabels("zone", "b"), true},
		{"taint added", withTaint("k", "v", corev1.TaintEffectNoSchedule), true},
		{"allocatable", func(n *corev1.Node) {
			n.Status.Allocatable[corev1.ResourceCPU] = n.Status.Allocatable[corev1.ResourceMemory]
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.change(n)
			if got := schedulingChanged(base, n); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
