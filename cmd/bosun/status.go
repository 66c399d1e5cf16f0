package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/printers"
	"github.com/bosun-dev/bosun/client/rollout"
	"github.com/bosun-dev/bosun/sync/state"
)

// Exit codes of bosun status --wait.
const (
	waitExitFailed   = 1
	waitExitTimedOut = 2
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var (
		output  string
		wait    bool
		timeout time.Duration
		commit  string
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which commit is synced and what the last attempt did",
		Long: `status shows the repository bosun syncs, the commit the cluster runs, and
the last sync attempt. When the last commit was rejected, it names the
commit that keeps running and lists every problem as
file:line: Kind namespace/name: field: message.

The exit status is 0 when the last attempt applied, 1 when it was rejected
or failed, so scripts can check it.

With --wait, status then follows the rollout of the synced commit (with
--commit SHA, first waits for that commit to be synced): for every
Deployment synced from Git it shows updated, ready and available replicas of
the desired count (bars on a terminal, a line per change otherwise) until
all are rolled out. Exit status: 0 rolled out; 1 failed (a Deployment
exceeded its progress deadline, new pods crash-loop or cannot pull their
image, with the pods' reasons; or the sync was rejected); 2 --timeout
passed first. A failed or unfinished rollout ends with the Warning Events
of what had not rolled out (why its pods are Pending, failing probes,
image pulls), as kubectl describe shows them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else if err := printers.PrintStatus(out, st, time.Now()); err != nil {
				return err
			}
			if wait {
				fmt.Fprintln(out)
				res, err := rollout.Wait(cmd.Context(), c, rollout.Options{
					Out: out, Terminal: isTerminal(out), Commit: commit, Timeout: timeout,
				})
				if err != nil {
					return err
				}
				switch res.Outcome {
				case rollout.Failed:
					return exitError{code: waitExitFailed}
				case rollout.TimedOut:
					return exitError{code: waitExitTimedOut}
				}
				return nil
			}
			if la := st.LastAttempt; la != nil && la.Result != state.ResultApplied && la.Result != state.ResultWaiting {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the synced commit's rollout until it succeeds, fails or times out")
	cmd.Flags().DurationVar(&timeout, "timeout", rollout.DefaultTimeout, "with --wait: give up after this long (exit 2)")
	cmd.Flags().StringVar(&commit, "commit", "", "with --wait: first wait for this commit (SHA or prefix) to be synced")
	return cmd
}

// isTerminal reports whether w is a character device (a terminal), where
// progress is redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var (
		limit     int
		output    string
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "history [deploy/NAME]",
		Short: "List the commits bosun tried to sync, or a Deployment's revisions",
		Long: `history lists every commit bosun tried: its SHA, time, author and subject,
and the result — applied, rejected (with the reason), failed (Git or etcd
could not be reached; retried) or rolled back.

"history deploy/NAME" lists that Deployment's revisions instead: its
ReplicaSets by revision, with their images, when each was created and the
commit that made it. The commit is found in the sync history: it is the
last commit applied (with changes) at or before the ReplicaSet was created,
since the Deployment controller creates a new ReplicaSet right after a
commit changes the pod template. A ReplicaSet brought back by a rollback
shows "N (was M)" and the commit that first created it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				kind, name, ok := strings.Cut(args[0], "/")
				r, known := api.Lookup(kind)
				if !ok || name == "" || !known || r.Kind != "Deployment" {
					return fmt.Errorf("history: %q: want deploy/NAME", args[0])
				}
				revs, err := rollout.Revisions(cmd.Context(), c, namespace, name)
				if err != nil {
					return fmt.Errorf("history: %w", err)
				}
				if output == "json" {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(revs)
				}
				return printers.PrintRevisions(cmd.OutOrStdout(), revs, time.Now())
			}
			h, err := c.History(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(h)
			}
			return printers.PrintHistory(cmd.OutOrStdout(), h, time.Now())
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many entries to show (0 = all)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: a table)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace of the Deployment")
	return cmd
}

// checkOutput accepts the -o values of status and history.
func checkOutput(o string) error {
	if o != "" && o != "json" {
		return fmt.Errorf("-o %q: status and history print text or json", o)
	}
	return nil
}
