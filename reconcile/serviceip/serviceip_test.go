package serviceip

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

type env struct {
	t      *testing.T
	s      *store.Store
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs a controller on s (a new store when nil) until stop.
func start(t *testing.T, s *store.Store, cidr string) *env {
	t.Helper()
	if s == nil {
		s = storetest.Start(t)
	}
	log := storetest.Logger(t)
	inf := cache.NewInformers(s, log)
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	rec := eventstest.Recorder(t, s, Name)
	c, err := New(Config{Writer: s, Recorder: rec, Informers: inf, Logger: log, ServiceCIDR: n, NodePortRange: PortRange{30000, 30009}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	t.Cleanup(e.stop)
	inf.Start(e.ctx)
	e.wg.Go(func() {
		if err := c.Run(e.ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

func (e *env) stop() { e.cancel(); e.wg.Wait() }

func (e *env) create(svc *corev1.Service) {
	e.t.Helper()
	if err := e.s.Create(context.Background(), svc); err != nil {
		e.t.Fatalf("create %s: %v", svc.Name, err)
	}
}

func (e *env) get(name string) *corev1.Service {
	e.t.Helper()
	svc := &corev1.Service{}
	if err := e.s.Get(context.Background(), "default", name, svc); err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// eventually waits until cond returns "" (cond's answer is what is still
// wrong), for up to 10 s.
func (e *env) eventually(what string, cond func() string) {
	e.t.Helper()
	testutil.EventuallyNoDiff(e.t, 10*time.Second, what, cond)
}

func (e *env) event(name, reason string) *corev1.Event {
	e.t.Helper()
	evs := eventstest.Find(e.t, e.s, "default", name, reason)
	if len(evs) == 0 {
		return nil
	}
	return evs[0]
}

func service(name, ip string, typ corev1.ServiceType, nodePorts ...int32) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Type: typ, Selector: map[string]string{"app": name}},
	}
	if len(nodePorts) == 0 {
		nodePorts = []int32{0}
	}
	for i, np := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "p" + string(rune('a'+i)), Port: int32(80 + i), Protocol: corev1.ProtocolTCP, NodePort: np})
	}
	return s
}

func TestAllocates(t *testing.T) {
	e := start(t, nil, "10.96.0.0/29") // usable: .2 .. .6
	e.create(service("web", "", corev1.ServiceTypeClusterIP))
	e.create(service("front", "", corev1.ServiceTypeNodePort, 0, 0))
	e.create(service("headless", corev1.ClusterIPNone, corev1.ServiceTypeClusterIP))
	e.create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}})

	_, cidr, _ := net.ParseCIDR("10.96.0.0/29")
	seen := map[string]string{}
	for _, name := range []string{"web", "front"} {
		e.eventually(name+" gets a cluster IP", func() string {
			s := e.get(name)
			if s.Spec.ClusterIP == "" {
				return "no clusterIP yet"
			}
			ip := net.ParseIP(s.Spec.ClusterIP)
			if !cidr.Contains(ip) || s.Spec.ClusterIP == "10.96.0.0" || s.Spec.ClusterIP == "10.96.0.1" || s.Spec.ClusterIP == "10.96.0.7" {
				return "bad clusterIP " + s.Spec.ClusterIP
			}
			if len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
				return "clusterIPs " + s.Spec.ClusterIP
			}
			return ""
		})
		ip := e.get(name).Spec.ClusterIP
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s and %s share %s", name, other, ip)
		}
		seen[ip] = name
	}
	e.eventually("front gets node ports", func() string {
		s := e.get("front")
		a, b := s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort
		if a < 30000 || a > 30009 || b < 30000 || b > 30009 || a == b {
			return "node ports " + s.Spec.String()
		}
		return ""
	})
	if ip := e.get("headless").Spec.ClusterIP; ip != corev1.ClusterIPNone {
		t.Errorf("headless service's clusterIP became %q", ip)
	}
	if ip := e.get("ext").Spec.ClusterIP; ip != "" {
		t.Errorf("ExternalName service got clusterIP %q", ip)
	}
	if np := e.get("web").Spec.Ports[0].NodePort; np != 0 {
		t.Errorf("ClusterIP service got node port %d", np)
	}
}

