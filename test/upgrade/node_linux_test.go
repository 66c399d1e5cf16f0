package upgrade

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// nodeListen is the API's address inside the node's network namespace.
const nodeListen = "127.0.0.1:6790"

// upgradeNode is a network namespace the test created, acting as a
// machine that runs bosun: either bosun server with its node agent (first
// the previous release's binary, then this one, on the same data dir), or
// bosun server --no-agent of this release and a separate bosun agent
// swapped from the previous release to this one.
type upgradeNode struct {
	t       testing.TB
	host    *nettest.Host
	http    *http.Client
	dataDir string
	args    []string // the server's
	// agentArgs, when set, run the node's agent as its own process
	// against a server started with --no-agent.
	agentArgs []string
	server    *nodeProc
	agent     *nodeProc
}

// nodeProc is one bosun process of the node.
type nodeProc struct {
	name string
	cmd  *exec.Cmd
	log  *testutil.SyncBuffer
	done chan struct{}
}

// buildPrevious builds the release recorded in PREVIOUS from the Git
// history of this checkout (a detached worktree in a temporary directory,
// removed at once) and returns the binary. A clone without that commit
// (a shallow CI checkout) fails the test when end-to-end tests are
// required, else skips it.
// UPGRADE_PREVIOUS_BIN names a binary of that release built beforehand,
// to skip the build when measuring repeatedly.
func buildPrevious(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("UPGRADE_PREVIOUS_BIN"); bin != "" {
		return bin
	}
	b, err := os.ReadFile("PREVIOUS")
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.TrimSpace(string(b))
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("find the checkout's top: %v", err)
	}
	root := strings.TrimSpace(string(top))
	// Fails when end-to-end tests are required, else skips, as every
	// missing dependency does.
	testenv.Need(t, func() error {
		if err := exec.Command("git", "-C", root, "cat-file", "-e", sha+"^{commit}").Run(); err != nil {
			return fmt.Errorf("the previous release %s (test/upgrade/PREVIOUS) is not in this clone's history: fetch it (git fetch --unshallow)", sha)
		}
		return nil
	})
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if out, err := exec.Command("git", "-C", root, "worktree", "add", "--detach", src, sha).CombinedOutput(); err != nil {
		t.Fatalf("git worktree add %s: %v\n%s", sha, err, out)
	}
	defer func() {
		if out, err := exec.Command("git", "-C", root, "worktree", "remove", "--force", src).CombinedOutput(); err != nil {
			t.Errorf("git worktree remove %s: %v\n%s", src, err, out)
		}
	}()
	bin := filepath.Join(dir, "bosun-previous")
	build := exec.Command("go", "build", "-o", bin, "./cmd/bosun")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the previous release %s: %v\n%s", sha, err, out)
	}
	return bin
}

// newUpgradeNode makes the node's namespace, data dir and images; start
// runs a binary on it. With agentOnly the server runs with --no-agent
// and the agent as its own process (startAgent).
func newUpgradeNode(t testing.TB, repoDir string, agentOnly bool) *upgradeNode {
	t.Helper()
	n := &upgradeNode{t: t, host: nettest.HostNS(t)}
	// Short: containerd's socket path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "bosun-upgrade-")
	if err != nil {
		t.Fatal(err)
	}
	n.dataDir = dir
	n.http = nettest.HTTPClient(n.host.Path, nil)
	n.http.Transport.(*http.Transport).DisableKeepAlives = true
	n.http.Timeout = 2 * time.Second
	imagesDir := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := appimage.Build(ctx, imagesDir); err != nil {
		t.Fatalf("build the example images: %v", err)
	}
	clusterCIDR, serviceCIDR := nettest.CIDR(t, 16), nettest.CIDR(t, 20)
	n.args = []string{"server",
		"--repo", repoDir, "--data-dir", n.dataDir, "--insecure-listen", nodeListen, "--listen", "127.0.0.1:6453",
		"--cluster-cidr", clusterCIDR, "--service-cidr", serviceCIDR, "--interval", "1h",
	}
	if agentOnly {
		n.args = append(n.args, "--no-agent")
		n.agentArgs = []string{"agent", "--server", "http://" + nodeListen, "--data-dir", n.dataDir,
			"--node-name", "node-1", "--cluster-cidr", clusterCIDR, "--service-cidr", serviceCIDR}
	} else {
		n.args = append(n.args, "--node-name", "node-1")
	}
	if lvl := os.Getenv("UPGRADE_LOG_LEVEL"); lvl != "" {
		n.args = append(n.args, "--log-level", lvl)
		if agentOnly {
			n.agentArgs = append(n.agentArgs, "--log-level", lvl)
		}
	}
	t.Cleanup(n.cleanup)
	return n
}

