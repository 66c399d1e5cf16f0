package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PEM block types bosun writes.
const (
	pemCertificate = "CERTIFICATE"
	pemECKey       = "EC PRIVATE KEY"
	pemPKCS8Key    = "PRIVATE KEY"
	pemRSAKey      = "RSA PRIVATE KEY"
	pemCSR         = "CERTIFICATE REQUEST"
	pemNewCSR      = "NEW CERTIFICATE REQUEST"
)

// EncodeCertPEM returns cert as a PEM "CERTIFICATE" block.
func EncodeCertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: cert.Raw})
}

// ParseCertPEM parses the first PEM block of data, which must be a
// CERTIFICATE.
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("pki: no PEM block found where a certificate was expected")
	}
	if block.Type != pemCertificate {
		return nil, fmt.Errorf("pki: PEM block is %q, want %q", block.Type, pemCertificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: parse certificate: %w", err)
	}
	return cert, nil
}

// encodeKeyPEM encodes an ECDSA key as "EC PRIVATE KEY" (as kubeadm writes
// them) and any other key as PKCS #8.
func encodeKeyPEM(key crypto.Signer) ([]byte, error) {
	if ec, ok := key.(*ecdsa.PrivateKey); ok {
		der, err := x509.MarshalECPrivateKey(ec)
		if err != nil {
			return nil, fmt.Errorf("pki: encode ECDSA key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: der}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8Key, Bytes: der}), nil
}

// ParseKeyPEM parses a private key in PEM: "EC PRIVATE KEY" (SEC 1),
// "PRIVATE KEY" (PKCS #8) or "RSA PRIVATE KEY" (PKCS #1).
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("pki: no PEM block found where a private key was expected")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case pemECKey:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case pemPKCS8Key:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemRSAKey:
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("pki: PEM block is %q, want a private key (%q, %q or %q)", block.Type, pemECKey, pemPKCS8Key, pemRSAKey)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("pki: unsupported private key type %T", key)
	}
}

// WriteFileAtomic writes data to path with mode perm so that readers see
// either the old or the new content, never a part: it writes a temporary
// file in the same directory, syncs it, and renames it over path. The
// directory must exist.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(name)
		return fmt.Errorf("pki: write %s: %w", path, werr)
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("pki: replace %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// createTemp creates an empty temporary file beside path with mode perm.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("pki: write %s: %w", path, err)
	}
	return tmp, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pki: sync directory %s: %w", dir, err)
	}
	defer d.Close()
	// Some filesystems cannot sync directories; the rename has happened
	// either way, so only opening errors count.
	_ = d.Sync()
	return nil
}

// mkdirPrivate creates dir (and its parents) and makes dir itself 0700.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: create directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pki: make %s private: %w", dir, err)
	}
	return nil
}

// samePublicKey reports whether key's public half is pub.
func samePublicKey(key crypto.Signer, pub crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := key.Public().(equaler)
	return ok && e.Equal(pub)
}
