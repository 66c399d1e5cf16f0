package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MaxHistory bounds how many commits of the branch LastCommitTouching and
// Revert's checks walk.
const MaxHistory = 1000

// RevertMessage returns the message git revert writes for commit sha with
// subject, plus why as a paragraph of its own when given:
//
//	Revert "<subject>"
//
//	This reverts commit <sha>.
//
//	<why>
func RevertMessage(sha, subject, why string) string {
	msg := fmt.Sprintf("Revert %q\n\nThis reverts commit %s.\n", subject, sha)
	if why = strings.TrimSpace(why); why != "" {
		msg += "\n" + why + "\n"
	}
	return msg
}

// Revert writes a commit that undoes commit rev (a full or abbreviated SHA,
// or any revision go-git resolves) on the tracked branch, with git's revert
// message (see RevertMessage), and publishes it like Commit (opts.Branch for
// a pull request). Every path rev changed gets back its parent's content and
// mode; files rev added are removed. A root commit's files are all removed.
//
// When a later commit changed a file rev modified, rev's lines are undone
// by a line-level three-way merge, as git revert does; it refuses with
// ErrConflict, naming the files and the later commits, when the later
// changes touch the same or adjacent lines, or a file rev added or deleted;
// with ErrMergeCommit for a commit with several parents; with
// ErrNotFound when rev is not on the branch.
func (w *Writer) Revert(ctx context.Context, rev string, why string, opts PushOptions) (string, error) {
	var msg string
	edit := func(t *Tree, b *base) error {
		target, err := resolveOnBranch(b, rev)
		if err != nil {
			return err
		}
		if len(target.ParentHashes) > 1 {
			return fmt.Errorf("commit %s is a merge commit (%d parents) and cannot be reverted by bosun; revert it with \"git revert -m 1 %s\": %w",
				short(target.Hash), len(target.ParentHashes), short(target.Hash), ErrMergeCommit)
		}
		var parentTree plumbing.Hash
		if len(target.ParentHashes) == 1 {
			p, err := object.GetCommit(b.repo.Storer, target.ParentHashes[0])
			if err != nil {
				return fmt.Errorf("read parent of %s: %w", short(target.Hash), err)
			}
			parentTree = p.TreeHash
		}
		changes, err := diffTrees(b.repo.Storer, parentTree, target.TreeHash)
		if err != nil {
			return fmt.Errorf("diff %s: %w", short(target.Hash), err)
		}
		var conflicts []string
		merged := map[string][]byte{}
		for _, c := range changes {
			p := changePath(c)
			mode, hash, ok, err := t.entryAt(p)
			if err != nil {
				return err
			}
			after := c.To.TreeEntry
			same := (c.To.Name == "" && !ok) || (c.To.Name != "" && ok && mode == after.Mode && hash == after.Hash)
			if same {
				continue
			}
			// A later commit changed the file too: undo the commit's lines
			// if the later changes are elsewhere in the file.
			if m, ok2, err := w.mergeRevert(b, t, c, p, ok && mode == after.Mode); err != nil {
				return err
			} else if ok2 {
				merged[p] = m
				continue
			}
			conflicts = append(conflicts, p)
		}
		if len(conflicts) > 0 {
			slices.Sort(conflicts)
			return fmt.Errorf("cannot revert %s: %s changed since: %w", short(target.Hash), describeLater(b, target, conflicts), ErrConflict)
		}
		for _, c := range changes {
			p := changePath(c)
			if m, ok := merged[p]; ok {
				if err := t.WriteFile(p, m); err != nil {
					return err
				}
				continue
			}
			if c.From.Name == "" {
				if err := t.Remove(p); err != nil {
					return err
				}
				continue
			}
			if err := t.set(p, c.From.TreeEntry.Mode, c.From.TreeEntry.Hash); err != nil {
				return err
			}
		}
		msg = RevertMessage(target.Hash.String(), firstLine(target.Message), why)
		return nil
	}
	var lastErr error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		sha, err := w.attemptWith(ctx, func() string { return msg }, edit, opts)
		if err == nil {
			return sha, nil
		}
		if !errors.Is(err, errMoved) {
			return "", err
		}
		lastErr = err
	}
	return "", fmt.Errorf("gitwrite: %s: %w after %d attempts: %w", w, ErrRaced, MaxAttempts, lastErr)
}

// resolveOnBranch finds rev and checks that it is the head or an ancestor of it.
func resolveOnBranch(b *base, rev string) (*object.Commit, error) {
	h, err := b.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w: %w", rev, ErrNotFound, err)
	}
	c, err := object.GetCommit(b.repo.Storer, *h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w: %w", rev, ErrNotFound, err)
	}
	if c.Hash != b.head.Hash {
		ok, err := c.IsAncestor(b.head)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", rev, err)
		}
		if !ok {
			return nil, fmt.Errorf("commit %s is not on branch %s: %w", short(c.Hash), b.branch.Short(), ErrNotFound)
		}
	}
	return c, nil
}

