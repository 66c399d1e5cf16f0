package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestSyncExampleRepo is the "done when": the example repository is
// synced, a local commit is applied at once, a commit with broken files is
// rejected whole with every problem named, and fixing it applies again.
func TestSyncExampleRepo(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	first := r.git("rev-parse", "HEAD")
	s := startServer(t, r.dir)
	s.waitAttempt(first, "applied")

	out, code := s.bosun("get", "deploy", "-A")
	if code != 0 || !regexp.MustCompile(`(?m)^demo\s+hello\s.*\s`+first[:8]+`\s*$`).MatchString(out) {
		t.Fatalf("bosun get deploy -A (exit %d) does not show demo/hello with commit %.8s:\n%s", code, first, out)
	}
	for _, path := range []string{
		"/api/v1/namespaces/demo",
		"/api/v1/namespaces/demo/configmaps/hello-config",
		"/api/v1/namespaces/demo/services/hello",
		"/api/v1/namespaces/demo/services/hello-nodeport",
		"/apis/apps/v1/namespaces/demo/deployments/hello",
	} {
		var o object
		if code := s.getJSON(path, &o); code != http.StatusOK {
			t.Errorf("GET %s: %d", path, code)
			continue
		}
		if o.Metadata.Annotations["bosun.dev/commit"] != first {
			t.Errorf("%s: bosun.dev/commit = %q, want %s", path, o.Metadata.Annotations["bosun.dev/commit"], first)
		}
		if !strings.Contains(o.Metadata.Annotations["bosun.dev/source"], ".yaml:") {
			t.Errorf("%s: bosun.dev/source = %q, want file:line", path, o.Metadata.Annotations["bosun.dev/source"])
		}
	}

	// A commit in the local repository is synced without waiting for a poll
	// (the server polls every hour here).
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 5")
	second := r.commitAll("hello: 5 replicas")
	s.waitAttempt(second, "applied")
	if got := s.replicas(t); got != 5 {
		t.Fatalf("replicas after the second commit = %d, want 5", got)
	}

	// One valid change and two broken files: nothing of the commit applies.
	r.replace("apps/hello/deployment.yaml", "replicas: 5", "replicas: 4")
	r.replace("apps/hello/service.yaml", "port: 80\n", "port: 80000\n")
	r.write("apps/hello/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: demo\ndatta:\n  a: b\n")
	third := r.commitAll("break two things")
	st := s.waitAttempt(third, "rejected")
	if st.Synced == nil || st.Synced.Commit.SHA != second {
		t.Fatalf("synced commit after a rejected one = %+v, want %.8s", st.Synced, second)
	}
	var files []string
	for _, p := range st.LastAttempt.Problems {
		if !p.Warning {
			files = append(files, fmt.Sprintf("%s:%d %s", p.File, p.Line, p.Field))
		}
	}
	joined := strings.Join(files, "\n")
	for _, want := range []string{"apps/hello/service.yaml:", "spec.ports[0].port", "apps/hello/extra.yaml:6", "datta"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems of the rejected commit do not mention %q:\n%s", want, joined)
		}
	}
	if got := s.replicas(t); got != 5 {
		t.Errorf("replicas after a rejected commit = %d, want 5 (the valid part of a rejected commit must not apply)", got)
	}
	var o object
	if code := s.getJSON("/api/v1/namespaces/demo/configmaps/extra", &o); code != http.StatusNotFound {
		t.Errorf("GET configmap extra from a rejected commit: %d, want 404", code)
	}
	out, _ = s.bosun("status")
	for _, want := range []string{"rejected", third[:8], second[:8], "apps/hello/service.yaml:", "apps/hello/extra.yaml:6"} {
		if !strings.Contains(out, want) {
			t.Errorf("bosun status does not mention %q:\n%s", want, out)
		}
	}
	// The offline validator agrees with the server.
	cmd := exec.Command(bosunBin, "validate", r.dir)
	vout, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("bosun validate on the broken tree: %v, want exit status 1\n%s", err, vout)
	}
	if !strings.Contains(string(vout), "apps/hello/extra.yaml:6") {
		t.Errorf("bosun validate does not name apps/hello/extra.yaml:6:\n%s", vout)
	}

	// Fix it: the fixed commit applies, with the valid change.
	r.replace("apps/hello/service.yaml", "port: 80000\n", "port: 80\n")
	r.replace("apps/hello/extra.yaml", "datta:", "data:")
	fourth := r.commitAll("fix")
	s.waitAttempt(fourth, "applied")
	if got := s.replicas(t); got != 4 {
		t.Errorf("replicas after the fix = %d, want 4", got)
	}
	out, _ = s.bosun("history")
	for _, sha := range []string{first, second, third, fourth} {
		if !strings.Contains(out, sha[:8]) {
			t.Errorf("bosun history does not list %.8s:\n%s", sha, out)
		}
	}
}

