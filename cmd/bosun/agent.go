package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/images"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	ctrdruntime "github.com/bosun-dev/bosun/nodeagent/runtime/containerd"
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
	noProxy          bool
	imagesDirFlag    string
	apiPort          int
	drainDelay       time.Duration
}

// imagesDir is where image tarballs are imported from at start.
func (a *agentConfig) imagesDir() string {
	if a.imagesDirFlag != "" {
		return a.imagesDirFlag
	}
	return filepath.Join(a.dataDir, "agent", "images")
}

// importImages imports every *.tar in dir into containerd, as k3s does
// with its agent/images directory: a way to ship images without a
// registry.
func importImages(ctx context.Context, c *containerdclient.Client, dir string, logger *slog.Logger) error {
	tars, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, path := range tars {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("agent: import images: %w", err)
		}
		names, err := images.Import(ctx, c, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("agent: import %s: %w", path, err)
		}
		logger.Info("imported images", "file", path, "images", strings.Join(names, ","))
	}
	return nil
}

// addAgentFlags defines the agent's flags on f; server and agent share
// them (the data directory is the caller's).
func addAgentFlags(f interface {
	IntVar(p *int, name string, value int, usage string)
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
	f.BoolVar(&a.noProxy, "no-proxy", false, "do not program iptables for Services on this node")
	f.DurationVar(&a.drainDelay, "pod-drain-delay", 2*time.Second, "how long a deleted pod's containers keep running, so that Services stop sending it traffic before it stops")
	f.IntVar(&a.apiPort, "agent-port", agentapi.DefaultPort, "port of the agent's API (logs, exec), on 127.0.0.1 and the node IP; unauthenticated: keep it firewalled")
	f.StringVar(&a.imagesDirFlag, "images-dir", "", "import every image tarball (*.tar) in this directory at start (default <data-dir>/agent/images)")
}

func newAgentCommand(g *globalOptions) *cobra.Command {
	a := &agentConfig{}
	var cleanup bool
	cmd := &cobra.Command{
		Use:   "agent --server URL",
		Short: "Run a node agent: pods on containerd with CNI networking, and the Service proxy",
		Long: `agent joins this machine to a bosun server as a node. It registers the
Node, renews its Lease, runs the pods the scheduler binds to it as
containers on containerd (one network namespace per pod, CNI bridge
networking from the node's pod CIDR), probes and restarts them, writes their
status, and programs iptables so ClusterIP and NodePort Services answer.

It talks to the server only through the API (--server). Unless
--containerd-socket names a running containerd, it starts its own in
<data-dir>/containerd. Static pods in --pod-manifest-path keep running
while the server is unreachable. Needs root.

  bosun agent --server http://10.0.0.1:6780 --node-name worker-1
  bosun agent --cleanup        # remove every pod, network namespace and iptables chain bosun made, then exit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if cleanup {
				return cleanupNode(cmd.Context(), a, logger)
			}
			c, err := client.New(g.server)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), a, c, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.dataDir, "data-dir", "/var/lib/bosun", "directory for containerd, pod files, logs and the network state")
	f.StringVar(&a.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the cluster's pod range (traffic from outside it to Services is masqueraded)")
	f.BoolVar(&cleanup, "cleanup", false, "stop and remove every pod of this node's runtime (in --data-dir), the pod bridge and bosun's iptables chains, then exit")
	addAgentFlags(f, a)
	return cmd
}

// cleanupNode removes what an agent with this configuration made on the
// machine: every pod sandbox and container (with their network namespaces
// and CNI state, torn down through the runtime so that CNI DEL runs), the
// bridge, and bosun's iptables chains. The agent must not be running.
func cleanupNode(ctx context.Context, a *agentConfig, logger *slog.Logger) error {
	agentDir := filepath.Join(a.dataDir, "agent")
	var errs []error
	if _, err := os.Stat(agentDir); err == nil {
		if err := cleanupPods(ctx, a, agentDir, logger); err != nil {
			errs = append(errs, err)
		}
	}
	ipt, err := proxy.NewExec("")
	if err == nil {
		var p *proxy.Proxier
		if p, err = proxy.New(proxy.Config{Source: proxy.NewMemorySource(), IPTables: ipt, Logger: logger}); err == nil {
			err = p.Cleanup(ctx)
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("iptables: %w", err))
	} else {
		logger.Info("removed bosun's iptables chains and rules")
	}
	if err := exec.CommandContext(ctx, "ip", "link", "del", network.DefaultBridge).Run(); err == nil {
		logger.Info("removed the pod bridge", "bridge", network.DefaultBridge)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent --cleanup: %w", err)
	}
	return nil
}

// cleanupPods stops and removes every sandbox of the runtime in agentDir.
func cleanupPods(ctx context.Context, a *agentConfig, agentDir string, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	address := a.containerdSocket
	if address == "" {
		dir := filepath.Join(a.dataDir, "containerd")
		if _, err := os.Stat(dir); err != nil {
			return nil // no containerd of ours ever ran here
		}
		sup, err := containerdproc.Start(ctx, containerdproc.Config{Binary: a.containerdBinary, Dir: dir, Logger: logger.With("component", "containerd")})
		if err != nil {
			return fmt.Errorf("start containerd: %w", err)
		}
		defer sup.Wait()
		defer cancel()
		address = sup.Address()
	}
	cc, err := containerdproc.Connect(ctx, address)
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	defer cc.Close()
	// Teardown runs CNI DEL with the configuration cached when each pod was
	// set up, so the pod CIDR given here only has to be well-formed.
	podNet, err := network.New(network.Config{Dir: filepath.Join(agentDir, "network"), BinDirs: a.cniBinDirs, PodCIDR: "10.244.0.0/24", Logger: logger})
	if err != nil {
		return err
	}
	rt, err := ctrdruntime.New(ctx, ctrdruntime.Config{Client: cc, Network: podNet, Dir: filepath.Join(agentDir, "runtime"), Logger: logger})
	if err != nil {
		return err
	}
	defer rt.Close()
	sandboxes, err := rt.ListPodSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil {
		return err
	}
	var errs []error
	for _, sb := range sandboxes {
		if err := rt.StopPodSandbox(ctx, sb.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		logger.Info("removed pod", "pod", sb.Metadata.Namespace+"/"+sb.Metadata.Name, "sandbox", sb.ID)
	}
	ids, _ := podNet.List()
	for _, id := range ids {
		if err := podNet.Teardown(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// runAgent runs a node agent (and its Service proxy) until ctx ends.
func runAgent(ctx context.Context, a *agentConfig, c *client.Client, logger *slog.Logger) error {
	if os.Geteuid() != 0 {
		return errors.New("agent: running containers needs root (run as root, or start bosun server with --no-agent)")
	}
	if a.nodeName == "" {
		return errors.New("agent: --node-name is required (the host name could not be read)")
	}
	logger = logger.With("node", a.nodeName)
	agentDir := filepath.Join(a.dataDir, "agent")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}

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
	if err := importImages(ctx, cc, a.imagesDir(), logger); err != nil {
		return err
	}

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

	ip, err := nodeIP(a.nodeIP)
	if err != nil {
		return err
	}
	agent, err := nodeagent.New(nodeagent.Config{
		NodeName:        a.nodeName,
		Client:          c,
		Runtime:         rt,
		Logger:          logger,
		Version:         version,
		Capacity:        machineCapacity(),
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: a.nodeName}},
		RootDir:         filepath.Join(agentDir, "pods"),
		RunProbes:       true,
		PodManifestPath: a.podManifestPath,
		APIPort:         int32(a.apiPort),
		DrainDelay:      a.drainDelay,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	g.Go(func() error { return agent.Run(ctx) })
	apiSrv, err := agentapi.New(agentapi.Config{
		Addresses: agentapi.Addresses(ip.String(), a.apiPort),
		Pods:      agent,
		Runtime:   rt,
		Logs:      rt,
		Logger:    logger.With("component", "agentapi"),
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	g.Go(func() error { return apiSrv.Run(ctx) })

	if !a.noProxy {
		ipt, err := proxy.NewExec("")
		if err != nil {
			return fmt.Errorf("agent: service proxy: %w", err)
		}
		p, err := proxy.New(proxy.Config{
			Client:      c,
			IPTables:    ipt,
			ClusterCIDR: a.clusterCIDR,
			// NodePorts answer on every local address, as kube-proxy's default.
			Logger: logger,
		})
		if err != nil {
			return fmt.Errorf("agent: service proxy: %w", err)
		}
		g.Go(func() error { return p.Run(ctx) })
	}
	logger.Info("node agent started", "containerd", address, "ip", ip)
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// nodeIP returns the address to report: flag, or the source address of the
// default route's interface, or 127.0.0.1.
func nodeIP(flag string) (net.IP, error) {
	if flag != "" {
		ip := net.ParseIP(flag)
		if ip == nil {
			return nil, fmt.Errorf("agent: --node-ip %q is not an IP address", flag)
		}
		return ip, nil
	}
	// A UDP "connection" sends nothing; it only asks the kernel which local
	// address would be used.
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP, nil
	}
	return net.IPv4(127, 0, 0, 1), nil
}

// machineCapacity reads this machine's CPUs and memory.
func machineCapacity() corev1.ResourceList {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					capacity[corev1.ResourceMemory] = *resource.NewQuantity(kb<<10, resource.BinarySI)
				}
			}
		}
	}
	return capacity
}
