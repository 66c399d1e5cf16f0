package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
)

func userNamed(name string, groups ...string) api.User {
	return api.User{Name: name, Groups: groups}
}

// mustParseCert parses PEM or fails the test.
func mustParseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verifiesFor reports whether cert chains to ca's pool for eku.
func verifiesFor(ca *CA, cert *x509.Certificate, eku x509.ExtKeyUsage) bool {
	_, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{eku}})
	return err == nil
}

func TestIssue(t *testing.T) {
	ca, _ := newTestCA(t)
	other, _ := newTestCA(t)
	for _, tc := range []struct {
		name               string
		req                Request
		wantServer, client bool
		wantValidity       time.Duration
	}{
		{
			name:         "server",
			req:          Request{User: userNamed("bosun-server"), DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: UsageServer},
			wantServer:   true,
			wantValidity: DefaultValidity,
		},
		{
			name:         "client",
			req:          Request{User: userNamed(api.UserAdmin, api.GroupMasters), Usage: UsageClient, Validity: time.Hour},
			client:       true,
			wantValidity: time.Hour,
		},
		{
			name:         "both",
			req:          Request{User: api.NodeUser("n1"), IPs: []net.IP{net.ParseIP("10.0.0.7")}, Usage: UsageBoth},
			wantServer:   true,
			client:       true,
			wantValidity: DefaultValidity,
		},
		{
			name:         "never past the CA",
			req:          Request{User: userNamed("long"), Usage: UsageClient, Validity: 20 * CAValidity},
			client:       true,
			wantValidity: time.Until(ca.Cert().NotAfter),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.Issue(tc.req)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			cert := mustParseCert(t, certPEM)
			key, err := ParseKeyPEM(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !samePublicKey(key, cert.PublicKey) {
				t.Error("key does not belong to the certificate")
			}
			if got := verifiesFor(ca, cert, x509.ExtKeyUsageServerAuth); got != tc.wantServer {
				t.Errorf("verifies for server auth = %v, want %v", got, tc.wantServer)
			}
			if got := verifiesFor(ca, cert, x509.ExtKeyUsageClientAuth); got != tc.client {
				t.Errorf("verifies for client auth = %v, want %v", got, tc.client)
			}
			if verifiesFor(other, cert, x509.ExtKeyUsageAny) {
				t.Error("certificate verifies against another CA")
			}
			if err := ca.Verify(cert, tc.req.Usage); err != nil {
				t.Errorf("CA.Verify: %v", err)
			}
			if cert.IsCA {
				t.Error("leaf certificate is a CA")
			}
			if diff := cmp.Diff(tc.req.User, IdentityOf(cert)); diff != "" {
				t.Errorf("IdentityOf (-want +got):\n%s", diff)
			}
			if got := time.Until(cert.NotAfter); got > tc.wantValidity || got < tc.wantValidity-time.Minute {
				t.Errorf("certificate expires in %s, want %s", got, tc.wantValidity)
			}
			if !sameSANs(cert, tc.req.DNSNames, tc.req.IPs) {
				t.Errorf("SANs %v %v, want %v %v", cert.DNSNames, cert.IPAddresses, tc.req.DNSNames, tc.req.IPs)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	start := time.Now()
	fc := testingclock.NewFakePassiveClock(start)
	ca, _ := newTestCA(t, WithClock(fc))
	for _, tc := range []struct {
		name string
		req  Request
		// late moves the CA's clock past its expiry.
		late bool
		want string
	}{
		{name: "no user", req: Request{Usage: UsageClient}, want: "no user name"},
		{name: "no usage", req: Request{User: userNamed("u")}, want: "want UsageServer, UsageClient or UsageBoth"},
		{name: "unknown usage", req: Request{User: userNamed("u"), Usage: 8}, want: "Usage(8)"},
		{name: "negative validity", req: Request{User: userNamed("u"), Usage: UsageClient, Validity: -time.Hour}, want: "negative validity"},
		{name: "empty DNS name", req: Request{User: userNamed("u"), Usage: UsageServer, DNSNames: []string{""}}, want: "empty DNS name"},
		{name: "malformed IP", req: Request{User: userNamed("u"), Usage: UsageServer, IPs: []net.IP{{1, 2, 3}}}, want: "malformed IP"},
		{name: "CA expired", req: Request{User: userNamed("u"), Usage: UsageClient}, late: true, want: "the CA expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.late {
				fc.SetTime(ca.Cert().NotAfter.Add(time.Hour))
				defer fc.SetTime(start)
			}
			_, _, err := ca.Issue(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Issue = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// csrWith makes a CSR signed by key with template tmpl.
func csrWith(t *testing.T, key any, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignCSR(t *testing.T) {
	ca, _ := newTestCA(t)
	node := api.NodeUser("worker-1")
	ips := []net.IP{net.ParseIP("10.1.2.3").To4()}
	dns := []string{"worker-1"}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := csrWith(t, ecKey, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: api.UserAdmin, Organization: []string{api.GroupMasters}},
		DNSNames:    dns,
		IPAddresses: ips,
	})
	keyPEM, honest, err := NewKeyAndCSR(node, dns, ips)
	if err != nil {
		t.Fatal(err)
	}
	honestKey, err := ParseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		csr  []byte
		key  crypto.Signer
	}{
		{name: "forged subject is replaced", csr: forged, key: ecKey},
		{name: "NewKeyAndCSR's request", csr: honest, key: honestKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, err := ca.SignCSR(tc.csr, node, UsageBoth, time.Hour)
			if err != nil {
				t.Fatalf("SignCSR: %v", err)
			}
			cert := mustParseCert(t, certPEM)
			if diff := cmp.Diff(node, IdentityOf(cert)); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if slices.Contains(cert.Subject.Organization, api.GroupMasters) || cert.Subject.CommonName == api.UserAdmin {
				t.Errorf("the request's subject leaked into the certificate: %s", cert.Subject)
			}
			if !sameSANs(cert, dns, ips) {
				t.Errorf("SANs %v %v, want the request's %v %v", cert.DNSNames, cert.IPAddresses, dns, ips)
			}
			if !samePublicKey(tc.key, cert.PublicKey) {
				t.Error("certificate is not for the request's key")
			}
			if !verifiesFor(ca, cert, x509.ExtKeyUsageClientAuth) || !verifiesFor(ca, cert, x509.ExtKeyUsageServerAuth) {
				t.Error("node certificate does not verify for client and server auth")
			}
		})
	}
}

func TestSignCSRRefuses(t *testing.T) {
	ca, _ := newTestCA(t)
	node := api.NodeUser("worker-1")
	_, good, err := NewKeyAndCSR(node, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(good)
	tampered := slices.Clone(block.Bytes)
	tampered[len(tampered)-1] ^= 0xff
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		csr   []byte
		user  api.User
		usage Usage
		want  string
	}{
		{name: "not PEM", csr: []byte("hello"), user: node, usage: UsageBoth, want: "no PEM block"},
		{name: "a certificate instead", csr: ca.CertPEM(), user: node, usage: UsageBoth, want: `PEM block is "CERTIFICATE"`},
		{name: "not DER", csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}}), user: node, usage: UsageBoth, want: "certificate request"},
		{name: "bad signature", csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), user: node, usage: UsageBoth, want: "signature does not verify"},
		{name: "weak RSA key", csr: csrWith(t, smallRSA, &x509.CertificateRequest{}), user: node, usage: UsageBoth, want: "1024 bits is too small"},
		{name: "e-mail SAN", csr: csrWith(t, ecKey, &x509.CertificateRequest{EmailAddresses: []string{"a@b.c"}}), user: node, usage: UsageBoth, want: "only DNS names and IP addresses"},
		{name: "no user", csr: good, user: api.User{}, usage: UsageBoth, want: "no user name"},
		{name: "no usage", csr: good, user: node, want: "want UsageServer, UsageClient or UsageBoth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ca.SignCSR(tc.csr, tc.user, tc.usage, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SignCSR = %d bytes, %v; want an error containing %q", len(got), err, tc.want)
			}
		})
	}
}
