package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/sync/edit"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/gitwrite"
	"github.com/bosun-dev/bosun/sync/state"
)

// gitWriteOptions are the flags of the commands that write commits.
type gitWriteOptions struct {
	repo            string // repository to write; "" = the server's
	gitBranch       string // tracked branch; "" = the server's
	branch          string // push a new branch for a pull request instead
	gitUsername     string
	gitPasswordFile string
	sshKeyFile      string
	sshKnownHosts   string
	// render reads the tree when the object is rendered by Kustomize or
	// Helm (scale and set image only).
	render renderFlags
}

func (o *gitWriteOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.branch, "branch", "", "push the commit to this new branch (for a pull request) instead of the synced branch")
	f.StringVar(&o.repo, "repo", "", "repository to commit to (default: the one the server syncs, as it reports it)")
	f.StringVar(&o.gitBranch, "git-branch", "", "branch to commit to (default: the one the server syncs; with --repo, that repository's default branch)")
	f.StringVar(&o.gitUsername, "git-username", "", "user name for HTTPS Git (default \"git\" when a password is given)")
	f.StringVar(&o.gitPasswordFile, "git-password-file", "", "file holding the HTTPS password or access token")
	f.StringVar(&o.sshKeyFile, "ssh-key", "", "private key file for ssh:// repositories")
	f.StringVar(&o.sshKnownHosts, "ssh-known-hosts", "", "known_hosts file for ssh:// repositories (default ~/.ssh/known_hosts)")
}

// gitopsHelp is the part of every writing command's help about where commits go.
const gitopsHelp = `The commit goes to the repository and branch the server syncs (as
"bosun status" shows them; a local path is used as is, so run the command
where that path is valid, or give --repo), and the server picks it up like
any other commit. With --branch NAME it goes to a new branch instead, ready
for a pull request. The author is "bosun" <bosun@localhost> unless
BOSUN_GIT_AUTHOR_NAME and BOSUN_GIT_AUTHOR_EMAIL say otherwise. A push that
loses a race with another one is retried on the new head.`

// writer builds the gitwrite.Writer for the server's repository (or --repo).
// cleanup removes the temporary clone.
func (o *gitWriteOptions) writer(ctx context.Context, c *client.Client, cmd *cobra.Command) (*gitwrite.Writer, string, func(), error) {
	repo, branch := o.repo, o.gitBranch
	if repo == "" || branch == "" {
		st, err := c.Status(ctx)
		if err != nil {
			return nil, "", nil, fmt.Errorf("ask the server which repository it syncs (or give --repo): %w", err)
		}
		if repo == "" {
			repo = st.Repo
			if branch == "" {
				branch = st.Branch
			}
		}
	}
	if repo == "" {
		return nil, "", nil, errors.New("the server does not report a repository; give --repo")
	}
	password, err := readSecretFile("--git-password-file", o.gitPasswordFile)
	if err != nil {
		return nil, "", nil, err
	}
	work, err := os.MkdirTemp("", "bosun-git-")
	if err != nil {
		return nil, "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(work) }
	logger, err := newQuietLogger(cmd)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	w, err := gitwrite.New(gitwrite.Config{
		URL:     repo,
		Branch:  branch,
		WorkDir: work,
		Auth: gitsource.Auth{
			Username:          o.gitUsername,
			Password:          password,
			SSHKeyFile:        o.sshKeyFile,
			SSHKnownHostsFile: o.sshKnownHosts,
		},
		Author: gitwrite.Signature{Name: os.Getenv(gitwrite.EnvAuthorName), Email: os.Getenv(gitwrite.EnvAuthorEmail)},
		Logger: logger,
	})
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	return w, repo, cleanup, nil
}

// newQuietLogger logs warnings and errors only: the commands print their
// own results.
func newQuietLogger(cmd *cobra.Command) (*slog.Logger, error) {
	g := &globalOptions{logLevel: "warn", logFormat: "text"}
	return g.logger(cmd.ErrOrStderr())
}

// reportCommit prints where a commit went.
func reportCommit(out io.Writer, repo, sha, what string, opts gitwrite.PushOptions, tracked string) {
	short := state.CommitInfo{SHA: sha}.Short()
	if opts.Branch != "" {
		fmt.Fprintf(out, "%s: pushed commit %s to new branch %s of %s.\n", what, short, opts.Branch, repo)
		fmt.Fprintf(out, "Open a pull request from %s into %s; bosun applies it once merged.\n", opts.Branch, tracked)
		return
	}
	fmt.Fprintf(out, "%s: committed %s to %s of %s.\n", what, short, tracked, repo)
	fmt.Fprintln(out, `The server syncs it like any other commit; "bosun status --wait" follows the rollout.`)
}

func newScaleCommand(g *globalOptions) *cobra.Command {
	var (
		o         gitWriteOptions
		namespace string
		replicas  int32
	)
	cmd := &cobra.Command{
		Use:   "scale KIND/NAME --replicas=N",
		Short: "Change the replicas of a Deployment, ReplicaSet, ReplicationController or StatefulSet by committing to Git",
		Long: `scale sets spec.replicas of an object synced from Git, the GitOps way: it
edits the YAML file the object comes from (its bosun.dev/source annotation),
changing only that number and keeping comments and formatting, and commits
"Scale <kind> <namespace>/<name> to N replicas". A missing spec.replicas is
added as the first key under spec. For an object rendered by Kustomize, the
replicas: entry of the overlay is set (added when missing, as kustomize
edit set replicas would); for one rendered by Helm, the values file entry
that the replicas come from; both are rendered again to check the result.

` + gitopsHelp + `

Examples:
  bosun scale deploy/web --replicas=4
  bosun scale rs/worker -n jobs --replicas=0
  bosun scale sts/db -n data --replicas=3
  bosun scale deploy/web --replicas=10 --branch scale-web-10`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return errors.New("scale: --replicas is required")
			}
			if replicas < 0 {
				return errors.New("scale: --replicas must be 0 or more")
			}
			return o.commitEdit(cmd, g, "scale", args[0], namespace, edit.ScaleKinds(),
				func(ctx context.Context, w *gitwrite.Writer, t edit.Target, opts gitwrite.PushOptions) (edit.Result, error) {
					return edit.Scale(ctx, w, t, replicas, opts)
				},
				func(t edit.Target) string {
					return fmt.Sprintf("%s already has %d replicas in %s", t, replicas, t.File)
				})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&replicas, "replicas", 0, "the number of replicas (required)")
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	o.addFlags(f)
	o.render.userKeys = true
	o.render.addKeyFlags(f)
	return cmd
}

