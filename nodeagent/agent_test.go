package nodeagent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

type env struct {
	t     *testing.T
	st    *store.Store
	c     *client.Client
	clk   *clocktesting.FakeClock
	rt    *runtimetest.Fake
	agent *nodeagent.Agent // the agent started last
	// podCIDR, when set, is the pod CIDR of Node n1, created with it
	// before the agent starts (as the control plane would assign it);
	// default "10.42.0.0/24".
	podCIDR string
}

var (
	podsR   = must("pods")
	nodesR  = must("nodes")
	leasesR = must("leases")
)

func must(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic(name)
	}
	return r
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.Start(t)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	return &env{t: t, st: st, c: c, clk: clk, rt: runtimetest.New(runtimetest.Config{Clock: clk}), podCIDR: "10.42.0.0/24"}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// start runs an agent for node n1 on e.rt; the returned func stops it and
// waits until Run returned.
func (e *env) start() func() { return e.startWith(nil) }

// startWith is start with a Config changed by edit first (when not nil).
func (e *env) startWith(edit func(*nodeagent.Config)) func() {
	e.t.Helper()
	cfg := nodeagent.Config{
		NodeName:  "n1",
		Client:    e.c,
		Runtime:   e.rt,
		Logger:    storetest.Logger(e.t),
		Clock:     e.clk,
		Version:   "test",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
		RootDir:   e.t.TempDir(),
	}
	if edit != nil {
		edit(&cfg)
	}
	e.createNode(cfg.NodeName)
	a, err := nodeagent.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.agent = a
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Run(runCtx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); wg.Wait() }) }
	e.t.Cleanup(stop)
	return stop
}

// createNode creates the Node name with e.podCIDR (unless it exists or
// e.podCIDR is ""), as the control plane assigns it after registration.
func (e *env) createNode(name string) {
	e.t.Helper()
	if e.podCIDR == "" {
		return
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.NodeSpec{PodCIDR: e.podCIDR, PodCIDRs: []string{e.podCIDR}}}
	if err := e.c.Create(ctx(e.t), nodesR, n); err != nil && client.Reason(err) != metav1.StatusReasonAlreadyExists {
		e.t.Fatal(err)
	}
}

// eventually waits until cond holds, stepping the fake clock by step (if
// > 0) after each poll that found it false; it fails the test after 15s of
// real time.
func (e *env) eventually(what string, step time.Duration, cond func() bool) {
	e.t.Helper()
	e.waitStepping(15*time.Second, what, step, cond)
}

// waitStepping waits with testutil.EventuallyTrue for at most timeout of
// real time until cond holds, stepping the fake clock by step (if > 0)
// after each poll that found it false.
func (e *env) waitStepping(timeout time.Duration, what string, step time.Duration, cond func() bool) {
	e.t.Helper()
	testutil.EventuallyTrue(e.t, timeout, what, func() bool {
		if cond() {
			return true
		}
		if step > 0 {
			e.clk.Step(step)
		}
		return false
	})
}

func (e *env) pod(name string) *corev1.Pod {
	obj, err := e.c.Get(ctx(e.t), podsR, "default", name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod)
}

