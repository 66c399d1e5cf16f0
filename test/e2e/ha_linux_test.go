package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// serverJoinLine is the join command "bosun token create --control-plane" prints.
var serverJoinLine = regexp.MustCompile(`bosun server --join (\S+) --token ([a-z0-9]{6}\.[a-z0-9]{16}) --ca-cert-hash (sha256:[0-9a-f]{64})`)

// TestHAAgentsOutliveTheirServer is issue 12's root test: three machines,
// each running a control-plane server (the first with --cluster-init and
// its own agent, the others joined with --join and without an agent) and
// an agent. The agents of m2 and m3 are given the first server's address
// only. When that server is killed (kill -9, its agent with it), they move
// to another server on their own: their nodes stay Ready while the lost
// one turns NotReady, their pods keep running and serving (same
// processes), and a new commit is synced by a surviving server.
func TestHAAgentsOutliveTheirServer(t *testing.T) {
	testenv.E2E(t, append(clusterRequirements(), clusterAuth)...)

	r := clusterRepo(t)
	c := startSecureCluster(t, 3, r, "--cluster-init", "--log-level", "debug")
	m1, m2, m3 := c.machines[0], c.machines[1], c.machines[2]
	waitNodes(t, c.admin, 60*time.Second, "m1=Ready")

	// Servers on m2 and m3, joined one at a time (etcd takes one learner
	// at a time), each beside the machine's agent in the same namespace.
	out, err := m1.bosun("--kubeconfig", c.kubeconfig, "token", "create", "--control-plane", "--usages", "2", "--ttl", "1h")
	if err != nil {
		t.Fatalf("bosun token create --control-plane: %v\n%s", err, out)
	}
	j := serverJoinLine.FindStringSubmatch(out)
	if j == nil || j[1] != c.apiURL {
		t.Fatalf("bosun token create --control-plane printed\n%s\nwant bosun server --join %s --token ID.SECRET --ca-cert-hash sha256:HEX", out, c.apiURL)
	}
	urls := []string{c.apiURL}
	for _, m := range []*machine{m2, m3} {
		s := c.scratch(t, m)
		listen := net.JoinHostPort(m.ip.String(), "6443")
		s.start("server", "--join", j[1], "--token", j[2], "--ca-cert-hash", j[3],
			"--data-dir", s.dataDir, "--listen", listen, "--advertise-address", m.ip.String(),
			"--no-agent", "--etcd-name", m.name,
			"--node-monitor-grace-period", clusterGracePeriod, "--pod-eviction-timeout", clusterEvictionTimeout,
			"--interval", "1h", "--log-level", "debug")
		url := "https://" + listen
		// A joined server serves its API only once its etcd member is a
		// voter.
		testutil.Eventually(t, 2*time.Minute, m.name+"'s server to join and serve /readyz", func() (bool, string) {
			if s.exited() {
				t.Fatalf("%s's server exited:\n%s", m.name, s.log.String())
			}
			_, err := getWith(m1.httpClient(c.anonTLS), url+"/readyz")
			return err == nil, fmt.Sprint(err)
		})
		urls = append(urls, url)
	}
	listed, err := c.admin.ListServers(context.Background())
	if err != nil || len(listed) != 3 {
		t.Fatalf("GET /bosun/v1/servers: %+v, %v; want the three servers", listed, err)
	}

	// The agents know the first server only.
	nodeToken := c.createToken(t)
	for _, m := range []*machine{m2, m3} {
		m.start(c.agentArgs(m, nodeToken)...)
	}
	waitNodes(t, c.admin, 90*time.Second, "m1=Ready m2=Ready m3=Ready")
	scaleHello(r, 0, 6)
	ps := waitSpread(t, c.admin, "demo", "app=hello", 6, 3*time.Minute)
	spread := byNode(ps)
	for _, m := range []*machine{m2, m3} {
		if len(spread[m.name]) == 0 {
			t.Fatalf("no hello pod on %s; pods by node: %v", m.name, podNames(spread))
		}
	}
	running := map[*machine]map[string]task{m2: m2.tasks(), m3: m3.tasks()}

	// The admin client of the surviving servers.
	survivors, err := client.New(urls[1], client.WithServers(urls[2]), client.WithHTTPClient(m2.httpClient(c.adminTLS)))
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	m1.kill()

	for _, m := range []*machine{m2, m3} {
		testutil.Eventually(t, 60*time.Second, m.name+"'s agent to move to another server", func() (bool, string) {
			l := m.log.String()
			moved := strings.Contains(l, "API server "+c.apiURL+" unreachable, using ")
			return moved, "its log has no \"API server " + c.apiURL + " unreachable, using ...\" yet"
		})
	}
	t.Logf("timing: kill -9 of m1's server to both agents on another server: %s", time.Since(killed).Round(time.Millisecond))

	// The lost machine turns NotReady after the grace period; the others,
	// whose agents renew their Leases through the survivors, stay Ready.
	waitNodes(t, survivors, 2*time.Minute, "m1=NotReady m2=Ready m3=Ready")
	for _, m := range []*machine{m2, m3} {
		checkOutlived(t, m, running[m])
		for _, p := range spread[m.name] {
			body, err := m1.get("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/")
			if err != nil || !strings.Contains(body, p.Name) {
				t.Errorf("pod %s on %s after m1's server died: %q, %v; want its name", p.Name, m.name, body, err)
			}
		}
	}

	// A commit made now is synced by a surviving server.
	synced := time.Now()
	r.write("apps/hello/after-failover.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after-failover\n  namespace: demo\ndata:\n  server: gone\n")
	sha := r.commitAll("a ConfigMap committed after the first server died")
	testutil.Eventually(t, 60*time.Second, "the ConfigMap committed after the kill", func() (bool, string) {
		o, err := survivors.Get(context.Background(), resource(t, "configmaps"), "demo", "after-failover")
		if err != nil {
			return false, err.Error()
		}
		return o.(*corev1.ConfigMap).Data["server"] == "gone", "wrong data"
	})
	t.Logf("timing: commit %s after the kill to its ConfigMap in the API: %s", sha[:7], time.Since(synced).Round(time.Millisecond))
}
