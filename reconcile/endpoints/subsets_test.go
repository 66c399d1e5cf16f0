package endpoints

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
)

type podOpt func(*corev1.Pod)

func withIP(ip string) podOpt             { return func(p *corev1.Pod) { p.Status.PodIP = ip } }
func withNode(n string) podOpt            { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func notReady() podOpt                    { return func(p *corev1.Pod) { setReady(p, corev1.ConditionFalse) } }
func withPhase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func terminating() podOpt {
	return func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Unix(1, 0)) }
}
func withPort(name string, n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: name, ContainerPort: n})
	}
}
func withLabels(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

func setReady(p *corev1.Pod, s corev1.ConditionStatus) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			p.Status.Conditions[i].Status = s
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: s})
}

// mkPod returns a ready, running pod labelled app=web in namespace ns.
func mkPod(ns, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	setReady(p, corev1.ConditionTrue)
	for _, o := range opts {
		o(p)
	}
	return p
}

func mkService(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "svc-uid",
			Labels: map[string]string{"team": "a", api.LabelManagedBy: api.ManagedByValue}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports},
	}
}

func named(name string, port int32, target string) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString(target)}
}

func numbered(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(target)}
}

func addr(ns, pod, ip, node string) corev1.EndpointAddress {
	a := corev1.EndpointAddress{IP: ip, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID("uid-" + pod)}}
	if node != "" {
		a.NodeName = ptr.To(node)
	}
	return a
}

func epPort(name string, n int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: n, Protocol: corev1.ProtocolTCP}
}

