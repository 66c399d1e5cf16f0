package gitwrite

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// openLocal opens the local repository in place and resolves the branch.
func (w *Writer) openLocal() (*base, error) {
	repo, err := git.PlainOpenWithOptions(w.path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("gitwrite: open %s: %w", w.path, err)
	}
	name := w.branchRef()
	if name == "" {
		head, err := repo.Storer.Reference(plumbing.HEAD)
		if err != nil {
			return nil, fmt.Errorf("gitwrite: %s: read HEAD: %w", w.path, err)
		}
		if head.Type() != plumbing.SymbolicReference {
			return nil, fmt.Errorf("gitwrite: %s: HEAD is detached; name the branch to write to", w.path)
		}
		name = head.Target()
	}
	ref, err := storer.ResolveReference(repo.Storer, name)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %s: branch %s: %w: %w", w.path, name.Short(), ErrNotFound, err)
	}
	head, err := object.GetCommit(repo.Storer, ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %s: read head %s: %w", w.path, ref.Hash(), err)
	}
	return &base{repo: repo, branch: name, head: head}, nil
}

// checkedOut reports whether repo has a work tree whose HEAD is branch.
func checkedOut(repo *git.Repository, branch plumbing.ReferenceName) (*git.Worktree, bool) {
	wt, err := repo.Worktree()
	if err != nil {
		return nil, false // bare
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference || head.Target() != branch {
		return nil, false
	}
	return wt, true
}

// publishLocal moves the branch (or creates the pull-request branch) of a
// local repository to commit h, compare-and-swap on the old head. When the
// tracked branch is checked out in the repository's work tree, the changed
// files and their index entries are updated too, as "git commit" would
// leave them; files with uncommitted changes of their own are refused first.
func (w *Writer) publishLocal(b *base, h, tree plumbing.Hash, pr plumbing.ReferenceName) error {
	if pr != "" {
		if _, err := b.repo.Storer.Reference(pr); err == nil {
			return fmt.Errorf("gitwrite: %s: branch %s: %w; choose another name", w.path, pr.Short(), ErrBranchExists)
		}
		err := setRef(b.repo.Storer, plumbing.NewHashReference(pr, h), nil)
		if errors.Is(err, storage.ErrReferenceHasChanged) {
			return fmt.Errorf("gitwrite: %s: branch %s: %w; choose another name", w.path, pr.Short(), ErrBranchExists)
		}
		if err != nil {
			return fmt.Errorf("gitwrite: %s: create branch %s: %w", w.path, pr.Short(), err)
		}
		return nil
	}
	wt, live := checkedOut(b.repo, b.branch)
	var changes object.Changes
	if live {
		var err error
		changes, err = diffTrees(b.repo.Storer, b.head.TreeHash, tree)
		if err != nil {
			return fmt.Errorf("gitwrite: %s: %w", w.path, err)
		}
		if err := checkClean(b.repo, wt.Filesystem.Root(), b.head, changes); err != nil {
			return fmt.Errorf("gitwrite: %s: %w", w.path, err)
		}
	}
	err := setRef(b.repo.Storer, plumbing.NewHashReference(b.branch, h), plumbing.NewHashReference(b.branch, b.head.Hash))
	if errors.Is(err, storage.ErrReferenceHasChanged) {
		return fmt.Errorf("gitwrite: %s: %s moved from %s: %w", w.path, b.branch.Short(), short(b.head.Hash), errMoved)
	}
	if err != nil {
		return fmt.Errorf("gitwrite: %s: update %s: %w", w.path, b.branch.Short(), err)
	}
	if live {
		if err := updateWorktree(b.repo, wt.Filesystem.Root(), changes); err != nil {
			return fmt.Errorf("gitwrite: %s: commit %s is on %s, but updating the checked-out files failed (run \"git reset --hard\" there to catch up): %w",
				w.path, short(h), b.branch.Short(), err)
		}
	}
	return nil
}

// diffTrees lists the paths that differ between two tree objects.
func diffTrees(sto storer.EncodedObjectStorer, from, to plumbing.Hash) (object.Changes, error) {
	var a, b *object.Tree
	var err error
	if !from.IsZero() {
		if a, err = object.GetTree(sto, from); err != nil {
			return nil, err
		}
	}
	if !to.IsZero() {
		if b, err = object.GetTree(sto, to); err != nil {
			return nil, err
		}
	}
	return object.DiffTree(a, b)
}

// changePath is the path a change is about.
func changePath(c *object.Change) string {
	if c.To.Name != "" {
		return c.To.Name
	}
	return c.From.Name
}

// checkClean refuses when a file to be changed differs, in the work tree or
// the index, from the head commit.
func checkClean(repo *git.Repository, root string, head *object.Commit, changes object.Changes) error {
	headTree, err := head.Tree()
	if err != nil {
		return err
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	var dirty []string
	for _, c := range changes {
		p := changePath(c)
		he, err := treeEntry(headTree, p)
		if err != nil {
			return err
		}
		// Index.
		ie, ierr := idx.Entry(p)
		switch {
		case ierr == nil && (he == nil || ie.Hash != he.Hash):
			dirty = append(dirty, p)
			continue
		case ierr != nil && he != nil:
			dirty = append(dirty, p) // staged deletion
			continue
		}
		// Work tree.
		fp := filepath.Join(root, filepath.FromSlash(p))
		fi, err := os.Lstat(fp)
		if errors.Is(err, os.ErrNotExist) {
			if he != nil {
				dirty = append(dirty, p)
			}
			continue
		}
		if err != nil {
			return err
		}
		if he == nil {
			dirty = append(dirty, p) // untracked file in the way
			continue
		}
		var data []byte
		if fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(fp)
			if err != nil {
				return err
			}
			data = []byte(t)
		} else if fi.Mode().IsRegular() {
			if data, err = os.ReadFile(fp); err != nil {
				return err
			}
		} else {
			dirty = append(dirty, p)
			continue
		}
		want, err := readBlob(repo.Storer, he.Hash)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, want) {
			dirty = append(dirty, p)
		}
	}
	if len(dirty) > 0 {
		return fmt.Errorf("the checked-out work tree has %w in %s; commit or stash them first", ErrDirty, strings.Join(dirty, ", "))
	}
	return nil
}

