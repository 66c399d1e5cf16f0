package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestAPIWritesCommit: with --api-writes=commit, kubectl scale and kubectl
// set image of a Deployment from Git become commits of its file, authored
// by the API's user, and kubectl returns once sync applied them; a write
// that changes anything else is still refused, saying so.
func TestAPIWritesCommit(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), testenv.Binary("kubectl"))
	r := newRepo(t)
	s := startServer(t, r.dir, "--api-writes=commit")
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
	home := t.TempDir()
	kubectl := func(args ...string) (string, error) {
		cmd := exec.CommandContext(context.Background(), "kubectl", append([]string{"--server", s.url, "--cache-dir", home + "/cache", "-n", "demo"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := kubectl("scale", "deploy/hello", "--replicas=5")
	if err != nil || !strings.Contains(out, "deployment.apps/hello scaled") {
		t.Fatalf("kubectl scale: %v\n%s", err, out)
	}
	// Answered after the sync: the Deployment says 5 at once.
	if d := s.deployment("demo", "hello"); d.Spec.Replicas == nil || *d.Spec.Replicas != 5 {
		t.Errorf("replicas right after kubectl scale returned: %v, want 5", d.Spec.Replicas)
	}
	log := r.git("log", "-1", "--format=%an|%s")
	if !strings.HasPrefix(log, "admin (bosun API)|Scale Deployment demo/hello to 5 replicas") {
		t.Errorf("last commit %q, want the scale authored by the API user", log)
	}
	if b, err := os.ReadFile(r.dir + "/apps/hello/deployment.yaml"); err != nil || !strings.Contains(string(b), "replicas: 5") {
		t.Errorf("the file after kubectl scale: %v\n%s", err, b)
	}

	out, err = kubectl("set", "image", "deploy/hello", "hello=bosun.local/hello:v2")
	if err != nil || !strings.Contains(out, "image updated") {
		t.Fatalf("kubectl set image: %v\n%s", err, out)
	}
	if d := s.deployment("demo", "hello"); d.Spec.Template.Spec.Containers[0].Image != "bosun.local/hello:v2" {
		t.Errorf("image right after kubectl set image returned: %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	if log := r.git("log", "-1", "--format=%an|%s"); !strings.HasPrefix(log, "admin (bosun API)|Set image of Deployment demo/hello: hello=bosun.local/hello:v2") {
		t.Errorf("last commit %q, want the image change", log)
	}

	// kubectl apply --server-side of the manifest with other replicas: the
	// same commit. The first apply to an object must take the fields it
	// changes from "before-first-apply" (as in Kubernetes): --force-conflicts.
	b, err := os.ReadFile(r.dir + "/apps/hello/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), "kubectl", "--server", s.url, "--cache-dir", home+"/cache",
		"apply", "--server-side", "--force-conflicts", "-f", "-")
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
	cmd.Stdin = strings.NewReader(strings.Replace(string(b), "replicas: 5", "replicas: 2", 1))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "serverside-applied") {
		t.Fatalf("kubectl apply --server-side: %v\n%s", err, out)
	}
	if d := s.deployment("demo", "hello"); *d.Spec.Replicas != 2 {
		t.Errorf("replicas after kubectl apply --server-side: %d, want 2", *d.Spec.Replicas)
	}
	if log := r.git("log", "-1", "--format=%an|%s"); !strings.HasPrefix(log, "admin (bosun API)|Scale Deployment demo/hello to 2 replicas") {
		t.Errorf("last commit %q, want the scale to 2", log)
	}

	// Anything else is Git's: refused, naming what could not be committed.
	head := r.git("rev-parse", "HEAD")
	out, err = kubectl("patch", "deploy/hello", "-p", `{"spec":{"minReadySeconds":7}}`)
	if err == nil || !strings.Contains(out, "is managed by Git") || !strings.Contains(out, "spec.minReadySeconds") {
		t.Errorf("kubectl patch of minReadySeconds: %v\n%s", err, out)
	}
	if got := r.git("rev-parse", "HEAD"); got != head {
		t.Errorf("a refused write committed %s", got)
	}
}
