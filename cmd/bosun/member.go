package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
)

// Defaults of the embedded etcd's URLs: the flags' (plain HTTP on
// loopback), and those of a server started with --cluster-init (TLS; the
// peer URL on the advertise address).
const (
	defaultEtcdClientURL    = "http://127.0.0.1:2379"
	defaultEtcdPeerURL      = "http://127.0.0.1:2380"
	clusterEtcdClientURL    = "https://127.0.0.1:2379"
	clusterEtcdPeerPort     = "2380"
	defaultMemberDataDir    = "/var/lib/bosun"
	defaultMemberCmdTimeout = 30 * time.Second
)

// etcdTLSDir is where a server keeps its etcd credentials.
func etcdTLSDir(dataDir string) string { return filepath.Join(dataDir, "pki", pki.EtcdDir) }

// clusteredEtcd reports whether the server's embedded etcd runs as a
// member of a cluster that can grow (TLS): when --cluster-init or --join
// is given, or when an earlier start with one of them left etcd
// credentials in the data directory (so that a restart without the flag
// keeps the same URLs).
func clusteredEtcd(c *serverConfig) (bool, error) {
	if c.clusterInit || c.join.url != "" {
		return true, nil
	}
	_, err := os.Stat(filepath.Join(etcdTLSDir(c.dataDir), pki.EtcdPeerCertFile))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("etcd credentials: %w", err)
	}
}

// clusterEtcdURLs returns the client and peer URLs of the server's etcd as
// a cluster member: the client URL https://127.0.0.1:2379 unless
// --etcd-client-url says otherwise, the peer URL on the advertise address
// unless --etcd-peer-url says otherwise; both must be https. hosts are the
// names its certificates must hold.
func clusterEtcdURLs(c *serverConfig) (clientURL, peerURL string, hosts []string, err error) {
	peerHost, hosts, err := etcdPeerHost(c)
	if err != nil {
		return "", "", nil, err
	}
	clientURL, peerURL = c.etcdClientURL, c.etcdPeerURL
	if clientURL == defaultEtcdClientURL || clientURL == "" {
		clientURL = clusterEtcdClientURL
	}
	if peerURL == defaultEtcdPeerURL || peerURL == "" {
		peerURL = "https://" + net.JoinHostPort(peerHost, clusterEtcdPeerPort)
	}
	for _, raw := range []string{clientURL, peerURL} {
		u, err := url.Parse(raw)
		if err != nil {
			return "", "", nil, fmt.Errorf("etcd URL %q: %w", raw, err)
		}
		if u.Scheme != "https" {
			return "", "", nil, fmt.Errorf("etcd URL %q: a cluster member's etcd speaks TLS only: use https://", raw)
		}
		hosts = append(hosts, u.Hostname())
	}
	return clientURL, peerURL, hosts, nil
}

// clusterEtcd turns cfg into the configuration of a cluster member: TLS
// for clients and peers with credentials from the cluster CA in
// <data-dir>/pki/etcd (issued or renewed here), the member named
// etcdMemberName, the URLs of clusterEtcdURLs. run keeps the credentials
// renewed.
func clusterEtcd(c *serverConfig, cfg *store.EmbedConfig, logger *slog.Logger) (run func(context.Context) error, err error) {
	clientURL, peerURL, hosts, err := clusterEtcdURLs(c)
	if err != nil {
		return nil, err
	}
	cfg.ClientURL, cfg.PeerURL = clientURL, peerURL
	cfg.Name = etcdMemberName(c)
	ca, err := pki.LoadOrCreateCA(filepath.Join(c.dataDir, "pki"))
	if err != nil {
		return nil, err
	}
	creds, err := pki.EnsureEtcdPKI(pki.EtcdConfig{CA: ca, Dir: etcdTLSDir(c.dataDir), Hosts: hosts, Logger: logger})
	if err != nil {
		return nil, err
	}
	cfg.TLS = &store.EmbedTLS{
		CAFile:         creds.CAFile(),
		ServerCertFile: creds.Server.CertFile(),
		ServerKeyFile:  creds.Server.KeyFile(),
		PeerCertFile:   creds.Peer.CertFile(),
		PeerKeyFile:    creds.Peer.KeyFile(),
		ClientCNs:      pki.EtcdClientCNs(),
		PeerCNs:        pki.EtcdPeerCNs(),
		Client:         creds.ClientTLS(),
	}
	return creds.Run, nil
}

