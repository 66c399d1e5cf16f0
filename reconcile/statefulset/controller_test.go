package statefulset

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// env runs the controller on a real embedded etcd next to a fake kubelet.
type env struct {
	t   *testing.T
	s   *store.Store
	k   *kubelet
	ctx context.Context
}

// kubelet plays the node: it binds new pods to "n1" and makes them Running,
// Ready only when allowed, and removes terminating pods, logging the order.
type kubelet struct {
	mu       sync.Mutex
	ready    map[string]bool // pod name → may be ready
	allReady bool
	removed  []string
}

func (k *kubelet) allow(names ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range names {
		k.ready[n] = true
	}
}

func (k *kubelet) removedPods() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.removed)
}

func (k *kubelet) mayBeReady(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.allReady || k.ready[name]
}

// step does one round of the kubelet's work on every pod.
func (k *kubelet) step(ctx context.Context, s *store.Store) {
	pods, _, err := s.List(ctx, mustRes("pods"), "default", store.ListOptions{})
	if err != nil {
		return
	}
	for _, o := range pods {
		pod := o.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			if s.Delete(ctx, mustRes("pods"), pod.Namespace, pod.Name, pod.ResourceVersion) == nil {
				k.mu.Lock()
				k.removed = append(k.removed, pod.Name)
				k.mu.Unlock()
			}
			continue
		}
		ready := k.mayBeReady(pod.Name)
		if pod.Spec.NodeName == "n1" && pod.Status.Phase == corev1.PodRunning && isRunningAndReady(pod) == ready {
			continue
		}
		p := pod.DeepCopy()
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.Now()}}
		_ = s.Update(ctx, p)
	}
}

func mustRes(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic(name)
	}
	return r
}

// admitFunc adapts a function to reconcile.PodAdmitter.
type admitFunc func(ctx context.Context, pod *corev1.Pod) error

func (f admitFunc) AdmitPod(ctx context.Context, pod *corev1.Pod) error { return f(ctx, pod) }

