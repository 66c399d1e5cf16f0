package disruption

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// env is a controller on a real embedded etcd with started informers; tests
// call Reconcile directly unless they start Run.
type env struct {
	t   *testing.T
	s   *store.Store
	c   *Controller
	clk *testingclock.FakeClock
	ctx context.Context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	clk := testingclock.NewFakeClock(t0)
	c := New(Config{Writer: s, Informers: inf, Logger: storetest.Logger(t), Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, s: s, c: c, clk: clk, ctx: ctx}
}

// create writes obj and waits until the controller's caches hold it.
func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, obj); err != nil {
		e.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
	r, err := api.ResourceOf(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	inf := map[string]*cache.Informer{"pods": e.c.pods, "replicasets": e.c.replicaSets, "deployments": e.c.deployments,
		"replicationcontrollers": e.c.rcs, "poddisruptionbudgets": e.c.pdbs}[r.Name]
	if inf == nil {
		return // not a kind the controller watches
	}
	// At its version or later: a running controller may have written its
	// status meanwhile.
	testutil.EventuallyTrue(e.t, 10*time.Second, "cache has "+obj.GetName(), func() bool {
		o, ok := inf.Get(obj.GetNamespace(), obj.GetName())
		return ok && !api.NewerResourceVersion(obj.GetResourceVersion(), o.GetResourceVersion())
	})
}

func (e *env) budget(name string) *policyv1.PodDisruptionBudget {
	e.t.Helper()
	p := &policyv1.PodDisruptionBudget{}
	if err := e.s.Get(e.ctx, "default", name, p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func controllerRef(kind string, owner metav1.Object) []metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "ReplicationController" || kind == "Node" {
		apiVersion = "v1"
	}
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
}

func pod(name string, ready bool, owners []metav1.OwnerReference) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}, OwnerReferences: owners},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func budget(min, maxU *intstr.IntOrString, sel *metav1.LabelSelector) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: min, MaxUnavailable: maxU, Selector: sel},
	}
}

var webSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

func intOr(i int) *intstr.IntOrString      { return ptr.To(intstr.FromInt32(int32(i))) }
func percent(s string) *intstr.IntOrString { return ptr.To(intstr.FromString(s)) }

// figures are the numbers of a status that a test checks.
type figures struct {
	Expected, Desired, Healthy, Allowed int32
	Reason                              string // of the DisruptionAllowed condition
	Disrupted                           []string
}

