package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// admitEnv is a store with an Admitter on its caches.
type admitEnv struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Store
	inf   *cache.Informers
	adm   *Admitter
	clock *clocktesting.FakeClock
}

// newAdmitEnv writes objs, then starts an Admitter whose caches hold them.
func newAdmitEnv(t testing.TB, objs ...api.Object) *admitEnv {
	t.Helper()
	e := &admitEnv{t: t, ctx: t.Context(), st: storetest.Start(t), clock: clocktesting.NewFakeClock(time.Now())}
	for _, o := range objs {
		e.create(o)
	}
	e.inf = cache.NewInformers(e.st, storetest.Logger(t))
	e.adm = NewAdmitter(AdmitterConfig{Informers: e.inf, Clock: e.clock, Logger: storetest.Logger(t)})
	e.inf.Start(e.ctx)
	if err := e.inf.WaitForSync(e.ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *admitEnv) create(o api.Object) {
	e.t.Helper()
	if err := e.st.Create(e.ctx, o); err != nil {
		e.t.Fatalf("create %s: %v", o.GetName(), err)
	}
}

// waitPods waits until the pod cache of namespace ns holds n pods.
func (e *admitEnv) waitPods(ns string, n int) {
	e.t.Helper()
	testutil.EventuallyNoDiff(e.t, 10*time.Second, "the pod cache", func() string {
		if got := len(e.inf.ForKind("pods").List(ns, nil)); got != n {
			return fmt.Sprintf("%d pods cached, want %d", got, n)
		}
		return ""
	})
}

func rq(name string, hard corev1.ResourceList, scopes ...corev1.ResourceQuotaScope) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: hard, Scopes: scopes}}
}

func named(p *corev1.Pod, name string) *corev1.Pod {
	p = p.DeepCopy()
	p.Name = name
	return p
}

