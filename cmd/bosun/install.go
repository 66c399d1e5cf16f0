package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/install"
	"github.com/bosun-dev/bosun/internal/sdnotify"
	"github.com/bosun-dev/bosun/nodeagent/cleanup"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/nodeagent/routes"
)

// installOptions are the flags of "bosun install server|agent" that are
// not the service's own.
type installOptions struct {
	root         string
	noStart      bool
	readyTimeout time.Duration
}

// notConfigFlag reports whether a flag is never written to the config
// file: install's own, the client's, and those that make no sense in a
// service.
func notConfigFlag(name string) bool {
	switch name {
	case "root", "no-start", "ready-timeout", "help", "kubeconfig", "cleanup", "config", "print-config":
		return true
	}
	return false
}

func newInstallCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "install server|agent [flags]",
		Short: "Install bosun as a systemd service: binary, config file, unit; enable and start it",
		Long: `install puts this bosun on the machine as a systemd service, as k3s's
installer does: it copies the running binary to /usr/local/bin/bosun
(written beside it and renamed over it, so replacing the binary of a running
service is safe: that is the upgrade), writes the flags given after
"server" or "agent" to /etc/bosun/config.yaml (flag names as keys, mode
0600: it may hold a token), writes /etc/systemd/system/bosun-server.service
or bosun-agent.service (Type=notify, KillMode=process so that pods survive a
restart of the service, Delegate=yes, Restart=always), runs systemctl
daemon-reload, enable and restart, and waits until the service is ready:
the server's API answers, or the agent's node is registered and Ready.

Run it again with other flags to change the configuration, or from a newer
bosun to upgrade. Needs root. "bosun uninstall" undoes it.`,
	}
	cmd.AddCommand(newInstallRoleCommand(g, install.Server), newInstallRoleCommand(g, install.Agent))
	return cmd
}

// newInstallRoleCommand is "install server" or "install agent": the
// service's own flags (those of "bosun server" or "bosun agent") and
// install's.
func newInstallRoleCommand(g *globalOptions, role install.Role) *cobra.Command {
	o := &installOptions{}
	service := newServerCommand(g)
	example := `  bosun install server --repo https://git.example.com/team/deploy.git \
      --webhook-secret-file /etc/bosun/hook-secret
  # prints the admin kubeconfig's path; then: bosun token create`
	if role == install.Agent {
		service = newAgentCommand(g)
		example = `  bosun install agent --server https://10.0.0.1:6443 --token ID.SECRET \
      --ca-cert-hash sha256:HEX   # as "bosun token create" prints them`
	}
	cmd := &cobra.Command{
		Use:   string(role) + " [flags of bosun " + string(role) + "]",
		Short: "Install and start bosun-" + string(role) + ".service with these flags of \"bosun " + string(role) + "\"",
		Long: `Installs bosun-` + string(role) + `.service: every flag of "bosun ` + string(role) + `" given
here goes into /etc/bosun/config.yaml (see "bosun ` + string(role) + ` --help"). An
agent needs --server and --token (or $BOSUN_TOKEN) to join; install refuses
to start without them.

Examples:
` + example,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInstall(cmd, g, role, o)
		},
	}
	f := cmd.Flags()
	f.AddFlagSet(service.Flags())
	if f.Lookup("cleanup") != nil {
		_ = f.MarkHidden("cleanup") // "bosun agent --cleanup" is no service
	}
	f.StringVar(&o.root, "root", "/", "write every file under this directory instead of / (for packaging and tests); systemctl is not run unless it is /")
	f.BoolVar(&o.noStart, "no-start", false, "write the files only: no systemctl daemon-reload, enable or start")
	f.DurationVar(&o.readyTimeout, "ready-timeout", 5*time.Minute, "how long to wait for the service to report it is ready")
	return cmd
}

