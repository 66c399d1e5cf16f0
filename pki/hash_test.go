package pki

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertHashIndependent(t *testing.T) {
	ca, dir := newTestCA(t)
	got := ca.Hash()
	if got != CertHash(ca.Cert()) {
		t.Fatalf("CA.Hash %s != CertHash %s", got, CertHash(ca.Cert()))
	}

	t.Run("re-encoded public key", func(t *testing.T) {
		der, err := x509.MarshalPKIXPublicKey(ca.Cert().PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		if want := "sha256:" + hex.EncodeToString(sum[:]); got != want {
			t.Errorf("hash %s, want %s", got, want)
		}
	})

	t.Run("openssl", func(t *testing.T) {
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl is not installed; the re-encoded check above still ran")
		}
		// The command kubeadm's documentation gives for
		// --discovery-token-ca-cert-hash.
		pub, err := exec.Command("openssl", "x509", "-pubkey", "-noout", "-in", filepath.Join(dir, CACertFile)).Output()
		if err != nil {
			t.Fatalf("openssl x509: %v", err)
		}
		der := exec.Command("openssl", "pkey", "-pubin", "-outform", "DER")
		der.Stdin = bytes.NewReader(pub)
		derOut, err := der.Output()
		if err != nil {
			t.Fatalf("openssl pkey: %v", err)
		}
		dgst := exec.Command("openssl", "dgst", "-sha256", "-hex")
		dgst.Stdin = bytes.NewReader(derOut)
		out, err := dgst.Output()
		if err != nil {
			t.Fatalf("openssl dgst: %v", err)
		}
		fields := strings.Fields(string(out))
		if want := "sha256:" + fields[len(fields)-1]; got != want {
			t.Errorf("hash %s, openssl says %s", got, want)
		}
	})
}

func TestParseHash(t *testing.T) {
	hexDigits := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "canonical", in: "sha256:" + hexDigits, want: "sha256:" + hexDigits},
		{name: "upper case", in: "SHA256:" + strings.ToUpper(hexDigits), want: "sha256:" + hexDigits},
		{name: "no format", in: hexDigits, err: `want "sha256:" and 64 hex digits`},
		{name: "other format", in: "md5:" + hexDigits, err: `unknown format "md5"`},
		{name: "short", in: "sha256:abcd", err: "want 64 hex digits"},
		{name: "not hex", in: "sha256:" + strings.Repeat("zz", 32), err: "not hex"},
		{name: "empty", in: "", err: "want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHash(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseHash(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseHash(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestVerifyHash(t *testing.T) {
	ca, _ := newTestCA(t)
	other, _ := newTestCA(t)
	for _, tc := range []struct {
		name     string
		want     string
		mismatch bool
		errText  string
	}{
		{name: "same", want: ca.Hash()},
		{name: "same in upper case", want: strings.ToUpper(ca.Hash())},
		{name: "another CA", want: other.Hash(), mismatch: true, errText: ca.Hash()},
		{name: "malformed", want: "sha256:xyz", errText: "want 64 hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyHash(ca.Cert(), tc.want)
			if tc.errText == "" {
				if err != nil {
					t.Fatalf("VerifyHash: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("VerifyHash = %v, want an error containing %q", err, tc.errText)
			}
			var m *HashMismatchError
			if got := errors.As(err, &m); got != tc.mismatch {
				t.Fatalf("errors.As(HashMismatchError) = %v, want %v", got, tc.mismatch)
			}
			if tc.mismatch && (m.Got != ca.Hash() || m.Want != other.Hash() || !strings.Contains(err.Error(), other.Hash())) {
				t.Errorf("mismatch error %q (Got %s, Want %s) does not name both hashes", err, m.Got, m.Want)
			}
		})
	}
}
