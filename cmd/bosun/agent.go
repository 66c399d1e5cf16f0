package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/api"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/sdnotify"
	"github.com/bosun-dev/bosun/join"
	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/cleanup"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/dns"
	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/nodeagent/images"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/routes"
	ctrdruntime "github.com/bosun-dev/bosun/nodeagent/runtime/containerd"
	"github.com/bosun-dev/bosun/nodeagent/stats"
)

// agentConfig is everything a node agent is configured with, in bosun
// agent and in bosun server's own agent.
type agentConfig struct {
	nodeName         string
	nodeIP           string
	dataDir          string
	containerdSocket string
	containerdBinary string
	cniBinDirs       []string
	podManifestPath  string
	clusterCIDR      string
	serviceCIDR      string
	noProxy          bool
	proxyMode        string
	imagesDirFlag    string
	apiPort          int
	eventQPS         float64
	eventBurst       int
	// Service DNS (package nodeagent/dns).
	clusterDomain string
	clusterDNS    string
	resolvConf    string
	dnsUpstreams  []string
	noDNS         bool
	// token and caCertHash join the cluster (bosun agent only; the server's
	// own agent gets its credential from the server).
	token, caCertHash string
	// metrics is the registry of the process (the server's, for its own
	// agent); nil: runAgent makes one.
	metrics *prometheus.Registry
	// notifyReady sends systemd READY=1 once the node is Ready (bosun
	// agent; the server's own agent leaves that to the server).
	notifyReady bool
}

// imagesDir is where image tarballs are imported from at start.
func (a *agentConfig) imagesDir() string {
	if a.imagesDirFlag != "" {
		return a.imagesDirFlag
	}
	return filepath.Join(a.dataDir, "agent", "images")
}

