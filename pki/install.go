package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyPEM returns the CA's private key, PEM. It is the most secret thing
// of the cluster: only a server joining the control plane receives it.
func (ca *CA) KeyPEM() ([]byte, error) { return encodeKeyPEM(ca.key) }

// InstallCA writes a cluster CA received from another server (a server
// joining the control plane) into dir, where LoadOrCreateCA finds it, and
// returns it loaded. certPEM must be a CA certificate and keyPEM its key.
// When dir holds a CA already, it must be the same one (a join retried
// after a crash): InstallCA never replaces a CA, and refuses another one,
// naming both hashes. The key is written 0600, before the certificate.
func InstallCA(dir string, certPEM, keyPEM []byte, opts ...Option) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: install the cluster CA: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("pki: install the cluster CA: %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: install the cluster CA: its key: %w", err)
	}
	if !samePublicKey(key, cert.PublicKey) {
		return nil, errors.New("pki: install the cluster CA: the key does not belong to the certificate")
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil || keyErr == nil:
		have, err := LoadOrCreateCA(dir, opts...)
		if err != nil {
			return nil, err
		}
		if !have.Cert().Equal(cert) {
			return nil, fmt.Errorf("pki: %s holds another CA (%s) than the cluster's (%s): this data directory belongs to another cluster; use an empty --data-dir",
				dir, have.Hash(), CertHash(cert))
		}
		return have, nil
	case !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("pki: install the cluster CA: %w", certErr)
	case !errors.Is(keyErr, fs.ErrNotExist):
		return nil, fmt.Errorf("pki: install the cluster CA: %w", keyErr)
	}
	if err := mkdirPrivate(dir); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(certPath, EncodeCertPEM(cert), 0o644); err != nil {
		return nil, err
	}
	return LoadOrCreateCA(dir, opts...)
}
