package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// writeKeyFile writes an EncryptionConfiguration with aesgcm keys named
// names (32 bytes each, filled with their first letter) and returns its path.
func writeKeyFile(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" +
		"  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "            - name: %s\n              secret: %s\n", n,
			base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(n[:1]), 32)))
	}
	b.WriteString("      - identity: {}\n")
	path := filepath.Join(t.TempDir(), strings.Join(names, "-")+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServerSecretsEncryption checks the server's wiring: the key file of
// --secrets-encryption-key-file reaches the store (the etcd value is
// ciphertext), and --secrets-encryption-rewrite re-encrypts with a new first key.
func TestServerSecretsEncryption(t *testing.T) {
	dataDir := t.TempDir()
	open := func(keyFile string) (*store.Store, func()) {
		t.Helper()
		c := &serverConfig{dataDir: dataDir, etcdClientURL: "http://127.0.0.1:0", etcdPeerURL: "http://127.0.0.1:0", secretsKeyFile: keyFile}
		var err error
		if c.secrets, err = loadSecretsEncryption(c.secretsKeyFile, storetest.Logger(t)); err != nil {
			t.Fatal(err)
		}
		st, closeStore, err := openStore(t.Context(), c, nil, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		return st, closeStore
	}
	raw := func(st *store.Store) string {
		t.Helper()
		resp, err := st.Client().Get(t.Context(), "/registry/secrets/default/db")
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("etcd get: %v", err)
		}
		return string(resp.Kvs[0].Value)
	}

	st, closeStore := open(writeKeyFile(t, "alpha"))
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Data: map[string][]byte{"pw": []byte("hunter2")}}
	if err := st.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	if v := raw(st); !strings.HasPrefix(v, "k8s:enc:aesgcm:v1:alpha:") {
		t.Errorf("etcd value %.30q, want it encrypted with alpha", v)
	}
	closeStore()

	st, closeStore = open(writeKeyFile(t, "beta", "alpha"))
	defer closeStore()
	if err := rewriteSecrets(t.Context(), st, storetest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	if v := raw(st); !strings.HasPrefix(v, "k8s:enc:aesgcm:v1:beta:") {
		t.Errorf("etcd value after the rewrite %.30q, want it encrypted with beta", v)
	}
	var got corev1.Secret
	if err := st.Get(t.Context(), "default", "db", &got); err != nil || string(got.Data["pw"]) != "hunter2" {
		t.Errorf("Get after the rewrite: %q, %v", got.Data["pw"], err)
	}
}

func TestLoadSecretsEncryptionRefuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - kms:\n          name: vault\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadSecretsEncryption(bad, storetest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "kms is not supported") {
		t.Fatalf("loading a kms key file: %v; want an error naming the file and kms", err)
	}
}
