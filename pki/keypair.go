package pki

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// newSuffix names the staged copy of a key pair's files while Store
// replaces them.
const newSuffix = ".new"

// KeyPair is a certificate and its key kept in two files and in memory, and
// replaced as a whole (Store) when renewed. Its GetCertificate and
// GetClientCertificate always return the current pair, so a tls.Config built
// on them picks up a renewed certificate on the next handshake, with no
// restart. Create it with LoadKeyPair or CreateKeyPair. It is safe for
// concurrent use.
type KeyPair struct {
	certFile, keyFile string
	current           atomic.Pointer[pairState]
	mu                sync.Mutex // serialises Store and Reload
}

// pairState is one loaded pair; never modified once stored.
type pairState struct {
	tls             *tls.Certificate
	certPEM, keyPEM []byte
}

// LoadKeyPair reads the pair from certFile and keyFile. When the last Store
// was interrupted between replacing the key and the certificate, it
// completes it (the staged certificate is certFile+".new").
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	kp := &KeyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.Reload(); err != nil {
		return nil, err
	}
	return kp, nil
}

// CreateKeyPair writes certPEM and keyPEM to certFile and keyFile (key
// 0600) and returns the loaded pair. The directory must exist.
func CreateKeyPair(certFile, keyFile string, certPEM, keyPEM []byte) (*KeyPair, error) {
	kp := &KeyPair{certFile: certFile, keyFile: keyFile}
	if err := kp.Store(certPEM, keyPEM); err != nil {
		return nil, err
	}
	return kp, nil
}

// CertFile returns the certificate's path.
func (kp *KeyPair) CertFile() string { return kp.certFile }

// KeyFile returns the key's path.
func (kp *KeyPair) KeyFile() string { return kp.keyFile }

// Current returns the current pair, with Leaf set. Callers must not modify it.
func (kp *KeyPair) Current() *tls.Certificate { return kp.current.Load().tls }

// PEM returns the current certificate and key as stored. Callers must not
// modify them.
func (kp *KeyPair) PEM() (certPEM, keyPEM []byte) {
	cur := kp.current.Load()
	return cur.certPEM, cur.keyPEM
}

// NotAfter returns when the current certificate expires.
func (kp *KeyPair) NotAfter() time.Time { return kp.Current().Leaf.NotAfter }

// GetCertificate returns the current pair: use it as tls.Config's
// GetCertificate when serving.
func (kp *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return kp.Current(), nil
}

// GetClientCertificate returns the current pair: use it as tls.Config's
// GetClientCertificate in clients.
func (kp *KeyPair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return kp.Current(), nil
}

// Reload reads the files again, e.g. after another process replaced them.
func (kp *KeyPair) Reload() error {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	pair, err := kp.read()
	if err != nil {
		return err
	}
	kp.current.Store(pair)
	return nil
}

// read loads the files, completing an interrupted Store.
func (kp *KeyPair) read() (*pairState, error) {
	keyPEM, err := os.ReadFile(kp.keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read key: %w", err)
	}
	certPEM, err := os.ReadFile(kp.certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: read certificate: %w", err)
	}
	pair, err := parsePair(certPEM, keyPEM)
	if err == nil {
		// A Store that stopped before replacing the key leaves staged
		// files; the pair in place is whole, so they are stale.
		_ = os.Remove(kp.certFile + newSuffix)
		_ = os.Remove(kp.keyFile + newSuffix)
		return &pairState{tls: pair, certPEM: certPEM, keyPEM: keyPEM}, nil
	}
	staged, serr := os.ReadFile(kp.certFile + newSuffix)
	if serr == nil {
		if pair, perr := parsePair(staged, keyPEM); perr == nil {
			if rerr := os.Rename(kp.certFile+newSuffix, kp.certFile); rerr != nil {
				return nil, fmt.Errorf("pki: complete the interrupted replacement of %s: %w", kp.certFile, rerr)
			}
			return &pairState{tls: pair, certPEM: staged, keyPEM: keyPEM}, nil
		}
	} else if !errors.Is(serr, fs.ErrNotExist) {
		return nil, fmt.Errorf("pki: read staged certificate: %w", serr)
	}
	return nil, fmt.Errorf("pki: %s and %s: %w", kp.certFile, kp.keyFile, err)
}

// Store replaces the pair on disk and in memory after checking that certPEM
// and keyPEM belong together. On disk it stages both files (path+".new"),
// then renames the key and the certificate into place; LoadKeyPair completes
// a replacement interrupted between the two renames.
func (kp *KeyPair) Store(certPEM, keyPEM []byte) error {
	pair, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if err := WriteFileAtomic(kp.certFile+newSuffix, certPEM, 0o644); err != nil {
		return err
	}
	if err := WriteFileAtomic(kp.keyFile+newSuffix, keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.Rename(kp.keyFile+newSuffix, kp.keyFile); err != nil {
		return fmt.Errorf("pki: replace %s: %w", kp.keyFile, err)
	}
	if err := os.Rename(kp.certFile+newSuffix, kp.certFile); err != nil {
		return fmt.Errorf("pki: replace %s: %w", kp.certFile, err)
	}
	kp.current.Store(&pairState{tls: pair, certPEM: bytes.Clone(certPEM), keyPEM: bytes.Clone(keyPEM)})
	return nil
}

// parsePair parses a certificate and its key and checks they belong
// together.
func parsePair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(key, cert.PublicKey) {
		return nil, fmt.Errorf("pki: the key does not belong to the certificate %q (serial %s)", cert.Subject.CommonName, cert.SerialNumber)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}
