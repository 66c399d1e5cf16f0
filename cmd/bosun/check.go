package main

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/check"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
)

// checkConfig holds the flags of bosun check: the settings of the bosun
// that will run on the machine.
type checkConfig struct {
	dataDir       string
	listen        string
	etcdClientURL string
	etcdPeerURL   string
	agentPort     int
	agent         bool
}

func newCheckCommand() *cobra.Command {
	c := &checkConfig{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that this machine can run bosun, and say what to fix",
		Long: `Check that this machine can run a bosun server or agent, before installing
it: the kernel version, cgroups (v2, or v1 with a warning), the overlay
filesystem, netfilter (iptables and iptables-restore, and their backend; nft),
br_netfilter, net.ipv4.ip_forward, containerd (1.6 or later) and runc (1.1 or
later), the CNI plugins bridge, host-local, loopback and portmap (in
/usr/lib/cni or /opt/cni/bin), that the ports bosun listens on are free, root,
and the free space of the data directory.

It prints one line per check, ok, warn or fail, with what to fix after
"fix:", and exits with status 1 when a check failed. Run it as root, as the
server and agent run: as another user the root check fails. Give it the
flags you will give bosun server (or --agent and the flags of bosun agent)
so that it checks the right ports and data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports, err := c.ports()
			if err != nil {
				return fmt.Errorf("check: %w", err)
			}
			results := check.Run(cmd.Context(), check.RealHost(), check.Options{DataDir: c.dataDir, Ports: ports})
			if err := check.Print(cmd.OutOrStdout(), results); err != nil {
				return err
			}
			if check.Failed(results) {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", "/var/lib/bosun", "the data directory bosun will use (--data-dir of bosun server or agent); its free space is checked")
	f.StringVar(&c.listen, "listen", defaultListen, "the API address bosun server will listen on (bosun server --listen)")
	f.StringVar(&c.etcdClientURL, "etcd-client-url", "http://127.0.0.1:2379", "the embedded etcd's client URL (bosun server --etcd-client-url)")
	f.StringVar(&c.etcdPeerURL, "etcd-peer-url", "http://127.0.0.1:2380", "the embedded etcd's peer URL (bosun server --etcd-peer-url)")
	f.IntVar(&c.agentPort, "agent-port", agentapi.DefaultPort, "the agent's API port (--agent-port)")
	f.BoolVar(&c.agent, "agent", false, "check for bosun agent only: skip the API and etcd ports")
	return cmd
}

// ports lists the addresses that must be free.
func (c *checkConfig) ports() ([]check.Port, error) {
	ports := []check.Port{{Addr: net.JoinHostPort("", strconv.Itoa(c.agentPort)), Use: "the agent's API (--agent-port)"}}
	if c.agent {
		return ports, nil
	}
	client, err := listenAddr(c.etcdClientURL)
	if err != nil {
		return nil, fmt.Errorf("--etcd-client-url: %w", err)
	}
	peer, err := listenAddr(c.etcdPeerURL)
	if err != nil {
		return nil, fmt.Errorf("--etcd-peer-url: %w", err)
	}
	return append([]check.Port{
		{Addr: c.listen, Use: "the API (bosun server --listen)"},
		{Addr: client, Use: "etcd clients (--etcd-client-url)"},
		{Addr: peer, Use: "etcd peers (--etcd-peer-url)"},
	}, ports...), nil
}

// listenAddr is the host:port of a URL such as http://127.0.0.1:2379.
func listenAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	if u.Port() == "" {
		return "", fmt.Errorf("%q: want a URL with a port, such as http://127.0.0.1:2379", raw)
	}
	return u.Host, nil
}