func TestSubsets(t *testing.T) {
	const ns = "prod"
	tests := []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want []corev1.EndpointSubset
	}{
		{
			name: "ready and not-ready pods are split",
			svc:  mkService(ns, "web", numbered("http", 80, 8080)),
			pods: []*corev1.Pod{
				mkPod(ns, "b", withIP("10.0.0.2"), withNode("n2")),
				mkPod(ns, "a", withIP("10.0.0.1"), withNode("n1")),
				mkPod(ns, "c", withIP("10.0.0.3"), notReady()),
			},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr(ns, "a", "10.0.0.1", "n1"), addr(ns, "b", "10.0.0.2", "n2")},
				NotReadyAddresses: []corev1.EndpointAddress{addr(ns, "c", "10.0.0.3", "")},
				Ports:             []corev1.EndpointPort{epPort("http", 8080)},
			}},
		},
		{
			name: "pods without IP, finished, terminating or in another namespace are skipped",
			svc:  mkService(ns, "web", numbered("", 80, 0)),
			pods: []*corev1.Pod{
				mkPod(ns, "noip"),
				mkPod(ns, "done", withIP("10.0.0.4"), withPhase(corev1.PodSucceeded)),
				mkPod(ns, "failed", withIP("10.0.0.5"), withPhase(corev1.PodFailed)),
				mkPod(ns, "dying", withIP("10.0.0.6"), terminating()),
				mkPod("other", "elsewhere", withIP("10.0.0.7")),
				mkPod(ns, "unselected", withIP("10.0.0.8"), withLabels(map[string]string{"app": "db"})),
				mkPod(ns, "ok", withIP("10.0.0.9")),
			},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{addr(ns, "ok", "10.0.0.9", "")},
				Ports:     []corev1.EndpointPort{epPort("", 80)},
			}},
		},
		{
			name: "publishNotReadyAddresses puts every pod in addresses, terminating ones too",
			svc: func() *corev1.Service {
				s := mkService(ns, "web", numbered("", 80, 80))
				s.Spec.PublishNotReadyAddresses = true
				return s
			}(),
			pods: []*corev1.Pod{
				mkPod(ns, "a", withIP("10.0.0.1"), notReady()),
				mkPod(ns, "b", withIP("10.0.0.2"), terminating()),
			},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{addr(ns, "a", "10.0.0.1", ""), addr(ns, "b", "10.0.0.2", "")},
				Ports:     []corev1.EndpointPort{epPort("", 80)},
			}},
		},
		{
			name: "named targetPort is resolved per pod and pods without it are left out of that port",
			svc:  mkService(ns, "web", named("http", 80, "web"), numbered("metrics", 9000, 9100)),
			pods: []*corev1.Pod{
				mkPod(ns, "v1", withIP("10.0.0.1"), withPort("web", 8080)),
				mkPod(ns, "v2", withIP("10.0.0.2"), withPort("web", 9090)),
				mkPod(ns, "v2b", withIP("10.0.0.3"), withPort("web", 9090), notReady()),
				mkPod(ns, "plain", withIP("10.0.0.4")),
			},
			want: []corev1.EndpointSubset{
				{
					Addresses: []corev1.EndpointAddress{addr(ns, "v1", "10.0.0.1", "")},
					Ports:     []corev1.EndpointPort{epPort("http", 8080), epPort("metrics", 9100)},
				},
				{
					Addresses:         []corev1.EndpointAddress{addr(ns, "v2", "10.0.0.2", "")},
					NotReadyAddresses: []corev1.EndpointAddress{addr(ns, "v2b", "10.0.0.3", "")},
					Ports:             []corev1.EndpointPort{epPort("http", 9090), epPort("metrics", 9100)},
				},
				{
					Addresses: []corev1.EndpointAddress{addr(ns, "plain", "10.0.0.4", "")},
					Ports:     []corev1.EndpointPort{epPort("metrics", 9100)},
				},
			},
		},
		{
			name: "a pod serving none of the ports is not listed",
			svc:  mkService(ns, "web", named("http", 80, "web")),
			pods: []*corev1.Pod{mkPod(ns, "plain", withIP("10.0.0.4"))},
			want: nil,
		},
		{
			name: "a named port with another protocol does not match",
			svc: mkService(ns, "dns", corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP,
				TargetPort: intstr.FromString("dns")}),
			pods: []*corev1.Pod{mkPod(ns, "tcp-only", withIP("10.0.0.4"), withPort("dns", 5353))},
			want: nil,
		},
		{
			name: "a service without ports lists addresses without ports",
			svc:  mkService(ns, "headless"),
			pods: []*corev1.Pod{mkPod(ns, "a", withIP("10.0.0.1")), mkPod(ns, "b", withIP("10.0.0.2"), notReady())},
			want: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{addr(ns, "a", "10.0.0.1", "")},
				NotReadyAddresses: []corev1.EndpointAddress{addr(ns, "b", "10.0.0.2", "")},
			}},
		},
		{
			name: "hostname is set when the pod's subdomain names the service",
			svc:  mkService(ns, "db"),
			pods: []*corev1.Pod{mkPod(ns, "db-0", withIP("10.0.0.1"), func(p *corev1.Pod) {
				p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db"
			})},
			want: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{func() corev1.EndpointAddress {
					a := addr(ns, "db-0", "10.0.0.1", "")
					a.Hostname = "db-0"
					return a
				}()},
			}},
		},
		{
			name: "no pods, no subsets",
			svc:  mkService(ns, "web", numbered("", 80, 80)),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Subsets(tt.svc, tt.pods)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Subsets() mismatch (-want +got):\n%s", diff)
			}
			// The result does not depend on the order of the pods.
			rev := append([]*corev1.Pod(nil), tt.pods...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if diff := cmp.Diff(got, Subsets(tt.svc, rev)); diff != "" {
				t.Errorf("Subsets() depends on pod order (-forward +reversed):\n%s", diff)
			}
		})
	}
}

func TestCanonicalIgnoresOrder(t *testing.T) {
	a := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("n", "b", "10.0.0.2", ""), addr("n", "a", "10.0.0.1", "")},
			Ports: []corev1.EndpointPort{epPort("y", 2), epPort("x", 1)}},
		{Addresses: []corev1.EndpointAddress{addr("n", "c", "10.0.0.3", "")}, Ports: []corev1.EndpointPort{epPort("x", 1)},
			NotReadyAddresses: []corev1.EndpointAddress{}},
	}
	b := []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr("n", "c", "10.0.0.3", "")}, Ports: []corev1.EndpointPort{epPort("x", 1)}},
		{Addresses: []corev1.EndpointAddress{addr("n", "a", "10.0.0.1", ""), addr("n", "b", "10.0.0.2", "")},
			Ports: []corev1.EndpointPort{epPort("x", 1), epPort("y", 2)}},
	}
	if diff := cmp.Diff(Canonical(a), Canonical(b)); diff != "" {
		t.Errorf("Canonical differs for the same content (-a +b):\n%s", diff)
	}
	b[0].Addresses[0].IP = "10.0.0.99"
	if cmp.Equal(Canonical(a), Canonical(b)) {
		t.Error("Canonical equal for different content")
	}
}
