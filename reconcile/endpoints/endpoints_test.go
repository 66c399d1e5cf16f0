package endpoints

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// env is a running endpoints controller on a real embedded etcd.
type env struct {
	t   *testing.T
	s   *store.Store
	c   *Controller
	inf *cache.Informers
	ctx context.Context
}

func startEnv(t *testing.T) *env {
	t.Helper()
	s := storetest.Start(t)
	log := storetest.Logger(t)
	inf := cache.NewInformers(s, log)
	c := New(Config{Writer: s, Informers: inf, Logger: log, Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs before etcd closes
	inf.Start(ctx)
	testutil.Start(t, c.Run)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, s: s, c: c, inf: inf, ctx: ctx}
}

func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.s.Create(e.ctx, obj); err != nil {
		e.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// getEndpoints reads namespace/name from the store; nil when absent.
func (e *env) getEndpoints(ns, name string) *corev1.Endpoints {
	e.t.Helper()
	ep := &corev1.Endpoints{}
	err := e.s.Get(e.ctx, ns, name, ep)
	if errors.Is(err, api.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return ep
}

// eventually waits until cond returns "" (cond's answer is what is still
// wrong), for up to 10 s.
func (e *env) eventually(what string, cond func() string) {
	e.t.Helper()
	testutil.EventuallyNoDiff(e.t, 10*time.Second, what, cond)
}

// waitSubsets waits until the Endpoints ns/name has want as its subsets.
// Pod UIDs are assigned by the store, so targetRef UIDs are not compared.
func (e *env) waitSubsets(ns, name string, want []corev1.EndpointSubset) *corev1.Endpoints {
	e.t.Helper()
	var got *corev1.Endpoints
	e.eventually("endpoints "+ns+"/"+name, func() string {
		got = e.getEndpoints(ns, name)
		if got == nil {
			return "no endpoints"
		}
		return cmp.Diff(want, stripUIDs(got.Subsets))
	})
	return got
}

func stripUIDs(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	out := Canonical(subsets)
	for i := range out {
		for _, l := range [][]corev1.EndpointAddress{out[i].Addresses, out[i].NotReadyAddresses} {
			for j := range l {
				if l[j].TargetRef != nil {
					l[j].TargetRef.UID = ""
				}
			}
		}
	}
	return out
}

// stored returns p ready to be created: no uid (the store assigns it).
func stored(p *corev1.Pod) *corev1.Pod {
	p.UID = ""
	return p
}

func noUID(a corev1.EndpointAddress) corev1.EndpointAddress {
	a.TargetRef.UID = types.UID("")
	return a
}

func TestController(t *testing.T) {
	const ns = "default"
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{
			name: "ready and not-ready pods, named targetPort per pod, pods without the name left out",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", named("http", 80, "web")))
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"), withNode("n1"), withPort("web", 8080))))
				e.create(stored(mkPod(ns, "b", withIP("10.1.0.2"), withNode("n2"), withPort("web", 9090), notReady())))
				e.create(stored(mkPod(ns, "c", withIP("10.1.0.3"), withNode("n2"))))
				ep := e.waitSubsets(ns, "web", []corev1.EndpointSubset{
					{Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", "n1"))},
						Ports: []corev1.EndpointPort{epPort("http", 8080)}},
					{NotReadyAddresses: []corev1.EndpointAddress{noUID(addr(ns, "b", "10.1.0.2", "n2"))},
						Ports: []corev1.EndpointPort{epPort("http", 9090)}},
				})
				pod := &corev1.Pod{}
				if err := e.s.Get(e.ctx, ns, "a", pod); err != nil {
					t.Fatal(err)
				}
				if got := ep.Subsets[0].Addresses[0].TargetRef.UID; got != pod.UID {
					t.Errorf("targetRef uid = %q, want the pod's %q", got, pod.UID)
				}
				if ep.Labels["team"] != "a" || ep.Labels[api.LabelManagedBy] != "" {
					t.Errorf("labels = %v, want the service's without %s", ep.Labels, api.LabelManagedBy)
				}
				if len(ep.OwnerReferences) != 1 || ep.OwnerReferences[0].Kind != "Service" || ep.OwnerReferences[0].Name != "web" {
					t.Errorf("ownerReferences = %+v, want the service as controller", ep.OwnerReferences)
				}
			},
		},
		{
			name: "a pod becoming ready moves to addresses",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 8080)))
				p := stored(mkPod(ns, "a", withIP("10.1.0.1"), notReady()))
				e.create(p)
				e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					NotReadyAddresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					Ports:             []corev1.EndpointPort{epPort("", 8080)}}})
				setReady(p, corev1.ConditionTrue)
				if err := e.s.Update(e.ctx, p); err != nil {
					t.Fatal(err)
				}
				e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 8080)}}})
			},
		},
		{
			name: "a label change moves a pod out of and back into the service",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				p := stored(mkPod(ns, "a", withIP("10.1.0.1")))
				e.create(p)
				e.create(stored(mkPod(ns, "b", withIP("10.1.0.2"))))
				both := []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", "")), noUID(addr(ns, "b", "10.1.0.2", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 80)}}}
				e.waitSubsets(ns, "web", both)
				p.Labels = map[string]string{"app": "other"}
				if err := e.s.Update(e.ctx, p); err != nil {
					t.Fatal(err)
				}
				e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "b", "10.1.0.2", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 80)}}})
				p.Labels = map[string]string{"app": "web"}
				if err := e.s.Update(e.ctx, p); err != nil {
					t.Fatal(err)
				}
				e.waitSubsets(ns, "web", both)
			},
		},
		{
			name: "deleting the service deletes its endpoints",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 80)}}})
				svcRes, _ := api.Lookup("services")
				if err := e.s.Delete(e.ctx, svcRes, ns, "web", ""); err != nil {
					t.Fatal(err)
				}
				e.eventually("endpoints deleted", func() string {
					if e.getEndpoints(ns, "web") != nil {
						return "endpoints still there"
					}
					return ""
				})
			},
		},
		{
			name: "a service without selector leaves its user-written endpoints alone, even when deleted",
			run: func(t *testing.T, e *env) {
				svc := mkService(ns, "ext", numbered("", 443, 443))
				svc.Spec.Selector = nil
				e.create(svc)
				user := &corev1.Endpoints{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ext"},
					Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
						Ports: []corev1.EndpointPort{{Port: 443}}}},
				}
				e.create(user)
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				// A selector-bearing service as a witness that the controller is running.
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 80)}}})
				waitCache(t, e, "endpoints", ns, "ext", user.ResourceVersion)
				waitCache(t, e, "services", ns, "ext", svc.ResourceVersion)
				if _, err := e.c.Reconcile(e.ctx, ns+"/ext"); err != nil {
					t.Fatal(err)
				}
				if got := e.getEndpoints(ns, "ext"); got == nil || got.ResourceVersion != user.ResourceVersion {
					t.Fatalf("user endpoints changed: %+v", got)
				}
				svcRes, _ := api.Lookup("services")
				if err := e.s.Delete(e.ctx, svcRes, ns, "ext", ""); err != nil {
					t.Fatal(err)
				}
				waitGone(t, e, "services", ns, "ext")
				if _, err := e.c.Reconcile(e.ctx, ns+"/ext"); err != nil {
					t.Fatal(err)
				}
				if got := e.getEndpoints(ns, "ext"); got == nil || got.ResourceVersion != user.ResourceVersion {
					t.Fatalf("user endpoints of a deleted service changed or deleted: %+v", got)
				}
			},
		},
		{
			name: "nothing changed, nothing written",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				p := stored(mkPod(ns, "a", withIP("10.1.0.1")))
				e.create(p)
				e.create(stored(mkPod(ns, "b", withIP("10.1.0.2"), notReady())))
				ep := e.waitSubsets(ns, "web", []corev1.EndpointSubset{{
					Addresses:         []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					NotReadyAddresses: []corev1.EndpointAddress{noUID(addr(ns, "b", "10.1.0.2", ""))},
					Ports:             []corev1.EndpointPort{epPort("", 80)}}})
				// An irrelevant pod change, seen by the cache, and explicit reconciles.
				p.Annotations = map[string]string{"touched": "yes"}
				if err := e.s.Update(e.ctx, p); err != nil {
					t.Fatal(err)
				}
				waitCache(t, e, "pods", ns, "a", p.ResourceVersion)
				waitCache(t, e, "endpoints", ns, "web", ep.ResourceVersion)
				for range 3 {
					if _, err := e.c.Reconcile(e.ctx, ns+"/web"); err != nil {
						t.Fatal(err)
					}
				}
				if got := e.getEndpoints(ns, "web"); got.ResourceVersion != ep.ResourceVersion {
					t.Errorf("endpoints rewritten: resourceVersion %s, was %s", got.ResourceVersion, ep.ResourceVersion)
				}
			},
		},
		{
			name: "endpoints changed by someone else are restored",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				want := []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(addr(ns, "a", "10.1.0.1", ""))},
					Ports:     []corev1.EndpointPort{epPort("", 80)}}}
				ep := e.waitSubsets(ns, "web", want)
				ep.Subsets = nil
				if err := e.s.Update(e.ctx, ep); err != nil {
					t.Fatal(err)
				}
				e.waitSubsets(ns, "web", want)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, startEnv(t))
		})
	}
}

// waitCache waits until the controller's informer for resource holds ns/name at
// resourceVersion rv or later.
func waitCache(t *testing.T, e *env, resource, ns, name, rv string) {
	t.Helper()
	inf := e.inf.ForKind(resource)
	e.eventually("cache of "+resource, func() string {
		o, ok := inf.Get(ns, name)
		if !ok {
			return "not cached"
		}
		have, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
		want, _ := strconv.ParseInt(rv, 10, 64)
		if have < want {
			return "cache at " + o.GetResourceVersion() + ", want " + rv
		}
		return ""
	})
}

func waitGone(t *testing.T, e *env, resource, ns, name string) {
	t.Helper()
	inf := e.inf.ForKind(resource)
	e.eventually("cache of "+resource, func() string {
		if _, ok := inf.Get(ns, name); ok {
			return "still cached"
		}
		return ""
	})
}