func (e *env) createPod(name string, policy corev1.RestartPolicy, env ...corev1.EnvVar) *corev1.Pod {
	e.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: policy, Containers: []corev1.Container{
			{Name: "app", Image: "bosun.local/hello:v1", Env: env},
			{Name: "side", Image: "bosun.local/side:v1"},
		}},
	}
	if err := e.st.Create(ctx(e.t), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func runningReady(p *corev1.Pod) bool {
	return p != nil && p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue
}

// conditionOf returns the node's condition of type typ (zero if absent).
func conditionOf(n *corev1.Node, typ corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func TestRegisterAndHeartbeat(t *testing.T) {
	e := newEnv(t)
	e.podCIDR = "" // the node registers without one, as on a real cluster
	e.start()
	var node *corev1.Node
	e.eventually("the node to register", 0, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		if err != nil {
			return false
		}
		node = obj.(*corev1.Node)
		return true
	})
	if node.Labels[corev1.LabelHostname] != "n1" || node.Labels[corev1.LabelOSStable] != "linux" {
		t.Errorf("labels = %v", node.Labels)
	}
	if q := node.Status.Capacity[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods capacity = %v, want 110", q.String())
	}
	if q := node.Status.Allocatable[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods allocatable = %v, want 110", q.String())
	}
	if node.Status.NodeInfo.KubeletVersion != "bosun/test" || node.Status.NodeInfo.ContainerRuntimeVersion != "fake://"+runtimetest.Version {
		t.Errorf("nodeInfo = %+v", node.Status.NodeInfo)
	}
	// Without a pod CIDR the node is not ready, for the network's sake.
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: corev1.ConditionFalse, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
		corev1.NodeNetworkUnavailable: corev1.ConditionTrue,
	}
	for _, c := range node.Status.Conditions {
		if want[c.Type] != c.Status || c.LastHeartbeatTime.IsZero() {
			t.Errorf("condition %s = %s (heartbeat %v)", c.Type, c.Status, c.LastHeartbeatTime)
		}
		delete(want, c.Type)
	}
	if len(want) > 0 {
		t.Errorf("missing conditions %v", want)
	}
	if c := conditionOf(node, corev1.NodeReady); c.Reason != "KubeletNotReady" ||
		!strings.HasPrefix(c.Message, "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:") ||
		!strings.Contains(c.Message, "no pod CIDR") {
		t.Errorf("Ready = %s %q, want KubeletNotReady with kubelet's network message naming the missing pod CIDR", c.Reason, c.Message)
	}
	if c := conditionOf(node, corev1.NodeNetworkUnavailable); c.Reason != "NoRouteCreated" {
		t.Errorf("NetworkUnavailable reason = %q, want NoRouteCreated", c.Reason)
	}

	// The control plane assigns the pod CIDR: the node turns Ready soon,
	// well before the next heartbeat.
	n := node.DeepCopy()
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.42.1.0/24", []string{"10.42.1.0/24"}
	if err := e.c.Update(ctx(t), nodesR, n); err != nil {
		t.Fatal(err)
	}
	e.eventually("the node to be Ready with its pod CIDR", 100*time.Millisecond, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		if err != nil {
			return false
		}
		node = obj.(*corev1.Node)
		return conditionOf(node, corev1.NodeReady).Status == corev1.ConditionTrue
	})
	if c := conditionOf(node, corev1.NodeReady); c.Reason != "KubeletReady" {
		t.Errorf("Ready reason = %q, want KubeletReady", c.Reason)
	}
	if c := conditionOf(node, corev1.NodeNetworkUnavailable); c.Status != corev1.ConditionFalse || c.Reason != "RouteCreated" {
		t.Errorf("NetworkUnavailable = %s %s, want False RouteCreated", c.Status, c.Reason)
	}
	lease := func() *coordinationv1.Lease {
		obj, err := e.c.Get(ctx(t), leasesR, nodeagent.LeaseNamespace, "n1")
		if err != nil {
			return nil
		}
		return obj.(*coordinationv1.Lease)
	}
	var l *coordinationv1.Lease
	e.eventually("the lease", 0, func() bool { l = lease(); return l != nil })
	if *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 || l.Spec.RenewTime == nil {
		t.Fatalf("lease = %+v", l)
	}
	first := l.Spec.RenewTime.Time
	e.eventually("the lease to be renewed", 10*time.Second, func() bool {
		l := lease()
		return l != nil && l.Spec.RenewTime.After(first)
	})

	// The control plane marks the node Unknown: the agent puts it back.
	obj, _ := e.c.Get(ctx(t), nodesR, "", "n1")
	n = obj.(*corev1.Node)
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = corev1.ConditionUnknown
		}
	}
	if err := e.c.UpdateStatus(ctx(t), nodesR, n); err != nil {
		t.Fatal(err)
	}
	e.eventually("the node to be Ready again", 10*time.Second, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		if err != nil {
			return false
		}
		n := obj.(*corev1.Node)
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue && n.Spec.PodCIDR == "10.42.1.0/24"
			}
		}
		return false
	})
}

