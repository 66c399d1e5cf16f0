package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestKubectlDrainWithHollowNodes drains a hollow node with the real
// kubectl while a PodDisruptionBudget from Git guards the Deployment on
// it: kubectl evicts one pod, is told 429 for the next until the
// controllers have replaced the first on the other node, then finishes.
func TestKubectlDrainWithHollowNodes(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), testenv.Binary("kubectl"))
	r := newRepo(t)
	r.git("rm", "-q", "-r", "apps")
	first := r.commitAll("namespace only")
	s := startServer(t, r.dir)
	s.waitAttempt(first, "applied")
	startHollow(t, s.url, 2, "hollow-")
	s.waitNodesReady(2)
	r.git("checkout", "-q", first+"~1", "--", "apps")
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 4")
	r.write("apps/hello/pdb.yaml", `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: hello
  namespace: demo
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app: hello
`)
	s.waitAttempt(r.commitAll("hello, 4 replicas, at most one unavailable"), "applied")
	s.waitAvailable("demo", "hello", 4)

	home := t.TempDir()
	kubectl := func(c context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(c, "kubectl", append([]string{"--server", s.url, "--cache-dir", home + "/cache"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		return cmd
	}
	testutil.Eventually(t, 30*time.Second, "kubectl get pdb: one disruption allowed", func() (bool, string) {
		out, _ := kubectl(context.Background(), "get", "pdb", "-n", "demo", "--no-headers").CombinedOutput()
		f := strings.Fields(string(out))
		return len(f) >= 4 && strings.Join(f[:4], " ") == "hello N/A 1 1", string(out)
	})

	node := s.pods("demo", "app=hello")[0].Spec.NodeName
	on := 0
	for _, p := range s.pods("demo", "app=hello") {
		if p.Spec.NodeName == node {
			on++
		}
	}
	if on < 2 {
		t.Fatalf("%d hello pods on %s, want 2 (4 replicas on 2 nodes)", on, node)
	}
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := kubectl(c, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s").CombinedOutput()
	t.Logf("kubectl drain %s:\n%s", node, out)
	if err != nil || !strings.Contains(string(out), "node/"+node+" drained") {
		t.Fatalf("kubectl drain %s: %v\n%s", node, err, out)
	}
	if !strings.Contains(string(out), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Errorf("the budget never held the drain back (two pods on the node, one disruption allowed):\n%s", out)
	}
	s.waitAvailable("demo", "hello", 4)
	for _, p := range s.pods("demo", "app=hello") {
		if p.Spec.NodeName == node {
			t.Errorf("pod %s still on the drained node %s", p.Name, node)
		}
	}
	if out, err := kubectl(context.Background(), "uncordon", node).CombinedOutput(); err != nil || !strings.Contains(string(out), "uncordoned") {
		t.Errorf("kubectl uncordon %s: %v\n%s", node, err, out)
	}
	if out, _ := s.bosun("get", "nodes", node, "--no-headers"); strings.Contains(out, "SchedulingDisabled") {
		t.Errorf("node %s still cordoned: %s", node, out)
	}
}
