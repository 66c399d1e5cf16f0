package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Files of the embedded etcd's credentials, in <data-dir>/pki/etcd.
const (
	// EtcdDir is the etcd credentials' directory inside the pki directory.
	EtcdDir = "etcd"
	// EtcdCACertFile is a copy of the cluster CA certificate, the only CA
	// etcd trusts for clients and peers.
	EtcdCACertFile = "ca.crt"
	// EtcdServerCertFile and EtcdServerKeyFile serve etcd's client port.
	EtcdServerCertFile = "server.crt"
	EtcdServerKeyFile  = "server.key"
	// EtcdPeerCertFile and EtcdPeerKeyFile serve the peer port and
	// authenticate this member to the others.
	EtcdPeerCertFile = "peer.crt"
	EtcdPeerKeyFile  = "peer.key"
	// EtcdClientCertFile and EtcdClientKeyFile are bosun's own credential
	// towards etcd's client port.
	EtcdClientCertFile = "client.crt"
	EtcdClientKeyFile  = "client.key"
)

// Subjects (CN) of the etcd certificates. etcd accepts only these on its
// ports (EtcdClientCNs, EtcdPeerCNs): the cluster CA also signs node and
// user credentials, and none of those may talk to etcd.
const (
	EtcdServerCommonName = "bosun:etcd:server"
	EtcdPeerCommonName   = "bosun:etcd:peer"
	EtcdClientCommonName = "bosun:etcd:client"
)

// EtcdClientCNs are the subjects etcd's client port accepts: bosun's
// client credential, and the server certificate, which etcd itself
// presents when it calls its own client port.
func EtcdClientCNs() []string { return []string{EtcdClientCommonName, EtcdServerCommonName} }

// EtcdPeerCNs are the subjects etcd's peer port accepts.
func EtcdPeerCNs() []string { return []string{EtcdPeerCommonName} }

// EtcdConfig says what the etcd credentials of one member must hold.
type EtcdConfig struct {
	// CA is the cluster CA that issues them; required.
	CA *CA
	// Dir is where they are kept, <data-dir>/pki/etcd; required. It is
	// created 0700; keys are written 0600.
	Dir string
	// Hosts are the names (IPs or DNS names) this member is reached at:
	// the hosts of its client and peer URLs and the address it dials
	// other members from (etcd checks a peer's certificate against the
	// address the connection comes from). 127.0.0.1, ::1 and localhost
	// are always added.
	Hosts []string
	// Validity of the certificates; 0 means DefaultValidity.
	Validity time.Duration
	// Clock is the time source; default the real clock.
	Clock clock.Clock
	// Logger receives what was issued and renewed; nil discards.
	Logger *slog.Logger
}

// EtcdPKI is one etcd member's credentials, all from the cluster CA:
// Server for its client port, Peer for the peer port (both ways), Client
// for bosun's connection to it. Create it with EnsureEtcdPKI; Run keeps
// the pairs renewed on disk, where etcd reads them at each handshake.
type EtcdPKI struct {
	// CA is the cluster CA.
	CA *CA
	// Server, Peer and Client are the member's pairs.
	Server, Peer, Client *KeyPair

	cfg      EtcdConfig
	dnsNames []string
	ips      []net.IP
}

