package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// testCA is a cluster CA made in the test: it issues leaf certificates
// and, as apiserver.Signer, signs node CSRs.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "bosun-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) CACertPEM() []byte { return ca.certPEM }

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// issue returns a key pair whose certificate the CA signed for tmpl.
func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate, pub any) []byte {
	t.Helper()
	tmpl.SerialNumber = serial()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// clientCert returns a client credential for user.
func (ca *testCA) clientCert(t *testing.T, u api.User) tls.Certificate {
	t.Helper()
	key := newKey(t)
	der := ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: u.Name, Organization: u.Groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, key.Public())
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// servingCert returns a serving credential for 127.0.0.1 and localhost.
func (ca *testCA) servingCert(t *testing.T) tls.Certificate {
	t.Helper()
	key := newKey(t)
	der := ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "bosun"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, key.Public())
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// SignNodeCSR implements apiserver.Signer as the design says: the subject
// is the node's identity whatever the CSR asks.
func (ca *testCA) SignNodeCSR(csrPEM []byte, node string) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, fmt.Errorf("test CA: %w: no PEM", api.ErrInvalid)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("test CA: %w: %w", api.ErrInvalid, err)
	}
	u := api.NodeUser(node)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: u.Name, Organization: u.Groups},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses:  csr.IPAddresses,
		DNSNames:     csr.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// newCSR returns a key and a PEM CSR for it.
func newCSR(t *testing.T, cn string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: cn},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// tlsEnv is the API served over HTTPS (ServeTLS) with a test CA.
type tlsEnv struct {
	t   *testing.T
	st  *store.Store
	ca  *testCA
	url string
}

// Identities the tests use.
var (
	admin = api.User{Name: api.UserAdmin, Groups: []string{api.GroupMasters}}
	nodeA = api.NodeUser("a")
	nodeB = api.NodeUser("b")
	alice = api.User{Name: "alice", Groups: []string{"developers"}}
	// nobody stands for a request without a client certificate.
	nobody = api.User{}
)

// newTLSEnv serves the API on HTTPS; configure, when not nil, adjusts
// the Config once the store exists.
func newTLSEnv(t *testing.T, configure func(*apiserver.Config, *store.Store)) *tlsEnv {
	t.Helper()
	st := storetest.Start(t)
	ca := newTestCA(t)
	serving := ca.servingCert(t)
	cfg := apiserver.Config{
		Store:          st,
		Logger:         storetest.Logger(t),
		Signer:         ca,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &serving, nil },
		ServerURL:      "https://10.0.0.1:6443",
	}
	if configure != nil {
		configure(&cfg, st)
	}
	srv := apiserver.New(cfg)
	ln, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := testutil.Receive(t, done, 10*time.Second, "ServeTLS to return"); err != nil {
			t.Errorf("ServeTLS = %v", err)
		}
	})
	return &tlsEnv{t: t, st: st, ca: ca, url: "https://" + ln.Addr().String()}
}

// client returns an HTTPS client that trusts the CA and presents a
// certificate for u (none for nobody).
func (e *tlsEnv) client(u api.User) *http.Client {
	cfg := &tls.Config{RootCAs: e.ca.pool()}
	if u.Name != "" {
		cfg.Certificates = []tls.Certificate{e.ca.clientCert(e.t, u)}
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// as returns an env whose requests carry u's certificate.
func (e *tlsEnv) as(u api.User) *env {
	return &env{t: e.t, st: e.st, url: e.url, client: e.client(u)}
}
