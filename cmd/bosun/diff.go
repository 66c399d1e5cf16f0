package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/diff"
)

// Exit codes of bosun diff.
const (
	diffExitChanges = 1
	diffExitInvalid = 2
	diffExitError   = 3
)

func newDiffCommand(g *globalOptions) *cobra.Command {
	var repo, rev, dir string
	rf := renderFlags{userKeys: true}
	cmd := &cobra.Command{
		Use:   "diff [--rev BRANCH|TAG|SHA] [--repo URL|DIR] [--path DIR]",
		Short: "Show what syncing a revision would change: a pull-request check",
		Long: `diff reads a revision of the repository, decodes and validates its
manifests as sync would, and compares them with the live desired state (the
objects bosun synced, read through the API): objects that would be added,
changed (with a unified diff of the fields sync owns) and pruned, and the
Deployments whose pod template changed and would roll out.

Without flags it reads the head of the branch the server syncs. --repo names
another repository (a URL, or a local directory); with a local directory and
no --rev it reads the files as they are on disk, uncommitted edits included,
which is what a pull-request check in CI wants. --path defaults to the
server's --path.

Exit status: 0 no change, 1 changes, 2 the revision is invalid (every
problem is printed as file:line: Kind namespace/name: field: message),
3 something else failed (server or repository unreachable).

Kustomize overlays, Helm charts and SOPS-encrypted files are rendered as
sync renders them (see bosun render); the values of Secrets are never
printed, only whether each one changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runDiff(cmd, g, &rf, repo, rev, dir, cmd.Flags().Changed("path"))
			var ee exitError
			if err != nil && !errors.As(err, &ee) {
				fmt.Fprintln(cmd.ErrOrStderr(), "bosun:", err)
				return exitError{code: diffExitError}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&rev, "rev", "", "branch, tag or commit to compare (default: the synced branch's head, or the working tree of a local --repo)")
	cmd.Flags().StringVar(&repo, "repo", "", "repository URL or local directory (default: the server's repository)")
	cmd.Flags().StringVar(&dir, "path", "", "directory of the manifests in the repository (default: the server's --path)")
	rf.addFlags(cmd.Flags(), false)
	return cmd
}

func runDiff(cmd *cobra.Command, g *globalOptions, rf *renderFlags, repo, rev, dir string, pathSet bool) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	c, err := g.client()
	if err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if repo == "" {
		if st.Repo == "" {
			return fmt.Errorf("diff: the server reports no repository; name one with --repo")
		}
		repo = st.Repo
		if rev == "" {
			// The server syncs a branch, not a working tree.
			rev = st.Branch
			if rev == "" {
				rev = "HEAD"
			}
		}
	}
	if !pathSet {
		dir = st.Path
	}
	r, err := diff.ReadRevision(ctx, diff.RevisionOptions{Repo: repo, Rev: rev})
	if err != nil {
		return err
	}
	defer r.Close()

	res := &manifests.Result{}
	clean := strings.Trim(path.Clean("/"+dir), "/")
	if _, err := fs.Stat(r.Tree, orDot(clean)); err == nil {
		rs, err := rf.renderers("", true)
		if err != nil {
			return fmt.Errorf("diff: %w", err)
		}
		opts := manifests.Options{Path: clean}
		rs.apply(&opts, rf.requireEncrypted)
		if res, err = manifests.Load(r.Tree, opts); err != nil {
			return fmt.Errorf("diff: read %s: %w", r.Name, err)
		}
		res.Problems = append(res.Problems, rs.offline.warnings()...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("diff: read %s: %w", r.Name, err)
	}
	if errs := res.Problems.Errors(); len(errs) > 0 {
		fmt.Fprintf(out, "%s is invalid; bosun would reject it and keep the synced commit:\n", r.Name)
		for _, p := range errs {
			fmt.Fprintln(out, "  "+p.String())
		}
		return exitError{code: diffExitInvalid}
	}
	for _, p := range res.Problems.Warnings() {
		fmt.Fprintln(cmd.ErrOrStderr(), p.String()) // String says "warning: "
	}

	live, err := diff.ListLive(ctx, c)
	if err != nil {
		return err
	}
	changes, err := diff.Objects(live, diff.Desired(res.Objects))
	if err != nil {
		return err
	}
	if err := diff.Render(out, changes, r.Name); err != nil {
		return err
	}
	if len(res.Objects) == 0 && len(live) > 0 {
		fmt.Fprintf(out, "\nNote: %s defines no objects under %q; the server refuses to prune everything unless it runs with --allow-empty.\n", r.Name, orDot(clean))
	}
	if len(changes) > 0 {
		return exitError{code: diffExitChanges}
	}
	return nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