func TestPodRunsAndIsReady(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.createPod("web", corev1.RestartPolicyAlways)
	var p *corev1.Pod
	e.eventually("the pod to be Running and Ready", 0, func() bool {
		p = e.pod("web")
		return runningReady(p)
	})
	if p.Status.PodIP == "" || len(p.Status.PodIPs) != 1 || p.Status.HostIP != "192.168.1.10" || p.Status.StartTime == nil {
		t.Errorf("status IPs/start = %q %v %q %v", p.Status.PodIP, p.Status.PodIPs, p.Status.HostIP, p.Status.StartTime)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if condition(p, ct) != corev1.ConditionTrue {
			t.Errorf("condition %s = %q, want True", ct, condition(p, ct))
		}
	}
	if len(p.Status.ContainerStatuses) != 2 {
		t.Fatalf("containerStatuses = %+v", p.Status.ContainerStatuses)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 ||
			cs.ContainerID == "" || cs.ImageID == "" {
			t.Errorf("container %s status = %+v", cs.Name, cs)
		}
	}
	// Nothing changes: a sync computes the same status and writes nothing.
	// The write that made the pod Ready is seen in the API before the agent
	// counts it: wait until it has no write pending, which comes after the
	// count, to start from a settled count.
	uid := string(p.UID)
	e.eventually("the status writes to settle", 0, func() bool { return !nodeagent.StatusPending(e.agent, uid) })
	rv := e.pod("web").ResourceVersion
	writes, syncs := nodeagent.StatusWrites(e.agent), nodeagent.PodSyncs(e.agent, uid)
	e.clk.Step(3 * time.Second)
	e.agent.Resync(uid)
	e.eventually("another sync of the pod", 0, func() bool { return nodeagent.PodSyncs(e.agent, uid) > syncs })
	if nodeagent.StatusPending(e.agent, uid) { // checked before the count: a pending write is counted once written
		t.Error("the sync queued a status write without a change")
	}
	if got := nodeagent.StatusWrites(e.agent); got != writes {
		t.Errorf("status writes %d -> %d without a change", writes, got)
	}
	if got := e.pod("web"); got.ResourceVersion != rv {
		t.Errorf("status rewritten without a change: rv %s -> %s", rv, got.ResourceVersion)
	}
}