// commitEdit finds the object ref (of one of kinds, in namespace) and commits
// the change apply makes to its file, then reports the commit; when the file
// already says what was asked, it prints unchanged(target) instead. Errors
// are prefixed with verb, the command's name.
func (o gitWriteOptions) commitEdit(cmd *cobra.Command, g *globalOptions, verb, ref, namespace string, kinds []string,
	apply func(context.Context, *gitwrite.Writer, edit.Target, gitwrite.PushOptions) (edit.Result, error),
	unchanged func(edit.Target) string) error {
	ctx := cmd.Context()
	c, err := g.client()
	if err != nil {
		return err
	}
	target, err := edit.Find(ctx, c, ref, namespace, kinds...)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	if target.RenderedBy != "" {
		rs, err := o.render.renderers("", true)
		if err != nil {
			return fmt.Errorf("%s: %w", verb, err)
		}
		target.Editor, _ = rs.editor(target.RenderedBy)
	}
	w, repo, cleanup, err := o.writer(ctx, c, cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	defer cleanup()
	opts := gitwrite.PushOptions{Branch: o.branch}
	res, err := apply(ctx, w, target, opts)
	if errors.Is(err, gitwrite.ErrNoChange) {
		fmt.Fprintf(cmd.OutOrStdout(), "%s; nothing to commit.\n", unchanged(target))
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	_, tracked, _ := trackedBranch(ctx, w, o)
	reportCommit(cmd.OutOrStdout(), repo, res.SHA, res.Message, opts, tracked)
	return nil
}

// trackedBranch names the branch commits went to, for messages.
func trackedBranch(ctx context.Context, w *gitwrite.Writer, o gitWriteOptions) (gitwrite.Commit, string, error) {
	c, b, err := w.Head(ctx)
	if err != nil {
		if o.gitBranch != "" {
			return c, o.gitBranch, nil
		}
		return c, "the synced branch", err
	}
	return c, b, nil
}

func newSetCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set SUBCOMMAND",
		Short: "Change fields of objects synced from Git by committing to Git",
		Long: `set changes fields of objects synced from Git by editing their YAML files
and committing, as kubectl set does on a live cluster.`,
	}
	cmd.AddCommand(newSetImageCommand(g))
	return cmd
}

