package apiserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/tokens"
)

// Signer is the cluster CA as the API needs it: to tell joining machines
// the CA and to sign node credentials. It is owned by the caller (the pki
// package behind a small adapter); methods must be safe for concurrent use.
type Signer interface {
	// CACertPEM returns the cluster CA certificate, PEM.
	CACertPEM() []byte
	// SignNodeCSR signs the PEM certificate signing request csrPEM as the
	// credential of node: subject CN "system:node:"+node, O system:nodes,
	// usages client and server auth, the CSR's IP and DNS names as SANs.
	// It returns the certificate, PEM; an error wrapping api.ErrInvalid
	// means the CSR is unusable (answered 400), any other is the CA's
	// failure (500).
	SignNodeCSR(csrPEM []byte, node string) ([]byte, error)
}

// Tokens stores bootstrap tokens; *tokens.Store implements it, and its
// errors wrap the sentinels of package tokens.
type Tokens interface {
	// Create makes a token and returns it ("ID.SECRET", shown once) and
	// its description.
	Create(ctx context.Context, req api.TokenRequest) (string, api.BootstrapToken, error)
	// List returns every token, expired ones included.
	List(ctx context.Context) ([]api.BootstrapToken, error)
	// Delete removes token id (tokens.ErrUnknown when there is none).
	Delete(ctx context.Context, id string) error
	// Check verifies a token without taking a use.
	Check(ctx context.Context, token string) (api.BootstrapToken, error)
	// Verify verifies a token as Check does but not its uses left (a
	// used-up token passes): for a control-plane join retried after a
	// crash.
	Verify(ctx context.Context, token string) (api.BootstrapToken, error)
	// Use verifies a token and takes one of its uses, atomically.
	Use(ctx context.Context, token string) (api.BootstrapToken, error)
}

// DefaultNodeGracePeriod is how recently a Ready node must have renewed
// its Lease for its name to count as held by a running machine (the node
// lifecycle's grace period).
const DefaultNodeGracePeriod = 40 * time.Second

// nowClock adapts Config.Now to the clock package tokens takes.
type nowClock func() time.Time

func (c nowClock) Now() time.Time                  { return c() }
func (c nowClock) Since(t time.Time) time.Duration { return c().Sub(t) }

func errUnavailable(format string, args ...any) *apiError {
	return newStatusError(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, fmt.Sprintf(format, args...))
}

func (s *Server) noCA() *apiError {
	return errUnavailable("this API server has no cluster CA (it was started without one): it cannot tell its CA nor sign node certificates")
}

// decodeJSON reads a bounded JSON request body strictly into into.
func (s *Server) decodeJSON(w http.ResponseWriter, req *http.Request, into any, what string) *apiError {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, req.Body, s.cfg.MaxBodyBytes)); err != nil {
		return errBadRequest("read the %s: %v", what, err)
	}
	if err := decodeStrict(buf.Bytes(), into); err != nil {
		return errBadRequest("decode the %s: %v", what, err)
	}
	return nil
}

