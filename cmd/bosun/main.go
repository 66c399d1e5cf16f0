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

	"github.com/bosun-dev/bosun/client"
)

// exitError carries an exit code for errors that were already reported.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// globalOptions are the flags every command has.
type globalOptions struct {
	server    string
	logLevel  string
	logFormat string
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
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "bosun",
		Short: "GitOps container orchestrator: a Git repository of Kubernetes YAML is the desired state",
		Long: `bosun runs containers the way a Git repository of Kubernetes YAML says.

"bosun server" syncs a branch of a repository into etcd, whole commits at a
time: a commit with one invalid manifest is rejected whole and the last good
commit keeps running. Client commands talk to a server's API (--server, or
the BOSUN_SERVER environment variable).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	defServer := os.Getenv(client.EnvServer)
	if defServer == "" {
		defServer = client.DefaultServer
	}
	root.PersistentFlags().StringVar(&g.server, "server", defServer, "URL of the bosun API (env "+client.EnvServer+")")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		newServerCommand(g),
		newValidateCommand(),
		newGetCommand(g),
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
		newVersionCommand(),
	)
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
