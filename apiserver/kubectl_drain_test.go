package apiserver_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/disruption"
	"github.com/bosun-dev/bosun/store/storetest"
)

// kubectl runs the real kubectl against e with its own HOME, in
// namespace default.
type kubectl struct {
	bin, url, home string
}

func newKubectl(t *testing.T, e *env) kubectl {
	return kubectl{bin: needKubectl(t), url: e.url, home: t.TempDir()}
}

func (k kubectl) cmd(c context.Context, args ...string) *exec.Cmd {
	args = append([]string{"--server", k.url, "--cache-dir", k.home + "/cache", "-n", "default"}, args...)
	cmd := exec.CommandContext(c, k.bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+k.home, "KUBECONFIG="+k.home+"/none")
	return cmd
}

func (k kubectl) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := k.cmd(ctx(t), args...).CombinedOutput()
	return string(out), err
}

// TestKubectlScale: kubectl scale of a Deployment from Git fails, and
// says which file to change and that bosun scale commits it.
func TestKubectlScale(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	k := newKubectl(t, e)
	out, err := k.run(t, "scale", "deploy/web", "--replicas=3")
	if err == nil || !strings.Contains(out, "apps/web.yaml (line 3)") || !strings.Contains(out, "bosun scale deployment/web -n default --replicas=N") {
		t.Fatalf("kubectl scale of a Git object: err %v\n%s", err, out)
	}
	t.Logf("kubectl scale deploy/web --replicas=3: %v\n%s", err, out)
	var d appsv1.Deployment
	if err := e.st.Get(ctx(t), "default", "web", &d); err != nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas after kubectl scale: %v, %v", d.Spec.Replicas, err)
	}
}

// TestKubectlDrain: kubectl get pdb shows the budget the disruption
// controller keeps, and kubectl drain evicts a node's pods through it:
// blocked (429, retried) until a pod is replaced elsewhere, then done.
func TestKubectlDrain(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	k := newKubectl(t, e)
	runCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf := cache.NewInformers(e.st, storetest.Logger(t))
	dc := disruption.New(disruption.Config{Writer: e.st, Informers: inf, Logger: storetest.Logger(t)})
	inf.Start(runCtx)
	testutil.Start(t, dc.Run)
	e.finalizeTerminating(t)

	for _, n := range []string{"node-1", "node-2"} {
		e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"},
		Spec: appsv1.ReplicaSetSpec{Replicas: int32p(3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	e.create(rs)
	owned := func(node string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.NodeName = node
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr(true)}}
		}
	}
	e.create(readyPod("web-a", owned("node-1"), func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	}))
	e.create(readyPod("web-b", owned("node-1")))
	e.create(readyPod("web-c", owned("node-2")))
	e.create(&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}})

	testutil.Eventually(t, 20*time.Second, "kubectl get pdb shows one allowed disruption", func() (bool, string) {
		out, _ := k.run(t, "get", "pdb")
		f := strings.Fields(out)
		want := []string{"NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE", "COMMIT", "web", "2", "N/A", "1"}
		if len(f) >= len(want) && strings.Join(f[:len(want)], " ") == strings.Join(want, " ") {
			t.Logf("kubectl get pdb:\n%s", out)
			return true, ""
		}
		return false, out
	})

	// One pod of node-1 may go; the other would leave one healthy pod.
	out, err := k.run(t, "drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=3s")
	for _, want := range []string{"node/node-1 cordoned", "evicting pod default/web-", "evicted",
		"Cannot evict pod as it would violate the pod's disruption budget.", "global timeout reached: 3s"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("a drain the budget blocks: err %v, %q missing from:\n%s", err, want, out)
		}
	}
	t.Logf("kubectl drain --timeout=3s: %v\n%s", err, out)
	left := 0
	for _, n := range []string{"web-a", "web-b"} {
		if e.exists(readyPod(n)) {
			left++
		}
	}
	if left != 1 {
		t.Fatalf("%d pods left on node-1 after the blocked drain, want 1", left)
	}

	// Drain again, and replace the evicted pod on node-2 while it waits,
	// as the ReplicaSet controller, scheduler and agent would.
	var buf testutil.SyncBuffer
	drain := k.cmd(runCtx, "drain", "node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s")
	drain.Stdout, drain.Stderr = &buf, &buf
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- drain.Wait() }()
	testutil.Eventually(t, 20*time.Second, "the drain is blocked by the budget", func() (bool, string) {
		return strings.Contains(buf.String(), "Cannot evict pod"), buf.String()
	})
	e.create(readyPod("web-d", owned("node-2")))
	if err := testutil.Receive(t, done, 30*time.Second, "kubectl drain to finish"); err != nil {
		t.Fatalf("kubectl drain: %v\n%s", err, buf.String())
	}
	t.Logf("kubectl drain:\n%s", buf.String())
	if !strings.Contains(buf.String(), "node/node-1 drained") {
		t.Fatalf("kubectl drain output:\n%s", buf.String())
	}
	if e.exists(readyPod("web-a")) || e.exists(readyPod("web-b")) {
		t.Errorf("pods left on node-1 after the drain")
	}
	if out, err := k.run(t, "get", "nodes", "node-1"); err != nil || !strings.Contains(out, "SchedulingDisabled") {
		t.Errorf("node-1 after drain: %v\n%s", err, out)
	}
	if out, err := k.run(t, "uncordon", "node-1"); err != nil || !strings.Contains(out, "node/node-1 uncordoned") {
		t.Errorf("kubectl uncordon: %v\n%s", err, out)
	}
}
