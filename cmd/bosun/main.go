// Command bosun is a GitOps container orchestrator: a Git repository of
// Kubernetes YAML is the desired state, synced whole commits at a time into
// etcd and served through a Kubernetes-shaped API.
//
// Run "bosun --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-dev/bosun/client"
)

// exitError carries an exit code for errors that were already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// globalOptions are the flags every command has, and what of the
// environment the client's kubeconfig search reads.
type globalOptions struct {
	// server is --server (default $BOSUN_SERVER): it overrides the
	// kubeconfig's URL, or names a server to use without credentials.
	server string
	// kubeconfig is --kubeconfig: the only kubeconfig read when set.
	kubeconfig string
	logLevel   string
	logFormat  string

	// kubeconfigEnv is $KUBECONFIG, homeDir the user's home (for
	// ~/.kube/config) and fallbackKubeconfig the file read last; main sets
	// them, tests leave them empty so that no file of the machine is read.
	kubeconfigEnv      string
	homeDir            string
	fallbackKubeconfig string
}

// client returns the API client every command uses: the kubeconfig found
// as kubectl finds it (--kubeconfig, $KUBECONFIG, ~/.kube/config), then
// the server's admin kubeconfig on this machine, with --server overriding
// the URL (package client, NewFromKubeconfig).
func (g *globalOptions) client(opts ...client.Option) (*client.Client, error) {
	return client.NewFromKubeconfig(client.KubeconfigOptions{
		ExplicitPath: g.kubeconfig,
		EnvPaths:     g.kubeconfigEnv,
		HomeDir:      g.homeDir,
		Fallback:     g.fallbackKubeconfig,
		Server:       g.server,
	}, opts...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "bosun:", err)
		os.Exit(1)
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	home, _ := os.UserHomeDir() // no home: ~/.kube/config is not looked at
	g := &globalOptions{
		kubeconfigEnv:      os.Getenv(clientcmd.RecommendedConfigPathEnvVar),
		homeDir:            home,
		fallbackKubeconfig: client.FallbackKubeconfig,
	}
	root := &cobra.Command{
		Use:   "bosun",
		Short: "GitOps container orchestrator: a Git repository of Kubernetes YAML is the desired state",
		Long: `bosun runs containers the way a Git repository of Kubernetes YAML says.

"bosun server" syncs a branch of a repository into etcd, whole commits at a
time: a commit with one invalid manifest is rejected whole and the last good
commit keeps running. "bosun token create" prints the command that joins
another machine to the cluster.

Client commands talk to a server's API over HTTPS with a kubeconfig, found
as kubectl finds one: --kubeconfig, else $KUBECONFIG, else ~/.kube/config,
else /var/lib/bosun/kubeconfig (the admin kubeconfig "bosun server" writes;
"bosun kubeconfig" prints it). --server (or $BOSUN_SERVER) overrides the
kubeconfig's URL; without a kubeconfig it names a plain-HTTP development
listener.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.server, "server", os.Getenv(client.EnvServer),
		"URL of the bosun API, overriding the kubeconfig's (env "+client.EnvServer+")")
	root.PersistentFlags().StringVar(&g.kubeconfig, "kubeconfig", "",
		"kubeconfig file to use (default: $KUBECONFIG, ~/.kube/config, then "+client.FallbackKubeconfig+")")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		newServerCommand(g),
		newValidateCommand(),
		newRenderCommand(),
		newGetCommand(g),
		newDescribeCommand(g),
		newDiffCommand(g),
		newLogsCommand(g),
		newExecCommand(g),
		newStatusCommand(g),
		newHistoryCommand(g),
		newScaleCommand(g),
		newSetCommand(g),
		newRollbackCommand(g),
		newRolloutCommand(g),
		newAgentCommand(g),
		newHollowCommand(g),
		newImageCommand(),
		newTokenCommand(g),
		newEtcdCommand(g),
		newMemberCommand(),
		newKubeconfigCommand(),
		newVersionCommand(),
		newCheckCommand(),
		newInstallCommand(g), newUninstallCommand(g),
	)
	root.AddCommand(newControlCommands(g)...)
	return root
}

// logger builds the process logger from the global flags.
func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
}
