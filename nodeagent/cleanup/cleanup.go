package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"sigs.k8s.io/knftables"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/routes"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	ctrdruntime "github.com/bosun-dev/bosun/nodeagent/runtime/containerd"
	"github.com/bosun-dev/bosun/nodeagent/volumes"
)

// Config says where the agent's state is.
type Config struct {
	// DataDir is the agent's data directory (its --data-dir): pods, network
	// and runtime state are under DataDir/agent, its own containerd under
	// DataDir/containerd.
	DataDir string
	// ContainerdSocket is the containerd the agent used; "" means the one it
	// supervises in DataDir/containerd.
	ContainerdSocket string
	// ContainerdBinary is the containerd program started when
	// ContainerdSocket is ""; default "containerd".
	ContainerdBinary string
	// CNIBinDirs hold the CNI plugins run for CNI DEL; default
	// network.DefaultBinDirs.
	CNIBinDirs []string
	// Bridge is the pod bridge to delete; default network.DefaultBridge.
	Bridge string
	// IPTables removes bosun's iptables chains. When IPTables and NFTables
	// are both nil, this network namespace's iptables and nftables are
	// cleaned; when only one is set, only that one.
	IPTables proxy.IPTables
	// NFTables removes bosun's nftables table (see IPTables).
	NFTables knftables.Interface
	// Routes removes the host-gw routes to other nodes and the masquerade
	// chain (package routes) and returns how many routes it deleted; nil
	// means routes.Cleanup in this network namespace.
	Routes func() (int, error)
	// Logger says what was removed; nil discards.
	Logger *slog.Logger
}

// Node removes the pods, network state, service rules and bridge an agent
// with cfg made. It returns the joined errors of the steps that failed.
func Node(ctx context.Context, cfg Config) error {
	defaults.Logger(&cfg.Logger)
	if cfg.Bridge == "" {
		cfg.Bridge = network.DefaultBridge
	}
	logger := cfg.Logger
	var errs []error
	agentDir := filepath.Join(cfg.DataDir, "agent")
	if _, err := os.Stat(agentDir); err == nil {
		if err := pods(ctx, cfg, agentDir); err != nil {
			errs = append(errs, fmt.Errorf("pods: %w", err))
		}
	}
	// Last of the pods' state: namespace files that no teardown removed (a
	// pod that never started, a CNI DEL that failed, no containerd to ask)
	// would keep the data directory from being removed.
	// Pods' memory volumes (tmpfs of secrets, projected and downward API
	// volumes) outlive an agent that is gone; they too would keep the data
	// directory from being removed.
	if err := volumes.UnmountAll(agentDir); err != nil {
		errs = append(errs, fmt.Errorf("volume mounts: %w", err))
	}
	if removed, err := network.RemoveNamespaces(cfg.DataDir); err != nil {
		errs = append(errs, fmt.Errorf("network namespaces: %w", err))
	} else if len(removed) > 0 {
		logger.Info("removed pods' network namespace mounts", "count", len(removed), "paths", removed)
	}
	p, err := proxy.New(proxy.Config{IPTables: cfg.IPTables, NFTables: cfg.NFTables, Logger: logger})
	if err == nil {
		err = p.Cleanup(ctx)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("service rules: %w", err))
	} else {
		logger.Info("removed bosun's service rules (iptables chains and nftables table)")
	}
	removeRoutes := cfg.Routes
	if removeRoutes == nil {
		removeRoutes = func() (int, error) { return routes.Cleanup("") }
	}
	if n, err := removeRoutes(); err != nil {
		errs = append(errs, fmt.Errorf("routes: %w", err))
	} else {
		logger.Info("removed the routes to other nodes' pods and the masquerade chain", "routes", n, "chain", routes.Chain)
	}
	// Deleting a bridge that is not there fails; that is the usual case
	// after the pods are gone on a node without one.
	if err := exec.CommandContext(ctx, "ip", "link", "del", cfg.Bridge).Run(); err == nil {
		logger.Info("removed the pod bridge", "bridge", cfg.Bridge)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}

// pods stops and removes every sandbox of the runtime in agentDir, then
// tears down the CNI state of pods whose sandbox was already gone.
func pods(ctx context.Context, cfg Config, agentDir string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := cfg.Logger
	address := cfg.ContainerdSocket
	if address == "" {
		dir := filepath.Join(cfg.DataDir, "containerd")
		if _, err := os.Stat(dir); err != nil {
			return nil // no containerd of ours ever ran here
		}
		binary := cfg.ContainerdBinary
		if binary == "" {
			binary = "containerd"
		}
		sup, err := containerdproc.Start(ctx, containerdproc.Config{Binary: binary, Dir: dir, Logger: logger.With("component", "containerd")})
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
	podNet, err := network.New(network.Config{Dir: filepath.Join(agentDir, "network"), BinDirs: cfg.CNIBinDirs, Bridge: cfg.Bridge, PodCIDR: "10.244.0.0/24", Logger: logger})
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
