package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/join"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/store"
)

// promoteTimeout bounds how long a joining server waits for its etcd
// member, a learner, to catch up and be promoted.
const promoteTimeout = 2 * time.Minute

// joinFlags are bosun server's flags for joining a control plane.
type joinFlags struct {
	// url is --join, a running server's API.
	url string
	// token and caCertHash are --token (or env BOSUN_TOKEN) and
	// --ca-cert-hash.
	token, caCertHash string
}

func addJoinFlags(f *pflag.FlagSet, c *serverConfig) {
	f.StringVar(&c.join.url, "join", "", "make this machine a member of a running control plane: the API URL of one of its servers, https://ADDR:6443 (with --token and --ca-cert-hash, as \"bosun token create --control-plane\" prints them); read only while <data-dir>/etcd holds no member")
	f.StringVar(&c.join.token, "token", "", "with --join: the server token (ID.SECRET) (default: env BOSUN_TOKEN)")
	f.StringVar(&c.join.caCertHash, "ca-cert-hash", "", "with --join: sha256:HEX of the cluster CA's public key, checked before the token is sent")
	f.StringVar(&c.etcdName, "etcd-name", "", "name of this server's etcd member in a cluster (--cluster-init, --join) (default: the node name, --node-name)")
}

// clusterSettingFlags are the flags of api.ClusterSettings: the values
// every server of a cluster shares.
var clusterSettingFlags = []string{"cluster-cidr", "service-cidr", "service-node-port-range", "repo", "branch", "path"}