func runInstall(cmd *cobra.Command, g *globalOptions, role install.Role, o *installOptions) error {
	flags, err := flagsAsConfig(cmd.Flags(), role)
	if err != nil {
		return err
	}
	if role == install.Agent {
		if _, ok := flags["server"]; !ok && g.server != "" {
			flags["server"] = g.server // from $BOSUN_SERVER
		}
		if _, ok := flags["token"]; !ok && os.Getenv("BOSUN_TOKEN") != "" {
			flags["token"] = os.Getenv("BOSUN_TOKEN")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: the running binary: %w", err)
	}
	noStart := o.noStart || !isMachineRoot(o.root)
	ctx, cancel := context.WithTimeout(cmd.Context(), o.readyTimeout)
	defer cancel()
	res, err := install.Install(ctx, install.Config{
		Root: o.root, Role: role, Binary: exe, Flags: flags, NoStart: noStart, Systemctl: install.ExecSystemctl{},
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "installed %s, %s and %s\n", res.Binary, res.Config, res.Unit)
	if !res.Started {
		fmt.Fprintf(out, "not started; to start it: systemctl daemon-reload && systemctl enable %s && systemctl restart %s\n", role.UnitName(), role.UnitName())
		return nil
	}
	printInstalled(out, role, flags)
	return nil
}

// printInstalled says what the ready service is: the server's admin
// kubeconfig, or the agent's node.
func printInstalled(out io.Writer, role install.Role, flags map[string]any) {
	if role == install.Server {
		kc, _ := flags["write-kubeconfig"].(string)
		if kc == "" {
			dir, _ := flags["data-dir"].(string)
			if dir == "" {
				dir = install.DataDir
			}
			kc = dir + "/kubeconfig"
		}
		fmt.Fprintf(out, "%s is ready; admin kubeconfig: %s (bosun and kubectl find it there; \"bosun token create\" prints how other machines join)\n", role.UnitName(), kc)
		return
	}
	node, _ := flags["node-name"].(string)
	if node == "" {
		host, _ := os.Hostname()
		node = strings.ToLower(host)
	}
	fmt.Fprintf(out, "%s is ready: node %s joined %v as system:node:%s\n", role.UnitName(), node, flags["server"], node)
}

// isMachineRoot reports whether root is the machine's own.
func isMachineRoot(root string) bool { return root == "" || root == "/" }

// flagsAsConfig returns the flags set on the command line, by name, as the
// config file holds them: strings, bools, numbers, lists.
func flagsAsConfig(fs *pflag.FlagSet, role install.Role) (map[string]any, error) {
	out := map[string]any{}
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err != nil || notConfigFlag(f.Name) || (f.Name == "server" && role == install.Server) {
			return
		}
		var v any
		v, err = flagValue(f)
		out[f.Name] = v
	})
	return out, err
}

// flagValue is f's value as the YAML type of its flag type.
func flagValue(f *pflag.Flag) (any, error) {
	if s, ok := f.Value.(pflag.SliceValue); ok {
		return s.GetSlice(), nil
	}
	var v any
	var err error
	switch t := f.Value.Type(); t {
	case "bool":
		v, err = strconv.ParseBool(f.Value.String())
	case "int", "int8", "int16", "int32", "int64":
		v, err = strconv.ParseInt(f.Value.String(), 10, 64)
	case "uint", "uint8", "uint16", "uint32", "uint64":
		v, err = strconv.ParseUint(f.Value.String(), 10, 64)
	case "float32", "float64":
		v, err = strconv.ParseFloat(f.Value.String(), 64)
	default: // strings, durations, addresses: as written
		v = f.Value.String()
	}
	if err != nil {
		return nil, fmt.Errorf("install: --%s: %w", f.Name, err)
	}
	return v, nil
}

// uninstallOptions are the flags of "bosun uninstall".
type uninstallOptions struct {
	root    string
	dataDir string
	purge   bool
}