func (s *server) replicas(t *testing.T) int {
	t.Helper()
	var o object
	if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &o); code != http.StatusOK || o.Spec.Replicas == nil {
		t.Fatalf("GET deployment demo/hello: %d", code)
	}
	return *o.Spec.Replicas
}

// TestPruneRenameAndHistoryRewrites covers what a branch can do: a renamed
// file keeps its object, a deleted file prunes it, an empty commit is
// refused, an amended commit and a reset to an older commit are followed.
func TestPruneRenameAndHistoryRewrites(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	s := startServer(t, r.dir)
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")

	uid := func(path string) string {
		var o object
		if code := s.getJSON(path, &o); code != http.StatusOK {
			return fmt.Sprintf("HTTP %d", code)
		}
		return o.Metadata.UID
	}
	const cm = "/api/v1/namespaces/demo/configmaps/hello-config"
	before := uid(cm)

	r.git("mv", "apps/hello/configmap.yaml", "apps/hello/config.yaml")
	s.waitAttempt(r.commitAll("rename the config file"), "applied")
	var o object
	s.getJSON(cm, &o)
	if o.Metadata.UID != before {
		t.Errorf("renaming the file replaced the object: uid %s -> %s", before, o.Metadata.UID)
	}
	if src := o.Metadata.Annotations["bosun.dev/source"]; !strings.HasPrefix(src, "apps/hello/config.yaml:") {
		t.Errorf("bosun.dev/source after the rename = %q", src)
	}

	r.git("rm", "-q", "apps/hello/config.yaml")
	s.waitAttempt(r.commitAll("drop the config"), "applied")
	if code := s.getJSON(cm, &o); code != http.StatusNotFound {
		t.Errorf("configmap after its file was removed: HTTP %d, want 404 (pruned)", code)
	}

	// A commit without manifests would prune everything: refused.
	r.git("rm", "-q", "-r", "apps", "namespaces")
	empty := r.commitAll("remove everything")
	st := s.waitAttempt(empty, "rejected")
	if !strings.Contains(st.LastAttempt.Message, "--allow-empty") {
		t.Errorf("empty commit rejection does not mention --allow-empty: %q", st.LastAttempt.Message)
	}
	if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &o); code != http.StatusOK {
		t.Errorf("deployment after the refused empty commit: HTTP %d", code)
	}

	// Reset the branch to an older commit: history rewritten, refused until
	// accepted; then the old state comes back.
	r.git("reset", "-q", "--hard", "HEAD~2")
	head := r.git("rev-parse", "HEAD")
	st = s.waitAttempt(head, "rejected")
	if !strings.Contains(st.LastAttempt.Message, "history rewritten") {
		t.Errorf("reset branch: %q, want a history-rewritten rejection", st.LastAttempt.Message)
	}
	if out, code := s.bosun("accept-rewrite", head[:8], "--reason", "back to the config"); code != 0 {
		t.Fatalf("bosun accept-rewrite: exit %d\n%s", code, out)
	}
	s.waitAttempt(head, "applied")
	if code := s.getJSON(cm, &o); code != http.StatusOK {
		t.Errorf("configmap after resetting to a commit that has it: HTTP %d", code)
	}

	// Amend the head commit: the amended commit replaces it, once accepted.
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 2")
	r.git("add", "-A")
	r.git("commit", "-q", "--amend", "-m", "amended")
	s.waitAttempt(r.git("rev-parse", "HEAD"), "rejected")
	if out, code := s.bosun("accept-rewrite"); code != 0 {
		t.Fatalf("bosun accept-rewrite: exit %d\n%s", code, out)
	}
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
	if got := s.replicas(t); got != 2 {
		t.Errorf("replicas after the amended commit = %d, want 2", got)
	}
}

// TestServerRestartKeepsState restarts the server on the same data
// directory: the synced state survives and a commit made while it was down
// is applied when it comes back.
func TestServerRestartKeepsState(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"))
	r := newRepo(t)
	s := startServer(t, r.dir)
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")
	s.kill()

	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 7")
	sha := r.commitAll("while the server was down")
	s.start()
	s.waitAttempt(sha, "applied")
	if got := s.replicas(t); got != 7 {
		t.Errorf("replicas = %d, want 7", got)
	}
}
