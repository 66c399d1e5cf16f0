package e2e

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// fakeUpstreamAddr is where the test's fake upstream resolver listens, in
// the first machine's own namespace (fresh, so the port is free): the
// agent's DNS forwards names outside the cluster there, never to a real
// resolver.
const fakeUpstreamAddr = "127.0.0.1:5353"

// startFakeUpstream serves, in the network namespace at nsPath, A records
// for name (address addr) and NXDOMAIN for everything else.
func startFakeUpstream(t *testing.T, nsPath, name, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := nettest.Do(nsPath, func() error {
		var err error
		pc, err = net.ListenPacket("udp", fakeUpstreamAddr)
		return err
	}); err != nil {
		t.Fatalf("fake upstream resolver: %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case len(q.Question) != 1 || !strings.EqualFold(q.Question[0].Name, dns.Fqdn(name)):
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
}

// TestServiceDNS is issue 15's DNS test on a real node: a pod's
// resolv.conf names its node's DNS server with the cluster search path, and
// the pod resolves a Service by its short, namespaced and full names, a
// headless Service to its ready pods' addresses, and a name outside the
// cluster through the upstream resolver (a fake one in the machine's
// namespace).
func TestServiceDNS(t *testing.T) {
	testenv.E2E(t, append(clusterRequirements(), clusterAuth)...)

	r := clusterRepo(t)
	r.write("apps/hello/headless.yaml", `apiVersion: v1
kind: Service
metadata:
  name: hello-hl
  namespace: demo
spec:
  clusterIP: None
  selector:
    app: hello
  ports:
    - name: http
      port: 8080
`)
	r.commitAll("hello: a headless Service")
	c := startSecureCluster(t, 2, r, "--dns-upstream", fakeUpstreamAddr, "--log-level", "debug")
	m1 := c.machines[0]
	startFakeUpstream(t, m1.host.Path, "outside.example", "192.0.2.7")
	waitNodes(t, c.admin, 60*time.Second, "m1=Ready")
	scaleHello(r, 0, 2)
	ps := waitSpread(t, c.admin, "demo", "app=hello", 2, 3*time.Minute)
	pod := ps[0].Name

	inPod := func(args ...string) (string, error) {
		return m1.bosun(append([]string{"--kubeconfig", c.kubeconfig, "exec", pod, "-n", "demo", "--", "/app"}, args...)...)
	}
	conf, err := inPod("cat", "/etc/resolv.conf")
	if err != nil {
		t.Fatalf("cat /etc/resolv.conf in %s: %v\n%s", pod, err, conf)
	}
	for _, want := range []string{"nameserver " + m1.ip.String() + "\n", "search demo.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5"} {
		if !strings.Contains(conf, want) {
			t.Errorf("the pod's /etc/resolv.conf\n%s\nlacks %q", conf, want)
		}
	}

	o, err := c.admin.Get(context.Background(), resource(t, "services"), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := o.(*corev1.Service).Spec.ClusterIP
	var podIPs []string
	for _, p := range ps {
		podIPs = append(podIPs, p.Status.PodIP)
	}
	slices.Sort(podIPs)
	tests := []struct {
		name string
		want []string
	}{
		{"hello", []string{clusterIP}},
		{"hello.demo", []string{clusterIP}},
		{"hello.demo.svc.cluster.local", []string{clusterIP}},
		{"hello-hl", podIPs},
		{"outside.example", []string{"192.0.2.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The endpoints reach the node's watch cache a moment after
			// the pods are ready.
			testutil.Eventually(t, 30*time.Second, "app lookup "+tt.name+" in pod "+pod, func() (bool, string) {
				out, err := inPod("lookup", tt.name)
				got := strings.Fields(out)
				return err == nil && slices.Equal(got, tt.want), out
			})
		})
	}
	t.Run("a Service by name over HTTP", func(t *testing.T) {
		out, err := inPod("get", "http://hello/")
		if err != nil || !strings.Contains(out, "hello-") {
			t.Errorf("app get http://hello/ in %s: %v\n%s", pod, err, out)
		}
	})
}
