package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// cluster is several machines on one L2 segment, all on this host: each
// machine is a network namespace joined to the others by a bridge in a
// "switch" namespace (nettest.Machines), and runs its own bosun process
// with its own containerd (in its own data directory). The pod and service
// ranges and the segment are blackholed in the machine's own namespace, so
// no packet of the test leaves the host.
type cluster struct {
	t                        testing.TB
	sw                       *nettest.Switch
	machines                 []*machine
	clusterCIDR, serviceCIDR string
}

// machine is one of a cluster's machines: a network namespace with an
// address on the segment, a data directory, and (while started) a bosun
// process entered into the namespace only (nsenter --net, which keeps /sys
// and the cgroups, unlike ip netns exec).
type machine struct {
	t       testing.TB
	name    string
	host    *nettest.Host
	ip      netip.Addr
	dataDir string
	args    []string // of the last start
	cmd     *exec.Cmd
	log     *testutil.SyncBuffer
	done    chan struct{}
	logs    []string // of earlier runs, for failure reports
}

// clusterRequirements are what a cluster test needs on the host.
func clusterRequirements() []testenv.Requirement {
	return []testenv.Requirement{testenv.Root(), testenv.Binary("git"), testenv.Binary("containerd"), testenv.Binary("runc"),
		testenv.Binary("iptables-restore"), testenv.Binary("nsenter"), testenv.Binary("ip"), cniPlugins}
}

// newCluster makes n machines named m1, m2, ... with the example images in
// each one's agent image directory, and removes everything at the end of
// the test: processes by PID, pods (bosun agent --cleanup in the
// machine), containerd's leftovers, data directories, namespaces, veths
// and routes. Nothing is started.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	testenv.E2E(t, clusterRequirements()...)
	c := &cluster{t: t, clusterCIDR: nettest.CIDR(t, 16), serviceCIDR: nettest.CIDR(t, 20)}
	var hosts []*nettest.Host
	var addrs []netip.Addr
	c.sw, hosts, addrs = nettest.Machines(t, n)

	images := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	paths, err := appimage.Build(ctx, images)
	if err != nil {
		t.Fatalf("build the example images: %v", err)
	}
	for i := range n {
		// Short: containerd's socket path is limited to 107 bytes.
		dir, err := os.MkdirTemp("", "bosun-m")
		if err != nil {
			t.Fatal(err)
		}
		m := &machine{t: t, name: fmt.Sprintf("m%d", i+1), host: hosts[i], ip: addrs[i], dataDir: dir}
		c.machines = append(c.machines, m)
		// Registered after the namespaces: runs before they are deleted.
		t.Cleanup(m.cleanup)
		imagesDir := filepath.Join(dir, "agent", "images")
		if err := os.MkdirAll(imagesDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if err := copyImage(p, filepath.Join(imagesDir, filepath.Base(p))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

func copyImage(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// start runs bosun with args in m's namespace. It does not wait for
// anything.
func (m *machine) start(args ...string) {
	m.t.Helper()
	if m.cmd != nil {
		m.t.Fatalf("%s: bosun already runs", m.name)
	}
	m.args = args
	m.log = &testutil.SyncBuffer{}
	m.cmd = m.host.Command(context.Background(), bosunBin, args...)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("%s: start bosun %s: %v", m.name, strings.Join(args, " "), err)
	}
	m.done = make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(m.done) }()
}

// restart starts bosun again with the arguments of the last start.
func (m *machine) restart() {
	m.t.Helper()
	m.start(m.args...)
}

// exited reports whether the bosun process has ended.
func (m *machine) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// kill stops the machine's bosun with SIGKILL, as a power cut would stop
// the processes, and its containerd with it (its supervisor dies with
// bosun; a survivor is killed by PID). The containers' shims and processes
// keep running, as they do when a node agent crashes.
func (m *machine) kill() {
	if m.cmd == nil {
		return
	}
	// nsenter execs bosun, so the process is bosun itself.
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.cmd = nil
	m.logs = append(m.logs, m.log.String())
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := m.containerdPIDs()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(50 * time.Millisecond) // Pdeathsig takes a moment: poll for the process to go
	}
}

// containerdPIDs returns the containerd daemons of m's data directory
// (not their shims).
func (m *machine) containerdPIDs() []int {
	config := filepath.Join(m.dataDir, "containerd") + "/"
	return proctest.Find(func(args []string) bool {
		if filepath.Base(args[0]) != "containerd" {
			return false
		}
		return slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, config) })
	})
}

