package hpa

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
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

// env is one test's world: real embedded etcd, running informers, fake
// metrics, a fake clock, and a controller whose Reconcile the test calls.
type env struct {
	t   *testing.T
	ctx context.Context
	s   *store.Store
	inf *cache.Informers
	c   *Controller
	clk *clocktesting.FakeClock
	m   *fakeMetrics
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	s := storetest.StartAt(t, clk.Now)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	inf := cache.NewInformers(s, storetest.Logger(t))
	m := newFakeMetrics(clk.Now)
	c := New(Config{Writer: s, Getter: s, Informers: inf, Metrics: m, Clock: clk, Logger: storetest.Logger(t),
		Recorder: eventstest.Recorder(t, s, "horizontal-pod-autoscaler")})
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, s: s, inf: inf, c: c, clk: clk, m: m}
}

func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, obj); err != nil {
		e.t.Fatal(err)
	}
}

// settle waits until the HPA and pod caches hold what the store holds.
func (e *env) settle() {
	e.t.Helper()
	for _, name := range []string{"horizontalpodautoscalers", "pods"} {
		r, _ := api.Lookup(name)
		inf := e.inf.For(r)
		testutil.Eventually(e.t, 10*time.Second, "the "+name+" cache to catch up", func() (bool, string) {
			objs, _, err := e.s.List(e.ctx, r, "", store.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			for _, o := range objs {
				c, ok := inf.Get(o.GetNamespace(), o.GetName())
				if !ok || c.GetResourceVersion() != o.GetResourceVersion() {
					return false, o.GetName() + " not cached yet"
				}
			}
			return len(inf.List("", nil)) == len(objs), fmt.Sprintf("%d stored", len(objs))
		})
	}
}

// reconcile evaluates default/web once.
func (e *env) reconcile() {
	e.t.Helper()
	e.settle()
	res, err := e.c.Reconcile(e.ctx, "default/web")
	if err != nil {
		e.t.Fatal(err)
	}
	if res.RequeueAfter != DefaultSyncPeriod {
		e.t.Fatalf("RequeueAfter = %v, want the sync period", res.RequeueAfter)
	}
}

func (e *env) replicas() int32 {
	e.t.Helper()
	var d appsv1.Deployment
	if err := e.s.Get(e.ctx, "default", "web", &d); err != nil {
		e.t.Fatal(err)
	}
	return *d.Spec.Replicas
}

func (e *env) hpa() *autoscalingv2.HorizontalPodAutoscaler {
	e.t.Helper()
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := e.s.Get(e.ctx, "default", "web", &h); err != nil {
		e.t.Fatal(err)
	}
	return &h
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) autoscalingv2.HorizontalPodAutoscalerCondition {
	for _, c := range h.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return autoscalingv2.HorizontalPodAutoscalerCondition{}
}

// events waits for at least n Events of reason about the HPA and returns them.
func (e *env) events(reason string, n int) []*corev1.Event {
	e.t.Helper()
	var evs []*corev1.Event
	testutil.Eventually(e.t, 10*time.Second, fmt.Sprintf("%d %s Event(s)", n, reason), func() (bool, string) {
		evs = eventstest.Find(e.t, e.s, "default", "web", reason)
		return len(evs) >= n, fmt.Sprintf("%d found", len(evs))
	})
	return evs
}

// world creates Deployment web with replicas, as many Running pods
// requesting 200m cpu each, and HPA web targeting 50% cpu (1..10 replicas).
func (e *env) world(replicas int32, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) {
	e.t.Helper()
	e.create(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: appLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
			},
		},
	})
	for i := range replicas {
		e.create(testPod(fmt.Sprintf("web-%d", i), 200))
	}
	e.create(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)},
			}}},
			Behavior: behavior,
		},
	})
}

// load sets every pod's cpu usage.
func (e *env) load(pods int, milli int64) {
	for i := range pods {
		e.m.set(fmt.Sprintf("web-%d", i), appLabels, milli)
	}
}

