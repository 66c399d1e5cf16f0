package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// needKubectl returns the path of kubectl. make deps installs it (Debian's
// kubernetes-client) when it is missing, so CI runs these checks like the
// other gated tests.
func needKubectl(t *testing.T) string {
	t.Helper()
	testenv.Need(t, testenv.Binary("kubectl"))
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	return kubectl
}

// TestKubectl checks that a real kubectl can read the API (discovery,
// server-side tables, get by name, -o yaml, short names, namespaces).
func TestKubectl(t *testing.T) {
	kubectl := needKubectl(t)
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
		// Writes that are not desired state, through PATCH.
		{"cordon", []string{"cordon", "node-1"}, []string{"node/node-1 cordoned"}},
		{"cordoned", []string{"get", "nodes"}, []string{"node-1", "SchedulingDisabled"}},
		{"uncordon", []string{"uncordon", "node-1"}, []string{"node/node-1 uncordoned"}},
		{"label a node", []string{"label", "node", "node-1", "disk=ssd"}, []string{"node/node-1 labeled"}},
		{"labeled", []string{"get", "nodes", "-l", "disk=ssd", "-o", "name"}, []string{"node/node-1"}},
	}
	run := func(t *testing.T, args ...string) ([]byte, error) {
		args = append([]string{"--server", e.url, "--cache-dir", home + "/cache", "-n", "default"}, args...)
		cmd := exec.CommandContext(ctx(t), kubectl, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		return cmd.CombinedOutput()
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.args...)
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
	t.Run("patch of a Git object is refused", func(t *testing.T) {
		out, err := run(t, "patch", "deploy", "web", "-p", `{"spec":{"replicas":5}}`)
		if err == nil || !strings.Contains(string(out), "is managed by Git") {
			t.Fatalf("kubectl patch of a Git object: err %v\n%s", err, out)
		}
	})
}

// TestKubectlOverTLS: a real kubectl with a client certificate reads the
// API over HTTPS; without one it is told it is unauthorized, and a node's
// is refused what the node may not do.
func TestKubectlOverTLS(t *testing.T) {
	kubectl := needKubectl(t)
	e := newTLSEnv(t, nil)
	nodeFixture(e.as(admin))
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", e.ca.certPEM)
	creds := func(u api.User) []string {
		c := e.ca.clientCert(t, u)
		key, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(u.Name, ":", "_")
		return []string{
			"--client-certificate", write(name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
			"--client-key", write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key})),
		}
	}
	tests := []struct {
		name  string
		creds []string
		args  []string
		ok    bool
		want  string
	}{
		{"admin lists nodes", creds(admin), []string{"get", "nodes"}, true, "a "},
		// kubectl 1.20 prompts for a password after a 401 unless it has
		// credentials: give it a password, which bosun ignores.
		{"no certificate", []string{"--username", "x", "--password", "y"}, []string{"get", "nodes"}, false, "You must be logged in to the server"},
		{"node reads its pod's secret", creds(nodeA), []string{"get", "secret", "sa", "-n", "default"}, true, "sa"},
		{"node reads another's secret", creds(nodeA), []string{"get", "secret", "sb", "-n", "default"}, false,
			`secrets "sb" is forbidden: User "system:node:a" cannot get resource "secrets" in API group "" in the namespace "default"`},
		// A node may read its pod, not run commands in it (kubectl 1.32
		// asks over WebSocket, then SPDY).
		{"node execs in its pod", creds(nodeA), []string{"exec", "pa", "-n", "default", "--", "true"}, false,
			`pods "pa" is forbidden: User "system:node:a" cannot create resource "pods/exec"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--server", e.url, "--certificate-authority", caFile, "--cache-dir", dir + "/cache"}, tc.creds...)
			cmd := exec.CommandContext(ctx(t), kubectl, append(args, tc.args...)...)
			cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECONFIG="+dir+"/none")
			out, err := cmd.CombinedOutput()
			if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
				t.Fatalf("kubectl %s: err %v, want ok=%v and %q in:\n%s", strings.Join(tc.args, " "), err, tc.ok, tc.want, out)
			}
		})
	}
}

// TestKubectlWatch: kubectl get -w prints the columns of objects that
// arrive through the watch, not only NAME and AGE.
func TestKubectlWatch(t *testing.T) {
	kubectl := needKubectl(t)
	e := newEnv(t, apiserver.Config{})
	seed(e)
	home := t.TempDir()
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	cmd := exec.CommandContext(c, kubectl, "--server", e.url, "--cache-dir", home+"/cache", "-n", "default", "get", "deploy", "-w")
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	// Once the listed objects are printed, the watch is open.
	testutil.Eventually(t, 30*time.Second, "kubectl lists", func() (bool, string) {
		return strings.Contains(out.String(), "web"), out.String()
	})
	e.create(deployment("default", "late", nil, false))
	testutil.Eventually(t, 30*time.Second, "the watched deployment printed with its columns", func() (bool, string) {
		for _, l := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(l); len(f) == 6 && f[0] == "late" && f[1] == "0/2" && f[5] == "<none>" {
				return true, ""
			}
		}
		return false, out.String()
	})
	if n := strings.Count(out.String(), "UP-TO-DATE"); n != 1 {
		t.Errorf("header printed %d times:\n%s", n, out.String())
	}
}