// start runs bin as the node's server and waits for its API.
func (n *upgradeNode) start(bin string) {
	n.t.Helper()
	n.server = n.run("server", bin, n.args)
	testutil.Eventually(n.t, 60*time.Second, "the API to answer", func() (bool, string) {
		n.server.checkRunning(n.t)
		resp, err := n.http.Get("http://" + nodeListen + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// startAgent runs bin as the node's agent (a node made with agentOnly).
func (n *upgradeNode) startAgent(bin string) {
	n.t.Helper()
	n.agent = n.run("agent", bin, n.agentArgs)
}

// run starts bin with args in the node's namespace.
func (n *upgradeNode) run(name, bin string, args []string) *nodeProc {
	n.t.Helper()
	p := &nodeProc{name: name, log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = n.host.Command(context.Background(), bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		n.t.Fatalf("start %s %s in the node's namespace: %v", bin, name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p
}

// checkRunning fails the test if the process exited.
func (p *nodeProc) checkRunning(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("bosun %s exited:\n%s", p.name, p.log)
	default:
	}
}

// stop sends sig to the process (if it runs) and waits until it exited.
func (p *nodeProc) stop(t testing.TB, sig syscall.Signal) {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Errorf("bosun %s did not exit 60 s after %v", p.name, sig)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// cleanup stops the processes and removes the node's pods, network and
// containerd state with this release's bosun agent --cleanup.
func (n *upgradeNode) cleanup() {
	for _, p := range []*nodeProc{n.agent, n.server} {
		if p == nil {
			continue
		}
		p.stop(n.t, syscall.SIGKILL)
		if (n.t.Failed() || os.Getenv("UPGRADE_LOG_LEVEL") != "") && p.log != nil {
			n.t.Logf("%s log:\n%s", p.name, p.log)
		}
	}
	out, err := n.host.Command(context.Background(), bosunBin, "agent", "--cleanup", "--data-dir", n.dataDir).CombinedOutput()
	if err != nil {
		n.t.Errorf("bosun agent --cleanup: %v\n%s", err, out)
	}
	containerdproctest.CleanupDir(n.t, filepath.Join(n.dataDir, "containerd"))
	_ = os.RemoveAll(n.dataDir)
}

func (n *upgradeNode) client() *client.Client {
	n.t.Helper()
	c, err := client.New("http://"+nodeListen, client.WithHTTPClient(n.http))
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

func lookup(t testing.TB, name string) api.Resource {
	t.Helper()
	r, ok := api.Lookup(name)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	return r
}

// containersOf returns, per pod of namespace ns, its containers' IDs and
// restart counts ("name=ID#restarts", sorted), and how many are ready.
func (n *upgradeNode) containersOf(ns string) (map[string]string, int, error) {
	objs, err := n.client().List(context.Background(), lookup(n.t, "pods"), ns, "")
	if err != nil {
		return nil, 0, err
	}
	out, ready := map[string]string{}, 0
	for _, o := range objs {
		p := o.(*corev1.Pod)
		var cs []string
		for _, c := range p.Status.ContainerStatuses {
			cs = append(cs, fmt.Sprintf("%s=%s#%d", c.Name, c.ContainerID, c.RestartCount))
		}
		sort.Strings(cs)
		out[p.Name] = strings.Join(cs, ",")
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				ready++
			}
		}
	}
	return out, ready, nil
}

// readySince reports whether the node's Ready condition is True with a
// heartbeat at or after since (whole seconds, as the API stores times).
func (n *upgradeNode) readySince(since time.Time) bool {
	obj, err := n.client().Get(context.Background(), lookup(n.t, "nodes"), "", "node-1")
	if err != nil {
		return false
	}
	for _, c := range obj.(*corev1.Node).Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since.Truncate(time.Second))
		}
	}
	return false
}

// requestLoop sends a request to url every interval from inside the
// node's namespace until stop is closed, counting answers and failures.
type requestLoop struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	done       chan struct{}
}

func (n *upgradeNode) startRequests(url string, interval time.Duration, stop <-chan struct{}) *requestLoop {
	l := &requestLoop{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			resp, err := n.http.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s", resp.Status)
				}
			}
			if err != nil {
				l.failed.Add(1)
				l.lastErr.Store(err.Error())
				continue
			}
			l.ok.Add(1)
		}
	}()
	return l
}

