package join

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/pki"
)

// Files of a node credential in its directory (<data-dir>/agent/pki).
const (
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
	CAFile       = "ca.crt"
	// KubeconfigFile is the kubeconfig's name beside that directory:
	// <data-dir>/agent/kubeconfig.
	KubeconfigFile = "kubeconfig"
	// DefaultTimeout bounds each request when Config.HTTPClient sets none.
	DefaultTimeout = 30 * time.Second
	// maxBody limits how much of a response is read.
	maxBody = 1 << 20
)

// Errors a join can end with; check them with errors.Is. A 409 (node name
// held by another machine) wraps api.ErrConflict, a 400 api.ErrInvalid.
var (
	// ErrCAHashMismatch means the server's CA is not the one --ca-cert-hash
	// names: the token was not sent.
	ErrCAHashMismatch = errors.New("CA hash mismatch")
	// ErrTokenRejected means the server refused the bootstrap token (401):
	// unknown, expired, used up or wrong secret, as the message says.
	ErrTokenRejected = errors.New("bootstrap token rejected")
)

// tokenPattern is a bootstrap token, as kubeadm's.
var tokenPattern = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// Config says how to join.
type Config struct {
	// Server is the API's URL, "https://HOST:6443"; required.
	Server string
	// Token is the bootstrap token "ID.SECRET"; required.
	Token string
	// CACertHash is "sha256:HEX", the pin of the cluster CA's public key
	// (bosun token create prints it); required.
	CACertHash string
	// NodeName is the node to register as; required, a DNS subdomain.
	NodeName string
	// Dir is where the credential is stored (<data-dir>/agent/pki);
	// required. It is created 0700.
	Dir string
	// Kubeconfig is where the kubeconfig is written; "" means
	// DefaultKubeconfig(Dir).
	Kubeconfig string
	// DNSNames and IPs are the node's addresses, put into its certificate
	// for serving the agent's port.
	DNSNames []string
	IPs      []net.IP
	// HTTPClient, when set, is the template of the clients Join uses: its
	// Timeout, and its Transport if that is an *http.Transport (cloned; Join
	// sets its TLS configuration). Redirects are never followed.
	HTTPClient *http.Client
	// Logger receives the join's steps; nil discards.
	Logger *slog.Logger
}

// DefaultKubeconfig returns where a credential stored in dir keeps its
// kubeconfig: dir/../kubeconfig.
func DefaultKubeconfig(dir string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(dir)), KubeconfigFile)
}

// ValidateToken checks that token has the form "ID.SECRET", 6 and 16
// characters of [a-z0-9]. The error never repeats the token.
func ValidateToken(token string) error {
	if !tokenPattern.MatchString(token) {
		return fmt.Errorf("join: the token is not of the form ID.SECRET (6 and 16 characters of a-z and 0-9, e.g. 07401b.f395accd246ae52d); use the token \"bosun token create\" printed (got %d characters)", len(token))
	}
	return nil
}

// validate checks cfg before anything is sent and returns the canonical CA
// hash and the server's base URL.
func (cfg *Config) validate() (hash string, base *url.URL, err error) {
	if err := ValidateToken(cfg.Token); err != nil {
		return "", nil, err
	}
	hash, err = pki.ParseHash(cfg.CACertHash)
	if err != nil {
		return "", nil, fmt.Errorf("join: --ca-cert-hash: %w", err)
	}
	base, err = parseServer(cfg.Server)
	if err != nil {
		return "", nil, err
	}
	if err := validateNodeName(cfg.NodeName); err != nil {
		return "", nil, err
	}
	if cfg.Dir == "" {
		return "", nil, errors.New("join: Dir, where the credential is stored, is required")
	}
	return hash, base, nil
}

// parseServer checks that server is an https URL with a host.
func parseServer(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("join: --server %q: %w", server, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("join: --server %q: want https://HOST:PORT", server)
	}
	return u, nil
}

