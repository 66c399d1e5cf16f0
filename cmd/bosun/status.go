package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
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
passed first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := client.New(g.server)
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
			if st.LastAttempt != nil && st.LastAttempt.Result != state.ResultApplied {
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
			c, err := client.New(g.server)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				revs, err := deploymentRevisions(cmd, c, namespace, args[0])
				if err != nil {
					return err
				}
				if output == "json" {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(revs)
				}
				return printRevisions(cmd.OutOrStdout(), revs, time.Now())
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

// revision is one row of "bosun history deploy/NAME".
type revision struct {
	Revision   int64             `json:"revision"`
	Earlier    string            `json:"earlierRevisions,omitempty"`
	Current    bool              `json:"current,omitempty"`
	ReplicaSet string            `json:"replicaSet"`
	Images     []string          `json:"images"`
	Created    time.Time         `json:"created"`
	Commit     *state.CommitInfo `json:"commit,omitempty"`
}

func deploymentRevisions(cmd *cobra.Command, c *client.Client, ns, arg string) ([]revision, error) {
	ctx := cmd.Context()
	kind, name, ok := strings.Cut(arg, "/")
	r, known := api.Lookup(kind)
	if !ok || name == "" || !known || r.Kind != "Deployment" {
		return nil, fmt.Errorf("history: %q: want deploy/NAME", arg)
	}
	obj, err := c.Get(ctx, r, ns, name)
	if err != nil {
		return nil, err
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return nil, fmt.Errorf("history: %s/%s: got %T", ns, name, obj)
	}
	rsRes, _ := api.Lookup("replicasets")
	objs, err := c.List(ctx, rsRes, ns, "")
	if err != nil {
		return nil, err
	}
	hist, err := c.History(ctx, 0)
	if err != nil {
		return nil, err
	}
	var out []revision
	for _, o := range objs {
		rs, ok := o.(*appsv1.ReplicaSet)
		if !ok {
			continue
		}
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
		row := revision{
			Revision:   rev,
			Earlier:    rs.Annotations["deployment.kubernetes.io/revision-history"],
			Current:    rs.Annotations["deployment.kubernetes.io/revision"] == d.Annotations["deployment.kubernetes.io/revision"],
			ReplicaSet: rs.Name,
			Created:    rs.CreationTimestamp.Time,
		}
		for _, ct := range rs.Spec.Template.Spec.Containers {
			row.Images = append(row.Images, ct.Image)
		}
		if a, ok := commitAt(hist, rs.CreationTimestamp.Time); ok {
			ci := a.Commit
			row.Commit = &ci
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// commitAt returns the last applied attempt with changes made at or before
// created. History is newest first; creationTimestamp has whole seconds, so
// attempts are compared truncated to the second.
func commitAt(hist []state.Attempt, created time.Time) (state.Attempt, bool) {
	for _, a := range hist {
		if a.Result != state.ResultApplied || a.Created+a.Updated == 0 {
			continue
		}
		if !a.Time.Truncate(time.Second).After(created) {
			return a, true
		}
	}
	return state.Attempt{}, false
}

func printRevisions(w io.Writer, revs []revision, now time.Time) error {
	if len(revs) == 0 {
		_, err := fmt.Fprintln(w, "No revisions: the Deployment has no ReplicaSets yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tREPLICASET\tIMAGES\tCREATED\tCOMMIT\tSUBJECT")
	for _, r := range revs {
		rev := strconv.FormatInt(r.Revision, 10)
		if r.Earlier != "" {
			rev += " (was " + r.Earlier + ")"
		}
		if r.Current {
			rev += " *"
		}
		sha, subject := "<unknown>", ""
		if r.Commit != nil {
			sha, subject = r.Commit.Short(), r.Commit.Subject
		}
		created := "<unknown>"
		if !r.Created.IsZero() {
			created = duration.HumanDuration(now.Sub(r.Created)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rev, r.ReplicaSet, strings.Join(r.Images, ","), created, sha, subject)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("history: write: %w", err)
	}
	_, err := fmt.Fprintln(w, "* current revision")
	return err
}

// checkOutput accepts the -o values of status and history.
func checkOutput(o string) error {
	if o != "" && o != "json" {
		return fmt.Errorf("-o %q: status and history print text or json", o)
	}
	return nil
}
