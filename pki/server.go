package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Files of the server's credentials in its pki directory.
const (
	ServerCertFile          = "server.crt"
	ServerKeyFile           = "server.key"
	AdminCertFile           = "admin.crt"
	AdminKeyFile            = "admin.key"
	APIServerClientCertFile = "apiserver-agent-client.crt"
	APIServerClientKeyFile  = "apiserver-agent-client.key"
	// ServerCommonName is the subject of the server's serving certificate.
	ServerCommonName = "bosun-server"
	// ClusterName names the cluster in kubeconfig files.
	ClusterName = "bosun"
)

// ServerConfig says what the server's certificates must hold.
type ServerConfig struct {
	// Dir is the pki directory, <data-dir>/pki; required.
	Dir string
	// Hostname is added to the serving certificate; "" means os.Hostname().
	Hostname string
	// AdvertiseAddress is the address agents reach the server at
	// (--advertise-address): an IP or a DNS name.
	AdvertiseAddress string
	// TLSSANs are further names of the serving certificate (--tls-san):
	// each an IP or a DNS name.
	TLSSANs []string
	// AdminKubeconfig, when set, is where the admin kubeconfig is written
	// (0600) and kept current across renewals; KubeconfigServer is the URL
	// it names.
	AdminKubeconfig  string
	KubeconfigServer string
	// Validity of the leaf certificates; 0 means DefaultValidity.
	Validity time.Duration
	// Clock is the time source; default the real clock.
	Clock clock.Clock
	// Logger receives what was created and renewed; nil discards.
	Logger *slog.Logger
}

// ServerPKI is everything the server needs: the CA, its serving pair, the
// admin credential and its own credential towards agents. Create it with
// EnsureServerPKI; Run keeps the pairs renewed.
type ServerPKI struct {
	// CA is the cluster CA.
	CA *CA
	// Serving is the API's serving pair (server.crt/.key).
	Serving *KeyPair
	// Admin is the admin client pair (CN admin, O system:masters).
	Admin *KeyPair
	// APIServerClient is the pair the API server presents to agents' port
	// (CN bosun:apiserver, O system:masters).
	APIServerClient *KeyPair

	cfg      ServerConfig
	dnsNames []string
	ips      []net.IP
}