// validateNodeName checks a node name as Kubernetes does.
func validateNodeName(name string) error {
	if name == "" {
		return errors.New("join: the node name is empty")
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("join: node name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// Join obtains a node credential from the server with a bootstrap token and
// stores it. It fetches the cluster CA without verifying the server (the
// only request made so), checks it against CACertHash and refuses to go on
// when it differs; then, trusting only that CA, it sends the token and a
// certificate signing request for a key made here (the key never leaves the
// machine), checks the certificate it gets, and writes Dir/node.key (0600),
// Dir/node.crt, Dir/ca.crt and the kubeconfig. Nothing is written when any
// step fails.
func Join(ctx context.Context, cfg Config) (Credentials, error) {
	defaults.Logger(&cfg.Logger)
	wantHash, base, err := cfg.validate()
	if err != nil {
		return Credentials{}, err
	}
	if cfg.Kubeconfig == "" {
		cfg.Kubeconfig = DefaultKubeconfig(cfg.Dir)
	}

	ca, caPEM, err := fetchCA(ctx, cfg.HTTPClient, base)
	if err != nil {
		return Credentials{}, err
	}
	if err := pki.VerifyHash(ca, wantHash); err != nil {
		var m *pki.HashMismatchError
		if errors.As(err, &m) {
			return Credentials{}, fmt.Errorf("join: the server's CA %s does not match --ca-cert-hash %s; refusing to send the token: %w", m.Got, m.Want, ErrCAHashMismatch)
		}
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	cfg.Logger.Info("The server's CA matches --ca-cert-hash", "server", cfg.Server, "caCertHash", wantHash)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	user := api.NodeUser(cfg.NodeName)
	keyPEM, csrPEM, err := pki.NewKeyAndCSR(user, cfg.DNSNames, cfg.IPs)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	body, err := json.Marshal(api.JoinRequest{NodeName: cfg.NodeName, CSR: csrPEM})
	if err != nil {
		return Credentials{}, fmt.Errorf("join: encode request: %w", err)
	}
	hc := httpClient(cfg.HTTPClient, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	resp, err := postJSON(ctx, hc, base.JoinPath(api.PathJoin), body, "Bearer "+cfg.Token)
	if err != nil {
		return Credentials{}, joinError(err, cfg)
	}
	certPEM, err := checkIssued(resp, keyPEM, user, ca, pool)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: the server's answer: %w", err)
	}

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return Credentials{}, fmt.Errorf("join: create %s: %w", cfg.Dir, err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return Credentials{}, fmt.Errorf("join: make %s private: %w", cfg.Dir, err)
	}
	if err := pki.WriteFileAtomic(filepath.Join(cfg.Dir, CAFile), caPEM, 0o644); err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	if _, err := pki.CreateKeyPair(filepath.Join(cfg.Dir, NodeCertFile), filepath.Join(cfg.Dir, NodeKeyFile), certPEM, keyPEM); err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	if err := pki.WriteKubeconfig(cfg.Kubeconfig, cfg.Server, caPEM, certPEM, keyPEM, user.Name, pki.ClusterName); err != nil {
		return Credentials{}, fmt.Errorf("join: %w", err)
	}
	creds, err := Load(cfg.Dir, cfg.NodeName)
	if err != nil {
		return Credentials{}, fmt.Errorf("join: read back the stored credential: %w", err)
	}
	creds.Kubeconfig = cfg.Kubeconfig
	cfg.Logger.Info("Joined the cluster", "node", cfg.NodeName, "dir", cfg.Dir, "kubeconfig", cfg.Kubeconfig, "notAfter", creds.KeyPair.NotAfter())
	return creds, nil
}

// fetchCA gets the cluster CA from the cluster-info endpoint without
// verifying the server: what it returns is trusted only after its hash is
// checked.
func fetchCA(ctx context.Context, template *http.Client, base *url.URL) (*x509.Certificate, []byte, error) {
	// The only unverified request: it carries no secret and its answer is
	// checked against --ca-cert-hash before anything else is sent.
	hc := httpClient(template, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // see above
	target := base.JoinPath(api.PathClusterInfo)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("join: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := do(hc, req)
	if err != nil {
		return nil, nil, fmt.Errorf("join: fetch the cluster CA: %w", err)
	}
	if resp.code != http.StatusOK {
		return nil, nil, fmt.Errorf("join: fetch the cluster CA: %w", resp.err(req))
	}
	var info api.ClusterInfo
	if err := json.Unmarshal(resp.body, &info); err != nil {
		return nil, nil, fmt.Errorf("join: fetch the cluster CA: decode %s: %w", target, err)
	}
	ca, err := pki.ParseCertPEM(info.CACert)
	if err != nil {
		return nil, nil, fmt.Errorf("join: the server's cluster CA: %w", err)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("join: the server's cluster CA %q is not a CA certificate", ca.Subject.CommonName)
	}
	return ca, pki.EncodeCertPEM(ca), nil
}

// checkIssued checks a CertificateResponse: the certificate is for our key
// and the expected identity, from the pinned CA, and the CA it names is that
// CA.
func checkIssued(resp *response, keyPEM []byte, want api.User, ca *x509.Certificate, pool *x509.CertPool) ([]byte, error) {
	var cr api.CertificateResponse
	if err := json.Unmarshal(resp.body, &cr); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	cert, err := pki.ParseCertPEM(cr.Certificate)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the certificate is not for the key this agent made")
	}
	got := pki.IdentityOf(cert)
	if name, ok := got.NodeName(); !ok || got.Name != want.Name {
		return nil, fmt.Errorf("the certificate is for %q %v (node %q), want %q %v", got.Name, got.Groups, name, want.Name, want.Groups)
	}
	if err := verifyNodeCert(cert, pool, time.Now()); err != nil {
		return nil, err
	}
	if len(cr.CACert) > 0 {
		named, err := pki.ParseCertPEM(cr.CACert)
		if err != nil {
			return nil, fmt.Errorf("its CA: %w", err)
		}
		if !named.Equal(ca) {
			return nil, fmt.Errorf("it names CA %s, not the cluster CA %s", pki.CertHash(named), pki.CertHash(ca))
		}
	}
	return pki.EncodeCertPEM(cert), nil
}

// httpClient returns a client on template's transport and timeout with
// tlsConfig, which never follows redirects (a redirect must not carry the
// token elsewhere).
func httpClient(template *http.Client, tlsConfig *tls.Config) *http.Client {
	var transport *http.Transport
	timeout := DefaultTimeout
	if template != nil {
		if t, ok := template.Transport.(*http.Transport); ok {
			transport = t.Clone()
		}
		if template.Timeout > 0 {
			timeout = template.Timeout
		}
	}
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	transport.TLSClientConfig = tlsConfig
	return &http.Client{
		Transport:     transport,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// response is a read HTTP answer.
type response struct {
	code   int
	status string
	body   []byte
}

// do sends req and reads the answer.
func do(hc *http.Client, req *http.Request) (*response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", req.Method, req.URL, err)
	}
	return &response{code: resp.StatusCode, status: resp.Status, body: body}, nil
}

// postJSON posts body to target and returns a 200 answer; any other answer
// is an error naming the server's reason.
func postJSON(ctx context.Context, hc *http.Client, target *url.URL, body []byte, authorization string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := do(hc, req)
	if err != nil {
		return nil, err
	}
	if resp.code != http.StatusOK {
		return nil, resp.err(req)
	}
	return resp, nil
}

// statusError is an answer other than 200: its code and the server's
// reason (the Kubernetes Status message when there is one).
type statusError struct {
	method, url string
	code        int
	status, msg string
}

// Error names the request, the status and the reason.
func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.method, e.url, e.status, e.msg)
}

// err turns a failed answer into a *statusError.
func (r *response) err(req *http.Request) error {
	msg := strings.TrimSpace(string(r.body))
	var st metav1.Status
	if json.Unmarshal(r.body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		msg = st.Message
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	return &statusError{method: req.Method, url: req.URL.String(), code: r.code, status: r.status, msg: msg}
}

// joinError explains a failed join request, with the sentinel of its code.
func joinError(err error, cfg Config) error {
	var se *statusError
	if !errors.As(err, &se) {
		return fmt.Errorf("join: %w", err)
	}
	tokenID, _, _ := strings.Cut(cfg.Token, ".")
	switch se.code {
	case http.StatusUnauthorized:
		return fmt.Errorf("join: the server refused bootstrap token %s (%s): %s; create a new one with \"bosun token create\" on the server: %w", tokenID, se.status, se.msg, ErrTokenRejected)
	case http.StatusConflict:
		return fmt.Errorf("join: node name %q is held by another machine (%s): %s; choose another node name, or delete the old node: %w", cfg.NodeName, se.status, se.msg, api.ErrConflict)
	case http.StatusBadRequest:
		return fmt.Errorf("join: the server refused the join request (%s): %s: %w", se.status, se.msg, api.ErrInvalid)
	default:
		return fmt.Errorf("join: %w", err)
	}
}

// verifyNodeCert checks that cert chains to pool for client and server auth
// and has not expired at now. A certificate that is not valid yet is
// accepted: the server's clock may be a little ahead of this machine's.
func verifyNodeCert(cert *x509.Certificate, pool *x509.CertPool, now time.Time) error {
	if now.After(cert.NotAfter) {
		return fmt.Errorf("the certificate expired at %s", cert.NotAfter.Format(time.RFC3339))
	}
	at := now
	if at.Before(cert.NotBefore) {
		at = cert.NotBefore
	}
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
			return fmt.Errorf("the certificate does not verify against the cluster CA for %s: %w", ekuName(eku), err)
		}
	}
	return nil
}

// ekuName names an extended key usage in errors.
func ekuName(eku x509.ExtKeyUsage) string {
	if eku == x509.ExtKeyUsageServerAuth {
		return "server auth"
	}
	return "client auth"
}