const upgradeRepo = `apiVersion: v1
kind: Namespace
metadata:
  name: upg
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: upg
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: bosun.local/hello:v1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /ready, port: http}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: upg
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`

// TestUpgradeKeepsPodsServing runs a node (server with its agent, its own
// containerd, CNI, the proxy's rules, in a network namespace the test
// made) on the previous release's binary with a Deployment of
// UPGRADE_PODS (10) replicas behind a Service, then swaps the binary as a
// systemd restart with KillMode=process does: SIGTERM to bosun, this
// release started on the same data dir. A request loop to the Service's
// ClusterIP counts failures during the swap (none allowed); no container
// may restart or change; the node is Ready again. It prints the time from
// the new process's start to the node's Ready heartbeat.
func TestUpgradeKeepsPodsServing(t *testing.T) {
	pods := testutil.EnvInt("UPGRADE_PODS", 10)
	failed, requests, took := upgradeNodeSwap(t, pods, false)
	t.Logf("BENCHMARK upgrade: %d pods, %d requests, %d failed during the swap, new process start to node Ready %v (target: 0 failed, ≤ 2 s)",
		pods, requests, failed, took.Round(time.Millisecond))
}

// TestUpgradeAgentKeepsPodsServing is TestUpgradeKeepsPodsServing for a
// node whose agent is its own process (bosun agent, as on most machines of
// a cluster): the server (this release, --no-agent) keeps running while
// the agent is swapped from the previous release to this one.
func TestUpgradeAgentKeepsPodsServing(t *testing.T) {
	pods := testutil.EnvInt("UPGRADE_PODS", 10)
	failed, requests, took := upgradeNodeSwap(t, pods, true)
	t.Logf("BENCHMARK upgrade (agent only): %d pods, %d requests, %d failed during the swap, new agent start to node Ready %v (target: 0 failed, ≤ 2 s)",
		pods, requests, failed, took.Round(time.Millisecond))
}

// BenchmarkUpgrade10Pods is TestUpgradeKeepsPodsServing for make bench:
// one swap per iteration (run it with -benchtime 1x), the failed requests
// and the time to Ready as metrics.
func BenchmarkUpgrade10Pods(b *testing.B) {
	for range b.N {
		failed, _, took := upgradeNodeSwap(b, 10, false)
		b.Logf("swap: %d failed requests, new process start to node Ready %v", failed, took.Round(time.Millisecond))
		b.ReportMetric(float64(failed), "failed-requests")
		b.ReportMetric(took.Seconds(), "s-to-ready")
	}
}

// BenchmarkUpgradeAgent10Pods is TestUpgradeAgentKeepsPodsServing for make
// bench (-benchtime 1x).
func BenchmarkUpgradeAgent10Pods(b *testing.B) {
	for range b.N {
		failed, _, took := upgradeNodeSwap(b, 10, true)
		b.Logf("swap: %d failed requests, new process start to node Ready %v", failed, took.Round(time.Millisecond))
		b.ReportMetric(float64(failed), "failed-requests")
		b.ReportMetric(took.Seconds(), "s-to-ready")
	}
}

