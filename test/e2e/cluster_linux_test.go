package e2e

import (
	"fmt"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// Node lifecycle timings of the cluster tests' server: an agent renews its
// Lease every 10 s, so the grace period must be longer than that.
const (
	clusterGracePeriod     = "20s"
	clusterEvictionTimeout = "2s"
)

// clusterRepo is the example repository with the hello Deployment at zero
// replicas, so that no pod is placed before every machine has joined.
func clusterRepo(t *testing.T) *repo {
	r := newRepo(t)
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 0")
	r.commitAll("hello: no replicas until the machines have joined")
	return r
}

// scaleHello commits the hello Deployment's replica count.
func scaleHello(r *repo, from, to int) {
	r.replace("apps/hello/deployment.yaml", fmt.Sprintf("replicas: %d", from), fmt.Sprintf("replicas: %d", to))
	r.commitAll(fmt.Sprintf("hello: %d replicas", to))
}

// TestClusterPlainHTTP runs three machines with the API as it is without
// cluster authentication: bosun server on the first machine listening on
// its segment address over plain HTTP, and bosun agent on the other two
// pointed at it. It proves what works without the cluster features of
// issue 11: three Nodes registered and Ready, a Deployment spread over all
// three with each pod's address in its node's pod CIDR and unique, each pod
// answering on its machine, an agent killed and restarted at once adopting
// its containers, and a machine killed for good losing its pods to the
// others, then rejoining and removing the containers it no longer owns.
func TestClusterPlainHTTP(t *testing.T) {
	c := newCluster(t, 3)
	r := clusterRepo(t)
	m1, m2, m3 := c.machines[0], c.machines[1], c.machines[2]
	listen := net.JoinHostPort(m1.ip.String(), "6780")
	apiURL := "http://" + listen

	began := time.Now()
	m1.start("server", "--repo", r.dir, "--data-dir", m1.dataDir, "--listen", listen,
		"--node-name", m1.name, "--node-ip", m1.ip.String(),
		"--cluster-cidr", c.clusterCIDR, "--service-cidr", c.serviceCIDR,
		"--node-monitor-grace-period", clusterGracePeriod, "--pod-eviction-timeout", clusterEvictionTimeout,
		"--interval", "1h", "--log-level", "debug")
	testutil.Eventually(t, 60*time.Second, "the API to answer on "+listen, func() (bool, string) {
		if m1.exited() {
			t.Fatalf("bosun server exited:\n%s", m1.log.String())
		}
		_, err := m2.get(apiURL + "/readyz") // from another machine, across the switch
		return err == nil, fmt.Sprint(err)
	})
	for _, m := range []*machine{m2, m3} {
		m.start("--server", apiURL, "agent", "--data-dir", m.dataDir,
			"--node-name", m.name, "--node-ip", m.ip.String(), "--cluster-cidr", c.clusterCIDR, "--log-level", "debug")
	}
	cl, err := client.New(apiURL, client.WithHTTPClient(m3.httpClient(nil)))
	if err != nil {
		t.Fatal(err)
	}
	nodes := waitNodes(t, cl, 90*time.Second, "m1=Ready m2=Ready m3=Ready")
	t.Logf("timing: server start to three Nodes Ready: %s", time.Since(began).Round(time.Millisecond))

	t.Run("nodes", func(t *testing.T) {
		out, err := m2.bosun("--server", apiURL, "get", "nodes", "--no-headers")
		if err != nil {
			t.Fatalf("bosun get nodes on m2: %v\n%s", err, out)
		}
		for _, m := range c.machines {
			if !strings.Contains(out, m.name+" ") || strings.Count(out, " Ready ") != 3 {
				t.Errorf("bosun get nodes lists\n%s\nwant %s and three Ready nodes", out, m.name)
			}
		}
		cidrs := map[string]string{}
		for _, m := range c.machines {
			n := nodes[m.name]
			var ip string
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					ip = a.Address
				}
			}
			if ip != m.ip.String() {
				t.Errorf("node %s has InternalIP %q, want its machine's address %s", m.name, ip, m.ip)
			}
			if n.Spec.PodCIDR == "" {
				t.Errorf("node %s is Ready without a pod CIDR: a node must stay NotReady until its network is (issue 11, 7)", m.name)
			} else if other, dup := cidrs[n.Spec.PodCIDR]; dup {
				t.Errorf("nodes %s and %s share pod CIDR %s", m.name, other, n.Spec.PodCIDR)
			}
			cidrs[n.Spec.PodCIDR] = m.name
		}
	})

	scaleHello(r, 0, 6)
	scaled := time.Now()
	ps := waitSpread(t, cl, "demo", "app=hello", 6, 3*time.Minute)
	t.Logf("timing: commit of 6 replicas to 6 ready pods on three machines: %s", time.Since(scaled).Round(time.Millisecond))
	spread := byNode(ps)
	for _, m := range c.machines {
		if len(spread[m.name]) == 0 {
			t.Fatalf("no hello pod on %s; pods by node: %v", m.name, podNames(spread))
		}
	}
	nodes, _, err = nodeStatus(t, cl) // with the pod CIDRs assigned since
	if err != nil {
		t.Fatal(err)
	}
	checkPodAddresses(t, ps, nodes)

	t.Run("pods answer on their machines", func(t *testing.T) {
		for _, m := range c.machines {
			for _, p := range spread[m.name] {
				body, err := m.get("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/")
				if err != nil || !strings.Contains(body, p.Name) {
					t.Errorf("pod %s at %s, asked from %s: %q, %v; want its name", p.Name, p.Status.PodIP, m.name, body, err)
				}
			}
		}
	})

	// Routing between machines comes with the node network of issue 11:
	// locally a binary without it skips these checks, in CI they fail.
	t.Run("across machines", func(t *testing.T) {
		wait := 10 * time.Second // routes follow the Node list within a second
		if testenv.Required() {
			wait = 30 * time.Second
		}
		if err := hostGWRoutes(c, nodes, wait); err != nil {
			if testenv.Required() {
				t.Fatalf("host-gw routes: %v", err)
			}
			t.Skipf("host-gw routing not in this binary yet: %v (set BOSUN_E2E=required to make this a failure)", err)
		}
		t.Run("pod to pod", func(t *testing.T) { checkPodToPod(t, c, ps) })
		t.Run("Services", func(t *testing.T) { checkServices(t, c, cl, ps) })
	})

	t.Run("agent restarted at once adopts its containers", func(t *testing.T) {
		before := m2.tasks()
		if len(before) == 0 {
			t.Fatalf("no containers on m2, which runs %v", podNames(map[string][]*corev1.Pod{"m2": spread["m2"]}))
		}
		m2.kill()
		m2.restart()
		testutil.Eventually(t, 60*time.Second, "m2's new agent to list its pods", func() (bool, string) {
			return strings.Contains(m2.log.String(), `msg="pods listed"`), "no \"pods listed\" in m2's log yet"
		})
		watchUntil := time.Now().Add(3 * time.Second)
		for time.Now().Before(watchUntil) {
			if got := m2.tasks(); !maps.Equal(got, before) {
				t.Fatalf("containerd tasks on m2 after its agent restarted:\n%v\nwant the same containers, PIDs and start times:\n%v", got, before)
			}
			time.Sleep(100 * time.Millisecond) // the interval between checks, not a wait for an event
		}
		if l := m2.log.String(); strings.Contains(l, `msg="container started"`) {
			t.Errorf("m2's restarted agent started a container; it should adopt them:\n%s", l)
		}
		waitNodes(t, cl, 30*time.Second, "m1=Ready m2=Ready m3=Ready")
	})

	t.Run("machine lost, pods recreated elsewhere, machine back", func(t *testing.T) {
		doomed := spread["m3"]
		running := m3.tasks()
		killed := time.Now()
		m3.kill()
		checkOutlived(t, m3, running)
		waitNodes(t, cl, 60*time.Second, "m1=Ready m2=Ready m3=NotReady")
		notReady := time.Since(killed)
		after := waitSpread(t, cl, "demo", "app=hello", 6, 2*time.Minute, "m3")
		t.Logf("timing: kill -9 of m3 to its Node NotReady: %s; to 6 ready pods on m1 and m2: %s (grace period %s, eviction timeout %s)",
			notReady.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), clusterGracePeriod, clusterEvictionTimeout)
		for _, p := range doomed {
			for _, q := range after {
				if q.UID == p.UID {
					t.Errorf("pod %s of the lost machine is still listed, on %s", p.Name, q.Spec.NodeName)
				}
			}
		}
		checkPodAddresses(t, after, nodes)

		back := time.Now()
		m3.restart()
		waitNodes(t, cl, 60*time.Second, "m1=Ready m2=Ready m3=Ready")
		t.Logf("timing: restart of m3 to its Node Ready: %s", time.Since(back).Round(time.Millisecond))
		// Its pods were deleted while it was away: the agent removes their
		// containers rather than adopting them.
		waitNoStaleContainers(t, cl, m3, running)
	})
}

