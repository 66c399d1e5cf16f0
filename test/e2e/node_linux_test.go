package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// nodeHost is a network namespace acting as a machine that runs bosun
// server with its node agent: containerd, the pod bridge, CNI and iptables
// all live inside it, and the pod and service ranges are blackholed in the
// machine's own namespace, so no packet of the test can leave the machine.
type nodeHost struct {
	t                        testing.TB
	host                     *nettest.Host
	http                     *http.Client
	dataDir, repoDir         string
	clusterCIDR, serviceCIDR string
	listen                   string
	cmd                      *exec.Cmd
	log                      *testutil.SyncBuffer
	done                     chan struct{}
	extra                    []string
}

func newNodeHost(t testing.TB, repoDir string, extra ...string) *nodeHost {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("git"), testenv.Binary("containerd"), testenv.Binary("runc"),
		testenv.Binary("iptables-restore"), testenv.Binary("nsenter"), testenv.Binary("ip"), cniPlugins)
	h := &nodeHost{
		t:           t,
		host:        nettest.HostNS(t),
		repoDir:     repoDir,
		clusterCIDR: nettest.CIDR(t, 16),
		serviceCIDR: nettest.CIDR(t, 20),
		listen:      "127.0.0.1:6780",
		extra:       extra,
	}
	// The data directory must be short: containerd's socket path is
	// limited to 107 bytes.
	dir, err := os.MkdirTemp("", "bosun-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	h.dataDir = dir
	h.http = nettest.HTTPClient(h.host.Path, nil)

	// The example images, imported by the agent at start.
	imagesDir := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := appimage.Build(ctx, imagesDir); err != nil {
		t.Fatalf("build the example images: %v", err)
	}
	t.Cleanup(h.cleanup)
	h.start()
	return h
}

func cniPlugins() error {
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return fmt.Errorf("the CNI plugins are not installed in /usr/lib/cni (make deps installs containernetworking-plugins)")
	}
	return nil
}