func TestAdmitPodMessages(t *testing.T) {
	running := named(podWith(ctr("app", rl("cpu", "1500m"), rl("cpu", "2"))), "running")
	done := named(podWith(ctr("app", rl("cpu", "4"), rl("cpu", "4"))), "done")
	done.Status.Phase = corev1.PodSucceeded
	e := newAdmitEnv(t, running, done,
		rq("compute", rl("requests.cpu", "2", "limits.cpu", "4")),
		rq("best-effort", rl("pods", "0"), corev1.ResourceQuotaScopeBestEffort),
		limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")}))
	// done's status as the agent writes it: the cache must see a terminal pod.
	storetest.Modify(t, e.st, "ns", "done", &corev1.Pod{}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })

	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{{
		name: "exceeds requests.cpu",
		pod:  named(podWith(ctr("app", rl("cpu", "1"), rl("cpu", "1"))), "big"),
		want: `pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=1500m, limited: requests.cpu=2`,
	}, {
		name: "fits: the succeeded pod does not count",
		pod:  named(podWith(ctr("app", rl("cpu", "500m"), rl("cpu", "2"))), "fits"),
	}, {
		name: "now the admitted pod counts too",
		pod:  named(podWith(ctr("app", rl("cpu", "1m"), rl("cpu", "1m"))), "tiny"),
		want: `pods "tiny" is forbidden: exceeded quota: compute, requested: limits.cpu=1m,requests.cpu=1m, ` +
			`used: limits.cpu=4,requests.cpu=2, limited: limits.cpu=4,requests.cpu=2`,
	}, {
		name: "a container without a cpu limit",
		pod:  &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", GenerateName: "web-"}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("app", rl("cpu", "100m"), nil)}}},
		want: `pods "web-" is forbidden: failed quota: compute: must specify limits.cpu for: app`,
	}, {
		name: "best effort pods are limited to none",
		pod:  named(podWith(corev1.Container{Name: "app"}), "be"),
		want: `pods "be" is forbidden: failed quota: compute: must specify limits.cpu for: app; requests.cpu for: app`,
	}, {
		name: "the LimitRange refuses first",
		pod:  named(podWith(ctr("app", rl("cpu", "100m", "memory", "2Gi"), rl("cpu", "100m", "memory", "2Gi"))), "fat"),
		want: `pods "fat" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.adm.AdmitPod(e.ctx, tt.pod)
			if got := errString(err); got != tt.want {
				t.Fatalf("AdmitPod: %q, want %q", got, tt.want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("error %v does not wrap ErrForbidden", err)
			}
		})
	}
}

func TestAdmitBestEffortScope(t *testing.T) {
	e := newAdmitEnv(t, rq("best-effort", rl("pods", "1"), corev1.ResourceQuotaScopeBestEffort))
	burstable := named(podWith(ctr("app", rl("cpu", "1"), nil)), "burstable")
	for i := range 3 { // outside the scope: never counted
		if err := e.adm.AdmitPod(e.ctx, named(burstable, fmt.Sprint("b", i))); err != nil {
			t.Fatalf("burstable pod %d: %v", i, err)
		}
	}
	if err := e.adm.AdmitPod(e.ctx, named(podWith(corev1.Container{Name: "app"}), "be-1")); err != nil {
		t.Fatalf("first best-effort pod: %v", err)
	}
	want := `pods "be-2" is forbidden: exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1`
	if err := e.adm.AdmitPod(e.ctx, named(podWith(corev1.Container{Name: "app"}), "be-2")); errString(err) != want {
		t.Fatalf("second best-effort pod: %v, want %q", err, want)
	}
}

// TestAdmitConcurrent admits pods from many goroutines at once, none of them
// in the store yet: exactly the quota's worth is admitted. Then the
// admitted pods appear in the store, their reservations are released, and
// the quota still holds; deleting one lets exactly one more in.
func TestAdmitConcurrent(t *testing.T) {
	e := newAdmitEnv(t, rq("pods", rl("pods", "5", "requests.memory", "10Gi")))
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: types.UID("rs-uid"), Controller: new(true)}
	template := func() *corev1.Pod {
		p := podWith(ctr("app", rl("memory", "1Gi"), nil))
		p.Name, p.GenerateName, p.OwnerReferences = "", "web-", []metav1.OwnerReference{owner}
		return p
	}
	var admitted atomic.Int32
	var mu sync.Mutex
	var toCreate []*corev1.Pod
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			p := template()
			err := e.adm.AdmitPod(e.ctx, p)
			switch {
			case err == nil:
				admitted.Add(1)
				mu.Lock()
				toCreate = append(toCreate, p)
				mu.Unlock()
			case !errors.Is(err, ErrForbidden):
				t.Errorf("AdmitPod: %v", err)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 5 {
		t.Fatalf("%d pods admitted at once, want 5", n)
	}
	for _, p := range toCreate {
		e.create(p)
	}
	e.waitPods("ns", 5)
	if n := e.adm.Reserved("ns"); n != 0 {
		t.Errorf("%d reservations left once the pods are cached, want 0", n)
	}
	if err := e.adm.AdmitPod(e.ctx, template()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("sixth pod: %v, want a refusal", err)
	}
	victim := toCreate[0]
	if err := e.st.Delete(e.ctx, storetest.Resource(t, "pods"), "ns", victim.Name, ""); err != nil {
		t.Fatal(err)
	}
	e.waitPods("ns", 4)
	if err := e.adm.AdmitPod(e.ctx, template()); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	if err := e.adm.AdmitPod(e.ctx, template()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("one more after a delete: %v, want a refusal", err)
	}
}

// TestReservationTimeout: a pod admitted but never created stops counting
// after the reservation timeout.
func TestReservationTimeout(t *testing.T) {
	e := newAdmitEnv(t, rq("pods", rl("pods", "1")))
	if err := e.adm.AdmitPod(e.ctx, named(podWith(corev1.Container{Name: "app"}), "a")); err != nil {
		t.Fatal(err)
	}
	if err := e.adm.AdmitPod(e.ctx, named(podWith(corev1.Container{Name: "app"}), "b")); !errors.Is(err, ErrForbidden) {
		t.Fatalf("second pod while the first is reserved: %v, want a refusal", err)
	}
	e.clock.Step(DefaultReservationTimeout + time.Second)
	if err := e.adm.AdmitPod(e.ctx, named(podWith(corev1.Container{Name: "app"}), "b")); err != nil {
		t.Fatalf("after the timeout: %v", err)
	}
}

// TestCreateLoopStopsAtQuota is a ReplicaSet-like loop: workers admit and
// create pods as fast as they can; the store ends with exactly the quota's
// pods, and every refusal carries Kubernetes' message.
func TestCreateLoopStopsAtQuota(t *testing.T) {
	const limit = 7
	e := newAdmitEnv(t, rq("compute", rl("pods", "100", "requests.cpu", fmt.Sprint(limit*100, "m"))))
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: types.UID("rs-uid"), Controller: new(true)}
	var refused atomic.Int32
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 10 {
				p := podWith(ctr("app", rl("cpu", "100m"), nil))
				p.Name, p.GenerateName, p.OwnerReferences = "", "web-", []metav1.OwnerReference{owner}
				err := e.adm.AdmitPod(e.ctx, p)
				if err != nil {
					refused.Add(1)
					var r *Refusal
					if !errors.As(err, &r) || r.Reason[:len("exceeded quota: compute")] != "exceeded quota: compute" {
						t.Errorf("worker %d: %v", w, err)
					}
					continue
				}
				if err := e.st.Create(e.ctx, p); err != nil {
					t.Errorf("create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	pods, _, err := e.st.List(e.ctx, storetest.Resource(t, "pods"), "ns", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != limit || refused.Load() != 40-limit {
		t.Fatalf("%d pods created and %d refused, want %d and %d", len(pods), refused.Load(), limit, 40-limit)
	}
}

// TestOldPodsDoNotReleaseReservations: a pod of the same controller that
// was cached before an admission is not mistaken for the admitted pod.
func TestOldPodsDoNotReleaseReservations(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: types.UID("rs-uid"), Controller: new(true)}
	template := func(name string) *corev1.Pod {
		p := podWith(corev1.Container{Name: "app"})
		p.Name, p.GenerateName, p.OwnerReferences = name, "web-", []metav1.OwnerReference{owner}
		return p
	}
	e := newAdmitEnv(t, template("web-old"), rq("pods", rl("pods", "2")))
	if err := e.adm.AdmitPod(e.ctx, template("")); err != nil {
		t.Fatal(err)
	}
	want := `pods "web-" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2`
	if err := e.adm.AdmitPod(e.ctx, template("")); errString(err) != want {
		t.Fatalf("third pod: %v, want %q", err, want)
	}
}