// etcdPeerHost returns the IP the peer URL uses by default (the advertise
// address when it is an IP, else the node IP: etcd listens on it) and the
// names the etcd certificates must hold besides the URLs' hosts.
func etcdPeerHost(c *serverConfig) (string, []string, error) {
	nodeIP, err := host.IP(c.agent.nodeIP)
	if err != nil {
		return "", nil, fmt.Errorf("--node-ip: %w", err)
	}
	hosts := []string{nodeIP.String()}
	if hostname, err := os.Hostname(); err == nil {
		hosts = append(hosts, hostname)
	}
	advertise := c.advertise
	if listenHost, _, err := net.SplitHostPort(c.listen); err == nil && advertise == "" {
		if ip := net.ParseIP(listenHost); ip != nil && !ip.IsUnspecified() {
			advertise = listenHost
		}
	}
	if advertise != "" {
		hosts = append(hosts, advertise)
		if ip := net.ParseIP(advertise); ip != nil {
			return ip.String(), hosts, nil
		}
	}
	return nodeIP.String(), hosts, nil
}

// memberOptions are the flags of "bosun member".
type memberOptions struct {
	dataDir   string
	endpoints []string
	timeout   time.Duration
}

func newMemberCommand() *cobra.Command {
	o := &memberOptions{}
	cmd := &cobra.Command{
		Use:   "member",
		Short: "List and remove the control plane's etcd members (run on a server's machine)",
		Long: `member manages the members of the etcd cluster of a control plane
started with "bosun server --cluster-init".

It talks to etcd directly, not to the API: run it on a server's machine,
as a user who can read that server's <data-dir>/pki/etcd (root), where the
server keeps its etcd client credential. It reaches the server's own
member at --etcd-endpoints. It works on every member.

The control plane grows with "bosun server --join" on a new machine (see
"bosun server --help"): the new server is added as a learner, then
promoted to a voter once it has caught up.`,
	}
	cmd.PersistentFlags().StringVar(&o.dataDir, "data-dir", defaultMemberDataDir, "the server's data directory, whose pki/etcd holds the etcd client credential")
	cmd.PersistentFlags().StringSliceVar(&o.endpoints, "etcd-endpoints", []string{clusterEtcdClientURL}, "client URLs of the server's etcd member")
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", defaultMemberCmdTimeout, "how long to wait for etcd")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List the etcd members: name, ID, voter or learner, leader, URLs",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return o.run(cmd.Context(), func(ctx context.Context, c *clientv3.Client) error {
					members, err := store.ListMembers(ctx, c)
					if err != nil {
						return err
					}
					return printMembers(cmd.OutOrStdout(), members)
				})
			},
		},
		&cobra.Command{
			Use:   "remove NAME",
			Short: "Remove an etcd member by name (or by ID, as member list prints it)",
			Long: `remove takes a member out of the etcd cluster. Do it before retiring a
server's machine for good, or after losing one, so that the majority is
counted among the members that are left. etcd refuses a removal that would
leave too few started members for a majority. Removing the member this
command talks to (the server's own, at --etcd-endpoints) is refused: run
it on another server. The removed server's etcd stops; to bring that
machine back it must join again with an empty <data-dir>/etcd.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return o.run(cmd.Context(), func(ctx context.Context, c *clientv3.Client) error {
					target, err := store.LookupMember(ctx, c, args[0])
					if err != nil {
						return err
					}
					self, err := store.LocalMemberIDs(ctx, c)
					if err != nil {
						return err
					}
					if slices.Contains(self, target.ID) {
						return fmt.Errorf("etcd member %s (%s) is the one this command talks to, this server's own: run \"bosun member remove %s\" on another server",
							memberName(target), store.FormatID(target.ID), args[0])
					}
					m, err := store.RemoveMember(ctx, c, store.FormatID(target.ID))
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "Removed etcd member %s (%s).\n", memberName(m), store.FormatID(m.ID))
					return nil
				})
			},
		},
	)
	return cmd
}

// run connects to the server's etcd with its client credential and calls f.
func (o *memberOptions) run(ctx context.Context, f func(context.Context, *clientv3.Client) error) error {
	tlsConfig, err := pki.LoadEtcdClientTLS(etcdTLSDir(o.dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("member: %s has no etcd credentials: was that server started with --cluster-init? (--data-dir names another directory?): %w", etcdTLSDir(o.dataDir), err)
	}
	if err != nil {
		return fmt.Errorf("member: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := store.Connect(ctx, o.endpoints, store.WithTLS(tlsConfig))
	if err != nil {
		return fmt.Errorf("member: %w", err)
	}
	defer c.Close()
	if err := f(ctx, c); err != nil {
		return fmt.Errorf("member: %w", err)
	}
	return nil
}

// printMembers writes members as a table.
func printMembers(w io.Writer, members []store.Member) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tROLE\tLEADER\tPEER URLS\tCLIENT URLS")
	for _, m := range members {
		role := "voter"
		if m.Learner {
			role = "learner"
		}
		leader := ""
		if m.Leader {
			leader = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", memberName(m), store.FormatID(m.ID), role, leader,
			strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","))
	}
	return tw.Flush()
}

// memberName is the member's name, or says it has not started yet.
func memberName(m store.Member) string {
	if m.Started() {
		return m.Name
	}
	return "(not started)"
}
