package deployment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// env is one test's world: real embedded etcd, running informers, a controller
// whose Reconcile the test calls directly, and a fake clock that also stamps
// creationTimestamps.
type env struct {
	t   *testing.T
	ctx context.Context
	s   *store.Store
	inf *cache.Informers
	c   *Controller
	clk *clocktesting.FakeClock
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	s := storetest.StartAt(t, clk.Now)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := New(Config{Writer: s, Getter: s, Informers: inf, Clock: clk, Logger: storetest.Logger(t),
		Recorder: eventstest.Recorder(t, s, "deployment-controller")})
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, s: s, inf: inf, c: c, clk: clk}
}

func res(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic(name)
	}
	return r
}

// settle waits until the informer caches reflect the store exactly, so that a
// Reconcile sees every earlier write.
func (e *env) settle() {
	e.t.Helper()
	for _, name := range []string{"deployments", "replicasets", "pods"} {
		r := res(name)
		inf := e.inf.For(r)
		testutil.Eventually(e.t, 10*time.Second, "the "+name+" cache to catch up with the store", func() (bool, string) {
			objs, _, err := e.s.List(e.ctx, r, "", store.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			return cacheMatches(inf, objs), fmt.Sprintf("%d cached, %d stored", len(inf.List("", nil)), len(objs))
		})
	}
}

func cacheMatches(inf *cache.Informer, objs []api.Object) bool {
	if len(inf.List("", nil)) != len(objs) {
		return false
	}
	for _, o := range objs {
		c, ok := inf.Get(o.GetNamespace(), o.GetName())
		if !ok || c.GetResourceVersion() != o.GetResourceVersion() {
			return false
		}
	}
	return true
}

// reconcile runs one Reconcile of default/<name> after the caches caught up.
func (e *env) reconcile(name string) reconcile.Result {
	e.t.Helper()
	e.settle()
	r, err := e.c.Reconcile(e.ctx, "default/"+name)
	if err != nil {
		e.t.Fatalf("reconcile %s: %v", name, err)
	}
	return r
}

// converge reconciles until a pass writes nothing (at most 20 passes) and
// returns the last result.
func (e *env) converge(name string) reconcile.Result {
	e.t.Helper()
	for range 20 {
		before := e.revision()
		r := e.reconcile(name)
		if e.revision() == before && !r.Requeue {
			return r
		}
	}
	e.t.Fatalf("deployment %s did not settle in 20 passes", name)
	return reconcile.Result{}
}

func (e *env) revision() int64 {
	rev, err := e.s.Revision(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

type depOpt func(*appsv1.Deployment)

func withStrategy(surge, unavailable string) depOpt {
	return func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.Parse(surge)), MaxUnavailable: ptr.To(intstr.Parse(unavailable)),
			},
		}
	}
}

func recreate() depOpt {
	return func(d *appsv1.Deployment) {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
}

func newDeployment(name string, n int32, image string, opts ...depOpt) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "bosun"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(n),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
	withStrategy("25%", "25%")(d)
	for _, o := range opts {
		o(d)
	}
	return d
}

func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, obj); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deployment(name string) *appsv1.Deployment {
	e.t.Helper()
	var d appsv1.Deployment
	if err := e.s.Get(e.ctx, "default", name, &d); err != nil {
		e.t.Fatal(err)
	}
	return &d
}

// editDeployment changes a Deployment as sync would (read, change, CAS write).
func (e *env) editDeployment(name string, f func(*appsv1.Deployment)) {
	e.t.Helper()
	for {
		d := e.deployment(name)
		f(d)
		err := e.s.Update(e.ctx, d)
		if errors.Is(err, api.ErrConflict) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return
	}
}

func setImage(image string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = image }
}

// replicaSets returns the ReplicaSets in default, oldest revision first.
func (e *env) replicaSets() []*appsv1.ReplicaSet {
	e.t.Helper()
	objs, _, err := e.s.List(e.ctx, res("replicasets"), "default", store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]*appsv1.ReplicaSet, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*appsv1.ReplicaSet))
	}
	sort.Slice(out, func(i, j int) bool { return revision(out[i]) < revision(out[j]) })
	return out
}

// rsByImage returns the ReplicaSet whose template runs image, or nil.
func (e *env) rsByImage(image string) *appsv1.ReplicaSet {
	for _, rs := range e.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

// setRSStatus plays the ReplicaSet controller for one ReplicaSet: it reports
// status.replicas = spec.replicas and available (and ready) replicas.
func (e *env) setRSStatus(name string, available int32) {
	e.t.Helper()
	for {
		var rs appsv1.ReplicaSet
		if err := e.s.Get(e.ctx, "default", name, &rs); err != nil {
			e.t.Fatal(err)
		}
		rs.Status.Replicas = rsReplicas(&rs)
		rs.Status.ReadyReplicas = available
		rs.Status.AvailableReplicas = available
		rs.Status.FullyLabeledReplicas = rsReplicas(&rs)
		rs.Status.ObservedGeneration = rs.Generation
		err := e.s.Update(e.ctx, &rs)
		if errors.Is(err, api.ErrConflict) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return
	}
}

// allReady plays the ReplicaSet controller with every pod available.
func (e *env) allReady() {
	e.t.Helper()
	for _, rs := range e.replicaSets() {
		e.setRSStatus(rs.Name, rsReplicas(rs))
	}
}

// started creates d, converges it once and returns the ReplicaSet that created,
// its pods not yet reported by the ReplicaSet controller.
func (e *env) started(d *appsv1.Deployment) *appsv1.ReplicaSet {
	e.t.Helper()
	e.create(d)
	e.converge(d.Name)
	rss := e.replicaSets()
	if len(rss) != 1 {
		e.t.Fatalf("%d replica sets after the first reconcile, want 1: %s", len(rss), describe(rss))
	}
	return rss[0]
}

// rolledOut creates d and converges it until its first ReplicaSet has every
// pod available, as a Deployment that has been running for a while.
func (e *env) rolledOut(d *appsv1.Deployment) {
	e.t.Helper()
	e.create(d)
	e.converge(d.Name)
	e.allReady()
	e.converge(d.Name)
}

// podOf is a pod of rs in the given phase, as the ReplicaSet controller
// would have made it.
func podOf(rs *appsv1.ReplicaSet, name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: rs.Namespace, Name: name, Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Spec:   rs.Spec.Template.Spec,
		Status: corev1.PodStatus{Phase: phase},
	}
}

func cond(d *appsv1.Deployment, t appsv1.DeploymentConditionType) appsv1.DeploymentCondition {
	if c := getCondition(&d.Status, t); c != nil {
		return *c
	}
	return appsv1.DeploymentCondition{}
}

func (e *env) wantCondition(name string, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason string) {
	e.t.Helper()
	c := cond(e.deployment(name), t)
	if c.Status != status || c.Reason != reason {
		e.t.Fatalf("condition %s = %s/%s (%q), want %s/%s", t, c.Status, c.Reason, c.Message, status, reason)
	}
}

// wantRevision checks the revision annotation of Deployment name.
func (e *env) wantRevision(name, want string) {
	e.t.Helper()
	if got := e.deployment(name).Annotations[AnnotationRevision]; got != want {
		e.t.Errorf("deployment revision = %q, want %s", got, want)
	}
}

func describe(rss []*appsv1.ReplicaSet) string {
	s := ""
	for _, rs := range rss {
		s += fmt.Sprintf("[%s rev=%s spec=%d avail=%d] ", rs.Name, rs.Annotations[AnnotationRevision], rsReplicas(rs), rs.Status.AvailableReplicas)
	}
	return s
}
