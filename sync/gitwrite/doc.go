// Package gitwrite writes commits to the branch bosun syncs from: edits of
// manifest files (bosun scale, bosun set image) and revert commits (bosun
// rollback), published to the tracked branch or to a new branch for a pull
// request.
//
// Commits are built from objects, not from a checkout: the edit function sees
// a Tree over the head commit, its changes become blob and tree objects, and
// the commit's parent is the head it started from. Publishing depends on the
// repository:
//
//   - A remote repository (https, ssh, scp-like, git) is cloned bare into
//     Config.WorkDir (full history, reused by later calls), the branch is
//     fetched, and the commit is pushed. When the push is rejected because
//     the branch moved (non-fast-forward), the branch is fetched again, the
//     edit runs again on the new head, and the push is retried, MaxAttempts
//     times in all.
//   - A local repository (a path or file:// URL) is written in place with
//     go-git, with no clone and no git CLI (pushing to a checked-out branch of
//     a non-bare repository is refused by git, and a local transport would
//     need the git CLI): objects go into its object database and the branch
//     moves by compare-and-swap on its old value, so a concurrent writer makes
//     the swap fail and the attempt is retried like a rejected push. When the
//     branch is checked out in the repository's work tree, the changed files
//     and their index entries are updated as "git commit" would leave them;
//     if one of those files has uncommitted changes, nothing is written
//     (ErrDirty). Other files, staged or not, are left alone. Only the work
//     tree at the given path is updated: a linked work tree (git worktree)
//     elsewhere that has the branch checked out is not.
//
// go-git has no revert: Revert diffs the target commit against its parent
// and writes back the parent's blob and mode for every changed path
// (removing files the commit added). Where a later commit changed a file the
// target modified, the target's lines are undone by a line-level three-way
// merge that keeps the later changes, as git revert does; when they touch
// the same or adjacent lines, or the file was added or deleted, it refuses
// with ErrConflict, naming the files and the commits that changed them
// since. The message is git's ("Revert \"<subject>\"", "This reverts
// commit <sha>.").
//
// LastCommitTouching walks first-parent history to find the latest commit
// whose change to a file satisfies a predicate; bosun rollback deploy/NAME
// uses it to find the last change of a Deployment's pod template.
//
// BranchReverter adapts a Writer to the automatic rollback controller's
// Reverter interface (reconcile/autorollback), which does not import this
// package: cmd/bosun wires one in.
//
// Example:
//
//	w, err := gitwrite.New(gitwrite.Config{
//		URL:     "https://git.example.com/ops/cluster.git",
//		Branch:  "main",
//		WorkDir: filepath.Join(dataDir, "git-write"),
//		Auth:    gitsource.Auth{Password: token},
//		Author:  gitwrite.Signature{Name: "Jo", Email: "jo@example.com"},
//	})
//	if err != nil { ... }
//	sha, err := w.Commit(ctx, "Scale Deployment default/web to 4 replicas", func(t *gitwrite.Tree) error {
//		data, err := t.ReadFile("apps/web.yaml")
//		if err != nil {
//			return err
//		}
//		data, err = yamledit.SetReplicas(data, "Deployment", "default", "web", 4)
//		if err != nil {
//			return err
//		}
//		return t.WriteFile("apps/web.yaml", data)
//	}, gitwrite.PushOptions{})
//	// errors.Is(err, gitwrite.ErrNoChange): already 4 replicas.
//
//	sha, err = w.Revert(ctx, "1a2b3c4d", "v2 crashes on start", gitwrite.PushOptions{Branch: "revert-1a2b3c4d"})
//	// errors.Is(err, gitwrite.ErrConflict): a later commit changed the same files.
package gitwrite