// upgradeNodeSwap is the swap of TestUpgradeKeepsPodsServing with
// replicas pods (of TestUpgradeAgentKeepsPodsServing with agentOnly); it
// returns the failed and all requests during the swap and the time from
// the new process's start to the node's Ready.
func upgradeNodeSwap(t testing.TB, replicas int, agentOnly bool) (failed, requests int64, took time.Duration) {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("git"), testenv.Binary("containerd"), testenv.Binary("runc"),
		testenv.Binary("iptables-restore"), testenv.Binary("nsenter"), testenv.Binary("ip"),
		func() error {
			if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
				return fmt.Errorf("the CNI plugins are not installed in /usr/lib/cni (make deps installs containernetworking-plugins)")
			}
			return nil
		})
	previous := buildPrevious(t)
	repoDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(repoDir, "app.yaml"), []byte(fmt.Sprintf(upgradeRepo, replicas)), 0o644); err != nil {
		t.Fatal(err)
	}
	newRepoIn(t, repoDir)

	n := newUpgradeNode(t, repoDir, agentOnly)
	if agentOnly {
		n.start(bosunBin)
		n.startAgent(previous)
	} else {
		n.start(previous)
	}
	var before map[string]string
	testutil.Eventually(t, 3*time.Minute, fmt.Sprintf("%d ready pods on the previous release", replicas), func() (bool, string) {
		cs, ready, err := n.containersOf("upg")
		before = cs
		return err == nil && ready == replicas && len(cs) == replicas, fmt.Sprintf("%d pods, %d ready, %v", len(cs), ready, err)
	})
	svc, err := n.client().Get(context.Background(), lookup(t, "services"), "upg", "web")
	if err != nil {
		t.Fatal(err)
	}
	// The test host has no default route: route the service range to the
	// pod bridge, which traffic leaves through the proxy's DNAT.
	if out, err := n.host.Command(context.Background(), "ip", "route", "add", n.args[slices.Index(n.args, "--service-cidr")+1], "dev", "bosun0").CombinedOutput(); err != nil {
		t.Fatalf("route the service range in the test host: %v: %s", err, out)
	}
	url := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"
	testutil.Eventually(t, 30*time.Second, "the ClusterIP to answer", func() (bool, string) {
		resp, err := n.http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})

	stopRequests := make(chan struct{})
	loop := n.startRequests(url, 20*time.Millisecond, stopRequests)
	time.Sleep(500 * time.Millisecond) // requests answered before the swap, as a baseline
	swapped := n.server
	if agentOnly {
		swapped = n.agent
	}
	swapped.stop(t, syscall.SIGTERM)
	// Start in a new second, so that a Ready heartbeat at or after it is
	// the new agent's (the API stores whole seconds).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	started := time.Now()
	readyAt := make(chan time.Duration, 1)
	go func() {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if n.readySince(started) {
				readyAt <- time.Since(started)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(readyAt)
	}()
	if agentOnly {
		n.startAgent(bosunBin)
	} else {
		n.start(bosunBin)
	}
	took, ok := <-readyAt
	if !ok {
		t.Fatalf("the node did not report Ready within 2 minutes of this release's start")
	}
	time.Sleep(2 * time.Second) // and requests after it
	close(stopRequests)
	<-loop.done

	after, ready, err := n.containersOf("upg")
	if err != nil {
		t.Fatal(err)
	}
	for name, cs := range before {
		if after[name] != cs {
			t.Errorf("pod %s: containers %s before the upgrade, %q after: a container restarted or was replaced", name, cs, after[name])
		}
	}
	if len(after) != len(before) || ready != replicas {
		t.Errorf("after the upgrade: %d pods (%d before), %d ready, want %d", len(after), len(before), ready, replicas)
	}
	if f := loop.failed.Load(); f != 0 {
		t.Errorf("%d of %d requests to the Service failed during the upgrade; last error: %v", f, f+loop.ok.Load(), loop.lastErr.Load())
	}
	if loop.ok.Load() == 0 {
		t.Errorf("no request to the Service was answered")
	}
	return loop.failed.Load(), loop.ok.Load() + loop.failed.Load(), took
}
