package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/bosun-dev/bosun/sync/gitsource"
)

const remoteName = "origin"

// openClone opens the clone in WorkDir, or makes a new bare one when it is
// missing or belongs to another URL.
func (w *Writer) openClone() (*git.Repository, error) {
	dir := w.cfg.WorkDir
	repo, err := git.PlainOpen(dir)
	if err == nil {
		rem, rerr := repo.Remote(remoteName)
		if rerr == nil && len(rem.Config().URLs) == 1 && rem.Config().URLs[0] == w.remote {
			return repo, nil
		}
		w.log.Info("work directory holds another repository; cloning again", "dir", dir, "url", w.cfg.URL)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("gitwrite: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("gitwrite: %w", err)
	}
	repo, err = git.PlainInit(dir, true)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: init %s: %w", dir, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{w.remote}}); err != nil {
		return nil, fmt.Errorf("gitwrite: init %s: %w", dir, err)
	}
	return repo, nil
}

// remoteRefs lists the remote's references.
func (w *Writer) remoteRefs(ctx context.Context, repo *git.Repository) (map[plumbing.ReferenceName]*plumbing.Reference, error) {
	rem, err := repo.Remote(remoteName)
	if err != nil {
		return nil, err
	}
	auth, err := w.auth()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return nil, err
	}
	out := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		out[r.Name()] = r
	}
	return out, nil
}

// fetch brings the tracked branch of the remote into the clone (full history,
// so reverts and history walks work) and returns its head.
func (w *Writer) fetch(ctx context.Context) (*base, error) {
	repo, err := w.openClone()
	if err != nil {
		return nil, err
	}
	refs, err := w.remoteRefs(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %s: list references: %w", w.cfg.URL, err)
	}
	name := w.branchRef()
	if name == "" {
		head := refs[plumbing.HEAD]
		if head == nil || head.Type() != plumbing.SymbolicReference {
			return nil, fmt.Errorf("gitwrite: %s: the remote does not say which branch HEAD names; give the branch", w.cfg.URL)
		}
		name = head.Target()
	}
	if refs[name] == nil {
		return nil, fmt.Errorf("gitwrite: %s: no branch %s on the remote: %w", w.cfg.URL, name.Short(), ErrNotFound)
	}
	auth, err := w.auth()
	if err != nil {
		return nil, err
	}
	tracking := plumbing.NewRemoteReferenceName(remoteName, name.Short())
	fctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	err = repo.FetchContext(fctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + name.String() + ":" + tracking.String())},
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	cancel()
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("gitwrite: %s: fetch %s: %w", w.cfg.URL, name.Short(), err)
	}
	ref, err := repo.Storer.Reference(tracking)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %s: after fetch: %w", w.cfg.URL, err)
	}
	head, err := object.GetCommit(repo.Storer, ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %s: read head %s: %w", w.cfg.URL, ref.Hash(), err)
	}
	return &base{repo: repo, branch: name, head: head}, nil
}

// push sends commit h to the tracked branch (or the new branch pr). A
// rejected push after which the remote branch no longer points at the base
// is a lost race (errMoved), retried by the caller.
func (w *Writer) push(ctx context.Context, b *base, h plumbing.Hash, pr plumbing.ReferenceName) error {
	dst := b.branch
	if pr != "" {
		refs, err := w.remoteRefs(ctx, b.repo)
		if err != nil {
			return fmt.Errorf("gitwrite: %s: list references: %w", w.cfg.URL, err)
		}
		if refs[pr] != nil {
			return fmt.Errorf("gitwrite: %s: branch %s: %w; choose another name", w.cfg.URL, pr.Short(), ErrBranchExists)
		}
		dst = pr
	}
	// go-git pushes local references: name the commit with one.
	src := plumbing.ReferenceName("refs/heads/" + dst.Short())
	if err := b.repo.Storer.SetReference(plumbing.NewHashReference(src, h)); err != nil {
		return fmt.Errorf("gitwrite: %w", err)
	}
	// Drop it afterwards: a reference to a commit the remote lacks would be
	// offered as a "have" by the next fetch, which some servers refuse.
	defer func() { _ = b.repo.Storer.RemoveReference(src) }()
	auth, err := w.auth()
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	err = b.repo.PushContext(pctx, &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(src.String() + ":" + dst.String())},
		Auth:       auth,
	})
	cancel()
	if err == nil {
		return nil
	}
	if pr == "" {
		if refs, lerr := w.remoteRefs(ctx, b.repo); lerr == nil {
			if r := refs[dst]; r != nil && r.Hash() != b.head.Hash {
				return fmt.Errorf("gitwrite: %s: push to %s rejected (%v): %w", w.cfg.URL, dst.Short(), err, errMoved)
			}
		}
	}
	return fmt.Errorf("gitwrite: %s: push to %s: %w", w.cfg.URL, dst.Short(), err)
}

// auth builds the credentials for the remote's protocol (nil for none).
func (w *Writer) auth() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(w.remote)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: url %q: %w", w.cfg.URL, err)
	}
	am, err := gitsource.AuthMethod(ep, w.cfg.Auth, w.cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("gitwrite: %w", err)
	}
	return am, nil
}
