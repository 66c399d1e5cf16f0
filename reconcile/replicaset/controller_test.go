package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// env is a controller on a real embedded etcd with started informers; tests call
// Reconcile directly unless they start Run.
type env struct {
	s    *store.Store
	inf  *cache.Informers
	c    *Controller
	clk  *testingclock.FakeClock
	pods api.Resource
}

func newEnv(t testing.TB, kind string, beforeStart ...func(*cache.Informers)) *env {
	t.Helper()
	return newEnvWith(t, kind, nil, beforeStart...)
}

// newEnvWith is newEnv whose informers read through source(store) unless
// source is nil.
func newEnvWith(t testing.TB, kind string, source func(*store.Store) cache.Source[cache.ListWatcher], beforeStart ...func(*cache.Informers)) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	if source != nil {
		inf = cache.NewInformers(source(s), storetest.Logger(t))
	}
	clk := testingclock.NewFakeClock(t0)
	c := New(Config{Writer: s, Getter: s, NewBatch: func() Batch { return s.Txn() }, Informers: inf, Logger: storetest.Logger(t), Clock: clk, Kind: kind,
		Recorder: eventstest.Recorder(t, s, "replicaset-controller")})
	for _, f := range beforeStart {
		f(inf)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	pods, _ := api.Lookup("pods")
	return &env{s: s, inf: inf, c: c, clk: clk, pods: pods}
}

func testRS(name string, replicas int32, lbls map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: map[string]string{"note": "from-template"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

// storedPods lists the pods in the store that are not terminating (a pod the
// controller deleted while it runs on a node is only marked, for its agent).
func (e *env) storedPods(t testing.TB) []*corev1.Pod {
	t.Helper()
	objs, _, err := e.s.List(t.Context(), e.pods, "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		if o.GetDeletionTimestamp() == nil {
			out = append(out, o.(*corev1.Pod))
		}
	}
	return out
}

// cachedPods counts the cached pods that are not terminating.
func (e *env) cachedPods() int {
	n := 0
	for _, o := range e.inf.ForKind("pods").List("default", nil) {
		if o.GetDeletionTimestamp() == nil {
			n++
		}
	}
	return n
}

// reconcile calls Reconcile and fails the test on error.
func (e *env) reconcile(t testing.TB, key string) {
	t.Helper()
	if _, err := e.c.Reconcile(t.Context(), key); err != nil {
		t.Fatalf("Reconcile(%s): %v", key, err)
	}
}

// settle waits until the owner cache has the stored owner, then reconciles.
func (e *env) settle(t testing.TB, key string) {
	t.Helper()
	ns, name, _ := strings.Cut(key, "/")
	obj := e.c.kind.resource.New()
	if err := e.s.Get(t.Context(), ns, name, obj); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, obj)
	e.reconcile(t, key)
}

// setReplicas sets spec.replicas of an owner, retrying on conflicts with the
// controller's status writes.
func (e *env) setReplicas(t testing.TB, ns, name string, n int32) {
	t.Helper()
	for {
		obj := e.c.kind.resource.New()
		if err := e.s.Get(t.Context(), ns, name, obj); err != nil {
			t.Fatal(err)
		}
		switch o := obj.(type) {
		case *appsv1.ReplicaSet:
			o.Spec.Replicas = &n
		case *corev1.ReplicationController:
			o.Spec.Replicas = &n
		}
		err := e.s.Update(t.Context(), obj)
		if err == nil {
			e.waitCached(t, obj)
			return
		}
		if !errors.Is(err, api.ErrConflict) {
			t.Fatal(err)
		}
	}
}

// waitCached waits until the owner informer has obj at least at its resourceVersion.
func (e *env) waitCached(t testing.TB, obj api.Object) {
	t.Helper()
	inf := e.c.owners
	if _, ok := obj.(*corev1.Pod); ok {
		inf = e.c.pods
	}
	testutil.EventuallyTrue(t, 10*time.Second, "cache to have "+obj.GetName()+" at "+obj.GetResourceVersion(), func() bool {
		o, ok := inf.Get(obj.GetNamespace(), obj.GetName())
		if !ok {
			return false
		}
		have, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
		want, _ := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
		return have >= want
	})
}