// serveClusterInfo answers GET api.PathClusterInfo, to anyone: the CA a
// joining agent checks against its --ca-cert-hash.
func (s *Server) serveClusterInfo(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Signer == nil {
		writeError(w, s.noCA())
		return
	}
	writeJSON(w, http.StatusOK, api.ClusterInfo{CACert: s.cfg.Signer.CACertPEM(), ServiceCIDR: s.cfg.ServiceCIDR})
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header.
func bearerToken(req *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// tokenError maps an error of Tokens onto the answer: 401 with the token's
// error (it names the token ID, never the secret) or 500.
func tokenError(err error) *apiError {
	for _, e := range []error{tokens.ErrMalformed, tokens.ErrUnknown, tokens.ErrSecretMismatch, tokens.ErrExpired, tokens.ErrUsedUp} {
		if errors.Is(err, e) {
			return errUnauthorized(err.Error())
		}
	}
	return errInternal(err)
}

// parseCSR checks that csrPEM is a PEM certificate signing request with a
// valid signature.
func parseCSR(csrPEM []byte) *apiError {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errBadRequest("csr: want a PEM block of type CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return errBadRequest("csr: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return errBadRequest("csr: bad signature: %v", err)
	}
	return nil
}

// sign has the CSR signed for node.
func (s *Server) sign(csrPEM []byte, node string) ([]byte, *apiError) {
	if aerr := parseCSR(csrPEM); aerr != nil {
		return nil, aerr
	}
	cert, err := s.cfg.Signer.SignNodeCSR(csrPEM, node)
	switch {
	case errors.Is(err, api.ErrInvalid):
		return nil, errBadRequest("csr: %v", err)
	case err != nil:
		return nil, errInternal(fmt.Errorf("apiserver: sign the certificate of node %s: %w", node, err))
	}
	return cert, nil
}

// serveJoin answers POST api.PathJoin: a bootstrap token (bearer) and a
// CSR give a node credential. Every check comes before the token's use is
// taken, and nothing is written but that use: the agent registers its Node
// itself, with the credential.
func (s *Server) serveJoin(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Signer == nil {
		writeError(w, s.noCA())
		return
	}
	token, ok := bearerToken(req)
	if !ok {
		writeError(w, errUnauthorized(`joining needs a bootstrap token: send the header "Authorization: Bearer ID.SECRET" (bosun agent --token; bosun token create makes one)`))
		return
	}
	ctx := req.Context()
	if _, err := s.tokens.Check(ctx, token); err != nil {
		writeError(w, tokenError(err))
		return
	}
	var jr api.JoinRequest
	if aerr := s.decodeJSON(w, req, &jr, "join request"); aerr != nil {
		writeError(w, aerr)
		return
	}
	if msgs := validation.IsDNS1123Subdomain(jr.NodeName); len(msgs) > 0 {
		writeError(w, errBadRequest("node name %q: %s", jr.NodeName, strings.Join(msgs, "; ")))
		return
	}
	if aerr := s.nodeHeld(ctx, jr.NodeName); aerr != nil {
		writeError(w, aerr)
		return
	}
	cert, aerr := s.sign(jr.CSR, jr.NodeName)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	// Last: take the use. A join that lost the race for the last use
	// throws its signed certificate away.
	used, err := s.tokens.Use(ctx, token)
	if err != nil {
		writeError(w, tokenError(err))
		return
	}
	s.log.Info("a machine joined: node credential signed", "node", jr.NodeName, "token", used.ID, "usagesLeft", used.UsagesLeft)
	writeJSON(w, http.StatusOK, api.CertificateResponse{Certificate: cert, CACert: s.cfg.Signer.CACertPEM()})
}

// nodeHeld answers 409 when a machine runs node name: the Node exists, is
// Ready, and its Lease was renewed within the grace period (kubeadm's
// check before a join).
func (s *Server) nodeHeld(ctx context.Context, name string) *apiError {
	nodes, _ := api.Lookup("nodes")
	node := &corev1.Node{}
	if err := s.cfg.Store.Get(ctx, "", name, node); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return objectError(target{r: nodes, name: name}, err)
	}
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return nil
	}
	leases, _ := api.Lookup("leases.coordination.k8s.io")
	lease := &coordinationv1.Lease{}
	if err := s.cfg.Store.Get(ctx, corev1.NamespaceNodeLease, name, lease); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return objectError(target{r: leases, namespace: corev1.NamespaceNodeLease, name: name}, err)
	}
	if lease.Spec.RenewTime == nil {
		return nil
	}
	age := s.cfg.Now().Sub(lease.Spec.RenewTime.Time)
	if age > s.cfg.NodeGracePeriod {
		return nil
	}
	e := newStatusError(http.StatusConflict, metav1.StatusReasonConflict, fmt.Sprintf(
		"node name %q is held by another machine: the node is Ready and renewed its Lease %s ago; join with another node name, "+
			"or stop the agent that runs it and wait until it has not renewed its Lease for %s",
		name, age.Round(time.Second), s.cfg.NodeGracePeriod))
	e.status.Details = &metav1.StatusDetails{Name: name, Kind: "nodes"}
	return e
}

