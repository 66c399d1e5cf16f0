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
	// Kind is TokenKindNode or TokenKindServer; records made before kinds
	// existed read as TokenKindNode.
	Kind string `json:"kind,omitempty"`
}

// Kinds of bootstrap tokens.
const (
	// TokenKindNode lets a machine join as a node (bosun agent): it
	// receives a node credential.
	TokenKindNode = "node"
	// TokenKindServer lets a machine join the control plane (bosun server
	// --join): it becomes an etcd member and receives the cluster CA's key.
	// It also works where a node token does.
	TokenKindServer = "server"
)

// TokenRequest is the body of a token creation request.
type TokenRequest struct {
	// TTL is the token's lifetime; 0 means the server's default (24 h), a
	// negative value means it never expires.
	TTL time.Duration `json:"ttl,omitempty"`
	// Usages limits the number of joins; 0 means no limit.
	Usages int `json:"usages,omitempty"`
	// Description is free text shown by token list.
	Description string `json:"description,omitempty"`
	// Kind is TokenKindNode (the default when empty) or TokenKindServer.
	Kind string `json:"kind,omitempty"`
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
	// Repo is the Git repository the cluster syncs, for the join command
	// of a server token; empty when the server does not know it.
	Repo string `json:"repo,omitempty"`
}

// ClusterInfo is what the API tells anyone before they authenticate: the
// cluster CA, which a joining agent checks against its --ca-cert-hash.
type ClusterInfo struct {
	// CACert is the cluster CA certificate, PEM.
	CACert []byte `json:"caCert"`
	// ServiceCIDR is the range Service cluster IPs are allocated from:
	// agents' service proxies program no address outside it.
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
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

// ServerJoinRequest asks to make the sender a control-plane member (bosun
// server --join), with a server token sent as the request's bearer token.
type ServerJoinRequest struct {
	// Name is the new member's etcd name (its --etcd-name or node name).
	Name string `json:"name"`
	// PeerURL is where the other members will reach its etcd,
	// "https://HOST:2380".
	PeerURL string `json:"peerURL"`
	// ClientURL is its etcd's client URL, "https://127.0.0.1:2379".
	ClientURL string `json:"clientURL"`
}

// EtcdMember is one member of the control plane's etcd cluster.
type EtcdMember struct {
	// Name is the member's name; "" for a member added that has not
	// started yet (except the joiner itself, named as it asked).
	Name string `json:"name"`
	// ID is etcd's member ID in hexadecimal, as etcdctl prints it.
	ID string `json:"id"`
	// PeerURLs and ClientURLs are the member's URLs.
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	// IsLearner is true for a member that does not vote yet.
	IsLearner bool `json:"isLearner,omitempty"`
}

// ClusterSettings are the settings every server of one cluster must share,
// as the first server stored them (etcd key /bosun/config/cluster).
type ClusterSettings struct {
	// ClusterCIDR is the range nodes' pod CIDRs come from (--cluster-cidr).
	ClusterCIDR string `json:"clusterCIDR"`
	// ServiceCIDR is the range of Service ClusterIPs (--service-cidr).
	ServiceCIDR string `json:"serviceCIDR"`
	// NodePortRange is the range of NodePorts (--service-node-port-range).
	NodePortRange string `json:"nodePortRange"`
	// Repo, Branch and Path say what is synced (--repo, --branch, --path).
	Repo   string `json:"repo"`
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
}

// ServerJoinResponse answers a ServerJoinRequest: what the new member needs
// to start its etcd and serve as any other server.
type ServerJoinResponse struct {
	// CACert and CAKey are the cluster CA's certificate and private key,
	// PEM: the new server issues its own certificates with them.
	CACert []byte `json:"caCert"`
	CAKey  []byte `json:"caKey"`
	// Members are the etcd cluster's members, the new learner included.
	Members []EtcdMember `json:"members"`
	// InitialCluster is etcd's --initial-cluster for the new member
	// ("name=peerURL,..."), to start with --initial-cluster-state existing.
	InitialCluster string `json:"initialCluster"`
	// Cluster are the cluster's settings.
	Cluster ClusterSettings `json:"cluster"`
}

// Paths of bosun's cluster-membership API.
const (
	PathClusterInfo  = "/bosun/v1/cluster-info"
	PathJoin         = "/bosun/v1/join"
	PathServerJoin   = "/bosun/v1/control-plane/join"
	PathCertificates = "/bosun/v1/certificates"
	PathTokens       = "/bosun/v1/tokens"
)