func figuresOf(p *policyv1.PodDisruptionBudget) figures {
	f := figures{Expected: p.Status.ExpectedPods, Desired: p.Status.DesiredHealthy,
		Healthy: p.Status.CurrentHealthy, Allowed: p.Status.DisruptionsAllowed}
	if c := apimeta.FindStatusCondition(p.Status.Conditions, policyv1.DisruptionAllowedCondition); c != nil {
		f.Reason = c.Reason
	}
	for n := range p.Status.DisruptedPods {
		f.Disrupted = append(f.Disrupted, n)
	}
	return f
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name string
		// setup creates the pods and controllers and returns the budget.
		setup       func(e *env) *policyv1.PodDisruptionBudget
		want        figures
		wantRequeue time.Duration
		wantErr     bool
	}{
		{"integer minAvailable counts the selected pods", func(e *env) *policyv1.PodDisruptionBudget {
			for _, n := range []string{"a", "b", "c"} {
				e.create(pod(n, true, nil))
			}
			return budget(intOr(2), nil, webSelector)
		}, figures{Expected: 3, Desired: 2, Healthy: 3, Allowed: 1, Reason: policyv1.SufficientPodsReason}, 0, false},
		{"an unready pod is not healthy", func(e *env) *policyv1.PodDisruptionBudget {
			e.create(pod("a", true, nil))
			e.create(pod("b", true, nil))
			e.create(pod("c", false, nil))
			return budget(intOr(2), nil, webSelector)
		}, figures{Expected: 3, Desired: 2, Healthy: 2, Allowed: 0, Reason: policyv1.InsufficientPodsReason}, 0, false},
		{"maxUnavailable counts a Deployment's replicas", func(e *env) *policyv1.PodDisruptionBudget {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4), Selector: webSelector}}
			e.create(d)
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", OwnerReferences: controllerRef("Deployment", d)},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: webSelector}}
			e.create(rs)
			for _, n := range []string{"a", "b", "c"} {
				e.create(pod(n, true, controllerRef("ReplicaSet", rs)))
			}
			return budget(nil, intOr(1), webSelector)
		}, figures{Expected: 4, Desired: 3, Healthy: 3, Allowed: 0, Reason: policyv1.InsufficientPodsReason}, 0, false},
		{"percent maxUnavailable of a ReplicationController rounds up", func(e *env) *policyv1.PodDisruptionBudget {
			rc := &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: map[string]string{"app": "web"}}}
			e.create(rc)
			for _, n := range []string{"a", "b", "c"} {
				e.create(pod(n, true, controllerRef("ReplicationController", rc)))
			}
			return budget(nil, percent("50%"), webSelector)
		}, figures{Expected: 3, Desired: 1, Healthy: 3, Allowed: 2, Reason: policyv1.SufficientPodsReason}, 0, false},
		{"percent minAvailable of a ReplicaSet rounds up", func(e *env) *policyv1.PodDisruptionBudget {
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: webSelector}}
			e.create(rs)
			for _, n := range []string{"a", "b", "c"} {
				e.create(pod(n, true, controllerRef("ReplicaSet", rs)))
			}
			return budget(percent("50%"), nil, webSelector)
		}, figures{Expected: 3, Desired: 2, Healthy: 3, Allowed: 1, Reason: policyv1.SufficientPodsReason}, 0, false},
		{"pods without a controller are no expected pods", func(e *env) *policyv1.PodDisruptionBudget {
			e.create(pod("a", true, nil))
			e.create(pod("b", true, nil))
			return budget(nil, intOr(1), webSelector)
		}, figures{Expected: 0, Desired: 0, Healthy: 2, Allowed: 0, Reason: policyv1.InsufficientPodsReason}, 0, false},
		{"a controller of another kind fails safe", func(e *env) *policyv1.PodDisruptionBudget {
			e.create(pod("a", true, controllerRef("Node", &metav1.ObjectMeta{Name: "node-1", UID: "n1"})))
			return budget(nil, intOr(1), webSelector)
		}, figures{Reason: policyv1.SyncFailedReason}, 0, true},
		{"no selector selects nothing", func(e *env) *policyv1.PodDisruptionBudget {
			e.create(pod("a", true, nil))
			return budget(intOr(1), nil, nil)
		}, figures{Expected: 0, Desired: 1, Healthy: 0, Allowed: 0, Reason: policyv1.InsufficientPodsReason}, 0, false},
		{"an empty selector selects the namespace", func(e *env) *policyv1.PodDisruptionBudget {
			e.create(pod("a", true, nil))
			p := pod("b", true, nil)
			p.Labels = map[string]string{"app": "other"}
			e.create(p)
			e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
			o := pod("c", true, nil)
			o.Namespace = "shop"
			e.create(o)
			return budget(intOr(1), nil, &metav1.LabelSelector{})
		}, figures{Expected: 2, Desired: 1, Healthy: 2, Allowed: 1, Reason: policyv1.SufficientPodsReason}, 0, false},
		{"disrupted pods are not healthy until they expire", func(e *env) *policyv1.PodDisruptionBudget {
			for _, n := range []string{"a", "b", "c", "d"} {
				e.create(pod(n, true, nil))
			}
			b := budget(intOr(2), nil, webSelector)
			b.Status.DisruptedPods = map[string]metav1.Time{
				"a":    metav1.NewTime(t0.Add(-time.Minute)),     // still being deleted
				"b":    metav1.NewTime(t0.Add(-3 * time.Minute)), // never deleted: counts again
				"gone": metav1.NewTime(t0.Add(-time.Minute)),     // deleted
			}
			return b
		}, figures{Expected: 4, Desired: 2, Healthy: 3, Allowed: 1, Reason: policyv1.SufficientPodsReason, Disrupted: []string{"a"}}, time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			b := tt.setup(e)
			e.create(b)
			res, err := e.c.Reconcile(e.ctx, "default/web")
			if (err != nil) != tt.wantErr {
				t.Fatalf("Reconcile: err %v, want error %v", err, tt.wantErr)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("RequeueAfter = %v, want %v", res.RequeueAfter, tt.wantRequeue)
			}
			got := e.budget("web")
			if diff := cmp.Diff(tt.want, figuresOf(got)); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if !tt.wantErr && got.Status.ObservedGeneration != got.Generation {
				t.Errorf("observedGeneration %d, generation %d", got.Status.ObservedGeneration, got.Generation)
			}
			// A second pass over unchanged state writes nothing.
			before := got.ResourceVersion
			testutil.EventuallyTrue(t, 10*time.Second, "cache has the status", func() bool {
				o, ok := e.c.pdbs.Get("default", "web")
				return ok && o.GetResourceVersion() == before
			})
			if _, err := e.c.Reconcile(e.ctx, "default/web"); (err != nil) != tt.wantErr {
				t.Fatal(err)
			}
			if after := e.budget("web").ResourceVersion; after != before {
				t.Errorf("a second pass rewrote the status (%s -> %s)", before, after)
			}
		})
	}
}

// TestRun: the running controller follows pods becoming ready and going away.
func TestRun(t *testing.T) {
	e := newEnv(t)
	testutil.Start(t, e.c.Run)
	for _, n := range []string{"a", "b"} {
		e.create(pod(n, n == "a", nil))
	}
	e.create(budget(intOr(1), nil, webSelector))
	wait := func(what string, want figures) {
		t.Helper()
		testutil.EventuallyNoDiff(t, 10*time.Second, what, func() string { return cmp.Diff(want, figuresOf(e.budget("web"))) })
	}
	wait("one ready pod of a minimum of one", figures{Expected: 2, Desired: 1, Healthy: 1, Allowed: 0, Reason: policyv1.InsufficientPodsReason})
	storetest.Modify(t, e.s, "default", "b", &corev1.Pod{}, func(p *corev1.Pod) {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	})
	wait("b became ready", figures{Expected: 2, Desired: 1, Healthy: 2, Allowed: 1, Reason: policyv1.SufficientPodsReason})
	pods := storetest.Resource(t, "pods")
	if err := e.s.Delete(e.ctx, pods, "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	wait("a deleted", figures{Expected: 1, Desired: 1, Healthy: 1, Allowed: 0, Reason: policyv1.InsufficientPodsReason})
}
