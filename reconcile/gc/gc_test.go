package gc

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

type env struct {
	s   *store.Store
	inf *cache.Informers
	c   *Controller
	clk *testingclock.FakeClock
}

func newEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	cfg := Config{Writer: s, Getter: s, Informers: inf, Logger: storetest.Logger(t), Clock: clk}
	for _, o := range opts {
		o(&cfg)
	}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{s: s, inf: inf, c: c, clk: clk}
}

// ownedBy sets obj's owner references to owners, all of kind gvk, the first
// one the controller, and returns obj.
func ownedBy[T api.Object](obj T, gvk schema.GroupVersionKind, owners ...api.Object) T {
	var refs []metav1.OwnerReference
	for i, o := range owners {
		refs = append(refs, metav1.OwnerReference{
			APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: o.GetName(), UID: o.GetUID(),
			Controller: ptr(i == 0), BlockOwnerDeletion: ptr(true),
		})
	}
	obj.SetOwnerReferences(refs)
	return obj
}

func ptr[T any](v T) *T { return &v }

var (
	deployGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	rsGVK     = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	cmGVK     = corev1.SchemeGroupVersion.WithKind("ConfigMap")
)

func (e *env) mustCreate(t *testing.T, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		if err := e.s.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// waitUncached waits until the informer of resource no longer has the
// object name.
func (e *env) waitUncached(t *testing.T, resource, name string) {
	t.Helper()
	inf := e.inf.For(storetest.Resource(t, resource))
	testutil.EventuallyTrue(t, 10*time.Second, "the cache to drop "+resource+" default/"+name, func() bool {
		_, ok := inf.Get("default", name)
		return !ok
	})
}

// mustDelete deletes the object name of resource in namespace default.
func (e *env) mustDelete(t *testing.T, resource, name string) {
	t.Helper()
	if err := e.s.Delete(t.Context(), storetest.Resource(t, resource), "default", name, ""); err != nil {
		t.Fatal(err)
	}
}

func (e *env) exists(t *testing.T, into api.Object, name string) bool {
	t.Helper()
	err := e.s.Get(t.Context(), "default", name, into)
	if errors.Is(err, api.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// waitCached waits until the informer of obj's resource has obj's version.
func (e *env) waitCached(t *testing.T, obj api.Object) {
	t.Helper()
	r, err := api.ResourceOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	inf := e.inf.For(r)
	testutil.EventuallyTrue(t, 10*time.Second, "cache to have "+obj.GetName(), func() bool {
		o, ok := inf.Get(obj.GetNamespace(), obj.GetName())
		return ok && o.GetResourceVersion() == obj.GetResourceVersion()
	})
}

func deployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
}

func replicaSet(name string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
}

func pod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
}

func TestCascadeDeploymentReplicaSetPods(t *testing.T) {
	e := newEnv(t)
	testutil.Start(t, e.c.Run)

	d := deployment("web")
	e.mustCreate(t, d)
	rs := ownedBy(replicaSet("web-abc"), deployGVK, d)
	e.mustCreate(t, rs)
	var pods []*corev1.Pod
	for _, n := range []string{"web-abc-1", "web-abc-2", "web-abc-3"} {
		p := pod(n)
		ownedBy(p, rsGVK, rs)
		e.mustCreate(t, p)
		pods = append(pods, p)
	}
	// Unrelated objects that must survive.
	other := deployment("other")
	e.mustCreate(t, other)
	otherRS := ownedBy(replicaSet("other-1"), deployGVK, other)
	bare := pod("bare")
	e.mustCreate(t, otherRS, bare)
	e.waitCached(t, pods[2])

	e.mustDelete(t, "deployments", "web")
	testutil.EventuallyTrue(t, 10*time.Second, "the ReplicaSet and its pods to be deleted", func() bool {
		if e.exists(t, &appsv1.ReplicaSet{}, "web-abc") {
			return false
		}
		for _, p := range pods {
			if e.exists(t, &corev1.Pod{}, p.Name) {
				return false
			}
		}
		return true
	})
	if !e.exists(t, &appsv1.ReplicaSet{}, "other-1") || !e.exists(t, &corev1.Pod{}, "bare") {
		t.Error("the collector deleted objects whose owners exist, or that have none")
	}
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name string
		// setup creates the objects and returns the dependent and whether it must survive.
		setup      func(t *testing.T, e *env) (dep api.Object, survives bool)
		wantOwners int // owner references left on a surviving dependent
	}{
		{
			name: "owner exists",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				d := deployment("web")
				e.mustCreate(t, d)
				rs := ownedBy(replicaSet("web-1"), deployGVK, d)
				e.mustCreate(t, rs)
				e.waitCached(t, d)
				return rs, true
			},
			wantOwners: 1,
		},
		{
			name: "owner never existed",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				rs := ownedBy(replicaSet("web-1"), deployGVK, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: "0000-ghost"}})
				e.mustCreate(t, rs)
				return rs, false
			},
		},
		{
			name: "pod of a deleted Job",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				p := pod("job-pod")
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "gone", UID: "0000-job"}}
				e.mustCreate(t, p)
				return p, false
			},
		},
		{
			name: "Job of a deleted CronJob",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello-1",
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "hello", UID: "0000-cj"}}},
					Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
				e.mustCreate(t, j)
				return j, false
			},
		},
		{
			name: "claim of a live StatefulSet",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"}}
				e.mustCreate(t, sts)
				e.waitCached(t, sts)
				c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "data-db-0",
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: sts.UID}}}}
				e.mustCreate(t, c)
				return c, true
			},
			wantOwners: 1,
		},
		{
			name: "owner re-created with the same name and a new UID",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				d := deployment("web")
				e.mustCreate(t, d)
				rs := ownedBy(replicaSet("web-1"), deployGVK, d)
				e.mustCreate(t, rs)
				e.mustDelete(t, "deployments", "web")
				again := deployment("web")
				e.mustCreate(t, again)
				e.waitCached(t, again)
				return rs, false
			},
		},
		{
			name: "owner the cache does not know yet is re-read from the store",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				// ConfigMaps have no informer in the collector: only the store can
				// tell, as for an owner created a moment ago.
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "conf"}}
				e.mustCreate(t, cm)
				p := ownedBy(pod("p"), cmGVK, cm)
				e.mustCreate(t, p)
				return p, true
			},
			wantOwners: 1,
		},
		{
			name: "one of two owners gone: only its reference is removed",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				a, b := replicaSet("a"), replicaSet("b")
				e.mustCreate(t, a, b)
				p := ownedBy(pod("p"), rsGVK, a, b)
				e.mustCreate(t, p)
				e.mustDelete(t, "replicasets", "b")
				e.waitUncached(t, "replicasets", "b")
				return p, true
			},
			wantOwners: 1,
		},
		{
			name: "unknown owner kind is left alone",
			setup: func(t *testing.T, e *env) (api.Object, bool) {
				p := pod("p")
				p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "Widget", Name: "j", UID: "widget-uid"}}
				e.mustCreate(t, p)
				return p, true
			},
			wantOwners: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			dep, survives := tt.setup(t, e)
			e.waitCached(t, dep)
			r, _ := api.ResourceOf(dep)
			key := Key(r, dep)
			for {
				res, err := e.c.Reconcile(t.Context(), key)
				if err != nil {
					t.Fatalf("Reconcile(%s): %v", key, err)
				}
				if !res.Requeue {
					break
				}
			}
			fresh := r.New()
			got := e.exists(t, fresh, dep.GetName())
			if got != survives {
				t.Fatalf("%s exists = %v, want %v", key, got, survives)
			}
			if got && len(fresh.GetOwnerReferences()) != tt.wantOwners {
				t.Errorf("%s has %d owner references, want %d", key, len(fresh.GetOwnerReferences()), tt.wantOwners)
			}
		})
	}
}

