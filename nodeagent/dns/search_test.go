package dns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lookup resolves name as a stub resolver (glibc) does with the resolv.conf
// conf: a name with fewer dots than ndots (or no trailing dot) is tried
// with each search domain first, then as it is; the first NOERROR with
// answers wins. It returns the name that answered and its addresses.
func lookup(t *testing.T, conf []byte, addr, name string) (string, []string) {
	t.Helper()
	rc := ParseResolvConf(conf)
	ndots := 1
	for _, o := range rc.Options {
		if v, ok := strings.CutPrefix(o, "ndots:"); ok {
			ndots = int(v[0] - '0')
		}
	}
	var candidates []string
	if strings.HasSuffix(name, ".") {
		candidates = []string{name}
	} else {
		for _, s := range rc.Searches {
			candidates = append(candidates, name+"."+s+".")
		}
		if strings.Count(name, ".") >= ndots {
			candidates = append([]string{name + "."}, candidates...)
		} else {
			candidates = append(candidates, name+".")
		}
	}
	for _, c := range candidates {
		m, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(query(c, dns.TypeA), addr)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
			var ips []string
			for _, rr := range m.Answer {
				if a, ok := rr.(*dns.A); ok {
					ips = append(ips, a.A.String())
				}
			}
			return c, ips
		}
	}
	return "", nil
}

// TestPodLookups resolves names as a ClusterFirst pod of namespace demo
// would: its resolv.conf from PodConfigurer, the server it names, and a
// fake upstream for names outside the cluster.
func TestPodLookups(t *testing.T) {
	up := startUpstream(t)
	l := newFakeLister(
		service("demo", "hello", "10.96.0.42"),
		service("demo", "web", corev1.ClusterIPNone),
		endpoints("demo", "web", []string{"10.244.1.5", "10.244.2.6"}, nil),
		service("prod", "db", "10.96.0.50"),
	)
	_, addr := startServer(t, Config{Lister: l, Upstreams: []string{up.addr}})
	host := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 192.0.2.53\nsearch example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pc := PodConfigurer{ClusterDomain: "cluster.local", ClusterDNS: []string{"10.0.0.5"}, HostResolvConf: host}
	cfg, err := pc.PodDNS(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "client"}})
	if err != nil {
		t.Fatal(err)
	}
	conf := cfg.ResolvConf()
	tests := []struct {
		name     string
		answered string
		ips      string
	}{
		{"hello.demo.svc.cluster.local", "hello.demo.svc.cluster.local.", "10.96.0.42"},
		{"hello.demo.svc.cluster.local.", "hello.demo.svc.cluster.local.", "10.96.0.42"},
		{"hello.demo", "hello.demo.svc.cluster.local.", "10.96.0.42"},
		{"hello", "hello.demo.svc.cluster.local.", "10.96.0.42"},
		{"web", "web.demo.svc.cluster.local.", "10.244.1.5 10.244.2.6"},
		{"db.prod", "db.prod.svc.cluster.local.", "10.96.0.50"},
		// Another namespace's Service needs its namespace: "db" is found
		// through the host's search domain, after the cluster's.
		{"db", "db.example.com.", "192.0.2.2"},
		{"example.com", "example.com.", "192.0.2.1"},
		{"nope", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answered, ips := lookup(t, conf, addr, tt.name)
			if answered != tt.answered || strings.Join(ips, " ") != tt.ips {
				t.Errorf("%s: answered by %q with %v, want %q with %s", tt.name, answered, ips, tt.answered, tt.ips)
			}
		})
	}
}