func (h *nodeHost) start() {
	h.t.Helper()
	args := append([]string{"server",
		"--repo", h.repoDir, "--data-dir", h.dataDir, "--insecure-listen", h.listen, "--listen", "127.0.0.1:6443",
		"--cluster-cidr", h.clusterCIDR, "--service-cidr", h.serviceCIDR,
		"--node-name", "node-1", "--interval", "1h", "--log-level", "debug",
	}, h.extra...)
	h.log = &testutil.SyncBuffer{}
	h.cmd = h.host.Command(context.Background(), bosunBin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		h.t.Fatalf("start bosun server in the test host namespace: %v", err)
	}
	h.done = make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	testutil.Eventually(h.t, 60*time.Second, "the API to answer", func() (bool, string) {
		select {
		case <-h.done:
			h.t.Fatalf("bosun server exited:\n%s", h.log.String())
		default:
		}
		resp, err := h.http.Get("http://" + h.listen + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill stops the server (and with it the agent and its containerd child;
// the containers keep running) as a crash would.
func (h *nodeHost) kill() {
	if h.cmd == nil {
		return
	}
	// nsenter execs bosun, so the process is bosun itself.
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	h.cmd = nil
}

func (h *nodeHost) cleanup() {
	h.kill()
	if h.t.Failed() {
		h.t.Logf("server log:\n%s", h.log.String())
	}
	// Remove the pods through the runtime (CNI DEL, iptables), inside the
	// namespace, then what containerd leaves outside its directory.
	out, err := h.host.Command(context.Background(), bosunBin, "agent", "--cleanup", "--data-dir", h.dataDir).CombinedOutput()
	if err != nil {
		h.t.Errorf("bosun agent --cleanup: %v\n%s", err, out)
	}
	containerdproctest.CleanupDir(h.t, filepath.Join(h.dataDir, "containerd"))
	os.RemoveAll(h.dataDir)
}

func (h *nodeHost) client() *client.Client {
	c, err := client.New("http://"+h.listen, client.WithHTTPClient(h.http))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *nodeHost) get(url string) (string, error) {
	resp, err := h.http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (h *nodeHost) pods(ns, selector string) []*corev1.Pod {
	objs, err := h.client().List(context.Background(), resource(h.t, "pods"), ns, selector)
	if err != nil {
		h.t.Fatalf("list pods: %v", err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

func (h *nodeHost) readyPods(ns, selector string, want int) []*corev1.Pod {
	h.t.Helper()
	var ps []*corev1.Pod
	testutil.Eventually(h.t, 90*time.Second, fmt.Sprintf("%d ready pods %s", want, selector), func() (bool, string) {
		ps = h.pods(ns, selector)
		ready := 0
		var states []string
		for _, p := range ps {
			if podReady(p) && p.Status.PodIP != "" {
				ready++
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil {
					states = append(states, p.Name+": "+w.Reason+": "+w.Message)
				}
			}
		}
		return ready == want && len(ps) == want, fmt.Sprintf("%d pods, %d ready %v", len(ps), ready, states)
	})
	return ps
}

// TestRealNode runs the example repository on a real node: containerd,
// CNI and iptables, inside a network namespace the test made. Pods answer
// on their IPs, the ClusterIP Service balances over them, the NodePort
// answers on a node address, a static pod runs from its file, and an agent
// killed and restarted adopts its containers.
func TestRealNode(t *testing.T) {
	r := newRepo(t)
	staticDir := t.TempDir()
	h := newNodeHost(t, r.dir, "--pod-manifest-path", staticDir)
	ps := h.readyPods("demo", "app=hello", 3)
	checkObservability(t, h, ps)

	for _, p := range ps {
		body, err := h.get("http://" + p.Status.PodIP + ":8080/")
		if err != nil || !strings.Contains(body, p.Name) {
			t.Errorf("pod %s at %s answered %q, %v; want its name", p.Name, p.Status.PodIP, body, err)
		}
	}

	// A ClusterIP is routed by the machine's default route before iptables
	// rewrites it; the test host has none, so it gets a route for the
	// service range (to the pod bridge, which it leaves through DNAT).
	if out, err := h.host.Command(context.Background(), "ip", "route", "add", h.serviceCIDR, "dev", "bosun0").CombinedOutput(); err != nil {
		t.Fatalf("route the service range in the test host: %v: %s", err, out)
	}

	svc, err := h.client().Get(context.Background(), resource(t, "services"), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := svc.(*corev1.Service).Spec.ClusterIP
	seen := map[string]int{}
	testutil.Eventually(t, 30*time.Second, "the ClusterIP to reach all three pods", func() (bool, string) {
		body, err := h.get("http://" + clusterIP + "/")
		if err == nil {
			seen[strings.TrimSpace(body)]++
		}
		return len(seen) == 3, fmt.Sprintf("seen %v, last error %v", seen, err)
	})

	// NodePort on the node's bridge address (the gateway of its pod CIDR,
	// a local address of the node).
	gw := gatewayOf(t, ps[0].Status.PodIP)
	if body, err := h.get("http://" + gw + ":30080/"); err != nil || !strings.Contains(body, "hello from") {
		t.Errorf("NodePort %s:30080 answered %q, %v", gw, body, err)
	}

	// Logs and exec reach the containers through the API and the agent.
	out, err := h.bosun("logs", "deploy/hello", "-n", "demo", "--tail", "50")
	if err != nil || !strings.Contains(out, "msg=request method=GET path=/") {
		t.Errorf("bosun logs deploy/hello: %v\n%q\nwant the app's request log", err, out)
	}
	out, err = h.bosun("exec", ps[0].Name, "-n", "demo", "--", "/app", "env")
	if err != nil || !strings.Contains(out, "HOSTNAME=") {
		t.Errorf("bosun exec %s -- /app env: %v\n%s", ps[0].Name, err, out)
	}
	if _, err := h.bosun("exec", ps[0].Name, "-n", "demo", "--", "/app", "exit", "3"); exitCode(err) != 3 {
		t.Errorf("bosun exec -- /app exit 3: %v, want exit status 3", err)
	}

	// A static pod from its file, with its mirror pod in the API.
	if err := os.WriteFile(filepath.Join(staticDir, "web.yaml"), []byte(`apiVersion: v1
kind: Pod
metadata:
  name: static-web
spec:
  containers:
  - name: web
    image: bosun.local/hello:v1
`), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the static pod's mirror pod Running", func() (bool, string) {
		o, err := h.client().Get(context.Background(), resource(t, "pods"), "default", "static-web-node-1")
		if err != nil {
			return false, err.Error()
		}
		p := o.(*corev1.Pod)
		return p.Status.Phase == corev1.PodRunning && p.Annotations["kubernetes.io/config.mirror"] != "", string(p.Status.Phase)
	})

	// Kill the server (and agent) and start it again: the running
	// containers are adopted, not restarted, as the README says. The
	// containers are checked in containerd itself (the API keeps the old
	// status until the new agent writes): the same containers, the same
	// task PIDs with the same process start times, nothing new.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const claim = "a restarted agent adopts them (same container, same PID, restart count unchanged)"
	if !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), claim) {
		t.Fatalf("README.md no longer says %q: update this test with the claim", claim)
	}
	beforePods := h.pods("demo", "app=hello")
	before := containerIDs(beforePods)
	tasksBefore := h.tasks()
	for _, p := range beforePods {
		for _, cs := range p.Status.ContainerStatuses {
			id := strings.TrimPrefix(cs.ContainerID, "containerd://")
			if tk, ok := tasksBefore[id]; !ok || tk.status != "running" {
				t.Fatalf("pod %s container %s (%s): containerd task %+v, want running; tasks: %v", p.Name, cs.Name, id, tk, tasksBefore)
			}
		}
	}
	h.kill()
	for id, tk := range tasksBefore {
		if start, err := procStart(tk.pid); err != nil || start != tk.start {
			t.Errorf("container %s: process %d did not outlive the agent (start time %d, was %d: %v)", id, tk.pid, start, tk.start, err)
		}
	}
	h.start()
	testutil.Eventually(t, 60*time.Second, "the new agent to list its pods", func() (bool, string) {
		return strings.Contains(h.log.String(), `msg="pods listed"`), "no \"pods listed\" in the server log yet"
	})
	// The new agent's pod workers run right after the listing: for three
	// seconds, every check of containerd must find the same tasks.
	watchUntil := time.Now().Add(3 * time.Second)
	for time.Now().Before(watchUntil) {
		if got := h.tasks(); !maps.Equal(got, tasksBefore) {
			t.Fatalf("containerd tasks after an agent restart:\n%v\nwant the same containers, PIDs and start times as before:\n%v", got, tasksBefore)
		}
		time.Sleep(100 * time.Millisecond) // the interval between checks, not a wait for an event
	}
	if strings.Contains(h.log.String(), `msg="container started"`) || strings.Contains(h.log.String(), `msg="pod sandbox started"`) {
		t.Errorf("the restarted agent started a container or sandbox; it should adopt them:\n%s", h.log.String())
	}
	after := h.readyPods("demo", "app=hello", 3)
	if got := containerIDs(after); got != before {
		t.Errorf("container IDs after an agent restart:\n%s\nwant the same as before:\n%s", got, before)
	}
	for _, p := range after {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Errorf("pod %s container %s restarted %d times across an agent restart", p.Name, cs.Name, cs.RestartCount)
			}
		}
	}

	if err := os.Remove(filepath.Join(staticDir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the static pod gone", func() (bool, string) {
		_, err := h.client().Get(context.Background(), resource(t, "pods"), "default", "static-web-node-1")
		return client.IsNotFound(err), fmt.Sprint(err)
	})
}

// bosun runs a client command against the server inside the host
// namespace.
func (h *nodeHost) bosun(args ...string) (string, error) {
	cmd := h.host.Command(context.Background(), bosunBin, append([]string{"--server", "http://" + h.listen}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func containerIDs(ps []*corev1.Pod) string {
	var ids []string
	for _, p := range ps {
		for _, cs := range p.Status.ContainerStatuses {
			ids = append(ids, p.Name+"/"+cs.Name+"="+cs.ContainerID)
		}
	}
	slices.Sort(ids)
	return strings.Join(ids, "\n")
}

// task is a container's task as containerd reports it, with the start
// time of its process, so that a reused PID cannot pass for the same
// process.
type task struct {
	pid    uint32
	status string
	start  uint64 // clock ticks after boot (/proc/PID/stat field 22)
}

// tasks asks the node's containerd for the task of every container in
// bosun's namespace, by container ID.
func (h *nodeHost) tasks() map[string]task {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock := filepath.Join(h.dataDir, "containerd", "containerd.sock")
	c, err := containerdclient.New(sock, containerdclient.WithDefaultNamespace("bosun"))
	if err != nil {
		h.t.Fatalf("connect to the node's containerd at %s: %v", sock, err)
	}
	defer c.Close()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		h.t.Fatalf("list containerd containers: %v", err)
	}
	out := make(map[string]task, len(ctrs))
	for _, ctr := range ctrs {
		tk, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			out[ctr.ID()] = task{status: "no task"}
			continue
		}
		if err != nil {
			h.t.Fatalf("containerd task of %s: %v", ctr.ID(), err)
		}
		st, err := tk.Status(ctx)
		if err != nil {
			h.t.Fatalf("containerd task status of %s: %v", ctr.ID(), err)
		}
		start, err := procStart(tk.Pid())
		if err != nil {
			h.t.Fatalf("container %s: %v", ctr.ID(), err)
		}
		out[ctr.ID()] = task{pid: tk.Pid(), status: string(st.Status), start: start}
	}
	return out
}

// procStart returns the start time of process pid, in clock ticks after
// boot.
func procStart(pid uint32) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the process start time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis, where field 3 begins.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 20", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func gatewayOf(t *testing.T, podIP string) string {
	ip := net.ParseIP(podIP).To4()
	if ip == nil {
		t.Fatalf("pod IP %q is not IPv4", podIP)
	}
	return fmt.Sprintf("%d.%d.%d.1", ip[0], ip[1], ip[2])
}