func startEnv(t *testing.T, admit reconcile.PodAdmitter) *env {
	t.Helper()
	s := storetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	inf := cache.NewInformers(s, storetest.Logger(t))
	c := New(Config{Writer: s, Informers: inf, Logger: storetest.Logger(t), Admit: admit,
		Recorder: eventstest.Recorder(t, s, "statefulset-controller")})
	inf.Start(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	k := &kubelet{ready: map[string]bool{}}
	wg.Go(func() {
		for ctx.Err() == nil {
			k.step(ctx, s)
			time.Sleep(10 * time.Millisecond) // the fake node's sync period
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &env{t: t, s: s, k: k, ctx: ctx}
}

func testSet(name string, n int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	lbls := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &n,
			ServiceName:         name + "-hl",
			PodManagementPolicy: policy,
			Selector:            &metav1.LabelSelector{MatchLabels: lbls},
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, obj); err != nil {
		e.t.Fatal(err)
	}
}

// podNames returns the names of the pods (terminating ones too), sorted.
func (e *env) podNames() []string {
	pods, _, err := e.s.List(e.ctx, mustRes("pods"), "default", store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, o := range pods {
		out = append(out, o.GetName())
	}
	slices.Sort(out)
	return out
}

// modifySet changes the set "web" as a user would, retrying on conflicts
// with the controller's status writes.
func (e *env) modifySet(change func(*appsv1.StatefulSet)) {
	e.t.Helper()
	for range 50 {
		s := e.set("web")
		change(s)
		err := e.s.Update(e.ctx, s)
		if err == nil {
			return
		}
		if !errors.Is(err, api.ErrConflict) {
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("modify set web: conflicts all along")
}

// forceDelete removes pod name at once (as a force delete), retrying on
// conflicts with the fake kubelet, and returns it as it was.
func (e *env) forceDelete(name string) *corev1.Pod {
	e.t.Helper()
	for range 50 {
		p := e.pod(name)
		err := e.s.Delete(e.ctx, mustRes("pods"), "default", name, p.ResourceVersion)
		if err == nil {
			return p
		}
		if !errors.Is(err, api.ErrConflict) {
			e.t.Fatal(err)
		}
	}
	e.t.Fatalf("delete pod %s: conflicts all along", name)
	return nil
}

// waitReady waits until set name reports n ready replicas.
func (e *env) waitReady(name string, n int32) {
	e.t.Helper()
	testutil.EventuallyTrue(e.t, 10*time.Second, fmt.Sprintf("%d ready replicas", n), func() bool {
		return e.set(name).Status.ReadyReplicas == n
	})
}

func (e *env) pod(name string) *corev1.Pod {
	e.t.Helper()
	var p corev1.Pod
	if err := e.s.Get(e.ctx, "default", name, &p); err != nil {
		e.t.Fatal(err)
	}
	return &p
}

// images returns the first container's image of each pod by name, read at
// one revision (a pod being replaced is simply missing).
func (e *env) images() map[string]string {
	e.t.Helper()
	pods, _, err := e.s.List(e.ctx, mustRes("pods"), "default", store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range pods {
		out[o.GetName()] = o.(*corev1.Pod).Spec.Containers[0].Image
	}
	return out
}

func (e *env) set(name string) *appsv1.StatefulSet {
	e.t.Helper()
	var s appsv1.StatefulSet
	if err := e.s.Get(e.ctx, "default", name, &s); err != nil {
		e.t.Fatal(err)
	}
	return &s
}

func (e *env) waitPods(what string, want ...string) {
	e.t.Helper()
	testutil.Eventually(e.t, 10*time.Second, what, func() (bool, string) {
		got := e.podNames()
		return slices.Equal(got, want), fmt.Sprintf("pods %v, want %v", got, want)
	})
}

// holds checks that cond stays true for a while (the controller does not
// move on by itself).
func (e *env) holds(what string, cond func() bool) {
	e.t.Helper()
	for range 20 {
		if !cond() {
			e.t.Fatalf("%s: no longer true", what)
		}
		time.Sleep(15 * time.Millisecond)
	}
}

func TestOrderedReadyCreatesOneAtATime(t *testing.T) {
	e := startEnv(t, nil)
	e.create(testSet("web", 3, appsv1.OrderedReadyPodManagement))
	e.waitPods("web-0 created", "web-0")
	e.holds("only web-0 while it is not ready", func() bool { return slices.Equal(e.podNames(), []string{"web-0"}) })
	e.k.allow("web-0")
	e.waitPods("web-1 created once web-0 is ready", "web-0", "web-1")
	e.holds("web-2 waits for web-1", func() bool { return slices.Equal(e.podNames(), []string{"web-0", "web-1"}) })
	e.k.allow("web-1", "web-2")
	e.waitPods("web-2 created", "web-0", "web-1", "web-2")

	p := e.pod("web-1")
	if p.Labels[LabelPodName] != "web-1" || p.Labels[LabelPodIndex] != "1" || p.Labels[LabelRevisionHash] == "" || p.Labels["app"] != "web" {
		t.Errorf("labels = %v", p.Labels)
	}
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web-hl" {
		t.Errorf("hostname %q subdomain %q, want web-1 and web-hl", p.Spec.Hostname, p.Spec.Subdomain)
	}
	if v := p.Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != "data-web-1" {
		t.Errorf("volumes = %+v, want data → claim data-web-1", v)
	}
	var pvc corev1.PersistentVolumeClaim
	if err := e.s.Get(e.ctx, "default", "data-web-1", &pvc); err != nil {
		t.Fatalf("claim data-web-1: %v", err)
	}
	if len(pvc.OwnerReferences) != 0 {
		t.Errorf("claim owners = %v, want none (Retain)", pvc.OwnerReferences)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "status counts 3 ready pods", func() bool {
		st := e.set("web").Status
		return st.Replicas == 3 && st.ReadyReplicas == 3 && st.AvailableReplicas == 3 && st.CurrentReplicas == 3 &&
			st.UpdatedReplicas == 3 && st.CurrentRevision != "" && st.CurrentRevision == st.UpdateRevision && st.ObservedGeneration == 1
	})
	if evs := eventstest.Find(t, e.s, "default", "web", ReasonSuccessfulCreate); !slices.ContainsFunc(evs, func(ev *corev1.Event) bool {
		return ev.Message == "create Pod web-0 in StatefulSet web successful"
	}) {
		t.Errorf("no SuccessfulCreate event for web-0: %v", evs)
	}
}

func TestParallelCreatesAll(t *testing.T) {
	e := startEnv(t, nil)
	e.create(testSet("db", 3, appsv1.ParallelPodManagement))
	e.waitPods("all three created though none is ready", "db-0", "db-1", "db-2")
}

func TestScaleDownInReverseOrder(t *testing.T) {
	for _, tc := range []struct {
		policy appsv1.PodManagementPolicyType
		check  func(t *testing.T, removed []string)
	}{
		{appsv1.OrderedReadyPodManagement, func(t *testing.T, removed []string) {
			if !slices.Equal(removed, []string{"web-3", "web-2", "web-1"}) {
				t.Errorf("removed %v, want web-3, web-2, web-1 in that order", removed)
			}
		}},
		{appsv1.ParallelPodManagement, func(t *testing.T, removed []string) {
			slices.Sort(removed)
			if !slices.Equal(removed, []string{"web-1", "web-2", "web-3"}) {
				t.Errorf("removed %v, want web-1..3", removed)
			}
		}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			e := startEnv(t, nil)
			e.k.allReady = true
			e.create(testSet("web", 4, tc.policy))
			e.waitPods("4 pods", "web-0", "web-1", "web-2", "web-3")
			e.waitReady("web", 4)
			e.modifySet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
			e.waitPods("scaled to 1", "web-0")
			tc.check(t, e.k.removedPods())
		})
	}
}

func TestRollingUpdateWithPartition(t *testing.T) {
	e := startEnv(t, nil)
	e.k.allReady = true
	set := testSet("web", 3, appsv1.OrderedReadyPodManagement)
	set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(1))}
	e.create(set)
	e.waitPods("3 pods", "web-0", "web-1", "web-2")
	oldRev := e.pod("web-0").Labels[LabelRevisionHash]
	e.modifySet(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "app:2"
		s.Generation = 2
	})
	testutil.EventuallyTrue(t, 15*time.Second, "web-2 and web-1 updated", func() bool {
		img := e.images()
		return len(img) == 3 && img["web-1"] == "app:2" && img["web-2"] == "app:2"
	})
	e.holds("web-0 below the partition keeps the old revision", func() bool {
		got := e.pod("web-0")
		return got.Spec.Containers[0].Image == "app:1" && got.Labels[LabelRevisionHash] == oldRev
	})
	if removed := e.k.removedPods(); !slices.Equal(removed, []string{"web-2", "web-1"}) {
		t.Errorf("replaced %v, want web-2 then web-1", removed)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "status of a partitioned update", func() bool {
		st := e.set("web").Status
		return st.CurrentRevision == oldRev && st.UpdateRevision != oldRev && st.UpdatedReplicas == 2 && st.CurrentReplicas == 1
	})
	revs, _, err := e.s.List(e.ctx, mustRes("controllerrevisions"), "default", store.ListOptions{})
	if err != nil || len(revs) != 2 {
		t.Errorf("controller revisions = %d (%v), want 2", len(revs), err)
	}
	// Lowering the partition to 0 finishes the rollout.
	e.modifySet(func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy.RollingUpdate.Partition = new(int32(0))
	})
	testutil.EventuallyTrue(t, 15*time.Second, "rollout complete", func() bool {
		st := e.set("web").Status
		return st.CurrentRevision == st.UpdateRevision && st.UpdatedReplicas == 3 && st.CurrentReplicas == 3
	})
}

func TestOnDeleteReplacesOnlyDeletedPods(t *testing.T) {
	e := startEnv(t, nil)
	e.k.allReady = true
	set := testSet("web", 2, appsv1.OrderedReadyPodManagement)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	e.create(set)
	e.waitPods("2 pods", "web-0", "web-1")
	e.modifySet(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "app:2"
	})
	e.holds("pods not replaced", func() bool { return e.pod("web-1").Spec.Containers[0].Image == "app:1" })
	e.forceDelete("web-1")
	testutil.EventuallyTrue(t, 10*time.Second, "web-1 recreated at the new revision", func() bool {
		var got corev1.Pod
		return e.s.Get(e.ctx, "default", "web-1", &got) == nil && got.Spec.Containers[0].Image == "app:2"
	})
	if e.pod("web-0").Spec.Containers[0].Image != "app:1" {
		t.Error("web-0 replaced under OnDelete")
	}
}