func TestManifestAddresses(t *testing.T) {
	e := start(t, nil, "10.96.0.0/24")
	e.create(service("first", "10.96.0.50", corev1.ServiceTypeNodePort, 30005))
	e.eventually("first keeps its manifest addresses", func() string {
		s := e.get("first")
		if s.Spec.ClusterIP != "10.96.0.50" || len(s.Spec.ClusterIPs) != 1 || s.Spec.Ports[0].NodePort != 30005 {
			return "spec " + s.Spec.String()
		}
		return ""
	})
	// A later commit: same address and node port, and an out-of-range one.
	e.create(service("second", "10.96.0.50", corev1.ServiceTypeNodePort, 30005))
	e.create(service("outside", "10.97.0.1", corev1.ServiceTypeNodePort, 31000))
	for _, w := range []struct{ name, reason string }{
		{"second", ReasonClusterIPConflict}, {"second", ReasonNodePortConflict},
		{"outside", ReasonClusterIPOutOfRange}, {"outside", ReasonNodePortOutOfRange},
	} {
		e.eventually(w.name+" gets a "+w.reason+" event", func() string {
			ev := e.event(w.name, w.reason)
			if ev == nil {
				return "no event"
			}
			if ev.Type != corev1.EventTypeWarning || ev.InvolvedObject.Name != w.name || ev.Message == "" {
				return "event " + ev.String()
			}
			return ""
		})
	}
	if s := e.get("second"); len(s.Spec.ClusterIPs) != 0 || s.Spec.Ports[0].NodePort != 30005 {
		t.Errorf("the conflicting service was written: %s", s.Spec.String())
	}

	// The holder goes: the waiting service gets the address.
	if err := e.s.Delete(context.Background(), storetest.Resource(t, "services"), "default", "first", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("second takes over the address", func() string {
		s := e.get("second")
		if len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != "10.96.0.50" {
			return "spec " + s.Spec.String()
		}
		return ""
	})
}

// allocated waits until the Service name has a cluster IP and a node port,
// and returns it.
func (e *env) allocated(name string) *corev1.Service {
	e.t.Helper()
	e.eventually(name+" allocated", func() string {
		if s := e.get(name); s.Spec.ClusterIP == "" || s.Spec.Ports[0].NodePort == 0 {
			return "spec " + s.Spec.String()
		}
		return ""
	})
	return e.get(name)
}

func TestStableAcrossRestarts(t *testing.T) {
	e := start(t, nil, "10.96.0.0/24")
	e.create(service("a", "", corev1.ServiceTypeNodePort))
	a := e.allocated("a")
	e.stop()

	// A new controller on the same store: a keeps its addresses and a new
	// Service gets different ones.
	e2 := start(t, e.s, "10.96.0.0/24")
	e2.create(service("b", "", corev1.ServiceTypeNodePort))
	b := e2.allocated("b")
	if b.Spec.ClusterIP == a.Spec.ClusterIP || b.Spec.Ports[0].NodePort == a.Spec.Ports[0].NodePort {
		t.Errorf("after a restart b got a's addresses: a %s, b %s", a.Spec.String(), b.Spec.String())
	}
	if got := e2.get("a"); got.ResourceVersion != a.ResourceVersion {
		t.Errorf("a was rewritten after the restart: %s", got.Spec.String())
	}
}

func TestExhaustion(t *testing.T) {
	e := start(t, nil, "10.96.0.0/30") // only .2 is allocatable
	e.create(service("a", "", corev1.ServiceTypeClusterIP))
	e.eventually("a allocated", func() string {
		if e.get("a").Spec.ClusterIP != "10.96.0.2" {
			return "not yet"
		}
		return ""
	})
	e.create(service("b", "", corev1.ServiceTypeClusterIP))
	e.eventually("b reported", func() string {
		if e.event("b", ReasonClusterIPsExhausted) == nil {
			return "no event"
		}
		return ""
	})
	if err := e.s.Delete(context.Background(), storetest.Resource(t, "services"), "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	e.eventually("b gets the freed address", func() string {
		if e.get("b").Spec.ClusterIP != "10.96.0.2" {
			return "not yet"
		}
		return ""
	})
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
		err  bool
	}{
		{"30000-32767", PortRange{30000, 32767}, false},
		{" 1 - 2 ", PortRange{1, 2}, false},
		{"5-4", PortRange{}, true},
		{"0-10", PortRange{}, true},
		{"30000", PortRange{}, true},
		{"1-70000", PortRange{}, true},
	}
	for _, tc := range tests {
		got, err := ParsePortRange(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParsePortRange(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestNewRejectsBadCIDR(t *testing.T) {
	s := storetest.Start(t)
	for _, c := range []string{"fd00::/112", "10.0.0.0/31", "10.0.0.0/8"} {
		_, n, _ := net.ParseCIDR(c)
		if _, err := New(Config{Writer: s, Informers: cache.NewInformers(s, nil), ServiceCIDR: n}); err == nil {
			t.Errorf("New accepted service CIDR %s", c)
		}
	}
}
