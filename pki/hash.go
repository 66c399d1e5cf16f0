package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
)

// HashPrefix starts every CA hash: the only format, as kubeadm's
// --discovery-token-ca-cert-hash.
const HashPrefix = "sha256:"

// CertHash returns cert's public key pin: "sha256:" and the lower-case hex
// SHA-256 of its DER SubjectPublicKeyInfo, which is what kubeadm's
// --discovery-token-ca-cert-hash holds. It depends on the key only, so a CA
// re-issued with the same key keeps its hash.
func CertHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return HashPrefix + hex.EncodeToString(sum[:])
}

// ParseHash checks that s is "sha256:" and 64 hex digits and returns its
// canonical form (lower-case). As kubeadm, the format name is
// case-insensitive.
func ParseHash(s string) (string, error) {
	format, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("pki: CA hash %q: want \"sha256:\" and 64 hex digits", s)
	}
	if !strings.EqualFold(format, "sha256") {
		return "", fmt.Errorf("pki: CA hash %q: unknown format %q, want sha256", s, format)
	}
	if len(value) != hex.EncodedLen(sha256.Size) {
		return "", fmt.Errorf("pki: CA hash %q: want %d hex digits after \"sha256:\", found %d", s, hex.EncodedLen(sha256.Size), len(value))
	}
	if _, err := hex.DecodeString(value); err != nil {
		return "", fmt.Errorf("pki: CA hash %q: not hex: %w", s, err)
	}
	return HashPrefix + strings.ToLower(value), nil
}

// HashMismatchError is VerifyHash's error when a certificate's public key is
// not the pinned one.
type HashMismatchError struct {
	// Got is the certificate's hash, Want the expected one (both canonical).
	Got, Want string
}

// Error names both hashes.
func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("pki: certificate public key hash %s does not match the expected %s", e.Got, e.Want)
}

// VerifyHash checks that cert's public key hash (CertHash) is want. A
// malformed want is an error saying so; a different key returns a
// *HashMismatchError naming both hashes.
func VerifyHash(cert *x509.Certificate, want string) error {
	canonical, err := ParseHash(want)
	if err != nil {
		return err
	}
	if got := CertHash(cert); got != canonical {
		return &HashMismatchError{Got: got, Want: canonical}
	}
	return nil
}