// serveRenew answers POST api.PathCertificates: a node's new certificate,
// for its own identity.
func (s *Server) serveRenew(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Signer == nil {
		writeError(w, s.noCA())
		return
	}
	u, _ := UserFrom(req.Context())
	node, ok := u.NodeName()
	if !ok {
		writeError(w, forbidden(u, parseRequestInfo(req), "only a node credential (group system:nodes) renews its own certificate; admins print credentials with `bosun kubeconfig`"))
		return
	}
	var rr api.RenewRequest
	if aerr := s.decodeJSON(w, req, &rr, "renewal request"); aerr != nil {
		writeError(w, aerr)
		return
	}
	cert, aerr := s.sign(rr.CSR, node)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.log.Info("node credential renewed", "node", node)
	writeJSON(w, http.StatusOK, api.CertificateResponse{Certificate: cert, CACert: s.cfg.Signer.CACertPEM()})
}

// CACertHash returns "sha256:" + the hex SHA-256 of the DER
// SubjectPublicKeyInfo of the first certificate in caPEM: kubeadm's
// --discovery-token-ca-cert-hash.
func CACertHash(caPEM []byte) (string, error) {
	block, _ := pem.Decode(caPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("apiserver: CA hash: %w: no PEM CERTIFICATE block", api.ErrInvalid)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("apiserver: CA hash: %w: %w", api.ErrInvalid, err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// tokenList is the JSON of GET api.PathTokens.
type tokenList struct {
	Items []api.BootstrapToken `json:"items"`
}

func (s *Server) serveTokenList(w http.ResponseWriter, req *http.Request) {
	list, err := s.tokens.List(req.Context())
	if err != nil {
		writeError(w, errInternal(err))
		return
	}
	if list == nil {
		list = []api.BootstrapToken{}
	}
	writeJSON(w, http.StatusOK, tokenList{Items: list})
}

func (s *Server) serveTokenCreate(w http.ResponseWriter, req *http.Request) {
	if s.cfg.Signer == nil {
		writeError(w, s.noCA())
		return
	}
	var tr api.TokenRequest
	if aerr := s.decodeJSON(w, req, &tr, "token request"); aerr != nil {
		writeError(w, aerr)
		return
	}
	hash, err := CACertHash(s.cfg.Signer.CACertPEM())
	if err != nil {
		writeError(w, errInternal(err))
		return
	}
	var repo string
	if tr.Kind == api.TokenKindServer {
		// A server token is useless where servers cannot join: say so now.
		if s.cfg.ControlPlane == nil {
			writeError(w, s.noControlPlane())
			return
		}
		if _, err := s.cfg.ControlPlane.CAKeyPEM(); err != nil {
			writeError(w, errUnavailable("%v", err))
			return
		}
		settings, _, err := store.LoadClusterSettings(req.Context(), s.cfg.Store.Client())
		if err != nil {
			writeError(w, errInternal(err))
			return
		}
		repo = settings.Repo
	}
	token, info, err := s.tokens.Create(req.Context(), tr)
	switch {
	case errors.Is(err, api.ErrInvalid):
		writeError(w, errBadRequest("%v", err))
		return
	case err != nil:
		writeError(w, errInternal(err))
		return
	}
	server := s.cfg.ServerURL
	if server == "" {
		server = "https://" + req.Host
	}
	u, _ := UserFrom(req.Context())
	s.log.Info("bootstrap token created", "token", info.ID, "kind", info.Kind, "user", u.Name, "expires", info.Expires, "usages", info.UsagesLeft)
	writeJSON(w, http.StatusCreated, api.TokenResponse{Token: token, BootstrapToken: info, Server: server, CACertHash: hash, Repo: repo})
}

func (s *Server) serveTokenDelete(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	err := s.tokens.Delete(req.Context(), id)
	switch {
	case errors.Is(err, tokens.ErrUnknown):
		e := newStatusError(http.StatusNotFound, metav1.StatusReasonNotFound, err.Error())
		e.status.Details = &metav1.StatusDetails{Name: id, Kind: "tokens"}
		writeError(w, e)
		return
	case errors.Is(err, tokens.ErrMalformed):
		writeError(w, errBadRequest("%v", err))
		return
	case err != nil:
		writeError(w, errInternal(err))
		return
	}
	u, _ := UserFrom(req.Context())
	s.log.Info("bootstrap token deleted", "token", id, "user", u.Name)
	writeJSON(w, http.StatusOK, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: id, Kind: "tokens"},
	})
}