func appStatus(p *corev1.Pod) corev1.ContainerStatus {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "app" {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

func TestCrashLoopBackOff(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.createPod("crash", corev1.RestartPolicyAlways,
		corev1.EnvVar{Name: runtimetest.EnvExitAfter, Value: "1s"}, corev1.EnvVar{Name: runtimetest.EnvExitCode, Value: "1"})
	// First exit: restarted at once.
	e.eventually("the first restart", time.Second, func() bool {
		p := e.pod("crash")
		return p != nil && appStatus(p).RestartCount == 1
	})
	// Second exit: CrashLoopBackOff for 10s.
	var p *corev1.Pod
	e.eventually("CrashLoopBackOff", time.Second, func() bool {
		p = e.pod("crash")
		w := appStatus(p).State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	cs := appStatus(p)
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 ||
		cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Errorf("in back-off: %+v", cs)
	}
	if p.Status.Phase != corev1.PodRunning || condition(p, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("phase %s ready %s, want Running and not Ready", p.Status.Phase, condition(p, corev1.PodReady))
	}
	// The back-off is read from the containers' own timestamps (the fake
	// runtime's, on the fake clock): when a container started minus when
	// the one before it exited. Each back-off shows the container that just
	// exited as the last termination. (Timing from when the test saw a
	// status would count how late the status write was seen.)
	exited := func(restarts int32) *corev1.ContainerStateTerminated {
		var cs corev1.ContainerStatus
		e.eventually(fmt.Sprintf("the back-off after %d restarts", restarts), time.Second, func() bool {
			cs = appStatus(e.pod("crash"))
			w := cs.State.Waiting
			return cs.RestartCount == restarts && w != nil && w.Reason == "CrashLoopBackOff" && cs.LastTerminationState.Terminated != nil
		})
		return cs.LastTerminationState.Terminated
	}
	prev := exited(1)
	for _, step := range []struct {
		restarts int32
		backoff  time.Duration
	}{{2, 10 * time.Second}, {3, 20 * time.Second}} {
		next := exited(step.restarts)
		d := next.StartedAt.Sub(prev.FinishedAt.Time)
		t.Logf("restart %d: %v after the exit before it", step.restarts, d)
		if d < step.backoff {
			t.Errorf("restart %d came %v after the container before it exited, want the %v back-off", step.restarts, d, step.backoff)
		}
		prev = next
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		code   string
		phase  corev1.PodPhase
		reason string
	}{
		{"OnFailure exit 0", corev1.RestartPolicyOnFailure, "0", corev1.PodSucceeded, "Completed"},
		{"Never exit 2", corev1.RestartPolicyNever, "2", corev1.PodFailed, "Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.start()
			// Both containers end: "side" through the image's behaviour is
			// not configured, so give the pod one container only.
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "job"},
				Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: tc.policy, Containers: []corev1.Container{{
					Name: "app", Image: "bosun.local/hello:v1", Env: []corev1.EnvVar{
						{Name: runtimetest.EnvExitAfter, Value: "1s"}, {Name: runtimetest.EnvExitCode, Value: tc.code}}}}},
			}
			if err := e.st.Create(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			var got *corev1.Pod
			e.eventually("the pod to end", time.Second, func() bool {
				got = e.pod("job")
				return got != nil && got.Status.Phase == tc.phase
			})
			cs := appStatus(got)
			if cs.State.Terminated == nil || cs.State.Terminated.Reason != tc.reason || cs.RestartCount != 0 {
				t.Errorf("container status = %+v", cs)
			}
			if condition(got, corev1.PodReady) != corev1.ConditionFalse {
				t.Errorf("Ready = %s, want False", condition(got, corev1.PodReady))
			}
			e.eventually("the sandbox to stop", time.Second, func() bool {
				sbs, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: string(got.UID), State: runtime.SandboxReady})
				return len(sbs) == 0
			})
		})
	}
}

func TestPodDeletedIsCleanedUp(t *testing.T) {
	e := newEnv(t)
	e.start()
	p := e.createPod("web", corev1.RestartPolicyAlways)
	e.eventually("the pod to run", 0, func() bool { return runningReady(e.pod("web")) })
	if err := e.st.Delete(ctx(t), podsR, "default", "web", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("the runtime to be empty", 0, func() bool {
		sbs, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: string(p.UID)})
		cs, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: string(p.UID)})
		return len(sbs) == 0 && len(cs) == 0
	})
}

func TestRestartAdoptsAndRemovesOrphans(t *testing.T) {
	e := newEnv(t)
	stop := e.start()
	keep := e.createPod("keep", corev1.RestartPolicyAlways)
	drop := e.createPod("drop", corev1.RestartPolicyAlways)
	e.eventually("both pods to run", 0, func() bool { return runningReady(e.pod("keep")) && runningReady(e.pod("drop")) })
	before, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: string(keep.UID)})
	starts := e.rt.Calls()["StartContainer"]
	stop()

	// While the agent is down: a pod is deleted, and a crash left an
	// orphan sandbox of a pod the API never knew.
	if err := e.st.Delete(ctx(t), podsR, "default", "drop", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.RunPodSandbox(ctx(t), runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "ghost", Namespace: "default", UID: "ghost-uid"}, PodCIDR: e.podCIDR}); err != nil {
		t.Fatal(err)
	}

	e.start()
	e.eventually("the orphans to be removed", time.Second, func() bool {
		a, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: string(drop.UID)})
		b, _ := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{PodUID: "ghost-uid"})
		return len(a) == 0 && len(b) == 0
	})
	after, _ := e.rt.ListContainers(ctx(t), runtime.ContainerFilter{PodUID: string(keep.UID)})
	if len(after) != len(before) {
		t.Fatalf("containers of the kept pod: %d before, %d after", len(before), len(after))
	}
	for i := range before {
		if before[i].ID != after[i].ID || after[i].State != runtime.ContainerRunning {
			t.Errorf("container %s: %s -> %s (%s), want adopted as is", before[i].Metadata.Name, before[i].ID, after[i].ID, after[i].State)
		}
	}
	if got := e.rt.Calls()["StartContainer"]; got != starts {
		t.Errorf("StartContainer calls %d -> %d: the restarted agent started containers", starts, got)
	}
	p := e.pod("keep")
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount != 0 {
			t.Errorf("restartCount of %s = %d, want 0", cs.Name, cs.RestartCount)
		}
	}
}