func TestScalesUpAtOnceAndDownAfterTheWindow(t *testing.T) {
	e := newEnv(t)
	e.world(2, nil)
	e.load(2, 180) // 90% of 200m against 50%: ceil(2 * 1.8) = 4
	e.reconcile()
	if got := e.replicas(); got != 4 {
		t.Fatalf("replicas after the load = %d, want 4", got)
	}
	h := e.hpa()
	if h.Status.CurrentReplicas != 2 || h.Status.DesiredReplicas != 4 || h.Status.LastScaleTime == nil {
		t.Errorf("status = current %d, desired %d, lastScaleTime %v; want 2, 4, set", h.Status.CurrentReplicas, h.Status.DesiredReplicas, h.Status.LastScaleTime)
	}
	if len(h.Status.CurrentMetrics) != 1 || *h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization != 90 {
		t.Errorf("currentMetrics = %+v, want cpu at 90%%", h.Status.CurrentMetrics)
	}
	if c := condition(h, autoscalingv2.AbleToScale); c.Status != corev1.ConditionTrue || c.Reason != ReasonSucceededRescale {
		t.Errorf("AbleToScale = %s %s, want True %s", c.Status, c.Reason, ReasonSucceededRescale)
	}
	if c := condition(h, autoscalingv2.ScalingActive); c.Status != corev1.ConditionTrue || c.Reason != ReasonValidMetricFound {
		t.Errorf("ScalingActive = %s %s, want True %s", c.Status, c.Reason, ReasonValidMetricFound)
	}
	ev := e.events(ReasonSuccessfulRescale, 1)[0]
	if want := "New size: 4; reason: cpu resource utilization (percentage of request) above target"; ev.Message != want {
		t.Errorf("Event message %q, want %q", ev.Message, want)
	}

	e.load(2, 20) // 10%: ceil(2 * 0.2) = 1, held by the 5-minute scale-down window
	e.clk.Step(DefaultSyncPeriod)
	e.reconcile()
	if got := e.replicas(); got != 4 {
		t.Fatalf("replicas right after the load fell = %d, want 4 (stabilized)", got)
	}
	if c := condition(e.hpa(), autoscalingv2.AbleToScale); c.Reason != ReasonScaleDownStabilized {
		t.Errorf("AbleToScale reason %s, want %s", c.Reason, ReasonScaleDownStabilized)
	}
	e.clk.Step(DefaultDownscaleStabilization)
	e.reconcile()
	if got := e.replicas(); got != 1 {
		t.Fatalf("replicas after the window = %d, want 1", got)
	}
	ev = e.events(ReasonSuccessfulRescale, 2)[1]
	if want := "New size: 1; reason: All metrics below target"; ev.Message != want {
		t.Errorf("Event message %q, want %q", ev.Message, want)
	}
}

func TestBehaviorPoliciesLimitTheScaleUp(t *testing.T) {
	e := newEnv(t)
	e.world(2, &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: rules(0, autoscalingv2.MaxChangePolicySelect, podsPolicy(1, 60)),
	})
	e.load(2, 200) // 100% against 50%: 4 wanted, 1 pod per minute allowed
	e.reconcile()
	if got := e.replicas(); got != 3 {
		t.Fatalf("replicas = %d, want 3 (one pod per minute)", got)
	}
	if c := condition(e.hpa(), autoscalingv2.ScalingLimited); c.Status != corev1.ConditionTrue || c.Reason != ReasonScaleUpLimit {
		t.Errorf("ScalingLimited = %s %s, want True %s", c.Status, c.Reason, ReasonScaleUpLimit)
	}
	e.clk.Step(DefaultSyncPeriod)
	e.reconcile()
	if got := e.replicas(); got != 3 {
		t.Fatalf("replicas 15 s later = %d, want 3 (the minute is not over)", got)
	}
	e.clk.Step(time.Minute)
	e.reconcile()
	if got := e.replicas(); got != 4 {
		t.Fatalf("replicas a minute later = %d, want 4", got)
	}
}

func TestMinAndMaxReplicas(t *testing.T) {
	e := newEnv(t)
	e.world(2, &autoscalingv2.HorizontalPodAutoscalerBehavior{}) // Kubernetes' default policies
	e.load(2, 2000)                                              // 1000%: 40 wanted
	e.reconcile()
	if got := e.replicas(); got != 6 {
		t.Fatalf("replicas = %d, want 6 (+4 pods in 15 s)", got)
	}
	e.clk.Step(DefaultSyncPeriod + time.Second)
	e.reconcile()
	if got := e.replicas(); got != 10 {
		t.Fatalf("replicas = %d, want maxReplicas 10", got)
	}
	if c := condition(e.hpa(), autoscalingv2.ScalingLimited); c.Status != corev1.ConditionTrue || c.Reason != ReasonTooManyReplicas {
		t.Errorf("ScalingLimited = %s %s, want True %s", c.Status, c.Reason, ReasonTooManyReplicas)
	}
}

