package fault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// nodeHost is a network namespace the test created, acting as a machine
// that runs bosun server with its node agent and the agent's containerd.
type nodeHost struct {
	t                testing.TB
	host             *nettest.Host
	http             *http.Client
	dataDir, repoDir string
	args             []string
	cmd              *exec.Cmd
	log              *testutil.SyncBuffer
	done             chan struct{}
}

// listen is the API's address inside the host namespace.
const listen = "127.0.0.1:6780"

// newNodeHost starts bosun server with its agent on repoDir inside a new
// network namespace, the example images ready to import.
func newNodeHost(t testing.TB, repoDir string) *nodeHost {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("git"), testenv.Binary("containerd"), testenv.Binary("runc"),
		testenv.Binary("iptables-restore"), testenv.Binary("iptables-save"), testenv.Binary("nsenter"), testenv.Binary("ip"),
		func() error {
			if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
				return fmt.Errorf("the CNI plugins are not installed in /usr/lib/cni (make deps installs containernetworking-plugins)")
			}
			return nil
		})
	h := &nodeHost{t: t, host: nettest.HostNS(t), repoDir: repoDir}
	// Short: containerd's socket path is limited to 107 bytes.
	dir, err := os.MkdirTemp("", "bosun-fault-")
	if err != nil {
		t.Fatal(err)
	}
	h.dataDir = dir
	h.http = nettest.HTTPClient(h.host.Path, nil)
	imagesDir := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := appimage.Build(ctx, imagesDir); err != nil {
		t.Fatalf("build the example images: %v", err)
	}
	h.args = []string{"server",
		"--repo", h.repoDir, "--data-dir", h.dataDir, "--insecure-listen", listen, "--listen", "127.0.0.1:6443",
		"--cluster-cidr", nettest.CIDR(t, 16), "--service-cidr", nettest.CIDR(t, 20),
		"--node-name", "node-1", "--interval", "1h", "--log-level", "debug",
	}
	t.Cleanup(h.cleanup)
	h.start()
	return h
}

// start runs the server in the host namespace and waits for its API.
func (h *nodeHost) start() {
	h.t.Helper()
	h.log = &testutil.SyncBuffer{}
	h.cmd = h.host.Command(context.Background(), bosunBin, h.args...)
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
		resp, err := h.http.Get("http://" + listen + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill sends SIGKILL to the server, and so to its agent (nsenter execs
// bosun, so the process is bosun itself); containers keep running.
func (h *nodeHost) kill() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
	h.cmd = nil
}

// killContainerd sends SIGKILL to the agent's containerd and returns its
// PID; the agent's supervisor restarts it.
func (h *nodeHost) killContainerd() int {
	h.t.Helper()
	dir := filepath.Join(h.dataDir, "containerd")
	pids := proctest.Find(func(args []string) bool {
		return filepath.Base(args[0]) == "containerd" && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, dir) })
	})
	if len(pids) != 1 {
		h.t.Fatalf("want one containerd under %s, found PIDs %v", dir, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		h.t.Fatalf("kill containerd %d: %v", pids[0], err)
	}
	return pids[0]
}

// cleanup stops the server, runs bosun agent --cleanup in the namespace and
// checks that it left no pod network namespace mount and no bosun
// iptables rule behind, then removes what containerd left outside its
// directory.
func (h *nodeHost) cleanup() {
	h.kill()
	if h.t.Failed() {
		h.t.Logf("server log (requests left out):\n%s", lastLines(withoutRequests(h.log.String()), 200))
	}
	out, err := h.host.Command(context.Background(), bosunBin, "agent", "--cleanup", "--data-dir", h.dataDir).CombinedOutput()
	if err != nil {
		h.t.Errorf("bosun agent --cleanup: %v\n%s", err, out)
	}
	if left := leftovers(h); left != "" {
		h.t.Errorf("after bosun agent --cleanup: %s", left)
	}
	containerdproctest.CleanupDir(h.t, filepath.Join(h.dataDir, "containerd"))
	_ = os.RemoveAll(h.dataDir)
}

// leftovers says what of the agent's network is still there: mounts under
// the data directory other than containerd's own (pod network namespaces)
// and iptables rules or chains naming bosun in the host namespace.
func leftovers(h *nodeHost) string {
	var left []string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], h.dataDir) && !strings.HasPrefix(f[4], filepath.Join(h.dataDir, "containerd")) {
			left = append(left, "mount "+f[4])
		}
	}
	out, err := h.host.Command(context.Background(), "iptables-save").CombinedOutput()
	if err != nil {
		left = append(left, fmt.Sprintf("iptables-save: %v: %s", err, out))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(strings.ToUpper(line), "BOSUN") {
			left = append(left, "iptables "+line)
		}
	}
	return strings.Join(left, "; ")
}