// describeLater names, for each path, the latest first-parent commit after
// target that changed it: "web.yaml (by 1a2b3c4d "subject")".
func describeLater(b *base, target *object.Commit, paths []string) string {
	by := map[string]string{}
	c := b.head
	for i := 0; i < MaxHistory && c != nil && c.Hash != target.Hash && len(by) < len(paths); i++ {
		var parent *object.Commit
		if len(c.ParentHashes) > 0 {
			parent, _ = object.GetCommit(b.repo.Storer, c.ParentHashes[0])
		}
		ct, _ := c.Tree()
		var pt *object.Tree
		if parent != nil {
			pt, _ = parent.Tree()
		}
		for _, p := range paths {
			if by[p] != "" {
				continue
			}
			a, _ := treeEntry(pt, p)
			z, _ := treeEntry(ct, p)
			if (a == nil) != (z == nil) || (a != nil && (a.Hash != z.Hash || a.Mode != z.Mode)) {
				by[p] = fmt.Sprintf("%s (by %s %q)", p, short(c.Hash), firstLine(c.Message))
			}
		}
		c = parent
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p
		if by[p] != "" {
			out[i] = by[p]
		}
	}
	return strings.Join(out, ", ")
}

// attemptWith is attempt with an edit that also sees the base and a message
// the edit decides.
func (w *Writer) attemptWith(ctx context.Context, message func() string, edit func(*Tree, *base) error, opts PushOptions) (string, error) {
	var b0 *base
	return w.attemptBase(ctx, func(b *base) { b0 = b }, message, func(t *Tree) error { return edit(t, b0) }, opts)
}

// LastCommitTouching walks the tracked branch from its head along first
// parents (at most MaxHistory commits) and returns the latest commit for
// which match reports true. match is called for each file the commit
// changed against its first parent (a root commit against nothing), with
// the file's content before and after (nil when absent); with paths given,
// only for those paths. Merge commits are compared with their first parent,
// so a change merged from another branch is found as the merge.
//
// Reverts are not special: after "rollback" reverted a change, the revert is
// the latest change, and reverting it restores the change (as kubectl rollout
// undo toggles between the last two revisions). No match gives ErrNotFound.
func (w *Writer) LastCommitTouching(ctx context.Context, paths []string, match func(path string, before, after []byte) bool) (Commit, error) {
	b, err := w.open(ctx)
	if err != nil {
		return Commit{}, err
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	c := b.head
	for i := 0; i < MaxHistory && c != nil; i++ {
		if err := ctx.Err(); err != nil {
			return Commit{}, fmt.Errorf("gitwrite: %w", err)
		}
		var parent *object.Commit
		var parentTree plumbing.Hash
		if len(c.ParentHashes) > 0 {
			parent, err = object.GetCommit(b.repo.Storer, c.ParentHashes[0])
			if err != nil {
				if errors.Is(err, plumbing.ErrObjectNotFound) {
					break // shallow history ends here
				}
				return Commit{}, fmt.Errorf("gitwrite: read %s: %w", c.ParentHashes[0], err)
			}
			parentTree = parent.TreeHash
		}
		changes, err := diffTrees(b.repo.Storer, parentTree, c.TreeHash)
		if err != nil {
			return Commit{}, fmt.Errorf("gitwrite: diff %s: %w", short(c.Hash), err)
		}
		for _, ch := range changes {
			p := changePath(ch)
			if len(want) > 0 && !want[p] {
				continue
			}
			before, err := entryBytes(b.repo, ch.From)
			if err != nil {
				return Commit{}, err
			}
			after, err := entryBytes(b.repo, ch.To)
			if err != nil {
				return Commit{}, err
			}
			if match(p, before, after) {
				return toCommit(c), nil
			}
		}
		c = parent
	}
	return Commit{}, fmt.Errorf("gitwrite: %s: no commit among the last %d matched: %w", w, MaxHistory, ErrNotFound)
}

// entryBytes reads a change side's blob (nil when absent or not a file).
// mergeRevert undoes the change c made to file p on top of the head's
// version of p, which later commits changed too, by a line-level three-way
// merge (base: what the commit left; ours: the head; theirs: the parent's
// version). It reports false when the commit did not just modify the file,
// or when the later changes touch the same lines.
func (w *Writer) mergeRevert(b *base, t *Tree, c *object.Change, p string, headHasFile bool) ([]byte, bool, error) {
	if c.From.Name == "" || c.To.Name == "" || !headHasFile || !c.From.TreeEntry.Mode.IsFile() {
		return nil, false, nil
	}
	committed, err := entryBytes(b.repo, c.To)
	if err != nil {
		return nil, false, fmt.Errorf("read %s at the reverted commit: %w", p, err)
	}
	parent, err := entryBytes(b.repo, c.From)
	if err != nil {
		return nil, false, fmt.Errorf("read %s before the reverted commit: %w", p, err)
	}
	head, err := t.ReadFile(p)
	if err != nil {
		return nil, false, err
	}
	m, ok := merge3(committed, head, parent)
	return m, ok, nil
}

func entryBytes(repo *git.Repository, e object.ChangeEntry) ([]byte, error) {
	if e.Name == "" || !e.TreeEntry.Mode.IsFile() {
		return nil, nil
	}
	return readBlob(repo.Storer, e.TreeEntry.Hash)
}