// gatedSource is the store as the informers' source, but the pod watch
// blocks on its first new pod until gate closes.
type gatedSource struct {
	s    *store.Store
	gate <-chan struct{}
}

func (g gatedSource) ListWatcher(r api.Resource) cache.ListWatcher {
	if r.Name != "pods" {
		return g.s.ListWatcher(r)
	}
	return gatedWatch{g.s.ListWatcher(r), g.gate}
}

type gatedWatch struct {
	store.ListWatch
	gate <-chan struct{}
}

func (g gatedWatch) Watch(ctx context.Context, rev int64, fn func(watch.EventType, api.Object)) error {
	return g.ListWatch.Watch(ctx, rev, func(typ watch.EventType, o api.Object) {
		if typ == watch.Added {
			select {
			case <-g.gate:
			case <-ctx.Done():
				return
			}
		}
		fn(typ, o)
	})
}

func TestScaleUpCreatesExactlyN(t *testing.T) {
	const n = 40 // batches 1, 2, 4, 8, 16, 9
	// A pod watch that blocks on its first new pod makes the cache lag behind
	// the store for as long as the test wants.
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	defer release()
	e := newEnvWith(t, KindReplicaSet, func(s *store.Store) cache.Source[cache.ListWatcher] { return gatedSource{s, gate} })
	rs := testRS("web", n, map[string]string{"app": "web"})
	if err := e.s.Create(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)

	// Hammer Reconcile from several goroutines while the cache lags:
	// expectations must keep every pass after the first from creating more.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if _, err := e.c.Reconcile(t.Context(), "default/web"); err != nil {
					t.Errorf("Reconcile: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if c := e.cachedPods(); c >= n {
		t.Fatalf("the cache has %d pods while its informer is blocked; the test needs a lagging cache", c)
	}
	release()
	testutil.EventuallyTrue(t, 10*time.Second, "the cache to see every pod", func() bool { return e.cachedPods() >= n })
	for range 3 {
		e.settle(t, "default/web")
	}

	pods := e.storedPods(t)
	if len(pods) != n {
		t.Fatalf("%d pods in the store, want exactly %d", len(pods), n)
	}
	seen := map[string]bool{}
	for _, p := range pods {
		if seen[p.Name] {
			t.Errorf("duplicate pod %s", p.Name)
		}
		seen[p.Name] = true
		if !strings.HasPrefix(p.Name, "web-") || p.GenerateName != "web-" {
			t.Errorf("pod %s: name/generateName = %q/%q, want web-xxxxx/web-", p.Name, p.Name, p.GenerateName)
		}
		if p.Labels["app"] != "web" || p.Annotations["note"] != "from-template" {
			t.Errorf("pod %s: labels %v annotations %v, want the template's", p.Name, p.Labels, p.Annotations)
		}
		if p.Spec.Containers[0].Image != "app:1" {
			t.Errorf("pod %s: image %q, want the template's", p.Name, p.Spec.Containers[0].Image)
		}
		refs := p.OwnerReferences
		if len(refs) != 1 || refs[0].APIVersion != "apps/v1" || refs[0].Kind != "ReplicaSet" || refs[0].Name != "web" ||
			refs[0].UID != rs.UID || refs[0].Controller == nil || !*refs[0].Controller ||
			refs[0].BlockOwnerDeletion == nil || !*refs[0].BlockOwnerDeletion {
			t.Errorf("pod %s: ownerReferences %+v, want one controller reference to ReplicaSet web (%s)", p.Name, refs, rs.UID)
		}
	}
	var got appsv1.ReplicaSet
	if err := e.s.Get(t.Context(), "default", "web", &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != n || got.Status.FullyLabeledReplicas != n || got.Status.ObservedGeneration != 1 {
		t.Errorf("status = %+v, want %d replicas, %d fully labeled, observedGeneration 1", got.Status, n, n)
	}
	// One SuccessfulCreate Event per pod, naming it, on the ReplicaSet.
	testutil.EventuallyTrue(t, 10*time.Second, "an Event for every pod", func() bool {
		return len(eventstest.Find(t, e.s, "default", "web", ReasonSuccessfulCreate)) == n
	})
	for _, ev := range eventstest.Find(t, e.s, "default", "web", ReasonSuccessfulCreate) {
		name, ok := strings.CutPrefix(ev.Message, "Created pod: ")
		if !ok || !seen[name] || ev.InvolvedObject.Kind != "ReplicaSet" || ev.InvolvedObject.UID != rs.UID {
			t.Errorf("SuccessfulCreate Event %q about %+v; want one naming a pod created, about the ReplicaSet", ev.Message, ev.InvolvedObject)
		}
	}
}

func TestExpectationsBlockUntilObserved(t *testing.T) {
	e := newEnv(t, KindReplicaSet)
	rs := testRS("web", 3, map[string]string{"app": "web"})
	if err := e.s.Create(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)
	e.reconcile(t, "default/web")
	if n := len(e.storedPods(t)); n != 3 {
		t.Fatalf("%d pods after the first pass, want 3", n)
	}
	// Until the informer reports them, or the timeout passes, nothing more is done.
	testutil.EventuallyTrue(t, 10*time.Second, "the cache to see 3 pods", func() bool { return e.cachedPods() == 3 })
	e.c.exp.Expect("default/web", 1, nil) // one creation the cache will never see
	pods := e.storedPods(t)
	if err := e.s.Delete(t.Context(), e.pods, "default", pods[0].Name, ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the cache to see the deletion", func() bool { return e.cachedPods() == 2 })
	res, err := e.c.Reconcile(t.Context(), "default/web")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.storedPods(t)); n != 2 {
		t.Fatalf("%d pods while an expectation is outstanding, want 2 (no create)", n)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > DefaultExpectationsTimeout {
		t.Errorf("RequeueAfter = %v, want the time left until the expectations time out", res.RequeueAfter)
	}
	e.clk.Step(DefaultExpectationsTimeout)
	e.reconcile(t, "default/web")
	if n := len(e.storedPods(t)); n != 3 {
		t.Fatalf("%d pods after the expectations timed out, want 3", n)
	}
}

func TestScaleDownDeletesInOrder(t *testing.T) {
	e := newEnv(t, KindReplicaSet)
	rs := testRS("web", 5, map[string]string{"app": "web"})
	if err := e.s.Create(t.Context(), rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)
	e.reconcile(t, "default/web")
	testutil.EventuallyTrue(t, 10*time.Second, "5 cached pods", func() bool { return e.cachedPods() == 5 })

	// Give the five pods five different states, in a shuffled order.
	pods := e.storedPods(t)
	states := []struct {
		role string
		fn   []func(*corev1.Pod)
	}{
		{"ready-old", []func(*corev1.Pod){onNode("n1"), phase(corev1.PodRunning), readySince(t0.Add(-time.Hour))}},
		{"unscheduled", []func(*corev1.Pod){onNode(""), phase(corev1.PodPending)}},
		{"ready-new", []func(*corev1.Pod){onNode("n2"), phase(corev1.PodRunning), readySince(t0.Add(-time.Minute))}},
		{"pending", []func(*corev1.Pod){onNode("n3"), phase(corev1.PodPending)}},
		{"not-ready", []func(*corev1.Pod){onNode("n4"), phase(corev1.PodRunning)}},
	}
	role := map[string]string{}
	for i, p := range pods {
		for _, f := range states[i].fn {
			f(p)
		}
		role[p.Name] = states[i].role
		if err := e.s.Update(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		e.waitCached(t, p)
	}

	wantLeft := [][]string{
		4: {"not-ready", "pending", "ready-new", "ready-old"},
		3: {"not-ready", "ready-new", "ready-old"},
		2: {"ready-new", "ready-old"},
		1: {"ready-old"},
		0: {},
	}
	for replicas := int32(4); replicas >= 0; replicas-- {
		e.setReplicas(t, "default", "web", replicas)
		e.reconcile(t, "default/web")
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprintf("%d cached pods", replicas), func() bool { return e.cachedPods() == int(replicas) })
		var left []string
		for _, p := range e.storedPods(t) {
			left = append(left, role[p.Name])
		}
		want := wantLeft[replicas]
		if !sameSet(left, want) {
			t.Fatalf("at %d replicas the pods left are %v, want %v", replicas, left, want)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestAdoptAndRelease(t *testing.T) {
	e := newEnv(t, KindReplicaSet)
	ctx := t.Context()
	orphan := tp("orphan", withLabels("app", "web"), onNode(""), phase(corev1.PodPending))
	orphan.CreationTimestamp = metav1.Time{}
	other := tp("other", withLabels("app", "db"), onNode(""), phase(corev1.PodPending))
	other.CreationTimestamp = metav1.Time{}
	finished := tp("finished", withLabels("app", "web"), phase(corev1.PodSucceeded))
	finished.CreationTimestamp = metav1.Time{}
	for _, p := range []*corev1.Pod{orphan, other, finished} {
		if err := e.s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		e.waitCached(t, p)
	}
	rs := testRS("web", 1, map[string]string{"app": "web"})
	if err := e.s.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)
	e.reconcile(t, "default/web")

	var got corev1.Pod
	if err := e.s.Get(ctx, "default", "orphan", &got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
		t.Fatalf("orphan's controller = %+v, want ReplicaSet web", ref)
	}
	for _, name := range []string{"other", "finished"} {
		var p corev1.Pod
		if err := e.s.Get(ctx, "default", name, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.OwnerReferences) != 0 {
			t.Errorf("pod %s was adopted (%+v); only active pods the selector selects may be", name, p.OwnerReferences)
		}
	}
	if n := len(e.storedPods(t)); n != 3 {
		t.Fatalf("%d pods, want 3: the adopted orphan replaces a create", n)
	}

	// Relabel the adopted pod: the ReplicaSet releases it and makes a new one.
	e.waitCached(t, &got)
	got.Labels = map[string]string{"app": "debug"}
	if err := e.s.Update(ctx, &got); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, &got)
	e.reconcile(t, "default/web")
	var released corev1.Pod
	if err := e.s.Get(ctx, "default", "orphan", &released); err != nil {
		t.Fatal(err)
	}
	if len(released.OwnerReferences) != 0 {
		t.Errorf("relabelled pod still has ownerReferences %+v", released.OwnerReferences)
	}
	owned := 0
	for _, p := range e.storedPods(t) {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID {
			owned++
			if !strings.HasPrefix(p.Name, "web-") {
				t.Errorf("owned pod %s is not a new pod", p.Name)
			}
		}
	}
	if owned != 1 {
		t.Errorf("%d pods owned by web after the release, want 1 (a replacement)", owned)
	}
}

const redisRC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: redis
spec:
  replicas: 3
  selector:
    app: redis
  template:
    metadata:
      labels:
        app: redis
        role: cache
    spec:
      containers:
      - name: redis
        image: redis:7
        ports:
        - containerPort: 6379
`

func TestReplicationControllerFromManifest(t *testing.T) {
	objs, problems := manifests.Decode("redis.yaml", []byte(redisRC), manifests.Limits{})
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	rc, ok := objs[0].Obj.(*corev1.ReplicationController)
	if !ok {
		t.Fatalf("decoded %T, want a ReplicationController", objs[0].Obj)
	}
	e := newEnv(t, KindReplicationController)
	ctx := t.Context()
	// A pod of another app and a pod only partially labeled must be left alone.
	stranger := tp("stranger", withLabels("role", "cache"), onNode(""), phase(corev1.PodPending))
	if err := e.s.Create(ctx, stranger); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rc)
	e.reconcile(t, "default/redis")
	testutil.EventuallyTrue(t, 10*time.Second, "4 cached pods", func() bool { return e.cachedPods() == 4 })
	e.settle(t, "default/redis")

	owned := 0
	for _, p := range e.storedPods(t) {
		ref := metav1.GetControllerOf(p)
		if p.Name == "stranger" {
			if ref != nil {
				t.Errorf("pod stranger adopted by %+v", ref)
			}
			continue
		}
		owned++
		if ref == nil || ref.APIVersion != "v1" || ref.Kind != "ReplicationController" || ref.Name != "redis" || ref.UID != rc.UID {
			t.Errorf("pod %s: controller %+v, want v1 ReplicationController redis", p.Name, ref)
		}
		if !labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(p.Labels)) || p.Labels["role"] != "cache" {
			t.Errorf("pod %s labels %v, want the template's", p.Name, p.Labels)
		}
		if p.Spec.Containers[0].Image != "redis:7" {
			t.Errorf("pod %s image %q", p.Name, p.Spec.Containers[0].Image)
		}
	}
	if owned != 3 {
		t.Errorf("%d pods owned by the RC, want 3", owned)
	}
	var got corev1.ReplicationController
	if err := e.s.Get(ctx, "default", "redis", &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Replicas != 3 || got.Status.FullyLabeledReplicas != 3 || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("RC status = %+v, want 3 replicas, 3 fully labeled, observedGeneration %d", got.Status, got.Generation)
	}
}

func TestStatusAvailableAfterMinReadySeconds(t *testing.T) {
	e := newEnv(t, KindReplicaSet)
	ctx := t.Context()
	rs := testRS("web", 2, map[string]string{"app": "web"})
	rs.Spec.MinReadySeconds = 10
	if err := e.s.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	e.waitCached(t, rs)
	e.reconcile(t, "default/web")
	testutil.EventuallyTrue(t, 10*time.Second, "2 cached pods", func() bool { return e.cachedPods() == 2 })

	// The node agent reports both pods Running and Ready now.
	for _, p := range e.storedPods(t) {
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		readySince(e.clk.Now())(p)
		if err := e.s.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		e.waitCached(t, p)
	}
	status := func() appsv1.ReplicaSetStatus {
		t.Helper()
		var got appsv1.ReplicaSet
		if err := e.s.Get(ctx, "default", "web", &got); err != nil {
			t.Fatal(err)
		}
		e.waitCached(t, &got)
		return got.Status
	}
	res, err := e.c.Reconcile(ctx, "default/web")
	if err != nil {
		t.Fatal(err)
	}
	st := status()
	if st.Replicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 0 {
		t.Fatalf("status right after ready = %+v, want 2 replicas, 2 ready, 0 available", st)
	}
	if res.RequeueAfter < 10*time.Second || res.RequeueAfter > 11*time.Second {
		t.Errorf("RequeueAfter = %v, want about minReadySeconds (10s)", res.RequeueAfter)
	}

	e.clk.Step(res.RequeueAfter)
	res, err = e.c.Reconcile(ctx, "default/web")
	if err != nil {
		t.Fatal(err)
	}
	if st := status(); st.AvailableReplicas != 2 {
		t.Fatalf("status after minReadySeconds = %+v, want 2 available", st)
	}
	if res.RequeueAfter != 0 {
		t.Errorf("RequeueAfter = %v once all are available, want 0", res.RequeueAfter)
	}
	// Nothing changed: no write.
	before := status()
	var cur appsv1.ReplicaSet
	_ = e.s.Get(ctx, "default", "web", &cur)
	e.reconcile(t, "default/web")
	var after appsv1.ReplicaSet
	_ = e.s.Get(ctx, "default", "web", &after)
	if cur.ResourceVersion != after.ResourceVersion {
		t.Errorf("an unchanged status was written again (%s -> %s, %+v)", cur.ResourceVersion, after.ResourceVersion, before)
	}
}

func TestRunConverges(t *testing.T) {
	e := newEnv(t, KindReplicationController)
	testutil.Start(t, e.c.Run)
	ctx := t.Context()
	objs, problems := manifests.Decode("redis.yaml", []byte(redisRC), manifests.Limits{})
	if err := problems.Err(); err != nil {
		t.Fatal(err)
	}
	rc := objs[0].Obj.(*corev1.ReplicationController)
	if err := e.s.Create(ctx, rc); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "3 pods", func() bool { return len(e.storedPods(t)) == 3 })
	// Deleting a pod (node death, a human) makes the controller replace it.
	if err := e.s.Delete(ctx, e.pods, "default", e.storedPods(t)[0].Name, ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "a replacement pod", func() bool {
		pods := e.storedPods(t)
		return len(pods) == 3 && e.cachedPods() == 3
	})
	e.setReplicas(t, "default", "redis", 1)
	testutil.EventuallyTrue(t, 10*time.Second, "1 pod", func() bool { return len(e.storedPods(t)) == 1 })
	testutil.EventuallyTrue(t, 10*time.Second, "status.replicas 1", func() bool {
		var got corev1.ReplicationController
		return e.s.Get(ctx, "default", "redis", &got) == nil && got.Status.Replicas == 1 && got.Status.ObservedGeneration == got.Generation
	})
}