// updateWorktree writes the changed files into the work tree and the index.
func updateWorktree(repo *git.Repository, root string, changes object.Changes) error {
	idx, err := repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	for _, c := range changes {
		p := changePath(c)
		fp := filepath.Join(root, filepath.FromSlash(p))
		if c.To.Name == "" {
			if err := os.Remove(fp); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			removeEmptyParents(root, filepath.Dir(fp))
			_, _ = idx.Remove(p)
			continue
		}
		te := c.To.TreeEntry
		e, err := idx.Entry(p)
		if err != nil {
			e = idx.Add(p)
		}
		e.Hash, e.Mode = te.Hash, te.Mode
		if te.Mode == filemode.Submodule {
			continue
		}
		data, err := readBlob(repo.Storer, te.Hash)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			return err
		}
		_ = os.Remove(fp)
		switch te.Mode {
		case filemode.Symlink:
			err = os.Symlink(string(data), fp)
		case filemode.Executable:
			err = os.WriteFile(fp, data, 0o755)
		default:
			err = os.WriteFile(fp, data, 0o644)
		}
		if err != nil {
			return err
		}
		if fi, err := os.Lstat(fp); err == nil {
			e.ModifiedAt, e.CreatedAt = fi.ModTime(), fi.ModTime()
			e.Size = uint32(fi.Size())
		}
	}
	idx.Cache = nil // the cached tree extension no longer matches
	return repo.Storer.SetIndex(idx)
}

// removeEmptyParents removes directories left empty under root.
func removeEmptyParents(root, dir string) {
	for dir != root && strings.HasPrefix(dir, root) {
		if err := os.Remove(dir); err != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}