func TestMissingMetricsKeepTheSize(t *testing.T) {
	e := newEnv(t)
	e.world(3, nil)
	e.reconcile() // no metrics at all
	if got := e.replicas(); got != 3 {
		t.Fatalf("replicas = %d, want 3 unchanged", got)
	}
	h := e.hpa()
	c := condition(h, autoscalingv2.ScalingActive)
	if c.Status != corev1.ConditionFalse || c.Reason != ReasonFailedGetResourceMetric ||
		!strings.Contains(c.Message, "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API") {
		t.Errorf("ScalingActive = %s %s %q", c.Status, c.Reason, c.Message)
	}
	if h.Status.CurrentReplicas != 3 {
		t.Errorf("status.currentReplicas = %d, want 3", h.Status.CurrentReplicas)
	}
	ev := e.events(ReasonFailedGetResourceMetric, 1)[0]
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "no metrics returned from resource metrics API") {
		t.Errorf("Event %s %q", ev.Type, ev.Message)
	}
}

func TestTargetAtZeroIsNotScaled(t *testing.T) {
	e := newEnv(t)
	e.world(0, nil)
	e.reconcile()
	if got := e.replicas(); got != 0 {
		t.Fatalf("replicas = %d, want 0", got)
	}
	if c := condition(e.hpa(), autoscalingv2.ScalingActive); c.Status != corev1.ConditionFalse || c.Reason != ReasonScalingDisabled {
		t.Errorf("ScalingActive = %s %s, want False %s", c.Status, c.Reason, ReasonScalingDisabled)
	}
}

func TestMissingTarget(t *testing.T) {
	e := newEnv(t)
	e.create(&autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"},
			MaxReplicas:    3,
		},
	})
	e.reconcile()
	if c := condition(e.hpa(), autoscalingv2.AbleToScale); c.Status != corev1.ConditionFalse || c.Reason != ReasonFailedGetScale {
		t.Errorf("AbleToScale = %s %s, want False %s", c.Status, c.Reason, ReasonFailedGetScale)
	}
	e.events(ReasonFailedGetScale, 1)
}

// addMemoryMetric adds a memory Utilization metric (80%) to HPA web.
func (e *env) addMemoryMetric() {
	e.t.Helper()
	h := e.hpa()
	h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
		Name:   corev1.ResourceMemory,
		Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)},
	}})
	if err := e.s.Update(e.ctx, h); err != nil {
		e.t.Fatal(err)
	}
}

func TestSeveralMetrics(t *testing.T) {
	tests := []struct {
		name       string
		cpu        int64 // millicores per pod (request 200m)
		memory     int64 // bytes per pod (request 100Mi); 0: no memory metrics
		want       int32
		wantActive corev1.ConditionStatus
		wantReason string
	}{
		{name: "the larger proposal wins", cpu: 120, memory: 160 << 20, want: 4, // cpu 60%: 3; memory 160%: 4
			wantActive: corev1.ConditionTrue, wantReason: ReasonValidMetricFound},
		{name: "one metric missing, the other scales up: scale up", cpu: 180, want: 4,
			wantActive: corev1.ConditionTrue, wantReason: ReasonValidMetricFound},
		{name: "one metric missing, the other scales down: nothing", cpu: 20, want: 2,
			wantActive: corev1.ConditionFalse, wantReason: ReasonFailedGetResourceMetric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.world(2, &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: rules(0, autoscalingv2.MaxChangePolicySelect, percentPolicy(100, 15))})
			e.addMemoryMetric()
			e.load(2, tt.cpu)
			if tt.memory > 0 {
				e.m.mu.Lock()
				e.m.memory["web-0"], e.m.memory["web-1"] = tt.memory, tt.memory
				e.m.mu.Unlock()
			}
			e.reconcile()
			if got := e.replicas(); got != tt.want {
				t.Errorf("replicas %d, want %d", got, tt.want)
			}
			if c := condition(e.hpa(), autoscalingv2.ScalingActive); c.Status != tt.wantActive || c.Reason != tt.wantReason {
				t.Errorf("ScalingActive = %s %s (%s), want %s %s", c.Status, c.Reason, c.Message, tt.wantActive, tt.wantReason)
			}
		})
	}
}
