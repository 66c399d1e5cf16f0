package proxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestServiceEnv(t *testing.T) {
	redis := svc("shop", "redis-primary", "10.96.0.11", port("", 6379, corev1.ProtocolTCP))
	multi := svc("shop", "web", "10.96.0.12", port("http", 80, corev1.ProtocolTCP), port("dns-udp", 53, corev1.ProtocolUDP))
	kube := svc("default", "kubernetes", "10.96.0.1", port("https", 443, corev1.ProtocolTCP))
	tests := []struct {
		name     string
		services []*corev1.Service
		ns       string
		want     []corev1.EnvVar
	}{
		{
			name:     "single unnamed port",
			services: []*corev1.Service{redis},
			ns:       "shop",
			want: []corev1.EnvVar{
				{Name: "REDIS_PRIMARY_SERVICE_HOST", Value: "10.96.0.11"},
				{Name: "REDIS_PRIMARY_SERVICE_PORT", Value: "6379"},
				{Name: "REDIS_PRIMARY_PORT", Value: "tcp://10.96.0.11:6379"},
				{Name: "REDIS_PRIMARY_PORT_6379_TCP", Value: "tcp://10.96.0.11:6379"},
				{Name: "REDIS_PRIMARY_PORT_6379_TCP_PROTO", Value: "tcp"},
				{Name: "REDIS_PRIMARY_PORT_6379_TCP_PORT", Value: "6379"},
				{Name: "REDIS_PRIMARY_PORT_6379_TCP_ADDR", Value: "10.96.0.11"},
			},
		},
		{
			name:     "named ports, other namespaces, kubernetes, headless",
			services: []*corev1.Service{multi, kube, svc("other", "x", "10.96.0.99", port("", 1, corev1.ProtocolTCP)), svc("shop", "hl", corev1.ClusterIPNone, port("", 1, corev1.ProtocolTCP))},
			ns:       "shop",
			want: []corev1.EnvVar{
				{Name: "KUBERNETES_SERVICE_HOST", Value: "10.96.0.1"},
				{Name: "KUBERNETES_SERVICE_PORT", Value: "443"},
				{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: "443"},
				{Name: "KUBERNETES_PORT", Value: "tcp://10.96.0.1:443"},
				{Name: "KUBERNETES_PORT_443_TCP", Value: "tcp://10.96.0.1:443"},
				{Name: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
				{Name: "KUBERNETES_PORT_443_TCP_PORT", Value: "443"},
				{Name: "KUBERNETES_PORT_443_TCP_ADDR", Value: "10.96.0.1"},
				{Name: "WEB_SERVICE_HOST", Value: "10.96.0.12"},
				{Name: "WEB_SERVICE_PORT", Value: "80"},
				{Name: "WEB_SERVICE_PORT_HTTP", Value: "80"},
				{Name: "WEB_SERVICE_PORT_DNS_UDP", Value: "53"},
				{Name: "WEB_PORT", Value: "tcp://10.96.0.12:80"},
				{Name: "WEB_PORT_80_TCP", Value: "tcp://10.96.0.12:80"},
				{Name: "WEB_PORT_80_TCP_PROTO", Value: "tcp"},
				{Name: "WEB_PORT_80_TCP_PORT", Value: "80"},
				{Name: "WEB_PORT_80_TCP_ADDR", Value: "10.96.0.12"},
				{Name: "WEB_PORT_53_UDP", Value: "udp://10.96.0.12:53"},
				{Name: "WEB_PORT_53_UDP_PROTO", Value: "udp"},
				{Name: "WEB_PORT_53_UDP_PORT", Value: "53"},
				{Name: "WEB_PORT_53_UDP_ADDR", Value: "10.96.0.12"},
			},
		},
		{name: "nothing", services: []*corev1.Service{redis}, ns: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ServiceEnv(tc.services, tc.ns)); diff != "" {
				t.Errorf("ServiceEnv (-want +got):\n%s", diff)
			}
		})
	}
}