func TestImagePullError(t *testing.T) {
	e := newEnv(t)
	e.rt = runtimetest.New(runtimetest.Config{Clock: e.clk, Images: map[string]runtimetest.Behavior{
		"bosun.local/side:v1": {PullError: "manifest unknown"}}})
	e.start()
	e.createPod("web", corev1.RestartPolicyAlways)
	// ErrImagePull right after the failed pull, ImagePullBackOff while the
	// back-off lasts (the two follow each other within milliseconds).
	e.eventually("an image pull error", 0, func() bool {
		p := e.pod("web")
		if p == nil {
			return false
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; cs.Name == "side" && w != nil &&
				(w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") && strings.Contains(w.Message, "manifest unknown") {
				return p.Status.Phase == corev1.PodPending
			}
		}
		return false
	})
	pulls := e.rt.Calls()["PullImage"]
	e.eventually("the pull to be retried after the back-off", time.Second, func() bool {
		return e.rt.Calls()["PullImage"] > pulls
	})
}

// netReadiness is a NetworkReadiness the test switches.
type netReadiness struct {
	err   atomic.Pointer[error]
	calls atomic.Int64
}

func (n *netReadiness) NetworkReady() error {
	n.calls.Add(1)
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// TestNetworkReadiness checks that a node with its pod CIDR stays NotReady
// with NetworkUnavailable until its Network says the routes are programmed.
func TestNetworkReadiness(t *testing.T) {
	e := newEnv(t)
	nr := &netReadiness{}
	notReady := errors.New("routes: not ready: the routes for the current Node list are not programmed yet")
	nr.err.Store(&notReady)
	e.startWith(func(c *nodeagent.Config) { c.Network = nr })
	node := func() *corev1.Node {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		if err != nil {
			return nil
		}
		return obj.(*corev1.Node)
	}
	e.eventually("the node to report its network", 0, func() bool {
		n := node()
		return n != nil && conditionOf(n, corev1.NodeNetworkUnavailable).Status == corev1.ConditionTrue
	})
	n := node()
	if c := conditionOf(n, corev1.NodeReady); c.Status != corev1.ConditionFalse ||
		c.Message != "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:"+notReady.Error() {
		t.Errorf("Ready = %s %q", c.Status, c.Message)
	}
	if c := conditionOf(n, corev1.NodeNetworkUnavailable); c.Reason != "NoRouteCreated" || !strings.Contains(c.Message, notReady.Error()) {
		t.Errorf("NetworkUnavailable = %s %q", c.Reason, c.Message)
	}
	nr.err.Store(nil)
	e.eventually("the node to turn Ready", 100*time.Millisecond, func() bool {
		n := node()
		return n != nil && conditionOf(n, corev1.NodeReady).Status == corev1.ConditionTrue &&
			conditionOf(n, corev1.NodeNetworkUnavailable).Status == corev1.ConditionFalse
	})
}

// onceNotReady is a NetworkReadiness that is not ready the first time it is
// asked and ready ever after: the network becomes ready right after the
// agent computed (and wrote) a NotReady status.
type onceNotReady struct{ calls atomic.Int32 }

func (n *onceNotReady) NetworkReady() error {
	if n.calls.Add(1) == 1 {
		return errors.New("routes: not ready yet")
	}
	return nil
}

// TestNetworkReadyRightAfterReport checks that a network that becomes ready
// just after a NotReady status was written is reported Ready by the next
// poll, not by the next heartbeat (here an hour away): the agent keeps
// polling until the Node it wrote says Ready.
func TestNetworkReadyRightAfterReport(t *testing.T) {
	e := newEnv(t)
	start := e.clk.Now()
	e.startWith(func(c *nodeagent.Config) {
		c.Network = &onceNotReady{}
		c.HeartbeatInterval = time.Hour
		c.StatusReportInterval = time.Hour
	})
	e.eventually("the node to turn Ready before the next heartbeat", 100*time.Millisecond, func() bool {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		return err == nil && conditionOf(obj.(*corev1.Node), corev1.NodeReady).Status == corev1.ConditionTrue
	})
	if now := e.clk.Since(start); now >= time.Hour {
		t.Fatalf("test bug: the fake clock reached the heartbeat (%v)", now)
	}
}

// TestNetworkReadyReportedAtOnce checks that a node whose routes become
// ready after it registered NotReady (as after a restart) writes Ready
// within NetworkCheck, not at the next NetworkPoll or heartbeat (both an
// hour away here), and that a Ready node checks no more.
func TestNetworkReadyReportedAtOnce(t *testing.T) {
	e := newEnv(t)
	nr := &netReadiness{}
	notReady := errors.New("routes: not ready: the Node list has not been read yet")
	nr.err.Store(&notReady)
	e.startWith(func(c *nodeagent.Config) {
		c.Network = nr
		c.NetworkPoll = time.Hour
		c.HeartbeatInterval = time.Hour
		c.StatusReportInterval = time.Hour
	})
	ready := func() corev1.ConditionStatus {
		obj, err := e.c.Get(ctx(t), nodesR, "", "n1")
		if err != nil {
			return ""
		}
		return conditionOf(obj.(*corev1.Node), corev1.NodeReady).Status
	}
	e.eventually("the node to register NotReady", 0, func() bool { return ready() == corev1.ConditionFalse })
	start := e.clk.Now()
	nr.err.Store(nil)
	e.eventually("the node to turn Ready", nodeagent.DefaultNetworkCheck, func() bool { return ready() == corev1.ConditionTrue })
	if took := e.clk.Since(start); took >= time.Minute {
		t.Fatalf("Ready written %v (fake time) after the network turned ready, want within a few NetworkChecks", took)
	}
	calls := nr.calls.Load()
	for range 5 {
		e.clk.Step(nodeagent.DefaultNetworkCheck)
	}
	time.Sleep(20 * time.Millisecond) // let a wrongly armed check run
	if got := nr.calls.Load(); got != calls {
		t.Errorf("a Ready node asked its network %d more times in 5 NetworkChecks, want none", got-calls)
	}
}

// TestPodsAfterHoldsPodSyncs checks that no pod is synced before
// Config.PodsAfter is closed while the node registers meanwhile, and that
// a pod bound in between runs once it is closed.
func TestPodsAfterHoldsPodSyncs(t *testing.T) {
	e := newEnv(t)
	gate := make(chan struct{})
	e.startWith(func(c *nodeagent.Config) { c.PodsAfter = gate })
	e.eventually("the node to register", 0, func() bool {
		_, err := e.c.Get(ctx(t), nodesR, "", "n1")
		return err == nil
	})
	p := e.createPod("web", corev1.RestartPolicyAlways)
	e.eventually("the agent to know the pod", 0, func() bool { _, ok := e.agent.LookupPod("default", "web"); return ok })
	time.Sleep(50 * time.Millisecond) // a sync, if one were allowed, would start now
	if n := nodeagent.PodSyncs(e.agent, string(p.UID)); n != 0 {
		t.Fatalf("%d syncs of the pod before PodsAfter was closed, want 0", n)
	}
	close(gate)
	e.eventually("the pod to be Running and Ready", 0, func() bool { return runningReady(e.pod("web")) })
}
