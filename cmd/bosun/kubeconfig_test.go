package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bosun-dev/bosun/client"
)

func TestKubeconfigCommand(t *testing.T) {
	admin := clientcmdapi.NewConfig()
	admin.Clusters["bosun"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("ca")}
	admin.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert"), ClientKeyData: []byte("key")}
	admin.Contexts["bosun"] = &clientcmdapi.Context{Cluster: "bosun", AuthInfo: "admin"}
	admin.CurrentContext = "bosun"
	adminBytes, err := clientcmd.Write(*admin)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    []byte // nil: no file
		wantErr string
	}{
		{"admin kubeconfig", adminBytes, ""},
		{"missing", nil, "DIR/kubeconfig does not exist: bosun server writes it on first start; is the server running on this machine with --data-dir DIR?"},
		{"not a kubeconfig", []byte("{{{"), "DIR/kubeconfig is not a kubeconfig"},
		{"empty kubeconfig", []byte("apiVersion: v1\nkind: Config\n"), "names no cluster or no user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != nil {
				if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), tt.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			cmd := newKubeconfigCommand()
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"--data-dir", dir})
			err := cmd.Execute()
			if want := strings.ReplaceAll(tt.wantErr, "DIR", dir); want != "" {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), tt.file) {
				t.Fatalf("printed %q, want the file %q", out.String(), tt.file)
			}
			// What it prints is a kubeconfig clientcmd reads back.
			back, err := clientcmd.Load(out.Bytes())
			if err != nil || back.Clusters["bosun"].Server != "https://127.0.0.1:6443" {
				t.Fatalf("printed kubeconfig reads back as %+v, %v", back, err)
			}
		})
	}
}

func TestKubeconfigCommandNotRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file: the permission error cannot happen")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	err := printAdminKubeconfig(&bytes.Buffer{}, dir)
	if err == nil || !strings.Contains(err.Error(), "run sudo bosun kubeconfig") {
		t.Fatalf("error %v", err)
	}
}

// TestWithServersExtension checks that the servers --all-servers adds are
// the ones a bosun client built from the printed kubeconfig fails over to.
func TestWithServersExtension(t *testing.T) {
	admin := clientcmdapi.NewConfig()
	admin.Clusters["bosun"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443"}
	admin.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "t"}
	admin.Contexts["bosun"] = &clientcmdapi.Context{Cluster: "bosun", AuthInfo: "admin"}
	admin.CurrentContext = "bosun"
	data, err := clientcmd.Write(*admin)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		urls []string
		want []string
	}{
		{"one server", []string{"https://127.0.0.1:6443"}, []string{"https://127.0.0.1:6443"}},
		{"three servers", []string{"https://127.0.0.1:7443", "https://127.0.0.1:6443", "https://127.0.0.1:8443", "https://127.0.0.1:7443"},
			[]string{"https://127.0.0.1:6443", "https://127.0.0.1:7443", "https://127.0.0.1:8443"}},
		{"none registered", nil, []string{"https://127.0.0.1:6443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := withServersExtension(data, tt.urls)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(path, out, 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: path})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ServerURLs(); !slices.Equal(got, tt.want) {
				t.Errorf("client servers = %v, want %v", got, tt.want)
			}
		})
	}
}
