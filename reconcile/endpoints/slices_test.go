package endpoints

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// sliceSummary renders a slice as "family ports: ip(ready,host,node) ...",
// the part the table tests compare.
func sliceSummary(sl *discoveryv1.EndpointSlice) string {
	var ports []string
	for _, p := range sl.Ports {
		ports = append(ports, fmt.Sprintf("%s/%s/%d", *p.Name, *p.Protocol, *p.Port))
	}
	var eps []string
	for _, e := range sl.Endpoints {
		s := strings.Join(e.Addresses, ",")
		if !*e.Conditions.Ready {
			s += "(not ready)"
		}
		if e.Hostname != nil {
			s += "(host " + *e.Hostname + ")"
		}
		if e.NodeName != nil {
			s += "(node " + *e.NodeName + ")"
		}
		eps = append(eps, s)
	}
	return fmt.Sprintf("%s [%s]: %s", sl.AddressType, strings.Join(ports, " "), strings.Join(eps, " "))
}

func TestEndpointSlices(t *testing.T) {
	const ns = "default"
	web := mkService(ns, "web", named("http", 80, "web"))
	headless := mkService(ns, "db", numbered("pg", 5432, 5432))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	v6 := mkService(ns, "six", numbered("", 80, 80))
	v6.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	var many []*corev1.Pod
	for i := range 250 {
		many = append(many, mkPod(ns, fmt.Sprintf("p%03d", i), withIP(fmt.Sprintf("10.1.%d.%d", i/100, i%100+1))))
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []string
	}{
		{"ready and not ready, per port set", web, []*corev1.Pod{
			mkPod(ns, "a", withIP("10.1.0.1"), withNode("n1"), withPort("web", 8080)),
			mkPod(ns, "b", withIP("10.1.0.2"), withNode("n2"), withPort("web", 9090), notReady()),
			mkPod(ns, "c", withIP("10.1.0.3"), withPort("web", 8080)),
		}, []string{
			"IPv4 [http/TCP/8080]: 10.1.0.1(node n1) 10.1.0.3",
			"IPv4 [http/TCP/9090]: 10.1.0.2(not ready)(node n2)",
		}},
		{"headless with hostnames", headless, []*corev1.Pod{
			mkPod(ns, "db-0", withIP("10.1.0.7"), func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" }),
			mkPod(ns, "db-1", withIP("10.1.0.8"), func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-1", "other" }),
		}, []string{"IPv4 [pg/TCP/5432]: 10.1.0.7(host db-0) 10.1.0.8"}},
		{"both families", web, []*corev1.Pod{
			mkPod(ns, "a", withIP("fd00::1"), withPort("web", 80)),
			mkPod(ns, "b", withIP("10.1.0.2"), withPort("web", 80)),
		}, []string{"IPv4 [http/TCP/80]: 10.1.0.2", "IPv6 [http/TCP/80]: fd00::1"}},
		{"no pods: one placeholder", web, nil, []string{"IPv4 []: "}},
		{"no pods, IPv6 service: placeholder IPv6", v6, nil, []string{"IPv6 []: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EndpointSlices(tt.svc, Subsets(tt.svc, tt.pods))
			var sums []string
			for _, sl := range got {
				sums = append(sums, sliceSummary(sl))
				checkSliceMeta(t, tt.svc, sl)
			}
			slices.Sort(sums)
			if d := cmp.Diff(tt.want, sums); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			again := EndpointSlices(tt.svc, Subsets(tt.svc, tt.pods))
			if d := cmp.Diff(got, again); d != "" {
				t.Errorf("the same pods gave other slices:\n%s", d)
			}
		})
	}

	t.Run("250 endpoints: chunks of 100", func(t *testing.T) {
		svc := mkService(ns, "big", numbered("", 80, 80))
		got := EndpointSlices(svc, Subsets(svc, many))
		var sizes []int
		names := map[string]bool{}
		seen := map[string]bool{}
		for _, sl := range got {
			sizes = append(sizes, len(sl.Endpoints))
			names[sl.Name] = true
			for _, e := range sl.Endpoints {
				seen[e.Addresses[0]] = true
			}
		}
		if !slices.Equal(sizes, []int{100, 100, 50}) || len(names) != 3 || len(seen) != 250 {
			t.Errorf("slice sizes %v, %d names, %d distinct addresses; want [100 100 50], 3, 250", sizes, len(names), len(seen))
		}
	})
}

// checkSliceMeta checks the labels, owner and name of a slice of svc.
func checkSliceMeta(t *testing.T, svc *corev1.Service, sl *discoveryv1.EndpointSlice) {
	t.Helper()
	want := map[string]string{"team": "a", LabelServiceName: svc.Name, LabelSliceManagedBy: SliceManagedByValue}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		want[LabelHeadless] = ""
	}
	if d := cmp.Diff(want, sl.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	if len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].Kind != "Service" || sl.OwnerReferences[0].Name != svc.Name ||
		sl.OwnerReferences[0].UID != svc.UID || !ptr.Deref(sl.OwnerReferences[0].Controller, false) {
		t.Errorf("ownerReferences = %+v, want the Service as controller", sl.OwnerReferences)
	}
	if errs := validation.IsDNS1123Subdomain(sl.Name); len(errs) > 0 || !strings.HasPrefix(sl.Name, svc.Name+"-") || sl.Namespace != svc.Namespace {
		t.Errorf("name %s/%s: %v", sl.Namespace, sl.Name, errs)
	}
}

// getSlices returns the slices of Service ns/name in the store.
func (e *env) getSlices(ns, name string) []*discoveryv1.EndpointSlice {
	e.t.Helper()
	r, _ := api.Lookup("endpointslices.discovery.k8s.io")
	objs, _, err := e.s.List(e.ctx, r, ns, store.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*discoveryv1.EndpointSlice
	for _, o := range objs {
		if sl := o.(*discoveryv1.EndpointSlice); sl.Labels[LabelServiceName] == name {
			out = append(out, sl)
		}
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// waitSlices waits until the slices of Service ns/name sum up to want (see
// sliceSummary), and returns them.
func (e *env) waitSlices(ns, name string, want []string) []*discoveryv1.EndpointSlice {
	e.t.Helper()
	var got []*discoveryv1.EndpointSlice
	e.eventually("endpointslices of "+ns+"/"+name, func() string {
		got = e.getSlices(ns, name)
		var sums []string
		for _, sl := range got {
			sums = append(sums, sliceSummary(sl))
		}
		slices.Sort(sums)
		return cmp.Diff(want, sums)
	})
	return got
}

func TestControllerSlices(t *testing.T) {
	const ns = "default"
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{
			name: "slices follow pods: ready, not ready, gone",
			run: func(t *testing.T, e *env) {
				svc := mkService(ns, "web", numbered("http", 80, 8080))
				e.create(svc)
				e.waitSlices(ns, "web", []string{"IPv4 []: "}) // the placeholder
				p := stored(mkPod(ns, "a", withIP("10.1.0.1"), withNode("n1")))
				e.create(p)
				e.create(stored(mkPod(ns, "b", withIP("10.1.0.2"), notReady())))
				got := e.waitSlices(ns, "web", []string{"IPv4 [http/TCP/8080]: 10.1.0.1(node n1) 10.1.0.2(not ready)"})
				checkSliceMeta(t, e.getService(ns, "web"), got[0])
				podRes, _ := api.Lookup("pods")
				if err := e.s.Delete(e.ctx, podRes, ns, "a", ""); err != nil {
					t.Fatal(err)
				}
				e.waitSlices(ns, "web", []string{"IPv4 [http/TCP/8080]: 10.1.0.2(not ready)"})
			},
		},
		{
			name: "a headless service gets endpoints and slices",
			run: func(t *testing.T, e *env) {
				svc := mkService(ns, "db", numbered("pg", 5432, 5432))
				svc.Spec.ClusterIP = corev1.ClusterIPNone
				e.create(svc)
				e.create(stored(mkPod(ns, "db-0", withIP("10.1.0.7"), func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })))
				e.waitSlices(ns, "db", []string{"IPv4 [pg/TCP/5432]: 10.1.0.7(host db-0)"})
				ep := e.waitSubsets(ns, "db", []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{noUID(func() corev1.EndpointAddress {
						a := addr(ns, "db-0", "10.1.0.7", "")
						a.Hostname = "db-0"
						return a
					}())},
					Ports: []corev1.EndpointPort{epPort("pg", 5432)}}})
				if _, ok := ep.Labels[LabelHeadless]; !ok {
					t.Errorf("endpoints labels %v lack %s", ep.Labels, LabelHeadless)
				}
			},
		},
		{
			name: "deleting the service deletes its slices, not others'",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				e.waitSlices(ns, "web", []string{"IPv4 [/TCP/80]: 10.1.0.1"})
				mirrored := &discoveryv1.EndpointSlice{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-mirrored",
						Labels: map[string]string{LabelServiceName: "web", LabelSliceManagedBy: "someone-else"}},
					AddressType: discoveryv1.AddressTypeIPv4,
				}
				e.create(mirrored)
				svcRes, _ := api.Lookup("services")
				if err := e.s.Delete(e.ctx, svcRes, ns, "web", ""); err != nil {
					t.Fatal(err)
				}
				e.eventually("our slices deleted", func() string {
					var names []string
					for _, sl := range e.getSlices(ns, "web") {
						names = append(names, sl.Name)
					}
					return cmp.Diff([]string{"web-mirrored"}, names)
				})
			},
		},
		{
			name: "a slice changed by someone else is restored; nothing changed, nothing written",
			run: func(t *testing.T, e *env) {
				e.create(mkService(ns, "web", numbered("", 80, 80)))
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				want := []string{"IPv4 [/TCP/80]: 10.1.0.1"}
				sl := e.waitSlices(ns, "web", want)[0]
				sl.Endpoints = nil
				if err := e.s.Update(e.ctx, sl); err != nil {
					t.Fatal(err)
				}
				sl = e.waitSlices(ns, "web", want)[0]
				waitCache(t, e, "endpointslices.discovery.k8s.io", ns, sl.Name, sl.ResourceVersion)
				for range 3 {
					if _, err := e.c.Reconcile(e.ctx, ns+"/web"); err != nil {
						t.Fatal(err)
					}
				}
				if got := e.getSlices(ns, "web"); len(got) != 1 || got[0].ResourceVersion != sl.ResourceVersion {
					t.Errorf("slice rewritten without a change: %v", got)
				}
			},
		},
		{
			name: "removing the selector deletes the slices, keeps the endpoints",
			run: func(t *testing.T, e *env) {
				svc := mkService(ns, "web", numbered("", 80, 80))
				e.create(svc)
				e.create(stored(mkPod(ns, "a", withIP("10.1.0.1"))))
				e.waitSlices(ns, "web", []string{"IPv4 [/TCP/80]: 10.1.0.1"})
				svc = e.getService(ns, "web")
				svc.Spec.Selector = nil
				if err := e.s.Update(e.ctx, svc); err != nil {
					t.Fatal(err)
				}
				e.waitSlices(ns, "web", nil)
				if e.getEndpoints(ns, "web") == nil {
					t.Error("the endpoints (now the user's) were deleted")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, startEnv(t))
		})
	}
}

func (e *env) getService(ns, name string) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{}
	if err := e.s.Get(e.ctx, ns, name, svc); err != nil {
		e.t.Fatal(errors.Join(fmt.Errorf("get service %s/%s", ns, name), err))
	}
	return svc
}
