package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Files and lifetimes of the cluster CA.
const (
	// CACertFile and CAKeyFile are the CA's files in its directory.
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	// CAValidity is the lifetime of a new CA: 10 years, as kubeadm's.
	CAValidity = 10 * 365 * 24 * time.Hour
	// CACommonName is the subject of a new CA.
	CACommonName = "bosun-ca"
	// backdate is how far NotBefore lies in the past, so that machines whose
	// clocks are a little behind accept a new certificate at once.
	backdate = 5 * time.Minute
)

// CA is the cluster's certificate authority: its certificate and key. It
// signs every certificate of the cluster. It is safe for concurrent use.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
	now  clock.PassiveClock
}

// Option changes how LoadOrCreateCA builds a CA.
type Option func(*CA)

// WithClock makes the CA read the time (a new CA's validity and every
// certificate it signs) from c instead of the real clock: for tests.
func WithClock(c clock.PassiveClock) Option {
	return func(ca *CA) { ca.now = c }
}

// LoadOrCreateCA loads the CA from dir/ca.crt and dir/ca.key, or, when
// neither exists, creates an ECDSA P-256 CA valid for 10 years and writes
// them there (dir 0700, the key 0600). It refuses a certificate without its
// key (or the reverse), a certificate that is not a CA, and a key that does
// not belong to the certificate, naming the files: replacing either would
// invalidate every credential of the cluster, so it never does so itself.
func LoadOrCreateCA(dir string, opts ...Option) (*CA, error) {
	ca := &CA{}
	for _, o := range opts {
		o(ca)
	}
	defaults.Clock(&ca.now)
	if err := mkdirPrivate(dir); err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return ca, ca.create(certPath, keyPath)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("pki: read CA certificate: %w", certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("pki: read CA key: %w", keyErr)
	case certErr != nil:
		return nil, fmt.Errorf("pki: %s exists but %s is missing: restore it, or remove both to create a new CA (which invalidates every credential of the cluster): %w", keyPath, certPath, certErr)
	case keyErr != nil:
		return nil, fmt.Errorf("pki: %s exists but %s is missing: restore it, or remove both to create a new CA (which invalidates every credential of the cluster): %w", certPath, keyPath, keyErr)
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("pki: %s is not a CA certificate (basic constraints CA:TRUE missing)", certPath)
	}
	if !samePublicKey(key, cert.PublicKey) {
		return nil, fmt.Errorf("pki: %s and %s do not belong together: the key's public half is not the certificate's; restore the matching file", certPath, keyPath)
	}
	ca.cert, ca.key = cert, key
	return ca, nil
}

// create makes a new CA and writes it: the key first, so that a certificate
// on disk always has its key.
func (ca *CA) create(certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := ca.now.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CACommonName},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(CAValidity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pki: parse new CA certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	if err := WriteFileAtomic(certPath, EncodeCertPEM(cert), 0o644); err != nil {
		return err
	}
	ca.cert, ca.key = cert, key
	return nil
}

// Cert returns the CA certificate. Callers must not modify it.
func (ca *CA) Cert() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return EncodeCertPEM(ca.cert) }

// Hash returns the CA's public key pin, "sha256:HEX" (CertHash), which
// joining agents check with --ca-cert-hash.
func (ca *CA) Hash() string { return CertHash(ca.cert) }

// Pool returns a new certificate pool holding only the CA, for
// tls.Config's RootCAs and ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// Verify checks that cert was issued by the CA, is valid now (by the CA's
// clock) and allows usage (each of its bits).
func (ca *CA) Verify(cert *x509.Certificate, usage Usage) error {
	return verify(cert, ca.Pool(), usage, ca.now.Now())
}

// verify checks cert against roots for every usage bit at time now.
func verify(cert *x509.Certificate, roots *x509.CertPool, usage Usage, now time.Time) error {
	ekus, err := usage.extKeyUsages()
	if err != nil {
		return err
	}
	for _, eku := range ekus {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			return fmt.Errorf("pki: certificate %q (serial %s) for %s: %w", cert.Subject.CommonName, cert.SerialNumber, ekuName(eku), err)
		}
	}
	return nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