func TestClaimKeptWhenPodReplaced(t *testing.T) {
	e := startEnv(t, nil)
	e.k.allReady = true
	e.create(testSet("web", 1, appsv1.OrderedReadyPodManagement))
	e.waitPods("web-0", "web-0")
	var before corev1.PersistentVolumeClaim
	if err := e.s.Get(e.ctx, "default", "data-web-0", &before); err != nil {
		t.Fatal(err)
	}
	old := e.forceDelete("web-0")
	testutil.EventuallyTrue(t, 10*time.Second, "web-0 recreated", func() bool {
		var p corev1.Pod
		return e.s.Get(e.ctx, "default", "web-0", &p) == nil && p.UID != old.UID
	})
	var after corev1.PersistentVolumeClaim
	if err := e.s.Get(e.ctx, "default", "data-web-0", &after); err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID {
		t.Errorf("claim recreated (uid %s → %s), want the same claim", before.UID, after.UID)
	}
}

func TestRetentionPolicyOwners(t *testing.T) {
	del, keep := appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	for _, tc := range []struct {
		name                   string
		whenDeleted, whenScale appsv1.PersistentVolumeClaimRetentionPolicyType
		// owners of data-web-0 (kept) and data-web-1 (scaled away) after
		// scaling 2 → 1: "set", "pod" or "".
		want0, want1 string
	}{
		{"Retain Retain", keep, keep, "", ""},
		{"whenDeleted Delete", del, keep, "set", "set"},
		{"whenScaled Delete", keep, del, "", "pod"},
		{"both Delete", del, del, "set", "pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEnv(t, nil)
			e.k.allReady = true
			set := testSet("web", 2, appsv1.OrderedReadyPodManagement)
			set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tc.whenDeleted, WhenScaled: tc.whenScale}
			e.create(set)
			e.waitPods("2 pods", "web-0", "web-1")
			pod1 := e.pod("web-1")
			e.modifySet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
			e.waitPods("scaled to 1", "web-0")
			setUID := e.set("web").UID
			owner := func(claim string) string {
				var pvc corev1.PersistentVolumeClaim
				if err := e.s.Get(e.ctx, "default", claim, &pvc); err != nil {
					t.Fatalf("claim %s: %v", claim, err)
				}
				var kinds []string
				for _, r := range pvc.OwnerReferences {
					switch r.UID {
					case setUID:
						kinds = append(kinds, "set")
					case pod1.UID:
						kinds = append(kinds, "pod")
					default:
						kinds = append(kinds, "other:"+r.Name)
					}
				}
				return fmt.Sprint(slices.Concat(kinds))
			}
			wrap := func(s string) string {
				if s == "" {
					return "[]"
				}
				return "[" + s + "]"
			}
			if got := owner("data-web-0"); got != wrap(tc.want0) {
				t.Errorf("data-web-0 owners %s, want %s", got, wrap(tc.want0))
			}
			if got := owner("data-web-1"); got != wrap(tc.want1) {
				t.Errorf("data-web-1 owners %s, want %s", got, wrap(tc.want1))
			}
		})
	}
}

