package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/printers"
)

// controlCommand makes one of the commands that steer the sync loop: a
// method on a control path, with a --reason (and, for freeze, --until).
func controlCommand(g *globalOptions, use, short, long, method, path string, flags func(*cobra.Command, *api.ControlRequest, *string)) *cobra.Command {
	var req api.ControlRequest
	var until string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				req.Commit = args[0]
			}
			if until != "" {
				t, err := parseUntil(until, time.Now())
				if err != nil {
					return fmt.Errorf("%s: --until: %w", cmd.Name(), err)
				}
				req.Until = t
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Control(cmd.Context(), method, path, req)
			if err != nil {
				return err
			}
			return printers.PrintStatus(cmd.OutOrStdout(), st, time.Now())
		},
	}
	if method == http.MethodPost {
		cmd.Flags().StringVar(&req.Reason, "reason", "", "why, for the status and the history")
	}
	if flags != nil {
		flags(cmd, &req, &until)
	}
	return cmd
}

// parseUntil reads --until: an RFC 3339 time ("2026-12-24T18:00:00Z") or a
// duration from now ("2h", "36h").
func parseUntil(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive duration", s)
		}
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a time such as 2026-12-24T18:00:00Z or a duration such as 48h", s)
	}
	return t, nil
}

func newControlCommands(g *globalOptions) []*cobra.Command {
	noArgs := func(c *cobra.Command, _ *api.ControlRequest, _ *string) { c.Args = cobra.NoArgs }
	return []*cobra.Command{
		controlCommand(g, "freeze [--until TIME|DURATION] [--reason TEXT]", "Hold new commits back until unfrozen (a change freeze)",
			`freeze stops applying new commits, until bosun unfreeze or --until: they
are still fetched, validated and shown by bosun status and bosun history
as waiting, and unfreezing applies the newest valid one (not each in turn).
The cluster keeps running the synced commit, and the controllers keep it
converged. A rollback (bosun rollback, or an automatic rollback: a revert
of the synced commit) is still applied, since undoing a bad change is what
a freeze is for, unless the server runs with --freeze-blocks-rollback.

Examples:
  bosun freeze --until 2026-12-27T09:00:00+01:00 --reason "holidays"
  bosun freeze --until 2h --reason "incident 42"`,
			http.MethodPost, api.PathFreeze, func(c *cobra.Command, _ *api.ControlRequest, until *string) {
				c.Args = cobra.NoArgs
				c.Flags().StringVar(until, "until", "", "end the freeze by itself at this time (RFC 3339) or after this duration (2h)")
			}),
		controlCommand(g, "unfreeze", "End a freeze: the newest valid commit is applied", "unfreeze ends a freeze (bosun freeze); the sync loop applies the branch head at once if it is valid.",
			http.MethodDelete, api.PathFreeze, noArgs),
		controlCommand(g, "suspend [--reason TEXT]", "Stop syncing until bosun resume",
			`suspend stops the sync loop from applying commits until bosun resume, whoever
asks and whatever the commit (rollbacks too): the cluster keeps running the
synced commit, the controllers keep converging, and new commits wait. Who
and why are recorded in the history and shown by bosun status.`,
			http.MethodPost, api.PathSuspend, noArgs),
		controlCommand(g, "resume", "Sync again after bosun suspend", "resume ends a suspension (bosun suspend): the sync loop applies the branch head at once if it is valid.",
			http.MethodDelete, api.PathSuspend, noArgs),
		controlCommand(g, "sync [COMMIT] [--reason TEXT]", "Apply the branch head now (the manual sync policy's approval)",
			`sync asks the server to apply the branch head now. Under the manual sync
policy (bosun server --sync-policy manual), where commits are validated and
diffed on arrival but not applied, it approves the head: COMMIT, when given
(a SHA or a prefix of at least 7 characters), must be the head, so that what
is applied is what was reviewed. A freeze or a suspension still holds it.`,
			http.MethodPost, api.PathSync, nil),
		controlCommand(g, "accept-rewrite [COMMIT] [--reason TEXT]", "Accept a rewritten branch history (a force-push) and apply its head",
			`accept-rewrite accepts the branch head although it does not descend from
the synced commit: someone rewrote the branch's history (a force-push, a
reset), which bosun refuses by default so that the audit trail cannot be
rewritten unnoticed. The acceptance, who made it and why, is recorded in
the history; the history entries of the commits that vanished stay.
COMMIT, when given, must be the head. bosun server --allow-history-rewrite
accepts every rewrite.`,
			http.MethodPost, api.PathAcceptRewrite, nil),
	}
}
