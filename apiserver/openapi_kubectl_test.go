package apiserver_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
)

// TestKubectlOpenAPI: with /openapi/v2 and /openapi/v3 served, a stock
// kubectl explains kinds and fields, validates manifests itself before
// apply (naming an unknown field), and sends valid writes on to the
// server, which refuses desired state that does not come from Git.
func TestKubectlOpenAPI(t *testing.T) {
	kubectl := needKubectl(t)
	e := newEnv(t, apiserver.Config{})
	seed(e)
	home := t.TempDir()
	n := 0
	manifest := func(name, spec string) string {
		n++
		p := filepath.Join(home, fmt.Sprintf("%d.yaml", n))
		doc := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: default
spec:
` + spec + `  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      containers:
      - name: app
        image: nginx:1.25
`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fresh := manifest("fresh", "  replicas: 2\n")
	typo := manifest("fresh", "  replicaz: 2\n")
	fromGit := manifest("web", "  replicas: 5\n") // seed's web comes from Git
	tests := []struct {
		name string
		args []string
		ok   bool
		want []string // substrings of the output, in order
		not  []string // substrings the output must not have
	}{
		{"explain a field", []string{"explain", "deployment.spec.replicas"}, true,
			[]string{"GROUP:", "apps", "KIND:", "Deployment", "VERSION:", "v1", "FIELD: replicas", "<integer>",
				"Number of desired pods."}, nil},
		{"explain a kind", []string{"explain", "pods"}, true,
			[]string{"KIND:", "Pod", "VERSION:", "v1", "DESCRIPTION:", "Pod is a collection of containers",
				"FIELDS:", "apiVersion", "kind", "metadata", "spec", "status"}, nil},
		{"explain a nested field of a core kind", []string{"explain", "svc.spec.ports.targetPort"}, true,
			[]string{"KIND:", "Service", "FIELD: targetPort", "<IntOrString>"}, nil},
		// Validated by kubectl, then refused by the server: Git is the
		// only way in.
		{"apply of a new deployment", []string{"apply", "-f", fresh}, false,
			[]string{"Error from server (Forbidden)", "fresh", "Git"}, []string{"openapi", "validat"}},
		{"create -f of a new deployment", []string{"create", "-f", fresh}, false,
			[]string{"Error from server (Forbidden)", "fresh", "Git"}, []string{"openapi", "validat"}},
		{"apply of a change to an object from Git", []string{"apply", "-f", fromGit}, false,
			[]string{"Error from server", "web", "is managed by Git"}, []string{"openapi", "validat"}},
		{"unknown field", []string{"apply", "-f", typo}, false,
			[]string{"error validating", `unknown field "replicaz"`, "DeploymentSpec"}, []string{"Error from server"}},
		// kubectl create sends a protobuf body, which the API refuses (415)
		// until it reads protobuf; either way the server answers, not
		// kubectl's validation.
		{"create namespace", []string{"create", "namespace", "x"}, false,
			[]string{"Error from server"}, []string{"openapi", "validat"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--server", e.url, "--cache-dir", home + "/cache", "-n", "default"}, tc.args...)
			cmd := exec.CommandContext(ctx(t), kubectl, args...)
			cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("kubectl %s: err %v, want ok=%v:\n%s", strings.Join(tc.args, " "), err, tc.ok, out)
			}
			if !inOrder(tc.want).Match(out) {
				t.Fatalf("kubectl %s: want %q in this order in:\n%s", strings.Join(tc.args, " "), tc.want, out)
			}
			for _, n := range tc.not {
				if strings.Contains(string(out), n) {
					t.Fatalf("kubectl %s: %q in:\n%s", strings.Join(tc.args, " "), n, out)
				}
			}
		})
	}
	if code, body := e.do(http.MethodGet, "/apis/apps/v1/namespaces/default/deployments/web", nil); code != http.StatusOK ||
		!strings.Contains(string(body), `"replicas":2`) {
		t.Errorf("web after the refused apply: %d %s, want replicas 2", code, body)
	}
	for _, path := range []string{"/apis/apps/v1/namespaces/default/deployments/fresh", "/api/v1/namespaces/x"} {
		if code, body := e.do(http.MethodGet, path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s after the refused writes: %d %s, want 404", path, code, body)
		}
	}
}

// inOrder returns a regular expression that matches a text holding the
// substrings in order.
func inOrder(substrings []string) *regexp.Regexp {
	quoted := make([]string, len(substrings))
	for i, s := range substrings {
		quoted[i] = regexp.QuoteMeta(s)
	}
	return regexp.MustCompile("(?s)" + strings.Join(quoted, ".*"))
}

// TestOpenAPIAuthorization: as kube-apiserver's system:discovery role
// does, every authenticated identity may read the OpenAPI documents;
// anonymous requests may not.
func TestOpenAPIAuthorization(t *testing.T) {
	e := newTLSEnv(t, nil)
	tests := []struct {
		name string
		user api.User
		path string
		code int
	}{
		{"user reads v2", alice, "/openapi/v2", http.StatusOK},
		{"user reads the v3 index", alice, "/openapi/v3", http.StatusOK},
		{"user reads a v3 document", alice, "/openapi/v3/apis/apps/v1", http.StatusOK},
		{"node reads v2", nodeA, "/openapi/v2", http.StatusOK},
		{"node reads a v3 document", nodeA, "/openapi/v3/api/v1", http.StatusOK},
		{"anonymous", nobody, "/openapi/v2", http.StatusUnauthorized},
		{"anonymous v3", nobody, "/openapi/v3/api/v1", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.as(tc.user)
			c.t = t
			if code, body := c.do(http.MethodGet, tc.path, nil); code != tc.code {
				t.Errorf("GET %s as %q = %d %.300s; want %d", tc.path, tc.user.Name, code, body, tc.code)
			}
		})
	}
}
