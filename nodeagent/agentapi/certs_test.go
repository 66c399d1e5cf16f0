package agentapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/pki"
)

// testCA is a cluster CA made for a test, in its own directory.
type testCA struct{ *pki.CA }

// newTestCA makes a CA; name only tells the test's CAs apart in failures.
func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatalf("CA %s: %v", name, err)
	}
	return &testCA{ca}
}

// pool returns a pool holding only the CA.
func (ca *testCA) pool() *x509.CertPool { return ca.Pool() }

// issue signs a certificate for user cn in groups, usable for client and
// server authentication, valid for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, cn string, groups ...string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(pki.Request{User: api.User{Name: cn, Groups: groups},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.UsageBoth})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// httpClient returns a client that trusts ca and presents cert (none when
// nil), even when the server names other acceptable CAs.
func httpClient(ca *testCA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.pool(), MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			return cert, nil
		}}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}
