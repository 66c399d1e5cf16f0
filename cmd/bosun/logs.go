package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/client"
)

func newLogsCommand(g *globalOptions) *cobra.Command {
	var (
		namespace string
		opts      client.LogOptions
		tail      int
	)
	cmd := &cobra.Command{
		Use:   "logs POD | deploy/NAME | rs/NAME [-c CONTAINER]",
		Short: "Print the log of a container of a pod, as kubectl logs does",
		Long: `logs prints what a container of a pod wrote to stdout and stderr, read by
the pod's node agent from the container's log file and passed on by the
server. A pod with several containers needs -c. deploy/NAME and rs/NAME
pick one of their pods (a running one, the newest first).

Examples:
  bosun logs web-7d4b9c-x2x9q
  bosun logs deploy/hello -n demo -f
  bosun logs web-7d4b9c-x2x9q -c sidecar --tail 20 --timestamps
  bosun logs web-7d4b9c-x2x9q --previous     # the instance before the last restart`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, pod, err := g.podClient(cmd.Context(), namespace, args[0])
			if err != nil {
				return err
			}
			if tail == 0 {
				return nil // kubectl prints nothing for --tail 0
			}
			if tail > 0 {
				opts.TailLines = tail
			}
			rc, err := c.Logs(cmd.Context(), namespace, pod, opts)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.Copy(cmd.OutOrStdout(), rc); err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("logs: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the pod")
	f.StringVarP(&opts.Container, "container", "c", "", "container to print the log of (default: the pod's only container)")
	f.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing lines as they are written, until the container exits")
	f.BoolVarP(&opts.Previous, "previous", "p", false, "print the log of the container's previous instance")
	f.BoolVar(&opts.Timestamps, "timestamps", false, "start each line with its time (RFC 3339)")
	f.IntVar(&tail, "tail", -1, "print only the last N lines (-1: all)")
	return cmd
}

func newExecCommand(g *globalOptions) *cobra.Command {
	var (
		namespace string
		container string
		stdin     bool
	)
	cmd := &cobra.Command{
		Use:   "exec POD | deploy/NAME [-c CONTAINER] [-i] -- COMMAND [ARGS...]",
		Short: "Run a command in a container of a pod",
		Long: `exec runs a command in a running container of a pod, on its node, and
prints its output; bosun exits with the command's exit code. With -i, bosun's
standard input is the command's. There is no terminal (no -t): run
interactive shells as "sh -i" if needed. bosun's exec protocol is its own:
kubectl exec does not work against a bosun server.

Examples:
  bosun exec web-7d4b9c-x2x9q -- /app env
  bosun exec deploy/hello -n demo -c app -- ls -l /
  echo hi | bosun exec web-7d4b9c-x2x9q -i -- cat`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return errors.New("usage: bosun exec POD [-c CONTAINER] [-i] -- COMMAND [ARGS...]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, pod, err := g.podClient(cmd.Context(), namespace, args[0])
			if err != nil {
				return err
			}
			var in io.Reader
			if stdin {
				in = cmd.InOrStdin()
			}
			code, err := c.Exec(cmd.Context(), namespace, pod, container, args[1:], in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the pod")
	f.StringVarP(&container, "container", "c", "", "container to run the command in (default: the pod's only container)")
	f.BoolVarP(&stdin, "stdin", "i", false, "pass standard input to the command")
	return cmd
}

// podClient returns a client of the server and the name of the pod ref names
// in namespace (a pod, deploy/NAME or rs/NAME; see client.Client.PodFor).
func (g *globalOptions) podClient(ctx context.Context, namespace, ref string) (*client.Client, string, error) {
	c, err := g.client()
	if err != nil {
		return nil, "", err
	}
	pod, err := c.PodFor(ctx, namespace, ref)
	return c, pod, err
}
