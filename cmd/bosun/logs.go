package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
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
			c, err := client.New(g.server)
			if err != nil {
				return err
			}
			pod, err := resolvePod(cmd.Context(), c, namespace, args[0])
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
			c, err := client.New(g.server)
			if err != nil {
				return err
			}
			pod, err := resolvePod(cmd.Context(), c, namespace, args[0])
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

// resolvePod turns "NAME", "pod/NAME", "deploy/NAME" or "rs/NAME" into a
// pod name: for a Deployment or ReplicaSet, one of the pods its selector
// picks (running ones first, then the newest), as kubectl does.
func resolvePod(ctx context.Context, c *client.Client, ns, arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	if name == "" {
		return "", fmt.Errorf("%q: want KIND/NAME, e.g. deploy/web", arg)
	}
	r, found := api.Lookup(kind)
	if !found {
		return "", fmt.Errorf("%q: unknown kind %q (want pod, deploy or rs)", arg, kind)
	}
	var sel *metav1.LabelSelector
	switch r.Name {
	case "pods":
		return name, nil
	case "deployments", "replicasets":
		obj, err := c.Get(ctx, r, ns, name)
		if err != nil {
			return "", err
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			sel = o.Spec.Selector
		case *appsv1.ReplicaSet:
			sel = o.Spec.Selector
		}
	default:
		return "", fmt.Errorf("%q: logs and exec take a pod, a deployment or a replicaset, not %s", arg, r.Name)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return "", fmt.Errorf("%s %s has no usable selector", r.Name, name)
	}
	pods, _ := api.Lookup("pods")
	objs, err := c.List(ctx, pods, ns, s.String())
	if err != nil {
		return "", err
	}
	var cands []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.DeletionTimestamp == nil {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("%s %s in namespace %s has no pods", r.Name, name, ns)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ri, rj := cands[i].Status.Phase == corev1.PodRunning, cands[j].Status.Phase == corev1.PodRunning
		if ri != rj {
			return ri
		}
		if !cands[i].CreationTimestamp.Equal(&cands[j].CreationTimestamp) {
			return cands[j].CreationTimestamp.Before(&cands[i].CreationTimestamp)
		}
		return cands[i].Name < cands[j].Name
	})
	return cands[0].Name, nil
}
