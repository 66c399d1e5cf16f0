package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/bosun-dev/bosun/api"
)

// DefaultValidity is the lifetime of a leaf certificate when a request gives
// none: one year, as kubeadm's.
const DefaultValidity = 365 * 24 * time.Hour

// Usage says what a leaf certificate may be used for (its extended key
// usages). Combine with |.
type Usage int

// Usages.
const (
	// UsageServer is TLS server authentication (serving).
	UsageServer Usage = 1 << iota
	// UsageClient is TLS client authentication (a credential).
	UsageClient
	// UsageBoth is server and client authentication (node certificates).
	UsageBoth = UsageServer | UsageClient
)

// String names the usage as "server", "client" or "server+client".
func (u Usage) String() string {
	switch u {
	case UsageServer:
		return "server"
	case UsageClient:
		return "client"
	case UsageBoth:
		return "server+client"
	default:
		return fmt.Sprintf("Usage(%d)", int(u))
	}
}

// extKeyUsages maps u onto x509's extended key usages.
func (u Usage) extKeyUsages() ([]x509.ExtKeyUsage, error) {
	if u <= 0 || u&^UsageBoth != 0 {
		return nil, fmt.Errorf("pki: usage %s: want UsageServer, UsageClient or UsageBoth", u)
	}
	var out []x509.ExtKeyUsage
	if u&UsageServer != 0 {
		out = append(out, x509.ExtKeyUsageServerAuth)
	}
	if u&UsageClient != 0 {
		out = append(out, x509.ExtKeyUsageClientAuth)
	}
	return out, nil
}

// ekuName names an extended key usage in errors.
func ekuName(eku x509.ExtKeyUsage) string {
	switch eku {
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	default:
		return fmt.Sprintf("extended key usage %d", eku)
	}
}

// Request describes a leaf certificate for Issue.
type Request struct {
	// User is the identity: Subject CN = User.Name, O = User.Groups.
	User api.User
	// DNSNames and IPs are the subject alternative names (for serving).
	DNSNames []string
	IPs      []net.IP
	// Usage is server, client or both; required.
	Usage Usage
	// Validity is the lifetime; 0 means DefaultValidity. It never reaches
	// past the CA's own expiry.
	Validity time.Duration
}

// Issue makes a new ECDSA P-256 key and a certificate for it signed by the
// CA, and returns both in PEM.
func (ca *CA) Issue(req Request) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key for %q: %w", req.User.Name, err)
	}
	certPEM, err = ca.sign(key.Public(), req)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// SignCSR signs the certificate signing request csrPEM for user u. It checks
// the request's signature (proof that the requester holds the key) and the
// key's type and size, sets the subject from u itself (the request's subject
// is ignored: a requester cannot choose its identity), and keeps the
// request's DNS and IP subject alternative names (an agent's serving
// addresses); other SANs (e-mail, URI) are refused. validity 0 means
// DefaultValidity.
func (ca *CA) SignCSR(csrPEM []byte, u api.User, usage Usage, validity time.Duration) (certPEM []byte, err error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, fmt.Errorf("pki: certificate request for %q asks for e-mail or URI names; only DNS names and IP addresses are allowed", u.Name)
	}
	return ca.sign(csr.PublicKey, Request{User: u, DNSNames: csr.DNSNames, IPs: csr.IPAddresses, Usage: usage, Validity: validity})
}

// ParseCSR parses a PEM certificate signing request and checks its
// signature and key (ECDSA P-256/P-384/P-521, RSA of at least 2048 bits, or
// Ed25519).
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil {
		return nil, errors.New("pki: certificate request: no PEM block found")
	}
	if block.Type != pemCSR && block.Type != pemNewCSR {
		return nil, fmt.Errorf("pki: certificate request: PEM block is %q, want %q", block.Type, pemCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("pki: certificate request: signature does not verify (the request was not made with its key): %w", err)
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("pki: certificate request: %w", err)
	}
	return csr, nil
}

// checkPublicKey refuses weak or unknown keys.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA curve %s is not allowed, use P-256, P-384 or P-521", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits is too small, use at least 2048", k.N.BitLen())
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("public key type %T is not allowed", pub)
	}
}

// sign issues a certificate for pub as req says.
func (ca *CA) sign(pub crypto.PublicKey, req Request) ([]byte, error) {
	if req.User.Name == "" {
		return nil, errors.New("pki: certificate request has no user name (subject CN)")
	}
	ekus, err := req.Usage.extKeyUsages()
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %q: %w", req.User.Name, err)
	}
	if req.Validity < 0 {
		return nil, fmt.Errorf("pki: certificate for %q: negative validity %s", req.User.Name, req.Validity)
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	for _, name := range req.DNSNames {
		if name == "" {
			return nil, fmt.Errorf("pki: certificate for %q: empty DNS name", req.User.Name)
		}
	}
	for _, ip := range req.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("pki: certificate for %q: malformed IP address %v", req.User.Name, ip)
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := ca.now.Now()
	if !now.Before(ca.cert.NotAfter) {
		return nil, fmt.Errorf("pki: certificate for %q: the CA expired at %s; every credential of the cluster must be replaced with a new CA", req.User.Name, ca.cert.NotAfter.Format(time.RFC3339))
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.User.Name, Organization: slices.Clone(req.User.Groups)},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           ekus,
		BasicConstraintsValid: true,
		DNSNames:              slices.Clone(req.DNSNames),
		IPAddresses:           slices.Clone(req.IPs),
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign certificate for %q: %w", req.User.Name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: der}), nil
}

// NewKeyAndCSR makes a new ECDSA P-256 key and a certificate signing request
// for it naming u and the given subject alternative names. The key never
// needs to leave the machine: only the request is sent to the signer.
func NewKeyAndCSR(u api.User, dnsNames []string, ips []net.IP) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key for %q: %w", u.Name, err)
	}
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: u.Name, Organization: slices.Clone(u.Groups)},
		DNSNames:    slices.Clone(dnsNames),
		IPAddresses: slices.Clone(ips),
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create certificate request for %q: %w", u.Name, err)
	}
	keyPEM, err = encodeKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return keyPEM, pem.EncodeToMemory(&pem.Block{Type: pemCSR, Bytes: der}), nil
}

// IdentityOf returns the identity a certificate carries, as Kubernetes reads
// client certificates: the subject's CN is the user name, its O the groups.
func IdentityOf(cert *x509.Certificate) api.User {
	return api.User{Name: cert.Subject.CommonName, Groups: slices.Clone(cert.Subject.Organization)}
}