func (m *machine) cleanup() {
	m.kill()
	if m.t.Failed() {
		for i, l := range m.logs {
			m.t.Logf("%s: log of bosun run %d (%s):\n%s", m.name, i+1, strings.Join(m.args, " "), l)
		}
	}
	if _, err := os.Stat(filepath.Join(m.dataDir, "containerd")); err == nil {
		out, err := m.host.Command(context.Background(), bosunBin, "agent", "--cleanup", "--data-dir", m.dataDir).CombinedOutput()
		if err != nil {
			m.t.Errorf("%s: bosun agent --cleanup: %v\n%s", m.name, err, out)
		}
		containerdproctest.CleanupDir(m.t, filepath.Join(m.dataDir, "containerd"))
	}
	os.RemoveAll(m.dataDir)
}

// httpClient returns a client whose connections start in m's namespace
// (see nettest.HTTPClient).
func (m *machine) httpClient(tc *tls.Config) *http.Client { return nettest.HTTPClient(m.host.Path, tc) }

// getWith makes a GET request with hc and returns the body; a status
// other than 200 is an error naming it.
func getWith(hc *http.Client, url string) (string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), err
}

// get makes a GET request from m and returns the body.
func (m *machine) get(url string) (string, error) { return getWith(m.httpClient(nil), url) }

// bosun runs a bosun client command in m's namespace.
func (m *machine) bosun(args ...string) (string, error) {
	out, err := m.host.Command(context.Background(), bosunBin, args...).CombinedOutput()
	return string(out), err
}

// tasks returns the containerd tasks of m's containerd, by container ID
// (nodeHost.tasks, pointed at m's data directory).
func (m *machine) tasks() map[string]task {
	m.t.Helper()
	return (&nodeHost{t: m.t, dataDir: m.dataDir}).tasks()
}

// containers lists the IDs of the containers in m's containerd (bosun's
// namespace), whatever the state of their tasks.
func (m *machine) containers() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock := filepath.Join(m.dataDir, "containerd", "containerd.sock")
	c, err := containerdclient.New(sock, containerdclient.WithDefaultNamespace(containerdproc.Namespace))
	if err != nil {
		return nil, fmt.Errorf("connect to %s's containerd at %s: %w", m.name, sock, err)
	}
	defer c.Close()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s's containerd containers: %w", m.name, err)
	}
	ids := make([]string, 0, len(ctrs))
	for _, ctr := range ctrs {
		ids = append(ids, ctr.ID())
	}
	return ids, nil
}