// EnsureEtcdPKI loads or issues, in cfg.Dir, the etcd member's
// certificates and writes the CA certificate next to them. A pair is
// (re)issued when it is missing, unreadable, not from the CA, for another
// identity, due for renewal, or (server and peer) for other names than
// cfg.Hosts give.
func EnsureEtcdPKI(cfg EtcdConfig) (*EtcdPKI, error) {
	if cfg.CA == nil {
		return nil, errors.New("pki: etcd: CA is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("pki: etcd: Dir is required")
	}
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	if err := mkdirPrivate(cfg.Dir); err != nil {
		return nil, err
	}
	if err := writeIfChanged(filepath.Join(cfg.Dir, EtcdCACertFile), cfg.CA.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	p := &EtcdPKI{CA: cfg.CA, cfg: cfg}
	p.dnsNames, p.ips = ServerSANs("localhost", "", cfg.Hosts)
	// The issuing and checking rules are the API server's: same CA, same
	// renewal point, names compared as a set.
	issuer := &ServerPKI{CA: cfg.CA, cfg: ServerConfig{Clock: cfg.Clock, Logger: cfg.Logger}}
	for _, e := range p.pairs() {
		kp, err := issuer.ensure(filepath.Join(cfg.Dir, e.certFile), filepath.Join(cfg.Dir, e.keyFile), e.req, e.checkSANs)
		if err != nil {
			return nil, fmt.Errorf("pki: etcd %s: %w", e.name, err)
		}
		*e.dst = kp
	}
	return p, nil
}

// etcdPair is one of a member's pairs and how to issue it.
type etcdPair struct {
	name              string
	dst               **KeyPair
	certFile, keyFile string
	req               Request
	checkSANs         bool
}

func (p *EtcdPKI) pairs() []etcdPair {
	named := func(cn string, usage Usage) Request {
		return Request{User: api.User{Name: cn}, DNSNames: p.dnsNames, IPs: p.ips, Usage: usage, Validity: p.cfg.Validity}
	}
	return []etcdPair{
		// etcd also dials its own client port with the server pair (the
		// gRPC gateway), so it authenticates clients too, as kubeadm's.
		{"server certificate", &p.Server, EtcdServerCertFile, EtcdServerKeyFile, named(EtcdServerCommonName, UsageBoth), true},
		{"peer certificate", &p.Peer, EtcdPeerCertFile, EtcdPeerKeyFile, named(EtcdPeerCommonName, UsageBoth), true},
		{"client credential", &p.Client, EtcdClientCertFile, EtcdClientKeyFile,
			Request{User: api.User{Name: EtcdClientCommonName}, Usage: UsageClient, Validity: p.cfg.Validity}, false},
	}
}

// CAFile returns the path of the CA certificate etcd trusts.
func (p *EtcdPKI) CAFile() string { return filepath.Join(p.cfg.Dir, EtcdCACertFile) }

// ClientTLS returns a client configuration for etcd's client port: the
// Client pair (the current one at each handshake) and only the cluster CA
// trusted.
func (p *EtcdPKI) ClientTLS() *tls.Config {
	return &tls.Config{
		RootCAs:              p.CA.Pool(),
		GetClientCertificate: p.Client.GetClientCertificate,
		MinVersion:           tls.VersionTLS12,
	}
}

// Run renews the pairs before they expire, until ctx ends.
func (p *EtcdPKI) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, e := range p.pairs() {
		r, err := NewRenewer(RenewerConfig{
			Name:    "etcd " + e.name,
			KeyPair: *e.dst,
			Renew:   func(context.Context) ([]byte, []byte, error) { return p.CA.Issue(e.req) },
			Clock:   p.cfg.Clock,
			Logger:  p.cfg.Logger,
		})
		if err != nil {
			return err
		}
		g.Go(func() error { return r.Run(ctx) })
	}
	return g.Wait()
}

// LoadEtcdClientTLS reads the etcd client credential and CA that
// EnsureEtcdPKI wrote in dir (<data-dir>/pki/etcd), for commands run on a
// server's machine that talk to its etcd (bosun member, bosun etcd). It
// fails with an error wrapping fs.ErrNotExist when dir has none: that
// server's etcd does not use TLS.
func LoadEtcdClientTLS(dir string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, EtcdCACertFile))
	if err != nil {
		return nil, fmt.Errorf("pki: etcd CA: %w", err)
	}
	ca, err := ParseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: etcd CA %s: %w", filepath.Join(dir, EtcdCACertFile), err)
	}
	kp, err := LoadKeyPair(filepath.Join(dir, EtcdClientCertFile), filepath.Join(dir, EtcdClientKeyFile))
	if err != nil {
		return nil, fmt.Errorf("pki: etcd client credential: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{RootCAs: pool, GetClientCertificate: kp.GetClientCertificate, MinVersion: tls.VersionTLS12}, nil
}

// writeIfChanged writes data to path atomically unless it already holds it.
func writeIfChanged(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return WriteFileAtomic(path, data, perm)
}
