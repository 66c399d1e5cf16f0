package main

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/printers"
	"github.com/bosun-dev/bosun/sync/state"
)

func newStatusCommand(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which commit is synced and what the last attempt did",
		Long: `status shows the repository bosun syncs, the commit the cluster runs, and
the last sync attempt. When the last commit was rejected, it names the
commit that keeps running and lists every problem as
file:line: Kind namespace/name: field: message.

The exit status is 0 when the last attempt applied, 1 when it was rejected
or failed, so scripts can check it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(g.server)
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(st); err != nil {
					return err
				}
			} else if err := printers.PrintStatus(cmd.OutOrStdout(), st, time.Now()); err != nil {
				return err
			}
			if st.LastAttempt != nil && st.LastAttempt.Result != state.ResultApplied {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	return cmd
}

func newHistoryCommand(g *globalOptions) *cobra.Command {
	var (
		limit  int
		output string
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the commits bosun tried to sync, newest first",
		Long: `history lists every commit bosun tried: its SHA, time, author and subject,
and the result — applied, rejected (with the reason) or failed (Git or etcd
could not be reached; retried).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client.New(g.server)
			if err != nil {
				return err
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
	return cmd
}
