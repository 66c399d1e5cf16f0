package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// gitHTTPBackend returns the path of git's smart-HTTP server, a CGI
// program in git's exec path.
func gitHTTPBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("git's git-http-backend is missing (make deps installs git): %w", err)
	}
	return p, nil
}

// serveGit serves the bare repositories under root over smart HTTP on a
// loopback address and returns the base URL.
func serveGit(t *testing.T, root string) string {
	t.Helper()
	backend, err := gitHTTPBackend()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	})
	t.Cleanup(srv.Close)
	return srv.URL
}

// hook posts a push notification to the server's /hooks/git with the given
// headers and returns the status code.
func (s *server) hook(body []byte, header map[string]string) int {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+"/hooks/git", bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST /hooks/git: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func githubSignature(secret string, body []byte) map[string]string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
}

func gitlabToken(secret string) map[string]string {
	return map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}
}

// TestWebhookSecretWiring runs bosun server on a repository served over
// HTTP (polled every hour, so only the webhook makes it fetch) with the
// webhook secret given each way the README lists: --webhook-secret,
// --webhook-secret-file and BOSUN_WEBHOOK_SECRET. A notification signed
// with another secret gets 401 and no sync; one signed with the configured
// secret gets 202 and the pushed commit is applied.
func TestWebhookSecretWiring(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), func() error {
		_, err := gitHTTPBackend()
		return err
	})
	secretFile := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(secretFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"ref":"refs/heads/main"}`)
	tests := []struct {
		name  string
		env   []string
		extra []string
		wrong map[string]string // refused with 401
		right map[string]string // accepted with 202
	}{
		{"flag, GitHub signature", nil, []string{"--webhook-secret", "from-the-flag"},
			githubSignature("not-the-secret", body), githubSignature("from-the-flag", body)},
		{"file, GitLab token", nil, []string{"--webhook-secret-file", secretFile},
			gitlabToken("from-the-flag"), gitlabToken("from-the-file")},
		{"environment, GitHub signature", []string{"BOSUN_WEBHOOK_SECRET=from-the-env"}, nil,
			githubSignature("from-the-flag", body), githubSignature("from-the-env", body)},
		{"flag wins over the environment", []string{"BOSUN_WEBHOOK_SECRET=from-the-env"}, []string{"--webhook-secret", "from-the-flag"},
			githubSignature("from-the-env", body), githubSignature("from-the-flag", body)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRepo(t)
			root := t.TempDir()
			bare := filepath.Join(root, "deploy.git")
			if out, err := exec.Command("git", "clone", "-q", "--bare", r.dir, bare).CombinedOutput(); err != nil {
				t.Fatalf("git clone --bare: %v\n%s", err, out)
			}
			url := serveGit(t, root) + "/deploy.git"
			s := startServerEnv(t, tc.env, url, append([]string{"--branch", "main"}, tc.extra...)...)
			first := s.waitAttempt(r.git("rev-parse", "HEAD"), "applied")

			r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 5")
			sha := r.commitAll("Scale hello to 5")
			r.git("push", "-q", bare, "main")

			if code := s.hook(body, tc.wrong); code != http.StatusUnauthorized {
				t.Errorf("notification with the wrong secret: %d, want 401", code)
			}
			if code := s.hook(body, nil); code != http.StatusUnauthorized {
				t.Errorf("notification with no signature: %d, want 401", code)
			}
			if got := s.status().LastAttempt.Commit.SHA; got != first.LastAttempt.Commit.SHA {
				t.Fatalf("refused notifications: the server synced %.8s", got)
			}
			if code := s.hook(body, tc.right); code != http.StatusAccepted {
				t.Fatalf("notification with the right secret: %d, want 202", code)
			}
			s.waitAttempt(sha, "applied")
			var d object
			s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 5 {
				t.Errorf("after the webhook, hello has replicas %v, want 5", d.Spec.Replicas)
			}
			if !strings.Contains(s.log.String(), "git webhook: signature or token missing or wrong") {
				t.Errorf("the server log does not record the refused notifications")
			}
		})
	}
}
