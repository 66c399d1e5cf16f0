package join

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/pki"
)

// ServerConfig says how a server joins the control plane (bosun server
// --join).
type ServerConfig struct {
	// Server is a running server's API URL, "https://HOST:6443"; required.
	Server string
	// Token is a server token "ID.SECRET" (bosun token create --control-plane);
	// required.
	Token string
	// CACertHash is "sha256:HEX", the pin of the cluster CA's public key;
	// required.
	CACertHash string
	// Name is the new etcd member's name; PeerURL and ClientURL its etcd's
	// URLs (https, fixed ports). Required.
	Name, PeerURL, ClientURL string
	// PKIDir is where the cluster CA is installed (<data-dir>/pki), for
	// pki.LoadOrCreateCA to find; required.
	PKIDir string
	// HTTPClient is the template of the clients used, as Config's.
	HTTPClient *http.Client
	// Logger receives the join's steps; nil discards.
	Logger *slog.Logger
}

// ErrNotServerToken means the server refused the token because it is a
// node token (403): a server joins with a token of bosun token create
// --server.
var ErrNotServerToken = errors.New("not a server token")

// ErrUnavailable means the server takes no control-plane members now
// (503): it runs on an external etcd, has no cluster CA, or has not
// stored the cluster's settings yet; the message says which.
var ErrUnavailable = errors.New("the server takes no control-plane members")

// JoinServer makes this machine a member of the control plane: it fetches
// the cluster CA without verifying the server, checks it against
// CACertHash and refuses to go on when it differs; then, trusting only
// that CA, it sends the server token with the new member's name and etcd
// URLs, and the server adds it as an etcd learner. It checks the answer
// (the CA it names is the pinned one, the key is that CA's, the initial
// cluster names this member) and installs the CA, certificate and key, in
// PKIDir. The caller then issues its own certificates with that CA, starts
// its etcd member with the answer's InitialCluster (cluster state
// "existing") and promotes it. Nothing is written when a step fails.
func JoinServer(ctx context.Context, cfg ServerConfig) (api.ServerJoinResponse, error) {
	defaults.Logger(&cfg.Logger)
	if err := ValidateToken(cfg.Token); err != nil {
		return api.ServerJoinResponse{}, err
	}
	wantHash, err := pki.ParseHash(cfg.CACertHash)
	if err != nil {
		return api.ServerJoinResponse{}, fmt.Errorf("join: --ca-cert-hash: %w", err)
	}
	base, err := parseServer(cfg.Server)
	if err != nil {
		return api.ServerJoinResponse{}, err
	}
	if cfg.Name == "" || cfg.PeerURL == "" || cfg.ClientURL == "" || cfg.PKIDir == "" {
		return api.ServerJoinResponse{}, errors.New("join: the member's name, peer URL and client URL, and the pki directory, are required")
	}

	ca, _, err := fetchCA(ctx, cfg.HTTPClient, base)
	if err != nil {
		return api.ServerJoinResponse{}, err
	}
	if err := pki.VerifyHash(ca, wantHash); err != nil {
		var m *pki.HashMismatchError
		if errors.As(err, &m) {
			return api.ServerJoinResponse{}, fmt.Errorf("join: the server's CA %s does not match --ca-cert-hash %s; refusing to send the token: %w", m.Got, m.Want, ErrCAHashMismatch)
		}
		return api.ServerJoinResponse{}, fmt.Errorf("join: %w", err)
	}
	cfg.Logger.Info("The server's CA matches --ca-cert-hash", "server", cfg.Server, "caCertHash", wantHash)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	body, err := json.Marshal(api.ServerJoinRequest{Name: cfg.Name, PeerURL: cfg.PeerURL, ClientURL: cfg.ClientURL})
	if err != nil {
		return api.ServerJoinResponse{}, fmt.Errorf("join: encode request: %w", err)
	}
	hc := httpClient(cfg.HTTPClient, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	resp, err := postJSON(ctx, hc, base.JoinPath(api.PathServerJoin), body, "Bearer "+cfg.Token)
	if err != nil {
		return api.ServerJoinResponse{}, serverJoinError(err, cfg)
	}
	var jr api.ServerJoinResponse
	if err := json.Unmarshal(resp.body, &jr); err != nil {
		return api.ServerJoinResponse{}, fmt.Errorf("join: the server's answer: decode: %w", err)
	}
	named, err := pki.ParseCertPEM(jr.CACert)
	if err != nil {
		return api.ServerJoinResponse{}, fmt.Errorf("join: the server's answer: its CA: %w", err)
	}
	if !named.Equal(ca) {
		return api.ServerJoinResponse{}, fmt.Errorf("join: the server's answer names CA %s, not the cluster CA %s", pki.CertHash(named), pki.CertHash(ca))
	}
	if !strings.Contains(","+jr.InitialCluster+",", ","+cfg.Name+"="+cfg.PeerURL+",") {
		return api.ServerJoinResponse{}, fmt.Errorf("join: the server's answer: initial cluster %q does not name this member %s=%s", jr.InitialCluster, cfg.Name, cfg.PeerURL)
	}
	if _, err := pki.InstallCA(cfg.PKIDir, jr.CACert, jr.CAKey); err != nil {
		return api.ServerJoinResponse{}, fmt.Errorf("join: %w", err)
	}
	cfg.Logger.Info("Added to the control plane as an etcd learner; the cluster CA is installed", "member", cfg.Name, "peerURL", cfg.PeerURL,
		"initialCluster", jr.InitialCluster, "pki", cfg.PKIDir)
	return jr, nil
}

// serverJoinError explains a failed control-plane join request, with the
// sentinel of its code.
func serverJoinError(err error, cfg ServerConfig) error {
	var se *statusError
	if !errors.As(err, &se) {
		return fmt.Errorf("join: %w", err)
	}
	tokenID, _, _ := strings.Cut(cfg.Token, ".")
	switch se.code {
	case http.StatusUnauthorized:
		return fmt.Errorf("join: the server refused server token %s (%s): %s; create a new one with \"bosun token create --control-plane\" on a server: %w", tokenID, se.status, se.msg, ErrTokenRejected)
	case http.StatusForbidden:
		return fmt.Errorf("join: the server refused token %s (%s): %s: %w", tokenID, se.status, se.msg, ErrNotServerToken)
	case http.StatusConflict:
		return fmt.Errorf("join: etcd member %q (peer URL %s) conflicts with the cluster (%s): %s: %w", cfg.Name, cfg.PeerURL, se.status, se.msg, api.ErrConflict)
	case http.StatusBadRequest:
		return fmt.Errorf("join: the server refused the control-plane join request (%s): %s: %w", se.status, se.msg, api.ErrInvalid)
	case http.StatusServiceUnavailable:
		return fmt.Errorf("join: %s (%s): %s: %w", cfg.Server, se.status, se.msg, ErrUnavailable)
	default:
		return fmt.Errorf("join: %w", err)
	}
}