// podNames lists pod names by node, for messages.
func podNames(byNode map[string][]*corev1.Pod) map[string][]string {
	out := map[string][]string{}
	for n, ps := range byNode {
		for _, p := range ps {
			out[n] = append(out[n], p.Name)
		}
	}
	return out
}

// checkOutlived fails t unless every task in running still runs: a killed
// agent leaves its containers running, as kubelet does.
func checkOutlived(t testing.TB, m *machine, running map[string]task) {
	t.Helper()
	if len(running) == 0 {
		t.Fatalf("no containers ran on %s before it was killed", m.name)
	}
	for id, tk := range running {
		if start, err := procStart(tk.pid); err != nil || start != tk.start {
			t.Fatalf("container %s on %s: process %d did not outlive its agent (%v)", id, m.name, tk.pid, err)
		}
	}
}

// waitNoStaleContainers waits until m's containerd holds only containers of
// pods bound to m in the API c, and until the processes of the containers
// in before that are no longer any pod's have ended: a rejoining agent
// removes what belonged to pods deleted while it was away.
func waitNoStaleContainers(t testing.TB, c *client.Client, m *machine, before map[string]task) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, m.name+"'s containers of deleted pods removed", func() (bool, string) {
		owned := map[string]bool{}
		for _, p := range listPods(t, c, "", "") {
			if p.Spec.NodeName != m.name {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				owned[strings.TrimPrefix(cs.ContainerID, "containerd://")] = true
			}
		}
		ids, err := m.containers()
		if err != nil {
			return false, err.Error()
		}
		var stale []string
		for _, id := range ids {
			if !owned[id] {
				stale = append(stale, "container "+id)
			}
		}
		for id, tk := range before {
			if start, err := procStart(tk.pid); !owned[id] && err == nil && start == tk.start {
				stale = append(stale, fmt.Sprintf("process %d of container %s", tk.pid, id))
			}
		}
		return len(stale) == 0, fmt.Sprintf("left of no pod on %s: %v", m.name, stale)
	})
}
