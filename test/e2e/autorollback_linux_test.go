package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// plainDeployment is a Deployment without the bosun.dev/auto-rollback
// annotation, running image.
func plainDeployment(image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: plain
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: plain}
  template:
    metadata:
      labels: {app: plain}
    spec:
      containers:
        - name: plain
          image: %s
`, image)
}

// TestAutoRollbackAnnotation follows the README tour on a real node with a
// server started without --auto-rollback: the example Deployment carries
// bosun.dev/auto-rollback: "true", so committing hello:broken (which exits
// at start) makes bosun commit `Revert "hello broken"` to the repository
// by itself, bosun status --wait exits 1 naming the crash-looping pods, and
// bosun history shows the commit rolled back. Then a Deployment without
// the annotation crash-loops and is left alone, while hello, broken again
// after it, is reverted again.
func TestAutoRollbackAnnotation(t *testing.T) {
	r := newRepo(t)
	if !strings.Contains(r.git("show", "HEAD:apps/hello/deployment.yaml"), `bosun.dev/auto-rollback: "true"`) {
		t.Fatal(`the example Deployment no longer carries bosun.dev/auto-rollback: "true": update the README tour and this test`)
	}
	r.write("apps/plain/deployment.yaml", plainDeployment("bosun.local/hello:v1"))
	r.commitAll("Add plain")
	h := newNodeHost(t, r.dir)
	h.readyPods("demo", "app=hello", 3)
	h.readyPods("demo", "app=plain", 1)

	// waitRevert waits for bosun's revert of commit sha (subject subject)
	// at the head of main and returns its SHA.
	waitRevert := func(sha, subject string) string {
		t.Helper()
		var revert string
		testutil.Eventually(t, 180*time.Second, fmt.Sprintf("bosun to commit Revert %q", subject), func() (bool, string) {
			// r.git fails the test on any git error: bosun moves the branch
			// as git does (lock file, rename), so git never sees a broken ref.
			lines := strings.SplitN(r.git("log", "-1", "--format=%H%n%s%n%b", "main"), "\n", 3)
			if len(lines) == 3 && lines[1] == `Revert "`+subject+`"` && strings.Contains(lines[2], "This reverts commit "+sha) {
				revert = lines[0]
				return strings.Contains(lines[2], "automatically"), lines[2]
			}
			return false, strings.Join(lines, " / ")
		})
		t.Logf("bosun reverted %.8s with %.8s", sha, revert)
		// bosun writes a local repository's checked-out branch as git
		// commit would: the work tree and index follow.
		if st := r.git("status", "--porcelain"); st != "" {
			t.Errorf("after bosun's revert the work tree is not clean:\n%s", st)
		}
		return revert
	}

	// The README tour: break hello and watch bosun revert it.
	r.replace("apps/hello/deployment.yaml", "hello:v1", "hello:broken")
	broken := r.commitAll("hello broken")
	out, err := h.bosun("status", "--wait", "--commit", broken, "--timeout", "3m")
	if code := exitCode(err); code != 1 || !strings.Contains(out, "pod demo/hello-") {
		t.Errorf("bosun status --wait after the broken commit: exit %d, want 1 naming the hello pods:\n%s", code, out)
	}
	waitRevert(broken, "hello broken")
	h.readyPods("demo", "app=hello", 3)
	out, err = h.bosun("history")
	if err != nil || !strings.Contains(out, "rolled") {
		t.Errorf("bosun history does not say the broken commit was rolled back (%v):\n%s", err, out)
	}

	// Without the annotation nothing is reverted. Wait until the plain
	// Deployment's rollout has failed as the controller judges it (a new
	// pod restarted three times), then break hello once more: by the time
	// bosun reverts that, a rollback wrongly enabled for plain would have
	// reverted plain's older failure too.
	r.write("apps/plain/deployment.yaml", plainDeployment("bosun.local/hello:broken"))
	plainBroken := r.commitAll("plain broken")
	testutil.Eventually(t, 120*time.Second, "the broken plain pod to restart three times", func() (bool, string) {
		var states []string
		for _, p := range h.pods("demo", "app=plain") {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Image == "bosun.local/hello:broken" && cs.RestartCount >= 3 {
					return true, ""
				}
				states = append(states, fmt.Sprintf("%s %s restarts %d", p.Name, cs.Image, cs.RestartCount))
			}
		}
		return false, strings.Join(states, "; ")
	})
	r.replace("apps/hello/deployment.yaml", "hello:v1", "hello:broken")
	waitRevert(r.commitAll("hello broken again"), "hello broken again")
	if log := r.git("log", "--format=%s%n%b", "main"); strings.Contains(log, "This reverts commit "+plainBroken) {
		t.Errorf("bosun reverted %.8s (plain broken), whose Deployment has no bosun.dev/auto-rollback annotation:\n%s", plainBroken, log)
	}
}