// pods lists the pods of namespace churn.
func (h *nodeHost) pods() []*corev1.Pod {
	h.t.Helper()
	c, err := client.New("http://"+listen, client.WithHTTPClient(h.http))
	if err != nil {
		h.t.Fatal(err)
	}
	r, _ := api.Lookup("pods")
	objs, err := c.List(context.Background(), r, "churn", "")
	if err != nil {
		return nil // the API may be restarting; the caller polls
	}
	var out []*corev1.Pod
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// containers returns containerd's containers in bosun's namespace with
// the status of their tasks ("no task" when there is none).
func (h *nodeHost) containers() (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sock := filepath.Join(h.dataDir, "containerd", "containerd.sock")
	c, err := containerdclient.New(sock, containerdclient.WithDefaultNamespace("bosun"), containerdclient.WithTimeout(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", sock, err)
	}
	defer c.Close()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containerd containers: %w", err)
	}
	out := map[string]string{}
	for _, ctr := range ctrs {
		tk, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			out[ctr.ID()] = "no task"
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("containerd task of %s: %w", ctr.ID(), err)
		}
		st, err := tk.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("containerd task status of %s: %w", ctr.ID(), err)
		}
		out[ctr.ID()] = string(st.Status)
	}
	return out, nil
}

// churnCommit is a Deployment of replicas pods whose template carries
// round, so every commit rolls all pods over.
func churnCommit(replicas, round int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: churn
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: churn
  namespace: churn
spec:
  replicas: %d
  selector:
    matchLabels: {app: churn}
  template:
    metadata:
      labels: {app: churn}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: hello
        image: bosun.local/hello:v1
        env:
        - {name: ROUND, value: "%d"}
`, replicas, round)
}

// convergence says what keeps the node from matching round: "" once
// exactly replicas pods of the round's template run and are ready, each
// with one running containerd task, and containerd holds no other
// container.
func (h *nodeHost) convergence(replicas, round int) string {
	ctrs, err := h.containers()
	if err != nil {
		return err.Error()
	}
	var probs []string
	want := map[string]bool{}
	current := 0
	pods := h.pods()
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			want[strings.TrimPrefix(cs.ContainerID, "containerd://")] = true
		}
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			probs = append(probs, "pod "+p.Name+" still terminating")
			continue
		}
		if !slices.ContainsFunc(p.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "ROUND" && e.Value == fmt.Sprint(round) }) {
			probs = append(probs, "pod "+p.Name+" is of an earlier round")
			continue
		}
		current++
		if !podReady(p) {
			probs = append(probs, "pod "+p.Name+" not ready")
		}
		for _, cs := range p.Status.ContainerStatuses {
			id := strings.TrimPrefix(cs.ContainerID, "containerd://")
			if ctrs[id] != "running" {
				probs = append(probs, fmt.Sprintf("pod %s container %s: task %q", p.Name, id, ctrs[id]))
			}
		}
	}
	if current != replicas {
		probs = append(probs, fmt.Sprintf("%d pods of round %d, want %d", current, round, replicas))
	}
	for id, st := range ctrs {
		if !want[id] {
			probs = append(probs, fmt.Sprintf("orphaned container %s (%s)", id, st))
		}
	}
	slices.Sort(probs)
	return strings.Join(probs, "; ")
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestKillAgentAndContainerdDuringChurn runs a Deployment on a real node
// (containerd, CNI, iptables in a network namespace the test created) and,
// each round, commits a new pod template (a rolling replacement of every
// pod, replicas between 2 and 3), then kills with SIGKILL either the agent
// (the server process it runs in) or containerd, at a random moment up to
// 1.5 s after the commit. After each round the node must converge: every
// desired pod runs exactly once, with one running task, and containerd
// holds no orphaned container. At the end, bosun agent --cleanup must
// leave no pod network namespace mount and no iptables rule. Rounds:
// SOAK_ROUNDS/50 (at least 4).
func TestKillAgentAndContainerdDuringChurn(t *testing.T) {
	rounds := max(4, testutil.EnvInt("SOAK_ROUNDS", 50)/50)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 1))

	r := newRepo(t, "churn.yaml", churnCommit(2, 0))
	h := newNodeHost(t, r.dir)
	if !pollFor(120*time.Second, func() bool { return h.convergence(2, 0) == "" }) {
		t.Fatalf("the first commit did not converge: %s", h.convergence(2, 0))
	}
	faults := map[string]int{}
	recovered := map[string]int{}
	var worst time.Duration
	for round := 1; round <= rounds; round++ {
		kind := []string{"containerd", "agent"}[round%2]
		replicas := 2 + round%2
		r.write("churn.yaml", churnCommit(replicas, round))
		r.commitAll(fmt.Sprintf("round %d", round))
		delay := time.Duration(rng.Float64() * 1.5 * float64(time.Second))
		time.Sleep(delay) // the moment of the crash is the test's input
		switch kind {
		case "agent":
			h.kill()
			h.start()
		case "containerd":
			h.killContainerd()
		}
		faults[kind]++
		killed := time.Now()
		var problem string
		if !pollFor(90*time.Second, func() bool { problem = h.convergence(replicas, round); return problem == "" }) {
			t.Fatalf("round %d: after kill -9 of %s %v after the commit, the node did not converge in 90s: %s", round, kind, delay, problem)
		}
		recovered[kind]++
		worst = max(worst, time.Since(killed))
		t.Logf("round %d: kill -9 of %s %v after the commit; converged %v later", round, kind, delay.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	}
	h.cleanup()
	t.Logf("RESULT node-churn rounds=%d agent-kills=%d recovered=%d containerd-kills=%d recovered=%d worst-convergence=%v orphaned-containers=0 leftovers-after-cleanup=%t",
		rounds, faults["agent"], recovered["agent"], faults["containerd"], recovered["containerd"], worst.Round(time.Millisecond), t.Failed())
}
