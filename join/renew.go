package join

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/pki"
)

// RenewConfig says how a node renews its credential.
type RenewConfig struct {
	// Server is the API's URL; required. It is also the server the
	// rewritten kubeconfig names.
	Server string
	// CurrentServer, when set, is asked before each renewal which server
	// to send it to (an agent's client that failed over to another server
	// tells its current one); an empty answer means Server.
	CurrentServer func() string
	// Credentials is the credential to renew (as Join or Load return it).
	Credentials Credentials
	// DNSNames and IPs go into the new certificate; when both are nil the
	// current certificate's are kept.
	DNSNames []string
	IPs      []net.IP
	// HTTPClient is a template, as in Config.
	HTTPClient *http.Client
	// Clock and Logger are the Renewer's (NewRenewer); defaults the real
	// clock and a discarding logger.
	Clock  clock.Clock
	Logger *slog.Logger
}

// RenewFunc returns a pki.RenewFunc that makes a new key and signing
// request and POSTs it (api.RenewRequest) to api.PathCertificates,
// authenticated with the node's current certificate and trusting only the
// cluster CA. It checks that the answer is a certificate for the new key,
// for the same node, from the cluster CA.
func RenewFunc(cfg RenewConfig) pki.RenewFunc {
	return func(ctx context.Context) ([]byte, []byte, error) {
		server := cfg.Server
		if cfg.CurrentServer != nil {
			if s := cfg.CurrentServer(); s != "" {
				server = s
			}
		}
		base, err := parseServer(server)
		if err != nil {
			return nil, nil, err
		}
		creds := cfg.Credentials
		if creds.KeyPair == nil || creds.CAPool == nil {
			return nil, nil, errors.New("join: renew: Credentials has no key pair or CA")
		}
		leaf := creds.KeyPair.Current().Leaf
		user := pki.IdentityOf(leaf)
		dnsNames, ips := cfg.DNSNames, cfg.IPs
		if dnsNames == nil && ips == nil {
			dnsNames, ips = leaf.DNSNames, leaf.IPAddresses
		}
		keyPEM, csrPEM, err := pki.NewKeyAndCSR(user, dnsNames, ips)
		if err != nil {
			return nil, nil, fmt.Errorf("join: renew: %w", err)
		}
		body, err := json.Marshal(api.RenewRequest{CSR: csrPEM})
		if err != nil {
			return nil, nil, fmt.Errorf("join: renew: encode request: %w", err)
		}
		resp, err := postJSON(ctx, httpClient(cfg.HTTPClient, creds.TLSConfig()), base.JoinPath(api.PathCertificates), body, "")
		if err != nil {
			return nil, nil, fmt.Errorf("join: renew the certificate of %q: %w", user.Name, err)
		}
		certPEM, err := checkIssued(resp, keyPEM, user, creds.CACert, creds.CAPool)
		if err != nil {
			return nil, nil, fmt.Errorf("join: renew the certificate of %q: the server's answer: %w", user.Name, err)
		}
		return certPEM, keyPEM, nil
	}
}

// NewRenewer returns a pki.Renewer that keeps cfg.Credentials current
// (RenewFunc) and rewrites its kubeconfig after each renewal.
func NewRenewer(cfg RenewConfig) (*pki.Renewer, error) {
	creds := cfg.Credentials
	if creds.KeyPair == nil {
		return nil, errors.New("join: renewer: Credentials has no key pair")
	}
	if _, err := parseServer(cfg.Server); err != nil {
		return nil, err
	}
	return pki.NewRenewer(pki.RenewerConfig{
		Name:    "node credential " + creds.CertFile,
		KeyPair: creds.KeyPair,
		Renew:   RenewFunc(cfg),
		OnRenew: func(certPEM, keyPEM []byte) error {
			if creds.Kubeconfig == "" {
				return nil
			}
			return pki.WriteKubeconfig(creds.Kubeconfig, cfg.Server, creds.CAPEM, certPEM, keyPEM, api.NodeUserPrefix+creds.NodeName, pki.ClusterName)
		},
		Clock:  cfg.Clock,
		Logger: cfg.Logger,
	})
}