func newSetImageCommand(g *globalOptions) *cobra.Command {
	var (
		o         gitWriteOptions
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "image KIND/NAME CONTAINER=IMAGE [CONTAINER=IMAGE...]",
		Short: "Change container images by committing to Git",
		Long: `set image changes the image of containers of a
Deployment, ReplicaSet, ReplicationController, DaemonSet, StatefulSet, Job,
CronJob or Pod synced from Git. It
edits the YAML file the object comes from (its bosun.dev/source
annotation), changing only the image strings and keeping comments and
formatting, and commits "Set image of <kind> <namespace>/<name>: app=<image>".
For an object rendered by Kustomize, an image an overlay overrides is set
in the overlay's images: entry (as kustomize edit set image); for one
rendered by Helm, in the values file entries the image is made of.

` + gitopsHelp + `

Examples:
  bosun set image deploy/web app=bosun.local/hello:v2
  bosun set image deploy/web app=registry.local/web:v3 sidecar=registry.local/proxy:1.1 -n shop
  bosun set image deploy/web app=bosun.local/hello:v2 --branch web-v2`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			images, err := edit.ParseImages(args[1:])
			if err != nil {
				return fmt.Errorf("set image: %w", err)
			}
			return o.commitEdit(cmd, g, "set image", args[0], namespace, edit.ImageKinds(),
				func(ctx context.Context, w *gitwrite.Writer, t edit.Target, opts gitwrite.PushOptions) (edit.Result, error) {
					return edit.SetImages(ctx, w, t, images, opts)
				},
				func(t edit.Target) string {
					return fmt.Sprintf("%s already runs %s in %s", t, edit.JoinImages(images), t.File)
				})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the object")
	o.addFlags(f)
	o.render.userKeys = true
	o.render.addKeyFlags(f)
	return cmd
}

// rollbackOptions are the flags of rollback and rollout undo.
type rollbackOptions struct {
	gitWriteOptions
	namespace string
	message   string
}

func (o *rollbackOptions) addFlags(f *pflag.FlagSet) {
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the Deployment (with deploy/NAME)")
	f.StringVarP(&o.message, "message", "m", "", "why: added to the revert commit's message as a paragraph")
	o.gitWriteOptions.addFlags(f)
}

func newRollbackCommand(g *globalOptions) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback COMMIT | deploy/NAME",
		Short: "Undo a commit by committing its revert to Git",
		Long: `rollback undoes a change the GitOps way: it writes a revert commit to the
repository, as "git revert" would, and the revert becomes the new desired
state. It therefore works while sync runs continuously.

With COMMIT (a full or abbreviated SHA, as "bosun history" lists them),
every line the commit changed gets back its previous content. Later commits
that changed other lines of the same files are kept (a line-level merge, as
"git revert" does); when they changed the same or adjacent lines, or added
or deleted a file the commit touched, nothing is written and the files and
commits in the way are named: revert those first, or edit by hand. Merge
commits are refused.

With deploy/NAME, the commit reverted is the latest one that changed that
Deployment's pod template (image, environment, ...) in the file it comes
from; commits that only scaled it are skipped. Running it twice toggles
back, like "kubectl rollout undo".

` + gitopsHelp + `

Examples:
  bosun rollback 1a2b3c4d
  bosun rollback 1a2b3c4d --message "v2 answers 500 on /checkout"
  bosun rollback deploy/web -n shop
  bosun rollback deploy/web --branch revert-web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd, g, o, args[0], "rollback")
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func newRolloutCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Manage rollouts of Deployments the GitOps way",
	}
	o := &rollbackOptions{}
	undo := &cobra.Command{
		Use:   "undo deploy/NAME",
		Short: "Revert the last change of a Deployment's pod template by committing to Git",
		Long: `rollout undo is "bosun rollback deploy/NAME": it reverts the latest commit
that changed the Deployment's pod template, with a revert commit pushed to
the repository. Running it twice toggles back.

` + gitopsHelp + `

Examples:
  bosun rollout undo deploy/web
  bosun rollout undo deploy/web -n shop --branch undo-web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.Contains(args[0], "/") {
				return fmt.Errorf("rollout undo: give the Deployment as deploy/NAME")
			}
			return runRollback(cmd, g, o, args[0], "rollout undo")
		},
	}
	o.addFlags(undo.Flags())
	cmd.AddCommand(undo)
	return cmd
}

// runRollback reverts a commit, or the last template change of deploy/NAME.
func runRollback(cmd *cobra.Command, g *globalOptions, o *rollbackOptions, arg, name string) error {
	ctx := cmd.Context()
	c, err := g.client()
	if err != nil {
		return err
	}
	var deploy *edit.Target
	if strings.Contains(arg, "/") {
		t, err := edit.Find(ctx, c, arg, o.namespace, "deployments")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		deploy = &t
	}
	w, repo, cleanup, err := o.writer(ctx, c, cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer cleanup()
	target := arg
	if deploy != nil {
		found, err := edit.LastTemplateChange(ctx, w, *deploy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		target = found.SHA
		fmt.Fprintf(cmd.OutOrStdout(), "Latest change of %s's pod template: %s %q.\n", deploy, state.CommitInfo{SHA: found.SHA}.Short(), found.Subject)
	}
	opts := gitwrite.PushOptions{Branch: o.branch}
	sha, err := w.Revert(ctx, target, o.message, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	_, tracked, _ := trackedBranch(ctx, w, o.gitWriteOptions)
	reportCommit(cmd.OutOrStdout(), repo, sha, "Reverted "+state.CommitInfo{SHA: target}.Short(), opts, tracked)
	return nil
}
