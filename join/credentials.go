package join

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bosun-dev/bosun/pki"
)

// Credentials is a stored node credential: what an agent authenticates
// with and trusts.
type Credentials struct {
	// NodeName is the node the certificate is for.
	NodeName string
	// Dir holds the files; CertFile, KeyFile and CAFile are their paths.
	Dir, CertFile, KeyFile, CAFile string
	// Kubeconfig is the kubeconfig file's path (Join's Config.Kubeconfig,
	// or DefaultKubeconfig(Dir) after Load).
	Kubeconfig string
	// KeyPair is the node's certificate and key; renewals replace it in
	// place (its GetClientCertificate and GetCertificate follow).
	KeyPair *pki.KeyPair
	// CACert, CAPEM and CAPool are the cluster CA, the only root the agent
	// trusts.
	CACert *x509.Certificate
	CAPEM  []byte
	CAPool *x509.CertPool
}

// TLSConfig returns a client configuration that trusts only the cluster CA
// and presents the node's current certificate.
func (c Credentials) TLSConfig() *tls.Config {
	return &tls.Config{
		RootCAs:              c.CAPool,
		GetClientCertificate: c.KeyPair.GetClientCertificate,
		MinVersion:           tls.VersionTLS12,
	}
}

// Load reads the credential Join stored in dir, for an agent that restarts:
// no token is needed. It checks that the certificate is from the stored CA,
// has not expired, and is a node credential; when nodeName is not empty, it
// must be that node's. A missing credential's error wraps fs.ErrNotExist.
func Load(dir, nodeName string) (Credentials, error) {
	c := Credentials{
		Dir:        dir,
		CertFile:   filepath.Join(dir, NodeCertFile),
		KeyFile:    filepath.Join(dir, NodeKeyFile),
		CAFile:     filepath.Join(dir, CAFile),
		Kubeconfig: DefaultKubeconfig(dir),
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: read the stored cluster CA: %w", err)
	}
	ca, err := pki.ParseCertPEM(caPEM)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: %s: %w", c.CAFile, err)
	}
	kp, err := pki.LoadKeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	c.CACert, c.CAPEM, c.KeyPair = ca, pki.EncodeCertPEM(ca), kp
	c.CAPool = x509.NewCertPool()
	c.CAPool.AddCert(ca)

	leaf := kp.Current().Leaf
	u := pki.IdentityOf(leaf)
	name, ok := u.NodeName()
	if !ok {
		return Credentials{}, fmt.Errorf("join: %s is for %q %v, not a node credential", c.CertFile, u.Name, u.Groups)
	}
	if nodeName != "" && name != nodeName {
		return Credentials{}, fmt.Errorf("join: the credential in %s belongs to node %q, not %q; use --node-name %s, or remove %s and join again with a token", dir, name, nodeName, name, dir)
	}
	if now := time.Now(); now.After(leaf.NotAfter) {
		return Credentials{}, fmt.Errorf("join: the node certificate %s expired at %s; remove %s and join again with a token", c.CertFile, leaf.NotAfter.Format(time.RFC3339), dir)
	}
	if err := verifyNodeCert(leaf, c.CAPool, time.Now()); err != nil {
		return Credentials{}, fmt.Errorf("join: %s and %s: %w", c.CertFile, c.CAFile, err)
	}
	c.NodeName = name
	return c, nil
}
