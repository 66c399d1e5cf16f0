package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/pki"
)

// nodeSigner signs joining and renewing nodes' certificates with the cluster
// CA (apiserver.Signer). A node's certificate also serves its agent port, so
// its names are limited: the node's own name, and IP addresses that are not
// the server's own (a node must not obtain a certificate that passes for the
// API server) — except the server's own node, which shares its addresses.
type nodeSigner struct {
	ca        *pki.CA
	serverIPs []net.IP
	ownNode   string
}

// CACertPEM returns the cluster CA certificate.
func (s nodeSigner) CACertPEM() []byte { return s.ca.CertPEM() }

// SignNodeCSR signs csrPEM as node's credential.
func (s nodeSigner) SignNodeCSR(csrPEM []byte, node string) ([]byte, error) {
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	for _, d := range csr.DNSNames {
		if d != node {
			return nil, fmt.Errorf("%w: the request names %q: a node's certificate may name only the node (%q)", api.ErrInvalid, d, node)
		}
	}
	for _, ip := range csr.IPAddresses {
		if ip.IsLoopback() || (node != s.ownNode && slices.ContainsFunc(s.serverIPs, ip.Equal)) {
			return nil, fmt.Errorf("%w: the request names %s, an address of the API server: refused", api.ErrInvalid, ip)
		}
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, fmt.Errorf("%w: a node's certificate request may name only DNS names and IP addresses", api.ErrInvalid)
	}
	cert, err := s.ca.SignCSR(csrPEM, api.NodeUser(node), pki.UsageBoth, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	return cert, nil
}

// serverCerts is the server's side of the cluster PKI.
type serverCerts struct {
	pki    *pki.ServerPKI
	signer nodeSigner
	// url is the API's URL for other machines (join commands, the admin
	// kubeconfig); localURL the one the server's own agent uses.
	url, localURL string
	kubeconfig    string
	nodeIP        net.IP
}

// serverTLS loads or creates the cluster CA and the server's certificates
// in <data-dir>/pki and writes the admin kubeconfig.
func serverTLS(c *serverConfig, logger *slog.Logger) (*serverCerts, error) {
	if c.insecureListen != "" {
		if err := apiserver.CheckLoopback(c.insecureListen); err != nil {
			return nil, fmt.Errorf("--insecure-listen: %w", err)
		}
	}
	listenHost, port, err := net.SplitHostPort(c.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", c.listen, err)
	}
	nodeIP, err := host.IP(c.agent.nodeIP)
	if err != nil {
		return nil, fmt.Errorf("--node-ip: %w", err)
	}
	advertise := c.advertise
	if ip := net.ParseIP(listenHost); advertise == "" && ip != nil && !ip.IsUnspecified() {
		advertise = listenHost // bound to one address: the only one that answers
	}
	if advertise == "" {
		advertise = nodeIP.String()
	}
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("host name: %w", err)
	}
	sc := &serverCerts{
		url:        "https://" + net.JoinHostPort(advertise, port),
		localURL:   "https://" + net.JoinHostPort("127.0.0.1", port),
		kubeconfig: c.writeKubeconfig,
		nodeIP:     nodeIP,
	}
	if ip := net.ParseIP(listenHost); ip != nil && !ip.IsUnspecified() {
		// Bound to one address: the server's own agent must use it.
		sc.localURL = "https://" + net.JoinHostPort(listenHost, port)
	}
	if sc.kubeconfig == "" {
		sc.kubeconfig = filepath.Join(c.dataDir, "kubeconfig")
	}
	sans := c.tlsSANs
	if listenHost != "" && net.ParseIP(listenHost) != nil && !net.ParseIP(listenHost).IsUnspecified() {
		sans = append(slices.Clone(sans), listenHost)
	}
	sc.pki, err = pki.EnsureServerPKI(pki.ServerConfig{
		Dir:              filepath.Join(c.dataDir, "pki"),
		Hostname:         hostname,
		AdvertiseAddress: advertise,
		TLSSANs:          sans,
		AdminKubeconfig:  sc.kubeconfig,
		KubeconfigServer: sc.url,
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	_, serverIPs := pki.ServerSANs(hostname, advertise, sans)
	sc.signer = nodeSigner{ca: sc.pki.CA, serverIPs: serverIPs}
	if !c.noAgent {
		sc.signer.ownNode = c.agent.nodeName
	}
	return sc, nil
}

// agentTransport calls node agents' port with the API server's client
// certificate, trusting only the cluster CA.
func (sc *serverCerts) agentTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // agents are reached directly, never through a proxy
	t.TLSClientConfig = &tls.Config{
		RootCAs:              sc.pki.CA.Pool(),
		GetClientCertificate: sc.pki.APIServerClient.GetClientCertificate,
		MinVersion:           tls.VersionTLS12,
	}
	return t
}
