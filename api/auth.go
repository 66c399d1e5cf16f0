package api

import (
	"strings"
	"time"
)

// User is the identity behind a request: the Common Name and Organizations of
// the client certificate it was made with (as kube-apiserver reads them), or
// the identity a plain-HTTP development listener grants.
type User struct {
	// Name is the user name, e.g. "admin" or "system:node:worker-1".
	Name string
	// Groups are the user's groups, e.g. GroupMasters or GroupNodes.
	Groups []string
}

// Well-known identities, with Kubernetes' names.
const (
	// GroupMasters may do everything the API allows (the admin credential's
	// group, as Kubernetes' system:masters).
	GroupMasters = "system:masters"
	// GroupNodes is the group of node agents' credentials.
	GroupNodes = "system:nodes"
	// NodeUserPrefix starts the user name of a node credential:
	// "system:node:" + the node name.
	NodeUserPrefix = "system:node:"
	// UserAdmin is the name of the admin credential bosun server writes.
	UserAdmin = "admin"
	// UserAPIServer is the name of the credential the API server presents to
	// node agents' port (logs, exec); it is in GroupMasters.
	UserAPIServer = "bosun:apiserver"
	// UserAnonymous is the name given to requests without a credential.
	UserAnonymous = "system:anonymous"
)

// InGroup reports whether u is a member of group.
func (u User) InGroup(group string) bool {
	for _, g := range u.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// NodeName returns the node a node credential belongs to, and whether u is
// one (name "system:node:NAME" and group GroupNodes).
func (u User) NodeName() (string, bool) {
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok || name == "" || !u.InGroup(GroupNodes) {
		return "", false
	}
	return name, true
}

// NodeUser returns the identity of node name's credential.
func NodeUser(name string) User {
	return User{Name: NodeUserPrefix + name, Groups: []string{GroupNodes}}
}

// BootstrapToken describes a join token (never its secret), as the token API
// lists it. A token is "ID.SECRET": 6 and 16 characters of [a-z0-9], as
// kubeadm's bootstrap tokens.
type BootstrapToken struct {
	// ID is the token's public part.
	ID string `json:"id"`
	// Description is free text given at creation.
	Description string `json:"description,omitempty"`
	// Created is when the token was made.
	Created time.Time `json:"created"`
	// Expires is when the token stops working; zero means never.
	Expires time.Time `json:"expires,omitzero"`
	// UsagesLeft is how many more joins the token allows; -1 means no limit.
	UsagesLeft int `json:"usagesLeft"`
}

// TokenRequest is the body of a token creation request.
type TokenRequest struct {
	// TTL is the token's lifetime; 0 means the server's default (24 h), a
	// negative value means it never expires.
	TTL time.Duration `json:"ttl,omitempty"`
	// Usages limits the number of joins; 0 means no limit.
	Usages int `json:"usages,omitempty"`
	// Description is free text shown by token list.
	Description string `json:"description,omitempty"`
}

// TokenResponse answers a token creation request: the full token, shown
// once, and how to join with it.
type TokenResponse struct {
	// Token is "ID.SECRET".
	Token string `json:"token"`
	// BootstrapToken describes it.
	BootstrapToken `json:",inline"`
	// Server is the API's URL the join command should name.
	Server string `json:"server"`
	// CACertHash is "sha256:HEX" of the cluster CA's public key, as kubeadm's
	// --discovery-token-ca-cert-hash.
	CACertHash string `json:"caCertHash"`
}

// ClusterInfo is what the API tells anyone before they authenticate: the
// cluster CA, which a joining agent checks against its --ca-cert-hash.
type ClusterInfo struct {
	// CACert is the cluster CA certificate, PEM.
	CACert []byte `json:"caCert"`
}

// JoinRequest asks for a node credential with a bootstrap token (sent as the
// request's bearer token).
type JoinRequest struct {
	// NodeName is the node the agent registers as.
	NodeName string `json:"nodeName"`
	// CSR is a PEM certificate signing request for the node's key; the server
	// sets the subject ("system:node:NAME", group system:nodes) itself.
	CSR []byte `json:"csr"`
}

// CertificateResponse carries a signed certificate: the answer to a join and
// to a node's renewal request.
type CertificateResponse struct {
	// Certificate is the signed certificate, PEM.
	Certificate []byte `json:"certificate"`
	// CACert is the cluster CA certificate, PEM.
	CACert []byte `json:"caCert"`
}

// RenewRequest asks the server to sign a new certificate for the caller's own
// identity (a node renewing its credential before it expires).
type RenewRequest struct {
	// CSR is a PEM certificate signing request for the new key.
	CSR []byte `json:"csr"`
}

// Paths of bosun's cluster-membership API.
const (
	PathClusterInfo  = "/bosun/v1/cluster-info"
	PathJoin         = "/bosun/v1/join"
	PathCertificates = "/bosun/v1/certificates"
	PathTokens       = "/bosun/v1/tokens"
)