// checkJoinFlags refuses join flags that cannot work together.
func checkJoinFlags(cmd *cobra.Command, c *serverConfig) error {
	changed := cmd.Flags().Changed
	if c.join.url == "" {
		for _, n := range []string{"token", "ca-cert-hash"} {
			if changed(n) {
				return fmt.Errorf("server: --%s has no effect without --join (it joins a running control plane)", n)
			}
		}
	} else {
		switch {
		case len(c.etcdEndpoints) > 0:
			return errors.New("server: --join makes this server a member of the control plane's embedded etcd; with an external etcd, start it with the same --etcd-endpoints as the other servers instead, without --join")
		case c.clusterInit:
			return errors.New("server: --cluster-init starts a new cluster and --join joins a running one: give one of them")
		}
		if u, err := url.Parse(c.join.url); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("server: --join %q: want the API URL of a running server, https://ADDR:6443", c.join.url)
		}
	}
	if changed("etcd-name") {
		if len(c.etcdEndpoints) > 0 {
			return errors.New("server: --etcd-name has no effect with --etcd-endpoints (no embedded etcd runs)")
		}
		if msgs := validation.IsDNS1123Subdomain(c.etcdName); len(msgs) > 0 {
			return fmt.Errorf("server: --etcd-name %q: %s", c.etcdName, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// etcdMemberName is the server's etcd member name: --etcd-name, else the
// node name.
func etcdMemberName(c *serverConfig) string {
	if c.etcdName != "" {
		return c.etcdName
	}
	return c.agent.nodeName
}

// serverName is the name the server registers under (servers.Register)
// and writes sync triggers as: its etcd member name, else the host name.
func serverName(c *serverConfig) string {
	if n := etcdMemberName(c); n != "" {
		return n
	}
	return leader.DefaultID()
}

// joinControlPlane makes this server a member of the control plane named
// by --join, unless its data directory holds an etcd member already (then
// the flags are ignored). It installs the cluster CA in <data-dir>/pki and
// returns the server's answer, or nil when it did not join.
func joinControlPlane(ctx context.Context, c *serverConfig, logger *slog.Logger) (*api.ServerJoinResponse, error) {
	if c.join.url == "" {
		return nil, nil
	}
	if store.MemberDataExists(etcdDataDir(c.dataDir)) {
		logger.Info("already a member of the control plane: --join, --token and --ca-cert-hash are ignored", "data_dir", etcdDataDir(c.dataDir))
		return nil, nil
	}
	if c.join.token == "" || c.join.caCertHash == "" {
		return nil, errors.New("--join needs --token (or env BOSUN_TOKEN) and --ca-cert-hash: run \"bosun token create --control-plane\" on a server of the cluster and use the command it prints")
	}
	clientURL, peerURL, _, err := clusterEtcdURLs(c)
	if err != nil {
		return nil, err
	}
	name := etcdMemberName(c)
	logger.Info("joining the control plane", "server", c.join.url, "member", name, "peerURL", peerURL, "clientURL", clientURL)
	resp, err := join.JoinServer(ctx, join.ServerConfig{
		Server:     c.join.url,
		Token:      c.join.token,
		CACertHash: c.join.caCertHash,
		Name:       name,
		PeerURL:    peerURL,
		ClientURL:  clientURL,
		PKIDir:     filepath.Join(c.dataDir, "pki"),
		Logger:     logger,
	})
	if err != nil {
		return nil, err
	}
	return &resp, nil
}

// promoteSelf promotes the embedded member when it is a learner (a server
// that joined, or one that stopped before its promotion), within
// promoteTimeout.
func promoteSelf(ctx context.Context, emb *store.Embedded, logger *slog.Logger) error {
	if !emb.IsLearner() {
		return nil
	}
	logger.Info("this etcd member is a learner: asking to become a voter once it has caught up", "member", emb.Name(), "id", store.FormatID(emb.ID()))
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	start := time.Now()
	if err := emb.PromoteSelf(ctx, 500*time.Millisecond); err != nil {
		return fmt.Errorf("%w; this member stays a learner: check that the other members reach its peer URL (%s) and it theirs, then restart it (it asks again), or remove it with \"bosun member remove %s\" on another server",
			err, strings.Join(emb.PeerURLs(), ","), emb.Name())
	}
	logger.Info("this etcd member is a voter now", "member", emb.Name(), "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// controlPlaneCA is the API's apiserver.ControlPlane: the CA key a joining
// server receives, or why this server takes no members.
type controlPlaneCA struct {
	ca      *pki.CA
	refusal error
}

// CAKeyPEM returns the cluster CA's key, or the refusal.
func (c controlPlaneCA) CAKeyPEM() ([]byte, error) {
	if c.refusal != nil {
		return nil, c.refusal
	}
	return c.ca.KeyPEM()
}

// newControlPlaneCA says whether servers may join this one: only when its
// embedded etcd is a TLS cluster member.
func newControlPlaneCA(c *serverConfig, ca *pki.CA, clustered bool) controlPlaneCA {
	switch {
	case len(c.etcdEndpoints) > 0:
		return controlPlaneCA{refusal: errors.New("this control plane runs on an external etcd (--etcd-endpoints): start the new server with the same --etcd-endpoints " +
			"(and --etcd-cafile, --etcd-certfile, --etcd-keyfile) instead of joining")}
	case !clustered:
		return controlPlaneCA{refusal: errors.New("this server's embedded etcd is a single member on loopback, not a cluster member: restart it with --cluster-init " +
			"(it keeps its data), then join")}
	}
	return controlPlaneCA{ca: ca}
}

// settingsFromFlags are the cluster settings the flags give.
func settingsFromFlags(c *serverConfig) api.ClusterSettings {
	return api.ClusterSettings{ClusterCIDR: c.clusterCIDR, ServiceCIDR: c.serviceCIDR, NodePortRange: c.nodePortRange, Repo: c.repo, Branch: c.branch, Path: c.path}
}

// settingFields are the flags of the cluster settings and where their
// values are, in the settings and in the configuration.
func settingFields(s *api.ClusterSettings, c *serverConfig) []struct {
	flag          string
	stored, given *string
} {
	return []struct {
		flag          string
		stored, given *string
	}{
		{"cluster-cidr", &s.ClusterCIDR, &c.clusterCIDR},
		{"service-cidr", &s.ServiceCIDR, &c.serviceCIDR},
		{"service-node-port-range", &s.NodePortRange, &c.nodePortRange},
		{"repo", &s.Repo, &c.repo},
		{"branch", &s.Branch, &c.branch},
		{"path", &s.Path, &c.path},
	}
}

// adoptClusterSettings makes c's settings the stored ones: a flag set
// explicitly must have the stored value (else the error names the flag
// and both values), the others take it.
func adoptClusterSettings(c *serverConfig, stored api.ClusterSettings, explicit func(flag string) bool) error {
	for _, f := range settingFields(&stored, c) {
		if explicit(f.flag) && *f.given != *f.stored {
			return fmt.Errorf("--%s %q differs from the cluster's %q (stored by its first server in etcd at %s): every server of a cluster shares it; "+
				"omit --%s to use the cluster's", f.flag, *f.given, *f.stored, store.ClusterSettingsKey, f.flag)
		}
		*f.given = *f.stored
	}
	return nil
}

// clusterSettings settles the server's cluster settings against etcd: the
// first server of a cluster (no settings stored) stores its own; every
// later one adopts the stored ones (adoptClusterSettings).
func clusterSettings(ctx context.Context, cli *clientv3.Client, c *serverConfig, explicit func(flag string) bool, logger *slog.Logger) error {
	stored, ok, err := store.LoadClusterSettings(ctx, cli)
	if err != nil {
		return err
	}
	if !ok {
		if c.repo == "" {
			return errors.New("--repo is required: the first server of a cluster names the Git repository (servers that join adopt it)")
		}
		var created bool
		if stored, created, err = store.InitClusterSettings(ctx, cli, settingsFromFlags(c)); err != nil {
			return err
		}
		if created {
			logger.Info("stored the cluster's settings: every server of this cluster shares them", "key", store.ClusterSettingsKey, "settings", fmt.Sprintf("%+v", stored))
			return nil
		}
	}
	return adoptClusterSettings(c, stored, explicit)
}
