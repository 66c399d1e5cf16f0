package main

import (
	"fmt"
	"net"
	"slices"

	"github.com/bosun-dev/bosun/api"
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