// addAgentFlags defines the agent's flags on f; server and agent share
// them (the data directory is the caller's).
func addAgentFlags(f interface {
	IntVar(p *int, name string, value int, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
	StringVar(p *string, name, value, usage string)
	StringSliceVar(p *[]string, name string, value []string, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}, a *agentConfig) {
	host, _ := os.Hostname()
	f.StringVar(&a.nodeName, "node-name", strings.ToLower(host), "name of this node")
	f.StringVar(&a.nodeIP, "node-ip", "", "address reported for this node (default: the address of the interface of the default route)")
	f.StringVar(&a.containerdSocket, "containerd-socket", "", "use the containerd at this socket (default: bosun starts and supervises its own in <data-dir>/containerd)")
	f.StringVar(&a.containerdBinary, "containerd-binary", "containerd", "containerd program bosun starts when --containerd-socket is not given")
	f.StringSliceVar(&a.cniBinDirs, "cni-bin-dir", network.DefaultBinDirs, "directories holding the CNI plugins")
	f.StringVar(&a.podManifestPath, "pod-manifest-path", "", "directory of static pod manifests this node runs on its own (watched)")
	f.BoolVar(&a.noProxy, "no-proxy", false, "do not program the kernel for Services on this node (no service proxy)")
	f.StringVar(&a.proxyMode, "proxy-mode", "", "how the service proxy programs the kernel: nftables (one table, ip bosun) or iptables (default: nftables where the nft program and the kernel support it, else iptables); switching removes the other mode's rules")
	f.Float64Var(&a.eventQPS, "event-qps", events.DefaultQPS, "most Events per second the agent writes (Pulled, Started, Unhealthy, BackOff, ...); 0 writes none")
	f.IntVar(&a.eventBurst, "event-burst", events.DefaultBurst, "most Events the agent writes at once, above --event-qps")
	f.IntVar(&a.apiPort, "agent-port", agentapi.DefaultPort, "port of the agent's API (logs, exec), on 127.0.0.1 and the node IP; unauthenticated: keep it firewalled")
	f.StringVar(&a.imagesDirFlag, "images-dir", "", "import every image tarball (*.tar) in this directory at start (default <data-dir>/agent/images)")
	f.StringVar(&a.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain: Services are <name>.<namespace>.svc.<domain>")
	f.StringVar(&a.clusterDNS, "cluster-dns", "", "address of this node's DNS server for pods, which their resolv.conf names (default: the node IP); it listens on port 53 there")
	f.StringVar(&a.resolvConf, "resolv-conf", "/etc/resolv.conf", "the host's resolver configuration: its nameservers answer names outside the cluster, and dnsPolicy Default pods get it")
	f.StringSliceVar(&a.dnsUpstreams, "dns-upstream", nil, "resolvers (host:port) for names outside the cluster, instead of --resolv-conf's nameservers (repeatable)")
	f.BoolVar(&a.noDNS, "no-dns", false, "serve no DNS: pods with dnsPolicy ClusterFirst get the host's resolv.conf, as with Default")
}

func newAgentCommand(g *globalOptions) *cobra.Command {
	a := &agentConfig{}
	var cleanupOnly bool
	cmd := &cobra.Command{
		Use:   "agent --server URL",
		Short: "Run a node agent: pods on containerd with CNI networking, and the Service proxy",
		Long: `agent joins this machine to a bosun server as a node. It registers the
Node, renews its Lease, runs the pods the scheduler binds to it as
containers on containerd (one network namespace per pod, CNI bridge
networking from the node's pod CIDR), probes and restarts them, writes their
status, and programs nftables (or iptables) so ClusterIP and NodePort Services answer.

It talks to the server only through the API (--server), over HTTPS with a
node certificate. The first start joins the cluster with a bootstrap token:
the agent checks the server's CA against --ca-cert-hash before it sends the
token, obtains a certificate for "system:node:<node-name>" and keeps it in
<data-dir>/agent/pki (renewed before it expires). Unless
--containerd-socket names a running containerd, it starts its own in
<data-dir>/containerd. Static pods in --pod-manifest-path keep running
while the server is unreachable. Needs root.

With several servers (a highly available control plane), --server may
list some of them, comma-separated; one is enough. The agent learns every
server of the cluster (GET /bosun/v1/servers) every 30 s, saves the list in
<data-dir>/agent/servers.json, and moves to another server within seconds
when its own stops answering. Pods keep running meanwhile: the agent never
stops a container because the API is unreachable.

  bosun agent --server https://10.0.0.1:6443 --token abcdef.0123456789abcdef \
      --ca-cert-hash sha256:…   # as printed by "bosun token create" on the server
  bosun agent                   # later starts: the stored credential is used
  bosun agent --cleanup        # remove every pod, network namespace and service rule bosun made, then exit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if cleanupOnly {
				err := cleanup.Node(cmd.Context(), cleanup.Config{
					DataDir:          a.dataDir,
					ContainerdSocket: a.containerdSocket,
					ContainerdBinary: a.containerdBinary,
					CNIBinDirs:       a.cniBinDirs,
					Logger:           logger,
				})
				if err != nil {
					return fmt.Errorf("agent --cleanup: %w", err)
				}
				return nil
			}
			if a.token == "" {
				a.token = os.Getenv("BOSUN_TOKEN")
			}
			a.notifyReady = true
			defer notifyStopping(cmd.Context(), logger)()
			return runAgent(cmd.Context(), a, g.server, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.dataDir, "data-dir", "/var/lib/bosun", "directory for containerd, pod files, logs and the network state")
	f.StringVar(&a.serviceCIDR, "service-cidr", "", "the cluster's Service range: the service proxy programs no Service address outside it (default: the range the server publishes)")
	f.StringVar(&a.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the cluster's pod range: pod traffic to outside it is masqueraded, and traffic from outside it to Services")
	f.StringVar(&a.token, "token", "", "bootstrap token (ID.SECRET) to join the cluster with; needed only until the node has its credential (default: env BOSUN_TOKEN)")
	f.StringVar(&a.caCertHash, "ca-cert-hash", "", "sha256:HEX of the cluster CA's public key, checked before the token is sent (printed by \"bosun token create\")")
	f.BoolVar(&cleanupOnly, "cleanup", false, "stop and remove every pod of this node's runtime (in --data-dir), the pod bridge and bosun's service rules (iptables chains, nftables table), then exit")
	addAgentFlags(f, a)
	return withConfigFile(cmd, g, func() *pflag.FlagSet { return newServerCommand(g).Flags() })
}

// newRoutes returns the node's host-gw routes controller (package routes)
// in this network namespace, and the func that closes its netlink socket.
func newRoutes(a *agentConfig, c *client.Client, ip net.IP, logger *slog.Logger) (*routes.Controller, func(), error) {
	table, err := routes.NewNetlinkTable("")
	if err != nil {
		return nil, nil, fmt.Errorf("agent: pod routes: %w", err)
	}
	masq, err := routes.NewIPTablesMasquerade("")
	if err != nil {
		table.Close()
		return nil, nil, fmt.Errorf("agent: pod masquerading: %w", err)
	}
	nodeIP, _ := netip.AddrFromSlice(ip)
	rc, err := routes.New(routes.Config{
		NodeName:    a.nodeName,
		NodeIP:      nodeIP.Unmap(),
		Client:      c,
		Table:       table,
		Masquerade:  masq,
		ClusterCIDR: a.clusterCIDR,
		Logger:      logger,
	})
	if err != nil {
		table.Close()
		return nil, nil, fmt.Errorf("agent: --cluster-cidr: %w", err)
	}
	return rc, table.Close, nil
}

// runAgent runs a node agent (and its Service proxy) until ctx ends, talking
// to server (see connectAgent).
func runAgent(ctx context.Context, a *agentConfig, server string, logger *slog.Logger) error {
	if os.Geteuid() != 0 {
		return errors.New("agent: running containers needs root (run as root, or start bosun server with --no-agent)")
	}
	if a.nodeName == "" {
		return errors.New("agent: --node-name is required (the host name could not be read)")
	}
	logger = logger.With("node", a.nodeName)
	reg := a.metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	agentDir := filepath.Join(a.dataDir, "agent")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ip, err := host.IP(a.nodeIP)
	if err != nil {
		return fmt.Errorf("agent: --node-ip: %w", err)
	}
	conn, err := connectAgent(ctx, a, server, []net.IP{ip}, logger)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	c := conn.client

	ctx, cancel := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	// On every return, early ones included: stop what was started and wait
	// for it (registered again below, to run before the clients close).
	stop := func() { cancel(); _ = g.Wait() }
	defer stop()
	address := a.containerdSocket
	if address == "" {
		sup, err := containerdproc.Start(ctx, containerdproc.Config{
			Binary: a.containerdBinary,
			Dir:    filepath.Join(a.dataDir, "containerd"),
			Logger: logger.With("component", "containerd"),
		})
		if err != nil {
			return fmt.Errorf("agent: start containerd: %w", err)
		}
		address = sup.Address()
		g.Go(func() error { sup.Wait(); return nil })
	}
	cc, err := containerdproc.Connect(ctx, address)
	if err != nil {
		return fmt.Errorf("agent: connect to containerd at %s: %w", address, err)
	}
	defer cc.Close()

	nodes, _ := api.Lookup("nodes")
	podNet := network.NewLazy(network.Config{
		Dir:     filepath.Join(agentDir, "network"),
		BinDirs: a.cniBinDirs,
		Logger:  logger.With("component", "network"),
	}, func(ctx context.Context) (string, error) {
		o, err := c.Get(ctx, nodes, "", a.nodeName)
		if err != nil {
			return "", err
		}
		return o.(*corev1.Node).Spec.PodCIDR, nil
	})
	rt, err := ctrdruntime.New(ctx, ctrdruntime.Config{
		Client:  cc,
		Network: podNet,
		Dir:     filepath.Join(agentDir, "runtime"),
		Logger:  logger.With("component", "runtime"),
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer rt.Close()
	defer stop()
	// The image tarballs are imported while the node registers and reports
	// Ready: pods wait for them (PodsAfter), the node's status does not.
	imported := make(chan struct{})
	g.Go(func() error {
		if _, err := images.ImportDir(ctx, cc, a.imagesDir(), logger); err != nil {
			return fmt.Errorf("import images: %w", err)
		}
		close(imported)
		return nil
	})

	// host-gw: routes to the other nodes' pod CIDRs, and the masquerade of
	// pod traffic leaving the cluster; the node is Ready only once both are
	// in place.
	podRoutes, closeRoutes, err := newRoutes(a, c, ip, logger)
	if err != nil {
		return err
	}
	g.Go(func() error { defer closeRoutes(); return podRoutes.Run(ctx) })
	podDNS, err := startDNS(ctx, g, a, c, ip, logger.With("component", "dns"))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	agent, err := nodeagent.New(nodeagent.Config{
		NodeName:        a.nodeName,
		Client:          c,
		Runtime:         rt,
		Logger:          logger,
		Version:         version,
		Capacity:        host.Capacity(),
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: a.nodeName}},
		RootDir:         filepath.Join(agentDir, "pods"),
		RunProbes:       true,
		PodManifestPath: a.podManifestPath,
		APIPort:         int32(a.apiPort),
		Network:         podRoutes,
		PodDNS:          podDNS,
		ClusterDomain:   a.clusterDomain,
		EventQPS:        eventQPS(a.eventQPS),
		Metrics:         reg,
		EventBurst:      a.eventBurst,
		PodsAfter:       imported,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	g.Go(func() error { return agent.Run(ctx) })
	// Learn every API server of the cluster, so that the agent fails over
	// to one when its own dies, even across a restart of the agent.
	refresh := client.ServerRefresh{Client: c, Static: conn.servers, Path: a.serverListPath(), Logger: logger.With("component", "servers")}
	g.Go(func() error { return refresh.Run(ctx) })
	// CPU and memory of the node and its containers, every 10 s, for
	// kubectl top (metrics.k8s.io) through the agent API.
	usage, err := stats.New(stats.Config{NodeName: a.nodeName, Runtime: rt, Logger: logger.With("component", "stats")})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	g.Go(func() error { return usage.Run(ctx) })
	apiCfg := agentapi.Config{
		Addresses: agentapi.Addresses(ip.String(), a.apiPort),
		Pods:      agent,
		Runtime:   rt,
		Logs:      rt,
		Stats:     usage,
		Logger:    logger.With("component", "agentapi"),
		Metrics:   metrics.Handler(reg),
	}
	if conn.creds != nil {
		// The node's certificate serves the port; only the cluster CA's
		// system:masters (the API server) may use it. Renewed in place.
		apiCfg.GetCertificate, apiCfg.ClientCAs = conn.creds.KeyPair.GetCertificate, conn.creds.CAPool
		r, err := join.NewRenewer(join.RenewConfig{
			Server:        conn.server,
			CurrentServer: c.URL,
			Credentials:   *conn.creds,
			DNSNames:      []string{a.nodeName},
			IPs:           []net.IP{ip},
			Logger:        logger.With("component", "certificates"),
		})
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		g.Go(func() error { return r.Run(ctx) })
	} else {
		// No credential (a plain-HTTP development server): the port
		// authenticates nothing, so it listens on loopback only.
		apiCfg.Insecure = true
		apiCfg.Addresses = agentapi.Addresses("127.0.0.1", a.apiPort)
	}
	apiSrv, err := agentapi.New(apiCfg)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	g.Go(func() error { return apiSrv.Run(ctx) })

	if !a.noProxy {
		mode, err := proxy.ParseMode(a.proxyMode)
		if err != nil {
			return fmt.Errorf("agent: --proxy-mode: %w", err)
		}
		p, err := proxy.New(proxy.Config{
			Client:       c,
			Mode:         mode,
			ClusterCIDR:  a.clusterCIDR,
			ServiceCIDRs: serviceCIDRs(ctx, a.serviceCIDR, c, logger),
			// NodePorts answer on every local address, as kube-proxy's default.
			Logger:  logger,
			Metrics: reg,
		})
		if err != nil {
			return fmt.Errorf("agent: service proxy: %w", err)
		}
		g.Go(func() error { return p.Run(ctx) })
		logger.Info("service proxy started", "mode", p.Mode())
	}
	if a.notifyReady {
		g.Go(func() error {
			notifyWhenReady(ctx, sdnotify.FromEnv(), "node", nodeReady(c, a.nodeName), logger)
			return nil
		})
	}
	logger.Info("node agent started", "containerd", address, "ip", ip)
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// dnsClients are the sources the node's DNS server answers: pods, loopback,
// its own address and the node IP (which differ under --cluster-dns).
func dnsClients(pods netip.Prefix, dnsIP netip.Addr, nodeIP net.IP) []netip.Prefix {
	out := []netip.Prefix{pods, netip.MustParsePrefix("127.0.0.0/8"), netip.PrefixFrom(dnsIP, dnsIP.BitLen())}
	if n, ok := netip.AddrFromSlice(nodeIP); ok {
		if n = n.Unmap(); n != dnsIP {
			out = append(out, netip.PrefixFrom(n, n.BitLen()))
		}
	}
	return out
}

// startDNS starts the node's DNS server for pods (unless --no-dns): it
// answers the cluster domain from a watch of Services and Endpoints and
// forwards the rest to the host's resolvers, on port 53 of --cluster-dns
// (the node IP by default), to pods, the node and loopback only. It returns
// what computes each pod's resolv.conf.
func startDNS(ctx context.Context, g *errgroup.Group, a *agentConfig, c *client.Client, nodeIP net.IP, logger *slog.Logger) (*dns.PodConfigurer, error) {
	conf := &dns.PodConfigurer{ClusterDomain: a.clusterDomain, HostResolvConf: a.resolvConf, Logger: logger}
	if a.noDNS {
		return conf, nil // no ClusterDNS: ClusterFirst pods get the host's resolv.conf
	}
	dnsIP := a.clusterDNS
	if dnsIP == "" {
		dnsIP = nodeIP.String()
	}
	ipAddr, err := netip.ParseAddr(dnsIP)
	if err != nil {
		return nil, fmt.Errorf("--cluster-dns %q: %w", a.clusterDNS, err)
	}
	upstreams := a.dnsUpstreams
	if len(upstreams) == 0 {
		host, err := dns.ReadResolvConf(a.resolvConf)
		if err != nil {
			return nil, fmt.Errorf("--resolv-conf: %w", err)
		}
		upstreams = host.Upstreams(dnsIP)
	}
	pods, err := netip.ParsePrefix(a.clusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	src, err := dns.NewAPISource(c, logger)
	if err != nil {
		return nil, err
	}
	srv, err := dns.New(dns.Config{
		Addr:      net.JoinHostPort(dnsIP, "53"),
		Domain:    a.clusterDomain,
		Lister:    src,
		Upstreams: upstreams,
		Clients:   dnsClients(pods, ipAddr, nodeIP),
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	g.Go(func() error { return src.Run(ctx) })
	g.Go(func() error {
		if err := srv.Run(ctx); err != nil {
			return fmt.Errorf("dns on %s: %w (--cluster-dns names another address, --no-dns turns it off)", net.JoinHostPort(dnsIP, "53"), err)
		}
		return nil
	})
	conf.ClusterDNS = []string{dnsIP}
	return conf, nil
}

// eventQPS turns --event-qps into nodeagent.Config.EventQPS, where 0 means
// the default and a negative value none.
func eventQPS(flag float64) float64 {
	if flag <= 0 {
		return -1
	}
	return flag
}

// serviceCIDRs returns the service range the proxy keeps to: flag when
// given, else the one the server publishes; none (no guard, with a
// warning) when the server does not say.
func serviceCIDRs(ctx context.Context, flag string, c *client.Client, logger *slog.Logger) []string {
	if flag != "" {
		return []string{flag}
	}
	info, err := c.ClusterInfo(ctx)
	if err != nil || info.ServiceCIDR == "" {
		logger.Warn("the server does not say its service CIDR: the service proxy programs every Service address; give --service-cidr", "err", err)
		return nil
	}
	return []string{info.ServiceCIDR}
}
