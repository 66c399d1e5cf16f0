package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// newTestCA creates a CA in a new temporary directory.
func newTestCA(t *testing.T, opts ...Option) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := LoadOrCreateCA(dir, opts...)
	if err != nil {
		t.Fatalf("LoadOrCreateCA: %v", err)
	}
	return ca, dir
}

// fileMode returns path's permission bits.
func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateCACreates(t *testing.T) {
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	ca, dir := newTestCA(t, WithClock(testingclock.NewFakePassiveClock(start)))

	cert := ca.Cert()
	if !cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("CA certificate: IsCA=%v BasicConstraintsValid=%v, want both true", cert.IsCA, cert.BasicConstraintsValid)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if got, want := cert.NotAfter, start.Add(CAValidity); !got.Equal(want) {
		t.Errorf("CA NotAfter = %s, want %s (10 years after creation)", got, want)
	}
	if !cert.NotBefore.Before(start) {
		t.Errorf("CA NotBefore = %s, want before creation %s", cert.NotBefore, start)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, CAKeyFile), 0o600},
		{filepath.Join(dir, CACertFile), 0o644},
	} {
		if got := fileMode(t, tc.path); got != tc.want {
			t.Errorf("mode of %s = %o, want %o", tc.path, got, tc.want)
		}
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != string(ca.CertPEM()) {
		t.Errorf("CertPEM differs from %s", CACertFile)
	}

	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("second LoadOrCreateCA: %v", err)
	}
	if again.Hash() != ca.Hash() || again.Cert().SerialNumber.Cmp(cert.SerialNumber) != 0 {
		t.Errorf("loaded CA %s serial %s, want the created %s serial %s", again.Hash(), again.Cert().SerialNumber, ca.Hash(), cert.SerialNumber)
	}
}

func TestLoadOrCreateCARefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare breaks the CA in dir; other is a second CA's directory.
		prepare func(t *testing.T, dir, other string)
		want    []string
	}{
		{
			name: "key of another CA",
			prepare: func(t *testing.T, dir, other string) {
				copyFile(t, filepath.Join(other, CAKeyFile), filepath.Join(dir, CAKeyFile))
			},
			want: []string{"do not belong together", CACertFile, CAKeyFile},
		},
		{
			name: "certificate without key",
			prepare: func(t *testing.T, dir, _ string) {
				removeFile(t, filepath.Join(dir, CAKeyFile))
			},
			want: []string{filepath.Join("pki", CACertFile) + " exists", CAKeyFile + " is missing"},
		},
		{
			name: "key without certificate",
			prepare: func(t *testing.T, dir, _ string) {
				removeFile(t, filepath.Join(dir, CACertFile))
			},
			want: []string{filepath.Join("pki", CAKeyFile) + " exists", CACertFile + " is missing"},
		},
		{
			name: "certificate is not a CA",
			prepare: func(t *testing.T, dir, _ string) {
				ca, err := LoadOrCreateCA(dir)
				if err != nil {
					t.Fatal(err)
				}
				certPEM, keyPEM, err := ca.Issue(Request{User: userNamed("leaf"), Usage: UsageClient})
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, CACertFile), certPEM)
				writeFile(t, filepath.Join(dir, CAKeyFile), keyPEM)
			},
			want: []string{CACertFile, "is not a CA"},
		},
		{
			name: "garbage certificate",
			prepare: func(t *testing.T, dir, _ string) {
				writeFile(t, filepath.Join(dir, CACertFile), []byte("not a certificate"))
			},
			want: []string{CACertFile, "no PEM block"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := newTestCA(t)
			_, other := newTestCA(t)
			tc.prepare(t, dir, other)
			_, err := LoadOrCreateCA(dir)
			if err == nil {
				t.Fatal("LoadOrCreateCA succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, data)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