func TestDeleteIsCompareAndSwap(t *testing.T) {
	e := newEnv(t)
	// The dependent's owner is gone, but the cache still has an old version of
	// the dependent: the delete must not go through on that version.
	p := ownedBy(pod("p"), rsGVK, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "gone", UID: "gone-uid"}})
	e.mustCreate(t, p)
	e.waitCached(t, p)
	stale := p.DeepCopy()
	fresh := p.DeepCopy()
	fresh.Labels = map[string]string{"touched": "yes"}
	if err := e.s.Update(t.Context(), fresh); err != nil {
		t.Fatal(err)
	}
	podRes, _ := api.Lookup("pods")
	if err := e.s.Delete(t.Context(), podRes, "default", "p", stale.ResourceVersion); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("delete at a stale version: %v, want ErrConflict", err)
	}
	e.waitCached(t, fresh)
	if _, err := e.c.Reconcile(t.Context(), Key(podRes, fresh)); err != nil {
		t.Fatal(err)
	}
	if e.exists(t, &corev1.Pod{}, "p") {
		t.Error("dangling pod survived once the cache was current")
	}
}

func TestPeriodicScan(t *testing.T) {
	// ReplicaSet deletions are not followed here, so only the clock-driven scan
	// can find the pod whose ReplicaSet goes away.
	e := newEnv(t, func(c *Config) { c.Owners = []string{"deployments"} })
	keep, doomed := replicaSet("keep"), replicaSet("doomed")
	e.mustCreate(t, keep, doomed)
	p, q := pod("p"), pod("q")
	ownedBy(p, rsGVK, keep)
	ownedBy(q, rsGVK, doomed)
	e.mustCreate(t, p, q)
	// Owners too: each resource has its own informer, and a pod cached
	// before its ReplicaSet looks dangling.
	for _, o := range []api.Object{keep, doomed, p, q} {
		e.waitCached(t, o)
	}
	if n := e.c.Scan(); n != 0 {
		t.Errorf("Scan queued %d dependents while every owner exists, want 0", n)
	}

	testutil.Start(t, e.c.Run)
	testutil.EventuallyTrue(t, 10*time.Second, "the scan ticker", func() bool { return e.clk.HasWaiters() })
	e.mustDelete(t, "replicasets", "doomed")
	e.waitUncached(t, "replicasets", "doomed")
	if !e.exists(t, &corev1.Pod{}, "q") {
		t.Fatal("q was collected before the scan: the test does not isolate the scan")
	}
	e.clk.Step(DefaultScanInterval)
	testutil.EventuallyTrue(t, 10*time.Second, "the scan to collect q", func() bool { return !e.exists(t, &corev1.Pod{}, "q") })
	if !e.exists(t, &corev1.Pod{}, "p") {
		t.Error("the periodic scan deleted a pod whose owner exists")
	}
}
