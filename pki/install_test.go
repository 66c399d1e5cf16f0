package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallCA installs a CA received from another server, accepts the
// same one again and refuses anything else.
func TestInstallCA(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, leafKey, err := ca.Issue(Request{User: userNamed("x"), Usage: UsageClient})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		existing  *CA // installed first, when not nil
		cert, key []byte
		wantErr   string
	}{
		{name: "empty directory", cert: ca.CertPEM(), key: keyPEM},
		{name: "the same CA again", existing: ca, cert: ca.CertPEM(), key: keyPEM},
		{name: "another CA there", existing: other, cert: ca.CertPEM(), key: keyPEM, wantErr: "holds another CA"},
		{name: "key of another CA", cert: ca.CertPEM(), key: otherKey, wantErr: "does not belong"},
		{name: "not a CA", cert: leafPEM, key: leafKey, wantErr: "not a CA certificate"},
		{name: "no PEM", cert: []byte("nonsense"), key: keyPEM, wantErr: "install the cluster CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			if tt.existing != nil {
				k, err := tt.existing.KeyPEM()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := InstallCA(dir, tt.existing.CertPEM(), k); err != nil {
					t.Fatal(err)
				}
			}
			got, err := InstallCA(dir, tt.cert, tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != ca.Hash() {
				t.Errorf("installed CA %s, want %s", got.Hash(), ca.Hash())
			}
			loaded, err := LoadOrCreateCA(dir)
			if err != nil || loaded.Hash() != ca.Hash() {
				t.Fatalf("LoadOrCreateCA after the install: %v, %v; want %s", loaded, err, ca.Hash())
			}
			fi, err := os.Stat(filepath.Join(dir, CAKeyFile))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("CA key mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
		})
	}
}