// EnsureServerPKI loads or creates, in cfg.Dir, the CA and the server's
// certificates. A certificate is (re)issued when it is missing, unreadable,
// not from the CA, for another identity, due for renewal, or (the serving
// certificate) for a different set of names than cfg gives. When
// cfg.AdminKubeconfig is set, the admin kubeconfig is written if it is
// missing or holds another certificate.
func EnsureServerPKI(cfg ServerConfig) (*ServerPKI, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pki: server: Dir is required")
	}
	if cfg.AdminKubeconfig != "" && cfg.KubeconfigServer == "" {
		return nil, errors.New("pki: server: AdminKubeconfig needs KubeconfigServer, the URL it names")
	}
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("pki: server: hostname: %w", err)
		}
		cfg.Hostname = h
	}
	ca, err := LoadOrCreateCA(cfg.Dir, WithClock(cfg.Clock))
	if err != nil {
		return nil, err
	}
	s := &ServerPKI{CA: ca, cfg: cfg}
	s.dnsNames, s.ips = ServerSANs(cfg.Hostname, cfg.AdvertiseAddress, cfg.TLSSANs)

	for _, p := range []struct {
		dst            **KeyPair
		certFile, key  string
		req            Request
		checkSANsMatch bool
	}{
		{&s.Serving, ServerCertFile, ServerKeyFile, s.servingRequest(), true},
		{&s.Admin, AdminCertFile, AdminKeyFile, s.clientRequest(api.UserAdmin), false},
		{&s.APIServerClient, APIServerClientCertFile, APIServerClientKeyFile, s.clientRequest(api.UserAPIServer), false},
	} {
		kp, err := s.ensure(filepath.Join(cfg.Dir, p.certFile), filepath.Join(cfg.Dir, p.key), p.req, p.checkSANsMatch)
		if err != nil {
			return nil, err
		}
		*p.dst = kp
	}
	if cfg.AdminKubeconfig != "" {
		if err := s.ensureAdminKubeconfig(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ServerSANs returns the serving certificate's names: 127.0.0.1, ::1,
// localhost, hostname, the advertise address and every extra name, each
// sorted into DNS names or IPs, without duplicates, in a stable order.
func ServerSANs(hostname, advertise string, extra []string) (dnsNames []string, ips []net.IP) {
	seenIP := map[string]bool{}
	add := func(name string) {
		name = strings.TrimSpace(name)
		if name == "" {
			return
		}
		if ip := net.ParseIP(name); ip != nil {
			if ip4 := ip.To4(); ip4 != nil {
				ip = ip4
			}
			if !seenIP[ip.String()] {
				seenIP[ip.String()] = true
				ips = append(ips, ip)
			}
			return
		}
		name = strings.ToLower(name)
		if !slices.Contains(dnsNames, name) {
			dnsNames = append(dnsNames, name)
		}
	}
	for _, n := range append([]string{"127.0.0.1", "::1", "localhost", hostname, advertise}, extra...) {
		add(n)
	}
	return dnsNames, ips
}

// servingRequest is the serving certificate's request.
func (s *ServerPKI) servingRequest() Request {
	return Request{User: api.User{Name: ServerCommonName}, DNSNames: s.dnsNames, IPs: s.ips, Usage: UsageServer, Validity: s.cfg.Validity}
}

// clientRequest is a client certificate's request for name in
// system:masters.
func (s *ServerPKI) clientRequest(name string) Request {
	return Request{User: api.User{Name: name, Groups: []string{api.GroupMasters}}, Usage: UsageClient, Validity: s.cfg.Validity}
}

// ensure loads the pair at certFile/keyFile, or issues it anew when it
// cannot serve for req.
func (s *ServerPKI) ensure(certFile, keyFile string, req Request, checkSANs bool) (*KeyPair, error) {
	kp, err := LoadKeyPair(certFile, keyFile)
	var why string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		why = "missing"
	case err != nil:
		why = err.Error()
	default:
		why = s.unfit(kp.Current().Leaf, req, checkSANs)
	}
	if why == "" {
		return kp, nil
	}
	certPEM, keyPEM, err := s.CA.Issue(req)
	if err != nil {
		return nil, err
	}
	kp, err = CreateKeyPair(certFile, keyFile, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("Issued certificate", "file", certFile, "user", req.User.Name, "reason", why, "notAfter", kp.NotAfter())
	return kp, nil
}

// unfit says why cert cannot be kept for req, or "" when it can.
func (s *ServerPKI) unfit(cert *x509.Certificate, req Request, checkSANs bool) string {
	if err := s.CA.Verify(cert, req.Usage); err != nil {
		return err.Error()
	}
	if got := IdentityOf(cert); got.Name != req.User.Name || !slices.Equal(got.Groups, req.User.Groups) {
		return fmt.Sprintf("identity %q %v, want %q %v", got.Name, got.Groups, req.User.Name, req.User.Groups)
	}
	if NeedsRenewal(cert, s.cfg.Clock.Now()) {
		return fmt.Sprintf("due for renewal (expires %s)", cert.NotAfter.Format(time.RFC3339))
	}
	if checkSANs && !sameSANs(cert, req.DNSNames, req.IPs) {
		return fmt.Sprintf("names changed: has %v %v, want %v %v", cert.DNSNames, cert.IPAddresses, req.DNSNames, req.IPs)
	}
	return ""
}

// sameSANs reports whether cert names exactly dnsNames and ips, in any order.
func sameSANs(cert *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	norm := func(dns []string, ips []net.IP) []string {
		var out []string
		for _, d := range dns {
			out = append(out, "dns:"+strings.ToLower(d))
		}
		for _, ip := range ips {
			out = append(out, "ip:"+ip.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(cert.DNSNames, cert.IPAddresses), norm(dnsNames, ips))
}

// WriteAdminKubeconfig writes the admin kubeconfig to path, naming server.
func (s *ServerPKI) WriteAdminKubeconfig(path, server string) error {
	certPEM, keyPEM := s.Admin.PEM()
	return WriteKubeconfig(path, server, s.CA.CertPEM(), certPEM, keyPEM, api.UserAdmin, ClusterName)
}

// ensureAdminKubeconfig writes the admin kubeconfig unless it already holds
// the current admin certificate, the CA and the server URL.
func (s *ServerPKI) ensureAdminKubeconfig() error {
	path := s.cfg.AdminKubeconfig
	if cfg, err := clientcmd.LoadFromFile(path); err == nil {
		if ctx, ok := cfg.Contexts[cfg.CurrentContext]; ok {
			user, cluster := cfg.AuthInfos[ctx.AuthInfo], cfg.Clusters[ctx.Cluster]
			certPEM, _ := s.Admin.PEM()
			if user != nil && cluster != nil &&
				bytes.Equal(user.ClientCertificateData, certPEM) &&
				bytes.Equal(cluster.CertificateAuthorityData, s.CA.CertPEM()) &&
				cluster.Server == s.cfg.KubeconfigServer {
				return nil
			}
		}
	}
	if err := s.WriteAdminKubeconfig(path, s.cfg.KubeconfigServer); err != nil {
		return err
	}
	s.cfg.Logger.Info("Wrote the admin kubeconfig", "path", path, "server", s.cfg.KubeconfigServer)
	return nil
}

// Run renews the serving, admin and API server client pairs before they
// expire, rewriting the admin kubeconfig after the admin pair (when
// configured), until ctx ends.
func (s *ServerPKI) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, p := range []struct {
		name    string
		kp      *KeyPair
		req     Request
		onRenew func(certPEM, keyPEM []byte) error
	}{
		{"serving certificate", s.Serving, s.servingRequest(), nil},
		{"admin credential", s.Admin, s.clientRequest(api.UserAdmin), s.onAdminRenew},
		{"API server client credential", s.APIServerClient, s.clientRequest(api.UserAPIServer), nil},
	} {
		r, err := NewRenewer(RenewerConfig{
			Name:    p.name,
			KeyPair: p.kp,
			Renew: func(context.Context) ([]byte, []byte, error) {
				return s.CA.Issue(p.req)
			},
			OnRenew: p.onRenew,
			Clock:   s.cfg.Clock,
			Logger:  s.cfg.Logger,
		})
		if err != nil {
			return err
		}
		g.Go(func() error { return r.Run(ctx) })
	}
	return g.Wait()
}

// onAdminRenew rewrites the admin kubeconfig with the new pair.
func (s *ServerPKI) onAdminRenew(certPEM, keyPEM []byte) error {
	if s.cfg.AdminKubeconfig == "" {
		return nil
	}
	return WriteKubeconfig(s.cfg.AdminKubeconfig, s.cfg.KubeconfigServer, s.CA.CertPEM(), certPEM, keyPEM, api.UserAdmin, ClusterName)
}
