package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
)

// hollowNodes is a `bosun hollow` child process.
type hollowNodes struct {
	cmd  *exec.Cmd
	log  *testutil.SyncBuffer
	done chan struct{}
}

func startHollow(t testing.TB, serverURL string, nodes int, prefix string) *hollowNodes {
	t.Helper()
	h := &hollowNodes{log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bosunBin, "hollow", "--server", serverURL, "--nodes", fmt.Sprint(nodes),
		"--name-prefix", prefix, "--start-delay", "20ms", "--heartbeat-interval", "500ms")
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start bosun hollow: %v", err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		h.kill()
		if t.Failed() {
			t.Logf("hollow %s log:\n%s", prefix, h.log.String())
		}
	})
	return h
}

func (h *hollowNodes) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.done
}

// apiClient returns a client of s's API.
func (s *server) apiClient() *client.Client {
	s.t.Helper()
	c, err := client.New(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func resource(t testing.TB, name string) api.Resource {
	t.Helper()
	r, ok := api.Lookup(name)
	if !ok {
		t.Fatalf("no resource %q", name)
	}
	return r
}

func (s *server) pods(ns, selector string) []*corev1.Pod {
	s.t.Helper()
	objs, err := s.apiClient().List(context.Background(), resource(s.t, "pods"), ns, selector)
	if err != nil {
		s.t.Fatalf("list pods: %v", err)
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

func (s *server) deployment(ns, name string) *appsv1.Deployment {
	s.t.Helper()
	o, err := s.apiClient().Get(context.Background(), resource(s.t, "deployments"), ns, name)
	if err != nil {
		s.t.Fatalf("get deployment %s/%s: %v", ns, name, err)
	}
	return o.(*appsv1.Deployment)
}

// waitAvailable waits until the Deployment has all replicas available
// with its newest template.
func (s *server) waitAvailable(ns, name string, replicas int32) {
	s.t.Helper()
	testutil.Eventually(s.t, 60*time.Second, fmt.Sprintf("deployment %s/%s available %d/%d", ns, name, replicas, replicas), func() (bool, string) {
		d := s.deployment(ns, name)
		st := d.Status
		return d.Generation == st.ObservedGeneration && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas && st.Replicas == replicas,
			fmt.Sprintf("generation %d observed %d, replicas %d updated %d available %d", d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas)
	})
}

// waitNodesReady waits until n nodes are Ready.
func (s *server) waitNodesReady(n int) {
	s.t.Helper()
	testutil.Eventually(s.t, 30*time.Second, fmt.Sprintf("%d nodes Ready", n), func() (bool, string) {
		out, _ := s.bosun("get", "nodes", "--no-headers")
		return strings.Count(out, " Ready ") == n, out
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestControllersWithHollowNodes converges the example repository on three
// hollow nodes and then changes it: a rolling update that stays within the
// surge and unavailability bounds at every watch event, an unschedulable
// pod with Kubernetes' message, a ReplicationController with an equality
// selector, and garbage collection when a Deployment leaves Git.
func TestControllersWithHollowNodes(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	// Start with the namespace only, so that nodes exist before the pods.
	r.git("rm", "-q", "-r", "apps")
	first := r.commitAll("namespace only")
	s := startServer(t, r.dir)
	s.waitAttempt(first, "applied")
	startHollow(t, s.url, 3, "hollow-")
	s.waitNodesReady(3)

	r.git("checkout", "-q", first+"~1", "--", "apps")
	s.waitAttempt(r.commitAll("add the hello app"), "applied")
	s.waitAvailable("demo", "hello", 3)
	nodes := map[string]int{}
	for _, p := range s.pods("demo", "app=hello") {
		nodes[p.Spec.NodeName]++
	}
	if len(nodes) != 3 {
		t.Errorf("3 replicas on 3 equal nodes landed on %v, want one per node", nodes)
	}
	testutil.Eventually(t, 20*time.Second, "endpoints of demo/hello with 3 addresses", func() (bool, string) {
		out, _ := s.bosun("get", "endpoints", "hello", "-n", "demo", "--no-headers")
		return strings.Count(out, ":8080") == 3, out
	})
	if out, _ := s.bosun("get", "pods", "-n", "demo", "-o", "wide"); !strings.Contains(out, "hollow-") {
		t.Errorf("bosun get pods -o wide does not show the nodes:\n%s", out)
	}

	// Rolling update: 3 replicas, maxSurge 25% -> 1, maxUnavailable 25% -> 0.
	// Watch every pod event and check the bounds at each one.
	c := s.apiClient()
	_, rv, err := c.ListAt(context.Background(), resource(t, "pods"), "demo", "app=hello")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu         sync.Mutex
		live       = map[string]*corev1.Pod{}
		violations []string
		maxTotal   int
		minReady   = 99
	)
	for _, p := range s.pods("demo", "app=hello") {
		live[p.Name] = p
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- c.Watch(watchCtx, resource(t, "pods"), "demo", "app=hello", rv, func(ev client.Event) error {
			p := ev.Object.(*corev1.Pod)
			mu.Lock()
			defer mu.Unlock()
			if ev.Type == "DELETED" {
				delete(live, p.Name)
			} else {
				live[p.Name] = p
			}
			total, ready := 0, 0
			for _, lp := range live {
				if lp.DeletionTimestamp != nil {
					continue
				}
				total++
				if podReady(lp) {
					ready++
				}
			}
			maxTotal, minReady = max(maxTotal, total), min(minReady, ready)
			if total > 4 || ready < 3 {
				violations = append(violations, fmt.Sprintf("%s %s: %d pods, %d ready", ev.Type, p.Name, total, ready))
			}
			return nil
		})
	}()
	r.replace("apps/hello/deployment.yaml", "bosun.local/hello:v1", "bosun.local/hello:v2")
	s.waitAttempt(r.commitAll("hello v2"), "applied")
	s.waitAvailable("demo", "hello", 3)
	testutil.Eventually(t, 30*time.Second, "only v2 pods left", func() (bool, string) {
		ps := s.pods("demo", "app=hello")
		for _, p := range ps {
			if p.Spec.Containers[0].Image != "bosun.local/hello:v2" {
				return false, fmt.Sprintf("%s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
		}
		return len(ps) == 3, fmt.Sprintf("%d pods", len(ps))
	})
	stopWatch()
	if err := <-watchDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("watch: %v", err)
	}
	mu.Lock()
	if len(violations) > 0 {
		t.Errorf("rolling update left the bounds (max 4 pods, min 3 ready):\n%s", strings.Join(violations, "\n"))
	}
	t.Logf("rolling update: at most %d pods, at least %d ready at every watch event", maxTotal, minReady)
	mu.Unlock()
	rsOut, _ := s.bosun("get", "rs", "-n", "demo", "--no-headers")
	if n := len(strings.Split(strings.TrimSpace(rsOut), "\n")); n != 2 {
		t.Errorf("after one rollout, %d ReplicaSets, want 2:\n%s", n, rsOut)
	}

	// An RC with an equality selector, as users of older Kubernetes write
	// them, and a pod nobody can fit.
	r.write("apps/redis/rc.yaml", `apiVersion: v1
kind: ReplicationController
metadata:
  name: redis
  namespace: demo
spec:
  replicas: 2
  selector:
    app: redis
  template:
    metadata:
      labels:
        app: redis
    spec:
      containers:
      - name: redis
        image: redis:7
        ports:
        - containerPort: 6379
`)
	r.write("apps/huge/pod.yaml", `apiVersion: v1
kind: Pod
metadata:
  name: huge
  namespace: demo
spec:
  containers:
  - name: huge
    image: bosun.local/hello:v1
    resources:
      requests:
        cpu: "64"
`)
	s.waitAttempt(r.commitAll("redis and a huge pod"), "applied")
	testutil.Eventually(t, 30*time.Second, "2 redis pods running", func() (bool, string) {
		ps := s.pods("demo", "app=redis")
		running := 0
		for _, p := range ps {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2 && len(ps) == 2, fmt.Sprintf("%d pods, %d running", len(ps), running)
	})
	testutil.Eventually(t, 30*time.Second, "the huge pod's PodScheduled=False condition", func() (bool, string) {
		o, err := c.Get(context.Background(), resource(t, "pods"), "demo", "huge")
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range o.(*corev1.Pod).Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				return cond.Status == corev1.ConditionFalse && cond.Reason == "Unschedulable" &&
					cond.Message == "0/3 nodes are available: 3 Insufficient cpu.", cond.Message
			}
		}
		return false, "no PodScheduled condition"
	})

	// The Deployment leaves Git: its ReplicaSets and pods go with it.
	r.git("rm", "-q", "-r", "apps/hello/deployment.yaml")
	s.waitAttempt(r.commitAll("remove hello"), "applied")
	testutil.Eventually(t, 30*time.Second, "hello's ReplicaSets and pods collected", func() (bool, string) {
		rs, _ := s.bosun("get", "rs", "-n", "demo", "--no-headers")
		ps := s.pods("demo", "app=hello")
		return !strings.Contains(rs, "hello-") && len(ps) == 0, fmt.Sprintf("rs: %q, %d pods", rs, len(ps))
	})
}

// TestNodeDeathReschedules kills the process of one hollow node: after the
// grace period it is marked unreachable and after the eviction timeout its
// pods are evicted (terminating, as Kubernetes leaves them on a node that
// may still run them) and replaced on the live nodes.
func TestNodeDeathReschedules(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	r.git("rm", "-q", "-r", "apps")
	first := r.commitAll("namespace only")
	s := startServer(t, r.dir, "--node-monitor-grace-period", "3s", "--pod-eviction-timeout", "2s")
	s.waitAttempt(first, "applied")
	startHollow(t, s.url, 2, "alive-")
	doomed := startHollow(t, s.url, 1, "doomed-")
	s.waitNodesReady(3)
	r.git("checkout", "-q", first+"~1", "--", "apps")
	s.waitAttempt(r.commitAll("add the hello app"), "applied")
	s.waitAvailable("demo", "hello", 3)
	onDoomed := 0
	for _, p := range s.pods("demo", "app=hello") {
		if strings.HasPrefix(p.Spec.NodeName, "doomed-") {
			onDoomed++
		}
	}
	if onDoomed == 0 {
		t.Fatalf("no pod landed on the doomed node; cannot test rescheduling")
	}

	doomed.kill()
	testutil.Eventually(t, 60*time.Second, "the dead node's pods replaced on live nodes", func() (bool, string) {
		ps := s.pods("demo", "app=hello")
		ready := 0
		for _, p := range ps {
			if strings.HasPrefix(p.Spec.NodeName, "doomed-") {
				// As in Kubernetes, an evicted pod of a node that is
				// unreachable (not deleted) stays terminating: the node
				// may still run it.
				if p.DeletionTimestamp == nil {
					return false, fmt.Sprintf("%s on %s not evicted", p.Name, p.Spec.NodeName)
				}
				continue
			}
			if podReady(p) {
				ready++
			}
		}
		return ready == 3, fmt.Sprintf("%d pods, %d ready", len(ps), ready)
	})
	out, _ := s.bosun("get", "nodes", "--no-headers")
	if !regexpMatch(`doomed-0\s+NotReady`, out) {
		t.Errorf("dead node not shown NotReady:\n%s", out)
	}
}

// TestLeaderFailover runs two servers on one external etcd: one leads the
// controllers, the other waits. Killing the leader hands the controllers to
// the standby, which converges a new commit without duplicate pods.
func TestLeaderFailover(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emb, err := store.StartEmbedded(ctx, store.EmbedConfig{
		DataDir: filepath.Join(t.TempDir(), "etcd"), ClientURL: "http://127.0.0.1:0", PeerURL: "http://127.0.0.1:0",
		TickMs: 10, ElectionMs: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	endpoints := strings.Join(emb.Endpoints(), ",")
	r := newRepo(t)
	a := startServer(t, r.dir, "--etcd-endpoints", endpoints, "--etcd-max-txn-ops", "10000", "--etcd-max-request-bytes", "10000000")
	b := startServer(t, r.dir, "--etcd-endpoints", endpoints, "--etcd-max-txn-ops", "10000", "--etcd-max-request-bytes", "10000000")
	var leader, standby *server
	testutil.Eventually(t, 30*time.Second, "one server to lead the controllers", func() (bool, string) {
		la, lb := strings.Contains(a.log.String(), "leading the control plane"), strings.Contains(b.log.String(), "leading the control plane")
		switch {
		case la && lb:
			t.Fatal("both servers lead the control plane")
		case la:
			leader, standby = a, b
		case lb:
			leader, standby = b, a
		}
		return leader != nil, "no leader yet"
	})
	// The hollow nodes talk to the standby's API, which outlives the leader.
	startHollow(t, standby.url, 3, "hollow-")
	standby.waitAvailable("demo", "hello", 3)
	// Every pod created or deleted from here on is counted, so that a
	// duplicate shows even when a controller deleted it again.
	pw := watchPods(t, standby.apiClient(), "demo", "app=hello")
	leader.kill()
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 5")
	sha := r.commitAll("5 replicas")
	standby.waitAttempt(sha, "applied")
	standby.waitAvailable("demo", "hello", 5)
	if !strings.Contains(standby.log.String(), "leading the control plane") {
		t.Error("the standby never took over the controllers")
	}
	// Settled: the new leader's ReplicaSet controller counted 5 pods of the
	// current spec; a pass that could create a duplicate saw fewer.
	testutil.Eventually(t, 30*time.Second, "hello's ReplicaSet to report 5 pods", func() (bool, string) {
		objs, err := standby.apiClient().List(context.Background(), resource(t, "replicasets"), "demo", "app=hello")
		if err != nil || len(objs) == 0 {
			return false, fmt.Sprintf("%d ReplicaSets, %v", len(objs), err)
		}
		var got []string
		for _, o := range objs {
			rs := o.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas != nil && *rs.Spec.Replicas == 5 && rs.Status.ObservedGeneration == rs.Generation && rs.Status.Replicas == 5 {
				return true, ""
			}
			got = append(got, fmt.Sprintf("%s: generation %d observed %d, replicas %d", rs.Name, rs.Generation, rs.Status.ObservedGeneration, rs.Status.Replicas))
		}
		return false, strings.Join(got, "; ")
	})
	ps := standby.pods("demo", "app=hello")
	if len(ps) != 5 {
		t.Errorf("after failover %d pods, want 5", len(ps))
	}
	// The watch has seen every listed pod's creation (events come in order),
	// so it has seen every pod created and deleted before them too.
	created, deleted := pw.waitSeen(t, ps)
	if len(created) != 2 || len(deleted) != 0 {
		t.Errorf("scaling 3 -> 5 across a failover created pods %v and deleted %v, want 2 created and none deleted", created, deleted)
	}
}

// podWatch counts the pods a watch saw created and deleted.
type podWatch struct {
	before  map[string]bool // listed when the watch started
	mu      sync.Mutex
	created []string
	deleted []string
	err     error
}

// watchPods starts watching ns's pods matching selector from now on, until
// the test ends.
func watchPods(t *testing.T, c *client.Client, ns, selector string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	objs, rv, err := c.ListAt(ctx, resource(t, "pods"), ns, selector)
	if err != nil {
		cancel()
		t.Fatalf("list pods: %v", err)
	}
	w := &podWatch{before: map[string]bool{}}
	for _, o := range objs {
		w.before[o.GetName()] = true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := c.Watch(ctx, resource(t, "pods"), ns, selector, rv, func(ev client.Event) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch ev.Type {
			case "ADDED":
				w.created = append(w.created, ev.Object.GetName())
			case "DELETED":
				w.deleted = append(w.deleted, ev.Object.GetName())
			}
			return nil
		})
		if ctx.Err() == nil {
			w.mu.Lock()
			w.err = fmt.Errorf("the pod watch ended: %v", err)
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// waitSeen waits until the watch has seen the creation of every pod of ps
// not listed at its start, and returns the pods it saw created and deleted.
func (w *podWatch) waitSeen(t *testing.T, ps []*corev1.Pod) (created, deleted []string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, "the pod watch to catch up with the list", func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.err != nil {
			t.Fatal(w.err)
		}
		seen := map[string]bool{}
		for _, n := range w.created {
			seen[n] = true
		}
		for _, p := range ps {
			if !seen[p.Name] && !w.before[p.Name] {
				return false, fmt.Sprintf("no ADDED event for %s yet (created %v)", p.Name, w.created)
			}
		}
		return true, ""
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.created...), append([]string(nil), w.deleted...)
}

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}
