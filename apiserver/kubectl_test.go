package apiserver_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testenv"
)

// TestKubectl checks that a real kubectl can read the API (discovery,
// server-side tables, get by name, -o yaml, short names, namespaces).
func TestKubectl(t *testing.T) {
	// make deps installs kubectl (Debian's kubernetes-client) when it is
	// missing, so CI runs this check like the other gated tests.
	testenv.Need(t, testenv.Binary("kubectl"))
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, apiserver.Config{})
	seed(e)
	e.create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}}}})
	home := t.TempDir()
	tests := []struct {
		name string
		args []string
		want []string // substrings of the output, in order
	}{
		{"list namespace", []string{"get", "deploy"}, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "COMMIT", "api", "0/2", "<none>", "web", "0/2", "1a2b3c4d"}},
		{"all namespaces", []string{"get", "deployments.apps", "-A"}, []string{"NAMESPACE", "NAME", "default", "api", "default", "web", "shop", "cart"}},
		{"wide", []string{"get", "deploy", "-o", "wide"}, []string{"CONTAINERS", "IMAGES", "SELECTOR", "SOURCE", "web", "nginx:1.25", "app=web", "apps/web.yaml:3"}},
		{"by name yaml", []string{"get", "deploy", "web", "-o", "yaml"}, []string{"apiVersion: apps/v1", "kind: Deployment", "name: web", "replicas: 2"}},
		{"service", []string{"get", "svc"}, []string{"TYPE", "CLUSTER-IP", "PORT(S)", "web", "NodePort", "10.96.0.10", "80:30080/TCP"}},
		{"namespaces", []string{"get", "ns"}, []string{"STATUS", "shop", "Active"}},
		{"nodes", []string{"get", "nodes"}, []string{"ROLES", "VERSION", "node-1", "Unknown"}},
		{"selector", []string{"get", "deploy", "-A", "-l", "tier=back", "-o", "name"}, []string{"deployment.apps/api", "deployment.apps/cart"}},
		{"version", []string{"version"}, []string{"Server Version", "v1.37"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--server", e.url, "--cache-dir", home + "/cache", "-n", "default"}, tc.args...)
			cmd := exec.CommandContext(ctx(t), kubectl, args...)
			cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(tc.args, " "), err, out)
			}
			rest := string(out)
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("kubectl %s: %q missing (in order) from:\n%s", strings.Join(tc.args, " "), w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
