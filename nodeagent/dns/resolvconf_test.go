package dns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

func TestParseResolvConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ResolvConf
	}{
		{"empty", "", ResolvConf{}},
		{"typical", "# generated\nnameserver 192.0.2.53\nnameserver 2001:db8::53 # v6\nsearch corp.example. lab.example\noptions edns0 ndots:2\n",
			ResolvConf{Nameservers: []string{"192.0.2.53", "2001:db8::53"}, Searches: []string{"corp.example", "lab.example"}, Options: []string{"edns0", "ndots:2"}}},
		{"last search wins, domain too", "search a.example\ndomain b.example\n", ResolvConf{Searches: []string{"b.example"}}},
		{"search . alone", "search .\n", ResolvConf{}},
		{"options merge by name", "options ndots:1 rotate\noptions ndots:3\n", ResolvConf{Options: []string{"ndots:3", "rotate"}}},
		{"bad nameserver left out", "nameserver resolver.example\nnameserver\nnameserver 127.0.0.53\n", ResolvConf{Nameservers: []string{"127.0.0.53"}}},
		{"semicolon comment", "nameserver 192.0.2.1 ; primary\n; nameserver 192.0.2.2\n", ResolvConf{Nameservers: []string{"192.0.2.1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, ParseResolvConf([]byte(tt.in)), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestUpstreams(t *testing.T) {
	rc := ResolvConf{Nameservers: []string{"192.0.2.53", "10.0.0.5", "2001:db8::53"}}
	got := rc.Upstreams("10.0.0.5")
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Upstreams skipping the server's own address (-want +got):\n%s", d)
	}
}

func TestPodDNS(t *testing.T) {
	dir := t.TempDir()
	hostConf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(hostConf, []byte("nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := func(policy corev1.DNSPolicy, hostNet bool, dc *corev1.PodDNSConfig) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "p"},
			Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet, DNSConfig: dc}}
	}
	cluster := &runtime.DNSConfig{Servers: []string{"10.0.0.5"},
		Searches: []string{"demo.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}, Options: []string{"ndots:5"}}
	host := &runtime.DNSConfig{Servers: []string{"192.0.2.53", "192.0.2.54"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}
	full := PodConfigurer{ClusterDomain: "cluster.local", ClusterDNS: []string{"10.0.0.5"}, HostResolvConf: hostConf}
	long := strings.Repeat("x", 60)
	var many []string
	for i := range 40 {
		many = append(many, string(rune('a'+i%26))+long[:i+1]+".example")
	}
	tests := []struct {
		name    string
		conf    PodConfigurer
		pod     *corev1.Pod
		want    *runtime.DNSConfig
		wantErr string
	}{
		{"ClusterFirst", full, pod(corev1.DNSClusterFirst, false, nil), cluster, ""},
		{"unset policy is ClusterFirst", full, pod("", false, nil), cluster, ""},
		{"ClusterFirst on hostNetwork is Default", full, pod(corev1.DNSClusterFirst, true, nil), host, ""},
		{"ClusterFirstWithHostNet on hostNetwork", full, pod(corev1.DNSClusterFirstWithHostNet, true, nil), cluster, ""},
		{"ClusterFirstWithHostNet without hostNetwork", full, pod(corev1.DNSClusterFirstWithHostNet, false, nil), cluster, ""},
		{"Default", full, pod(corev1.DNSDefault, false, nil), host, ""},
		{"None with dnsConfig", full, pod(corev1.DNSNone, false, &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.9"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}}),
			&runtime.DNSConfig{Servers: []string{"192.0.2.9"}, Searches: []string{"a.example"}, Options: []string{"ndots:2", "edns0"}}, ""},
		{"ClusterFirst with dnsConfig: appended, options merged", full, pod(corev1.DNSClusterFirst, false, &corev1.PodDNSConfig{
			Nameservers: []string{"192.0.2.9", "10.0.0.5"}, Searches: []string{"cluster.local", "b.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "single-request-reopen"}}}),
			&runtime.DNSConfig{Servers: []string{"10.0.0.5", "192.0.2.9"},
				Searches: []string{"demo.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "b.example"},
				Options:  []string{"ndots:1", "single-request-reopen"}}, ""},
		{"nameservers cut to 3", full, pod(corev1.DNSDefault, false, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.7", "192.0.2.8"}}),
			&runtime.DNSConfig{Servers: []string{"192.0.2.53", "192.0.2.54", "192.0.2.7"}, Searches: []string{"corp.example"}, Options: []string{"edns0"}}, ""},
		{"searches cut to 32", full, pod(corev1.DNSNone, false, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.9"}, Searches: many[:35]}),
			&runtime.DNSConfig{Servers: []string{"192.0.2.9"}, Searches: many[:32]}, ""},
		{"no cluster DNS: Default", PodConfigurer{ClusterDomain: "cluster.local", HostResolvConf: hostConf}, pod(corev1.DNSClusterFirst, false, nil), host, ""},
		{"no cluster domain: host searches only", PodConfigurer{ClusterDNS: []string{"10.0.0.5"}, HostResolvConf: hostConf}, pod(corev1.DNSClusterFirst, false, nil),
			&runtime.DNSConfig{Servers: []string{"10.0.0.5"}, Searches: []string{"corp.example"}, Options: []string{"ndots:5"}}, ""},
		{"no host resolv.conf: Default is localhost", PodConfigurer{}, pod(corev1.DNSDefault, false, nil),
			&runtime.DNSConfig{Servers: []string{"127.0.0.1"}, Searches: []string{"."}}, ""},
		{"host resolv.conf missing", PodConfigurer{HostResolvConf: filepath.Join(dir, "nope")}, pod(corev1.DNSDefault, false, nil), nil, "read resolver configuration"},
		{"unknown policy", full, pod("Sometimes", false, nil), nil, "unknown dnsPolicy Sometimes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conf.PodDNS(tt.pod)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if n := len(fitSearches(many)); n != 32 {
		t.Errorf("fitSearches kept %d of 40 short domains, want 32", n)
	}
	var wide []string
	for range 30 {
		wide = append(wide, strings.Repeat("w", 99)+".example")
	}
	if got := fitSearches(wide); len(strings.Join(got, " ")) > MaxSearchChars || len(got) != 18 {
		t.Errorf("fitSearches of 30 107-character domains kept %d (%d characters), want 18 within %d", len(got), len(strings.Join(got, " ")), MaxSearchChars)
	}
}

func TestResolvConfText(t *testing.T) {
	c := &runtime.DNSConfig{Servers: []string{"10.0.0.5"}, Searches: []string{"demo.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}}
	want := "nameserver 10.0.0.5\nsearch demo.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
	if got := string(c.ResolvConf()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if back := ParseResolvConf(c.ResolvConf()); !cmp.Equal(back.Nameservers, c.Servers) || !cmp.Equal(back.Searches, c.Searches) || !cmp.Equal(back.Options, c.Options) {
		t.Errorf("round trip: %+v", back)
	}
}