// nodeStatus describes the cluster's Nodes as "name=Ready" or
// "name=NotReady", sorted, from the API c.
func nodeStatus(t testing.TB, c *client.Client) (map[string]*corev1.Node, string, error) {
	objs, err := c.List(context.Background(), resource(t, "nodes"), "", "")
	if err != nil {
		return nil, "", err
	}
	nodes := map[string]*corev1.Node{}
	var desc []string
	for _, o := range objs {
		n := o.(*corev1.Node)
		nodes[n.Name] = n
		state := "NotReady"
		if nodeReady(n) {
			state = "Ready"
		}
		desc = append(desc, n.Name+"="+state)
	}
	slices.Sort(desc)
	return nodes, strings.Join(desc, " "), nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitNodes waits until the API c lists exactly want (e.g.
// "m1=Ready m2=Ready m3=NotReady").
func waitNodes(t testing.TB, c *client.Client, timeout time.Duration, want string) map[string]*corev1.Node {
	t.Helper()
	var nodes map[string]*corev1.Node
	testutil.Eventually(t, timeout, "Nodes "+want, func() (bool, string) {
		var desc string
		var err error
		nodes, desc, err = nodeStatus(t, c)
		if err != nil {
			return false, err.Error()
		}
		return desc == want, desc
	})
	return nodes
}

// listPods lists the pods of ns matching selector through c.
func listPods(t testing.TB, c *client.Client, ns, selector string) []*corev1.Pod {
	t.Helper()
	objs, err := c.List(context.Background(), resource(t, "pods"), ns, selector)
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// waitSpread waits until want pods of selector are ready, with IPs, none on
// a node in avoid but terminating ones, and returns them all.
func waitSpread(t testing.TB, c *client.Client, ns, selector string, want int, timeout time.Duration, avoid ...string) []*corev1.Pod {
	t.Helper()
	var ps []*corev1.Pod
	testutil.Eventually(t, timeout, fmt.Sprintf("%d ready pods %s, none on %v", want, selector, avoid), func() (bool, string) {
		ps = listPods(t, c, ns, selector)
		ready, live := 0, 0
		var states []string
		for _, p := range ps {
			if slices.Contains(avoid, p.Spec.NodeName) {
				// Evicted from a lost machine, a pod stays terminating
				// until that machine's agent stops it (as in Kubernetes).
				if p.DeletionTimestamp != nil {
					continue
				}
				states = append(states, p.Name+" on "+p.Spec.NodeName)
				live++
				continue
			}
			live++
			if podReady(p) && p.Status.PodIP != "" {
				ready++
				continue
			}
			states = append(states, fmt.Sprintf("%s on %q: %s", p.Name, p.Spec.NodeName, p.Status.Phase))
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil {
					states = append(states, p.Name+": "+w.Reason+": "+w.Message)
				}
			}
		}
		return ready == want && live == want, fmt.Sprintf("%d pods (%d not terminating), %d ready; %v", len(ps), live, ready, states)
	})
	return ps
}

// byNode groups pods by node name.
func byNode(ps []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range ps {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
	}
	return out
}

// checkPodAddresses fails t unless every pod's IP lies in its node's pod
// CIDR and no two pods share an address (issue 11: an address conflict
// across nodes must be impossible).
func checkPodAddresses(t testing.TB, ps []*corev1.Pod, nodes map[string]*corev1.Node) {
	t.Helper()
	seen := map[string]string{}
	for _, p := range ps {
		n := nodes[p.Spec.NodeName]
		if n == nil {
			t.Errorf("pod %s is on %q, which is not a Node", p.Name, p.Spec.NodeName)
			continue
		}
		cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			t.Errorf("node %s has pod CIDR %q: %v", n.Name, n.Spec.PodCIDR, err)
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !cidr.Contains(ip) {
			t.Errorf("pod %s on %s has IP %q, outside the node's pod CIDR %s", p.Name, n.Name, p.Status.PodIP, cidr)
		}
		if other, dup := seen[p.Status.PodIP]; dup {
			t.Errorf("pods %s and %s both have IP %s", other, p.Name, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = p.Name
	}
}

// checkPodToPod checks that every pod in ps answers from every machine it
// does not run on, and from inside a pod on the first machine (its own
// network namespace: the pod IP is the source) to the pods on the others.
func checkPodToPod(t *testing.T, c *cluster, ps []*corev1.Pod) {
	t.Helper()
	for _, m := range c.machines {
		for _, p := range ps {
			if p.Spec.NodeName == m.name {
				continue
			}
			body, err := m.get("http://" + net.JoinHostPort(p.Status.PodIP, "8080") + "/")
			if err != nil || !strings.Contains(body, p.Name) {
				t.Errorf("from machine %s to pod %s on %s at %s: %q, %v; want its name", m.name, p.Name, p.Spec.NodeName, p.Status.PodIP, body, err)
			}
		}
	}
	m1 := c.machines[0]
	local := byNode(ps)[m1.name]
	if len(local) == 0 {
		t.Fatalf("no pod on %s to send from", m1.name)
	}
	from := local[0]
	hc := nettest.HTTPClient(fmt.Sprintf("/proc/%d/ns/net", podPID(t, m1, from)), nil)
	for _, p := range ps {
		if p.Spec.NodeName == m1.name {
			continue
		}
		body, err := getWith(hc, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/")
		if err != nil || !strings.Contains(body, p.Name) {
			t.Errorf("from pod %s on %s to pod %s on %s at %s: %q, %v; want its name", from.Name, m1.name, p.Name, p.Spec.NodeName, p.Status.PodIP, body, err)
		}
	}
}

// checkServices checks that the hello Service's ClusterIP, asked from each
// machine, and each machine's NodePort 30080, asked from the next machine,
// reach pods on all machines: traffic balanced to endpoints on other nodes
// crosses the segment.
func checkServices(t *testing.T, c *cluster, cl *client.Client, ps []*corev1.Pod) {
	t.Helper()
	svc, err := cl.Get(context.Background(), resource(t, "services"), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.(*corev1.Service).Spec.ClusterIP
	nodeOf := map[string]string{}
	for _, p := range ps {
		nodeOf[p.Name] = p.Spec.NodeName
	}
	reachesAll := func(t *testing.T, from *machine, url string) {
		t.Helper()
		seen := map[string]bool{}
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("%s from %s to reach pods on all %d machines", url, from.name, len(c.machines)), func() (bool, string) {
			body, err := from.get(url)
			if err == nil {
				for name, node := range nodeOf {
					if strings.Contains(body, name) {
						seen[node] = true
					}
				}
			}
			return len(seen) == len(c.machines), fmt.Sprintf("machines reached %v, last error %v", seen, err)
		})
	}
	for i, m := range c.machines {
		t.Run("ClusterIP from "+m.name, func(t *testing.T) {
			reachesAll(t, m, "http://"+net.JoinHostPort(clusterIP, "80")+"/")
		})
		other := c.machines[(i+1)%len(c.machines)]
		t.Run("NodePort of "+m.name+" from "+other.name, func(t *testing.T) {
			reachesAll(t, other, "http://"+net.JoinHostPort(m.ip.String(), "30080")+"/")
		})
	}
}

// hostGWRoutes waits up to timeout for every machine to route every other
// machine's pod CIDR via that machine's address (host-gw, issue 11 §6) and
// returns an error listing the routes still missing.
func hostGWRoutes(c *cluster, nodes map[string]*corev1.Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for _, m := range c.machines {
			out, err := m.host.Command(context.Background(), "ip", "-4", "route", "show", "table", "all").CombinedOutput()
			if err != nil {
				return fmt.Errorf("ip route show in %s: %w: %s", m.name, err, out)
			}
			for _, o := range c.machines {
				if o == m {
					continue
				}
				cidr := nodes[o.name].Spec.PodCIDR
				if !hasRoute(string(out), cidr, o.ip.String()) {
					missing = append(missing, fmt.Sprintf("%s: %s via %s", m.name, cidr, o.ip))
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, routes missing: %s", timeout, strings.Join(missing, "; "))
		}
		time.Sleep(200 * time.Millisecond) // polling the routing table, which has no change notification here
	}
}

// hasRoute reports whether ip route output has a route to cidr via gw.
func hasRoute(routes, cidr, gw string) bool {
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		via := slices.Index(f, "via")
		if len(f) > 0 && f[0] == cidr && via > 0 && via+1 < len(f) && f[via+1] == gw {
			return true
		}
	}
	return false
}
