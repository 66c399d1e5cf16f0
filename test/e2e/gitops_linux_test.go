package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// gitopsDeployment is the Deployment the GitOps test rolls out, with fast
// readiness probes and a 2 s preStop sleep (a terminating pod serves while
// the proxies drop it, as Kubernetes users write it). The broken image gets a short progress deadline, so that
// its failed rollout is noticed within seconds; the good ones get a long one,
// so that a slow machine's rollout is never mistaken for a failed one (and
// reverted by --auto-rollback).
func gitopsDeployment(image string, replicas int) string {
	deadline := 120
	if strings.HasSuffix(image, ":broken") {
		deadline = 8
	}
	return fmt.Sprintf(`# The hello app. Comments like this one must survive bosun scale.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  namespace: demo
spec:
  replicas: %d  # how many
  progressDeadlineSeconds: %d
  selector:
    matchLabels:
      app: hello
  template:
    metadata:
      labels:
        app: hello
    spec:
      containers:
        - name: hello
          image: %s
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet:
              path: /ready
              port: http
            periodSeconds: 1
          lifecycle:
            preStop:
              sleep: {seconds: 2}
`, replicas, deadline, image)
}

// remote is a bare repository playing the Git server, and a clone of it
// the test pushes from as a user would.
type remote struct {
	t          testing.TB
	bare, work string
}

func newRemote(t testing.TB) *remote {
	t.Helper()
	r := &remote{t: t, bare: filepath.Join(t.TempDir(), "deploy.git"), work: t.TempDir()}
	run := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run(".", "init", "-q", "--bare", "-b", "main", r.bare)
	run(r.work, "clone", "-q", r.bare, ".")
	run(r.work, "config", "user.name", "E2E Tester")
	run(r.work, "config", "user.email", "e2e@bosun.test")
	return r
}

func (r *remote) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.work
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// push commits the deployment file (and the namespace and service) and
// pushes; it returns the commit.
func (r *remote) push(msg, deployment string) string {
	r.t.Helper()
	files := map[string]string{
		"namespace.yaml":  "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
		"service.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\n  namespace: demo\nspec:\n  selector:\n    app: hello\n  ports:\n    - port: 80\n      targetPort: http\n",
		"deployment.yaml": deployment,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.work, name), []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	r.git("push", "-q", "origin", "main")
	return r.git("rev-parse", "HEAD")
}

// pull brings commits bosun pushed into the work tree.
func (r *remote) pull() {
	r.t.Helper()
	r.git("pull", "-q", "--ff-only", "origin", "main")
}

// requestLoop sends requests to url without pause until stopped, counting
// failures and the versions that answered.
type requestLoop struct {
	mu       sync.Mutex
	failures []string
	versions map[string]int
	last     string
	streak   int // answers in a row from the last version
	total    int
	stop     chan struct{}
	done     chan struct{}
}

func startRequestLoop(h *nodeHost, url string) *requestLoop {
	l := &requestLoop{versions: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			default:
			}
			body, err := h.get(url)
			l.mu.Lock()
			l.total++
			if err != nil || !strings.HasPrefix(body, "hello from") {
				l.failures = append(l.failures, fmt.Sprintf("%s: %q %v", time.Now().Format("15:04:05.000"), body, err))
			} else {
				v := body[strings.LastIndex(body, "(version ")+len("(version ") : strings.LastIndex(body, ")")]
				l.versions[v]++
				if v == l.last {
					l.streak++
				} else {
					l.last, l.streak = v, 1
				}
			}
			l.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return l
}

// reset returns what the loop saw so far and starts counting anew.
func (l *requestLoop) reset() (total int, failures []string, versions map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total, failures, versions = l.total, l.failures, l.versions
	l.total, l.failures, l.versions = 0, nil, map[string]int{}
	return total, failures, versions
}

// settled reports whether the last 30 answers came from version v: old
// pods that still drain no longer get traffic.
func (l *requestLoop) settled(v string) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last == v && l.streak >= 30, fmt.Sprintf("%d answers in a row from %s", l.streak, l.last)
}

func (l *requestLoop) close() {
	close(l.stop)
	<-l.done
}

// waitRollout waits until the Deployment runs only image, all replicas
// ready, no pod of another template left.
func (h *nodeHost) waitRollout(image string, replicas int32) {
	h.t.Helper()
	testutil.Eventually(h.t, 90*time.Second, fmt.Sprintf("%d ready pods of %s only", replicas, image), func() (bool, string) {
		o, err := h.client().Get(context.Background(), resource(h.t, "deployments"), "demo", "hello")
		if err != nil {
			return false, err.Error()
		}
		d := o.(*appsv1.Deployment)
		if d.Spec.Template.Spec.Containers[0].Image != image {
			return false, "deployment has " + d.Spec.Template.Spec.Containers[0].Image
		}
		ps := h.pods("demo", "app=hello")
		ready := 0
		for _, p := range ps {
			if p.Spec.Containers[0].Image != image {
				return false, fmt.Sprintf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
			}
			if podReady(p) {
				ready++
			}
		}
		st := d.Status
		return int32(len(ps)) == replicas && int32(ready) == replicas && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas,
			fmt.Sprintf("%d pods, %d ready; status updated %d available %d", len(ps), ready, st.UpdatedReplicas, st.AvailableReplicas)
	})
}

