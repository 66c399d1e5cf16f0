package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
)

// TLSConfig returns the configuration of the HTTPS listener: TLS 1.2 or
// later, the serving certificate from Config.GetCertificate (read at every
// handshake, so a renewed one is used at once), and client certificates
// verified against Config.ClientCAs (else the Signer's CA) when the client
// presents one (tls.VerifyClientCertIfGiven): a request without one is
// anonymous, a certificate the CA did not sign fails the handshake.
func (s *Server) TLSConfig() (*tls.Config, error) {
	if s.cfg.GetCertificate == nil {
		return nil, fmt.Errorf("apiserver: HTTPS needs Config.GetCertificate (the serving certificate)")
	}
	pool := s.cfg.ClientCAs
	if pool == nil {
		if s.cfg.Signer == nil {
			return nil, fmt.Errorf("apiserver: HTTPS needs Config.ClientCAs or Config.Signer to verify client certificates")
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.cfg.Signer.CACertPEM()) {
			return nil, fmt.Errorf("apiserver: the Signer's CA certificate is not PEM")
		}
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.cfg.GetCertificate,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      pool,
	}, nil
}

// ServeTLS serves the API over HTTPS (TLSConfig) on ln until ctx ends, as
// Serve does for plain HTTP. Requests carry the identity of their client
// certificate, or none (anonymous: 401 but for health, version, the
// cluster CA and joins).
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	cfg, err := s.TLSConfig()
	if err != nil {
		_ = ln.Close()
		return err
	}
	return s.serve(ctx, ln, cfg)
}

// RunTLS listens on addr and serves HTTPS until ctx ends. ready, when not
// nil, is called with the bound address once the listener is open.
func (s *Server) RunTLS(ctx context.Context, addr string, ready func(addr net.Addr)) error {
	if _, err := s.TLSConfig(); err != nil {
		return err
	}
	ln, err := s.Listen(addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.ServeTLS(ctx, ln)
}

// CheckLoopback returns an error unless addr ("host:port") listens on a
// loopback address only (127.0.0.0/8, ::1 or localhost): the plain-HTTP
// listener's requests are admin, so it must not be reachable from other
// machines.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("apiserver: insecure listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		what := "a host name"
		switch {
		case host == "" || (err == nil && ip.IsUnspecified()):
			what = "every interface"
		case err == nil:
			what = "a non-loopback address"
		}
		return fmt.Errorf("apiserver: insecure listen address %q is %s: plain HTTP grants admin to every request, so it may only listen on a loopback address (e.g. 127.0.0.1:%s)",
			addr, what, portOf(addr))
	}
	return nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