func TestAdmissionRefusal(t *testing.T) {
	var refuse sync.Map
	refuse.Store("web-0", true)
	admit := admitFunc(func(_ context.Context, pod *corev1.Pod) error {
		if _, ok := refuse.Load(pod.Name); ok {
			return errors.New("exceeded quota: compute, requested: pods=1, used: pods=5, limited: pods=5")
		}
		return nil
	})
	e := startEnv(t, admit)
	e.create(testSet("web", 1, appsv1.OrderedReadyPodManagement))
	testutil.EventuallyTrue(t, 10*time.Second, "a FailedCreate event", func() bool {
		evs := eventstest.Find(t, e.s, "default", "web", ReasonFailedCreate)
		return len(evs) > 0 && evs[0].Message == "create Pod web-0 in StatefulSet web failed error: exceeded quota: compute, requested: pods=1, used: pods=5, limited: pods=5"
	})
	if got := e.podNames(); len(got) != 0 {
		t.Fatalf("pods %v created though refused", got)
	}
	refuse.Delete("web-0")
	e.waitPods("web-0 created once admitted", "web-0")
}

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		parent string
		ord    int
	}{
		{"web-0", "web", 0}, {"my-db-12", "my-db", 12}, {"web", "", -1}, {"web-x", "", -1}, {"web-01", "", -1}, {"web--1", "web-", 1},
	} {
		if p, o := parentAndOrdinal(tc.name); p != tc.parent || o != tc.ord {
			t.Errorf("parentAndOrdinal(%q) = %q, %d; want %q, %d", tc.name, p, o, tc.parent, tc.ord)
		}
	}
}

func TestMinReadySeconds(t *testing.T) {
	e := startEnv(t, nil)
	e.k.allReady = true
	set := testSet("web", 2, appsv1.OrderedReadyPodManagement)
	set.Spec.MinReadySeconds = 2
	e.create(set)
	testutil.EventuallyTrue(t, 10*time.Second, "web-0 ready", func() bool {
		return e.set("web").Status.ReadyReplicas == 1
	})
	e.holds("web-1 waits until web-0 is available", func() bool {
		return slices.Equal(e.podNames(), []string{"web-0"}) && e.set("web").Status.AvailableReplicas == 0
	})
	e.waitPods("web-1 created once web-0 is available", "web-0", "web-1")
	testutil.EventuallyTrue(t, 10*time.Second, "both available", func() bool {
		return e.set("web").Status.AvailableReplicas == 2
	})
}
