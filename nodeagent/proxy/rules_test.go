package proxy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// svc returns a Service; ports are "name:port/PROTO:nodePort" specs built
// by the port helper.
func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports, Type: corev1.ServiceTypeClusterIP},
	}
}

func port(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: proto}
}

func nodePort(s *corev1.Service, nps ...int32) *corev1.Service {
	s.Spec.Type = corev1.ServiceTypeNodePort
	for i, np := range nps {
		s.Spec.Ports[i].NodePort = np
	}
	return s
}

func affinity(s *corev1.Service, timeout *int32) *corev1.Service {
	s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	if timeout != nil {
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: timeout}}
	}
	return s
}

// eps returns an Endpoints with one subset: ready and not-ready IPs on the
// given ports.
func eps(ns, name string, ready, notReady []string, ports ...corev1.EndpointPort) *corev1.Endpoints {
	ss := corev1.EndpointSubset{Ports: ports}
	for _, ip := range ready {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
	}
	for _, ip := range notReady {
		ss.NotReadyAddresses = append(ss.NotReadyAddresses, corev1.EndpointAddress{IP: ip})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: []corev1.EndpointSubset{ss}}
}

func epPort(name string, p int32, proto corev1.Protocol) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: p, Protocol: proto}
}

// render returns the full restore input of both tables for a rule set.
func render(rs *ruleSet) string {
	var b bytes.Buffer
	b.Write(restoreInput(TableNAT, rs.tables[TableNAT], nil, nil))
	b.Write(restoreInput(TableFilter, rs.tables[TableFilter], nil, nil))
	return b.String()
}

func TestBuildRulesGolden(t *testing.T) {
	three := []string{"10.244.0.11", "10.244.0.12", "10.244.0.13"}
	tests := []struct {
		name     string
		services []*corev1.Service
		eps      []*corev1.Endpoints
		opts     buildOptions
	}{
		{name: "empty"},
		{
			name:     "clusterip",
			services: []*corev1.Service{svc("default", "web", "10.96.0.10", port("", 80, corev1.ProtocolTCP))},
			eps:      []*corev1.Endpoints{eps("default", "web", three, nil, epPort("", 8080, corev1.ProtocolTCP))},
		},
		{
			name:     "cluster-cidr",
			services: []*corev1.Service{svc("default", "web", "10.96.0.10", port("", 80, corev1.ProtocolTCP))},
			eps:      []*corev1.Endpoints{eps("default", "web", three[:2], nil, epPort("", 8080, corev1.ProtocolTCP))},
			opts:     buildOptions{clusterCIDR: "10.244.0.0/16"},
		},
		{
			name:     "nodeport",
			services: []*corev1.Service{nodePort(svc("shop", "front", "10.96.0.20", port("http", 80, corev1.ProtocolTCP)), 30080)},
			eps:      []*corev1.Endpoints{eps("shop", "front", three[:2], nil, epPort("http", 8080, corev1.ProtocolTCP))},
		},
		{
			name:     "nodeport-node-ips",
			services: []*corev1.Service{nodePort(svc("shop", "front", "10.96.0.20", port("http", 80, corev1.ProtocolTCP)), 30080)},
			eps:      []*corev1.Endpoints{eps("shop", "front", three[:1], nil, epPort("http", 8080, corev1.ProtocolTCP))},
			opts:     buildOptions{nodeIPs: []string{"192.168.1.5", "10.0.0.5"}},
		},
		{
			name: "affinity",
			services: []*corev1.Service{
				affinity(svc("default", "sticky", "10.96.0.30", port("", 80, corev1.ProtocolTCP)), nil),
				affinity(svc("default", "short", "10.96.0.31", port("", 80, corev1.ProtocolTCP)), ptr.To[int32](60)),
			},
			eps: []*corev1.Endpoints{
				eps("default", "sticky", three[:2], nil, epPort("", 8080, corev1.ProtocolTCP)),
				eps("default", "short", three[2:], nil, epPort("", 8080, corev1.ProtocolTCP)),
			},
		},
		{
			name: "no-endpoints-reject",
			services: []*corev1.Service{
				svc("default", "none", "10.96.0.40", port("", 80, corev1.ProtocolTCP)),
				nodePort(svc("default", "none-np", "10.96.0.41", port("dns", 53, corev1.ProtocolUDP)), 30053),
				svc("default", "unready", "10.96.0.42", port("", 80, corev1.ProtocolTCP)),
			},
			eps: []*corev1.Endpoints{
				eps("default", "unready", nil, three, epPort("", 8080, corev1.ProtocolTCP)),
			},
		},
		{
			name:     "only-ready",
			services: []*corev1.Service{svc("default", "web", "10.96.0.10", port("", 80, corev1.ProtocolTCP))},
			eps:      []*corev1.Endpoints{eps("default", "web", three[:1], three[1:], epPort("", 8080, corev1.ProtocolTCP))},
		},
		{
			name: "multiple-ports",
			services: []*corev1.Service{svc("default", "multi", "10.96.0.50",
				port("http", 80, corev1.ProtocolTCP), port("dns", 53, corev1.ProtocolUDP), port("metrics", 9090, corev1.ProtocolTCP))},
			eps: []*corev1.Endpoints{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "multi"},
				Subsets: []corev1.EndpointSubset{
					{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.11"}, {IP: "10.244.0.12"}},
						Ports: []corev1.EndpointPort{epPort("http", 8080, corev1.ProtocolTCP), epPort("dns", 5353, corev1.ProtocolUDP)}},
					{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.13"}},
						Ports: []corev1.EndpointPort{epPort("http", 8080, corev1.ProtocolTCP)}},
				},
			}},
		},
		{
			name: "headless-and-externalname-skipped",
			services: []*corev1.Service{
				svc("default", "headless", corev1.ClusterIPNone, port("", 80, corev1.ProtocolTCP)),
				svc("default", "unallocated", "", port("", 80, corev1.ProtocolTCP)),
				{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"}},
			},
			eps: []*corev1.Endpoints{eps("default", "headless", three, nil, epPort("", 8080, corev1.ProtocolTCP))},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := render(buildRules(tc.services, tc.eps, tc.opts))
			// Same input, same output: the rules never depend on map order.
			if again := render(buildRules(reverse(tc.services), tc.eps, tc.opts)); again != got {
				t.Fatalf("rules depend on input order:\n%s\nvs\n%s", got, again)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rules differ from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func reverse[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestProbability(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{{2, "0.5000000000"}, {3, "0.3333333333"}, {10, "0.1000000000"}, {7, "0.1428571429"}}
	for _, tc := range tests {
		if got := probability(tc.n); got != tc.want {
			t.Errorf("probability(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestChainNamesFitIPTables(t *testing.T) {
	sp := servicePort{name: strings.Repeat("n", 63) + "/" + strings.Repeat("s", 63) + ":" + strings.Repeat("p", 15), protocol: "tcp"}
	for _, c := range []string{svcChain(sp), sepChain(sp, "10.0.0.1:80"), ChainExternalServices} {
		if len(c) > 28 {
			t.Errorf("chain %s is %d characters; iptables allows 28", c, len(c))
		}
	}
	if svcChain(sp) == svcChain(servicePort{name: sp.name, protocol: "udp"}) {
		t.Error("tcp and udp ports of one service share a chain")
	}
}
