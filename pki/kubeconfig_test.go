package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-dev/bosun/api"
)

func TestWriteKubeconfigRoundTrip(t *testing.T) {
	ca, _ := newTestCA(t)
	certPEM, keyPEM := issueTo(t, ca, Request{User: userNamed(api.UserAdmin, api.GroupMasters), Usage: UsageClient})
	fresh := filepath.Join(t.TempDir(), "sub", "kubeconfig")
	if err := WriteKubeconfig(fresh, "https://127.0.0.1:6443", ca.CertPEM(), certPEM, keyPEM, api.UserAdmin, ClusterName); err != nil {
		t.Fatalf("WriteKubeconfig into a new directory: %v", err)
	}
	if got := fileMode(t, fresh); got != 0o600 {
		t.Errorf("new kubeconfig mode %o, want 600", got)
	}
	// An older file with wider permissions is replaced by a private one.
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteKubeconfig(path, "https://127.0.0.1:6443", ca.CertPEM(), certPEM, keyPEM, api.UserAdmin, ClusterName); err != nil {
		t.Fatalf("WriteKubeconfig over an old file: %v", err)
	}
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("replaced kubeconfig mode %o, want 600", got)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatalf("clientcmd.LoadFromFile: %v", err)
	}
	if cfg.CurrentContext != "admin@bosun" {
		t.Errorf("current context %q, want admin@bosun", cfg.CurrentContext)
	}
	rest, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		t.Fatalf("client config: %v", err)
	}
	if rest.Host != "https://127.0.0.1:6443" {
		t.Errorf("server %q", rest.Host)
	}
	if string(rest.TLSClientConfig.CAData) != string(ca.CertPEM()) ||
		string(rest.TLSClientConfig.CertData) != string(certPEM) ||
		string(rest.TLSClientConfig.KeyData) != string(keyPEM) {
		t.Error("the CA, certificate or key read back differs from what was written")
	}
}

func TestWriteKubeconfigRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	pemData := []byte("x")
	for _, tc := range []struct {
		name, path, server, user, cluster string
		ca                                []byte
		want                              string
	}{
		{name: "no path", server: "https://h", user: "u", cluster: "c", ca: pemData, want: "required"},
		{name: "no server", path: path, user: "u", cluster: "c", ca: pemData, want: "required"},
		{name: "no CA", path: path, server: "https://h", user: "u", cluster: "c", want: "the CA, certificate and key are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteKubeconfig(tc.path, tc.server, tc.ca, pemData, pemData, tc.user, tc.cluster)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteKubeconfig = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
