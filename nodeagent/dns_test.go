package nodeagent_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/dns"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// The node agent's DNS package computes pods' resolv.conf.
var _ nodeagent.PodDNS = (*dns.PodConfigurer)(nil)

// podDNSFunc adapts a func to nodeagent.PodDNS.
type podDNSFunc func(*corev1.Pod) (*runtime.DNSConfig, error)

func (f podDNSFunc) PodDNS(p *corev1.Pod) (*runtime.DNSConfig, error) { return f(p) }

// TestSandboxDNS checks that a pod's sandbox is created with the
// resolv.conf Config.PodDNS computes for it, that a failure to compute it
// is retried, and that without PodDNS the runtime keeps the host's.
func TestSandboxDNS(t *testing.T) {
	want := &runtime.DNSConfig{Servers: []string{"192.168.1.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}}
	tests := []struct {
		name  string
		dns   nodeagent.PodDNS
		fails int // how many calls fail first
		want  *runtime.DNSConfig
	}{
		{"PodDNS", podDNSFunc(func(p *corev1.Pod) (*runtime.DNSConfig, error) {
			c := *want
			c.Searches = []string{p.Namespace + ".svc.cluster.local"}
			return &c, nil
		}), 0, want},
		{"PodDNS fails once", nil, 1, want},
		{"no PodDNS", nil, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var calls atomic.Int32
			podDNS := tt.dns
			if tt.fails > 0 {
				podDNS = podDNSFunc(func(*corev1.Pod) (*runtime.DNSConfig, error) {
					if calls.Add(1) <= int32(tt.fails) {
						return nil, errors.New("host resolv.conf unreadable")
					}
					return want, nil
				})
			}
			e.startWith(func(c *nodeagent.Config) { c.PodDNS = podDNS })
			e.createPod("web", corev1.RestartPolicyAlways)
			// Each failed sandbox creation is retried after a back-off.
			e.eventually("the pod to be Running and Ready", 250*time.Millisecond, func() bool { return runningReady(e.pod("web")) })
			if tt.fails > 0 && calls.Load() <= int32(tt.fails) {
				t.Errorf("PodDNS called %d times, want a retry after %d failures", calls.Load(), tt.fails)
			}
			sbs, err := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{})
			if err != nil || len(sbs) != 1 {
				t.Fatalf("sandboxes %v, %v; want one", sbs, err)
			}
			cfg, ok := e.rt.SandboxConfig(sbs[0].ID)
			if !ok {
				t.Fatal("SandboxConfig: no such sandbox")
			}
			if d := cmp.Diff(tt.want, cfg.DNS); d != "" {
				t.Errorf("sandbox resolv.conf (-want +got):\n%s", d)
			}
		})
	}
}

// TestSandboxHosts checks the /etc/hosts part of a pod's sandbox: its fully
// qualified name when it has a subdomain and the agent a cluster domain,
// and its hostAliases.
func TestSandboxHosts(t *testing.T) {
	aliases := []corev1.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}
	tests := []struct {
		name        string
		domain      string
		hostname    string
		subdomain   string
		wantFQDN    string
		wantAliases []runtime.HostAlias
	}{
		{"hostname and subdomain", "cluster.local.", "db-0", "db", "db-0.db.default.svc.cluster.local",
			[]runtime.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}},
		{"subdomain, pod name as hostname", "cluster.local", "", "db", "web.db.default.svc.cluster.local",
			[]runtime.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}},
		{"no subdomain", "cluster.local", "db-0", "", "", []runtime.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}},
		{"no cluster domain", "", "db-0", "db", "", []runtime.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.startWith(func(c *nodeagent.Config) { c.ClusterDomain = tt.domain })
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: corev1.PodSpec{NodeName: "n1", Hostname: tt.hostname, Subdomain: tt.subdomain, HostAliases: aliases,
					Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
			}
			if err := e.st.Create(ctx(t), p); err != nil {
				t.Fatal(err)
			}
			e.eventually("the pod to be Running and Ready", 0, func() bool { return runningReady(e.pod("web")) })
			sbs, err := e.rt.ListPodSandboxes(ctx(t), runtime.SandboxFilter{})
			if err != nil || len(sbs) != 1 {
				t.Fatalf("sandboxes %v, %v; want one", sbs, err)
			}
			cfg, _ := e.rt.SandboxConfig(sbs[0].ID)
			if cfg.HostnameFQDN != tt.wantFQDN {
				t.Errorf("HostnameFQDN %q, want %q", cfg.HostnameFQDN, tt.wantFQDN)
			}
			if d := cmp.Diff(tt.wantAliases, cfg.HostAliases); d != "" {
				t.Errorf("HostAliases (-want +got):\n%s", d)
			}
		})
	}
}