func newUninstallCommand(g *globalOptions) *cobra.Command {
	o := &uninstallOptions{}
	cmd := &cobra.Command{
		Use:   "uninstall [--purge]",
		Short: "Stop and remove bosun's services, pods, network state and files (the data directory with --purge)",
		Long: `uninstall undoes "bosun install", as k3s's uninstall script does: it stops
and disables bosun-server.service and bosun-agent.service, removes every
pod, pod network namespace, the pod bridge, the routes to other nodes'
pods and bosun's iptables chains and nftables table (as "bosun agent
--cleanup"), stops bosun's own containerd and its shims and removes
containerd's runtime state, then removes /usr/local/bin/bosun, the units,
/etc/bosun and the admin kubeconfig bosun wrote. With --purge it also
removes the data directory (etcd, certificates, images, volumes): the
cluster's state is gone for good.

Last it checks that nothing is left (mounts and processes under the data
directory, the bridge, routes to the pod and Service ranges, iptables
chains, the nftables table) and fails listing what is. Needs root.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runUninstall(cmd.Context(), cmd.OutOrStdout(), o, logger)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.purge, "purge", false, "remove the data directory too: etcd, certificates, images, volumes")
	f.StringVar(&o.root, "root", "/", "work under this directory instead of / (for packaging and tests); systemctl is not run unless it is /")
	f.StringVar(&o.dataDir, "data-dir", "", "the data directory, under --root (default: the config file's data-dir, else "+install.DataDir+")")
	return cmd
}

func runUninstall(ctx context.Context, out io.Writer, o *uninstallOptions, logger *slog.Logger) error {
	flags, err := install.ReadConfig(install.Path(o.root, install.ConfigPath))
	if err != nil {
		logger.Warn("config file unreadable; using the default data directory and ranges", "err", err)
	}
	cfg := install.UninstallConfig{
		Root:    o.root,
		DataDir: o.dataDir,
		Purge:   o.purge,
		Cleanup: func(ctx context.Context, dataDir string) error {
			return cleanup.Node(ctx, cleanup.Config{
				DataDir:          dataDir,
				ContainerdSocket: stringFlag(flags, "containerd-socket", ""),
				ContainerdBinary: stringFlag(flags, "containerd-binary", ""),
				Logger:           logger,
			})
		},
		StopProcesses: func(ctx context.Context, dataDir string) error {
			return install.StopProcesses(ctx, dataDir, 5*time.Second)
		},
		Logger: logger,
	}
	if isMachineRoot(o.root) {
		cfg.Systemctl = install.ExecSystemctl{}
	}
	removed, err := install.Uninstall(ctx, cfg)
	for _, u := range removed.Units {
		fmt.Fprintf(out, "stopped and disabled %s\n", u)
	}
	for _, p := range removed.Paths {
		fmt.Fprintf(out, "removed %s\n", p)
	}
	if !o.purge {
		fmt.Fprintf(out, "kept the data directory %s (bosun uninstall --purge removes it)\n", removed.DataDir)
	}
	left, lerr := install.Leftovers(ctx, leftoverConfig(removed.DataDir, flags))
	if lerr != nil {
		logger.Warn("could not check for leftovers", "err", lerr)
	}
	if len(left) > 0 {
		return fmt.Errorf("uninstall: left behind:\n  %s", strings.Join(left, "\n  "))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "nothing of bosun is left on this machine")
	return nil
}

// leftoverConfig is what the uninstalled node could have left.
func leftoverConfig(dataDir string, flags map[string]any) install.LeftoverConfig {
	var cidrs []netip.Prefix
	for _, f := range []struct{ name, def string }{{"cluster-cidr", "10.244.0.0/16"}, {"service-cidr", "10.96.0.0/16"}} {
		if p, err := netip.ParsePrefix(stringFlag(flags, f.name, f.def)); err == nil {
			cidrs = append(cidrs, p)
		}
	}
	return install.LeftoverConfig{
		DataDir:       dataDir,
		Bridges:       []string{network.DefaultBridge, "cni0"},
		CIDRs:         cidrs,
		RouteProtocol: routes.Protocol,
		Chains:        "BOSUN",
		NFTable:       proxy.NFTablesTable,
	}
}

// stringFlag is a string of the config file, or def.
func stringFlag(flags map[string]any, name, def string) string {
	if s, ok := flags[name].(string); ok && s != "" {
		return s
	}
	return def
}

// notifyWhenReady sends READY=1 to systemd once ready succeeds, polling it
// every 200 ms until ctx ends; without $NOTIFY_SOCKET it does nothing.
func notifyWhenReady(ctx context.Context, n sdnotify.Notifier, what string, ready func(context.Context) error, logger *slog.Logger) {
	if !n.Enabled() {
		return
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if err := ready(ctx); err == nil {
			if _, err := n.Notify(sdnotify.Ready); err != nil {
				logger.Warn("telling systemd the service is ready failed", "err", err)
				return
			}
			logger.Info("told systemd the service is ready", "ready", what)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// apiAnswers is the server's readiness: its API answers over HTTPS with
// the admin kubeconfig it wrote.
func apiAnswers(kubeconfig string) func(context.Context) error {
	return func(ctx context.Context) error {
		c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: kubeconfig})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err = c.ClusterInfo(ctx)
		return err
	}
}

// nodeReady is the agent's readiness: its Node is registered and Ready.
func nodeReady(c *client.Client, name string) func(context.Context) error {
	nodes, _ := api.Lookup("nodes")
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		obj, err := c.Get(ctx, nodes, "", name)
		if err != nil {
			return err
		}
		for _, cond := range obj.(*corev1.Node).Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s is not Ready", name)
	}
}

// notifyStopping sends STOPPING=1 to systemd when ctx ends (the service
// got SIGTERM); the returned func cancels that.
func notifyStopping(ctx context.Context, logger *slog.Logger) func() bool {
	n := sdnotify.FromEnv()
	return context.AfterFunc(ctx, func() {
		if _, err := n.Notify(sdnotify.Stopping); err != nil {
			logger.Warn("telling systemd the service is stopping failed", "err", err)
		}
	})
}