// TestGitOpsWorkflow is issue 6's end-to-end test on a real node: a bare
// repository as the remote; v1, then v2 rolled out under a request loop
// with zero failed requests; a broken image reverted by bosun on its own
// while v2 keeps answering; a rollback of v2 by hand; bosun scale writing
// a commit that keeps the file's comments.
func TestGitOpsWorkflow(t *testing.T) {
	r := newRemote(t)
	r.push("hello v1", gitopsDeployment("bosun.local/hello:v1", 3))
	h := newNodeHost(t, r.bare, "--auto-rollback")
	h.waitRollout("bosun.local/hello:v1", 3)
	if out, err := h.host.Command(context.Background(), "ip", "route", "add", h.serviceCIDR, "dev", "bosun0").CombinedOutput(); err != nil {
		t.Fatalf("route the service range in the test host: %v: %s", err, out)
	}
	svc, err := h.client().Get(context.Background(), resource(t, "services"), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"
	testutil.Eventually(t, 30*time.Second, "the ClusterIP to answer v1", func() (bool, string) {
		body, err := h.get(url)
		return err == nil && strings.Contains(body, "(version v1)"), fmt.Sprint(body, err)
	})
	loop := startRequestLoop(h, url)
	defer loop.close()

	// v2: a rolling update with no failed request.
	v2 := r.push("hello v2", gitopsDeployment("bosun.local/hello:v2", 3))
	h.waitRollout("bosun.local/hello:v2", 3)
	testutil.Eventually(t, 10*time.Second, "the ClusterIP to answer only v2", func() (bool, string) { return loop.settled("v2") })
	total, failures, versions := loop.reset()
	t.Logf("v1 -> v2: %d requests, %v, %d failed", total, versions, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the rolling update to v2:\n%s", len(failures), total, strings.Join(failures, "\n"))
	}

	// A broken image: its pods never become ready, the progress deadline
	// passes, and bosun pushes a revert of that commit by itself.
	broken := r.push("hello broken", gitopsDeployment("bosun.local/hello:broken", 3))
	var revert string
	testutil.Eventually(t, 90*time.Second, "bosun to push a revert of the broken commit", func() (bool, string) {
		out, err := exec.Command("git", "--git-dir", r.bare, "log", "-1", "--format=%H%n%s%n%b", "main").CombinedOutput()
		if err != nil {
			return false, err.Error()
		}
		lines := strings.SplitN(string(out), "\n", 3)
		if len(lines) == 3 && lines[1] == `Revert "hello broken"` && strings.Contains(lines[2], "This reverts commit "+broken) {
			revert = lines[0]
			return strings.Contains(lines[2], "automatically"), lines[2]
		}
		return false, string(out)
	})
	h.waitRollout("bosun.local/hello:v2", 3)
	total, failures, versions = loop.reset()
	t.Logf("broken + automatic revert %.8s: %d requests, %v, %d failed", revert, total, versions, len(failures))
	if len(failures) > 0 || versions["v1"] > 0 {
		t.Errorf("while the broken commit was rolled back, %d of %d requests failed, versions %v (want only v2):\n%s", len(failures), total, versions, strings.Join(failures, "\n"))
	}
	out, _ := h.bosun("history")
	if !strings.Contains(out, "rolled") {
		t.Errorf("bosun history does not say the broken commit was rolled back:\n%s", out)
	}

	// Roll back v2 by hand: a revert commit, and v1 serves again.
	out, err = h.bosun("rollback", v2)
	if err != nil {
		t.Fatalf("bosun rollback %.8s: %v\n%s", v2, err, out)
	}
	h.waitRollout("bosun.local/hello:v1", 3)
	testutil.Eventually(t, 10*time.Second, "the ClusterIP to answer only v1 again", func() (bool, string) { return loop.settled("v1") })
	total, failures, _ = loop.reset()
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the rollback:\n%s", len(failures), total, strings.Join(failures, "\n"))
	}

	// bosun scale: a commit that keeps the comments, and the replicas follow.
	out, err = h.bosun("scale", "deploy/hello", "-n", "demo", "--replicas=4")
	if err != nil {
		t.Fatalf("bosun scale: %v\n%s", err, out)
	}
	r.pull()
	b, err := os.ReadFile(filepath.Join(r.work, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "replicas: 4  # how many") || !strings.Contains(string(b), "# The hello app. Comments like this one") {
		t.Errorf("bosun scale's commit lost the file's comments or did not set replicas:\n%s", b)
	}
	if subject := r.git("log", "-1", "--format=%s"); !strings.Contains(subject, "Scale") {
		t.Errorf("bosun scale's commit subject = %q", subject)
	}
	h.waitRollout("bosun.local/hello:v1", 4)
}
