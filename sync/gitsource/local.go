package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// openRepo opens a work tree, a linked work tree or a bare repository in place.
func openRepo(path string) (*git.Repository, error) {
	return git.PlainOpenWithOptions(path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
}

// branchRef is the configured branch as a full reference name ("" when unset).
func (s *Source) branchRef() plumbing.ReferenceName {
	b := s.cfg.Branch
	if b == "" {
		return ""
	}
	if strings.HasPrefix(b, "refs/heads/") {
		return plumbing.ReferenceName(b)
	}
	return plumbing.NewBranchReferenceName(b)
}

// localHead opens the local repository and resolves the tracked branch.
func (s *Source) localHead(ctx context.Context) (*git.Repository, plumbing.Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitsource: %s: %w", s.path, err)
	}
	repo, err := openRepo(s.path)
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitsource: open %s: %w: %w", s.path, ErrUnreachable, err)
	}
	name, err := s.localBranch(repo)
	if err != nil {
		return nil, plumbing.ZeroHash, err
	}
	ref, err := storer.ResolveReference(repo.Storer, name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitsource: %s: branch %q has no commits: %w", s.path, name.Short(), ErrNoBranch)
	}
	if err != nil {
		return nil, plumbing.ZeroHash, fmt.Errorf("gitsource: %s: resolve %s: %w: %w", s.path, name, ErrUnreachable, err)
	}
	s.seenBranch = name
	return repo, ref.Hash(), nil
}

// localBranch names the tracked branch: the configured one, else the one
// HEAD names. A branch followed through HEAD before that no longer exists
// is still the tracked one, so that its deletion is reported (ErrBranchGone)
// rather than a checked-out branch silently followed instead.
func (s *Source) localBranch(repo *git.Repository) (plumbing.ReferenceName, error) {
	if name := s.branchRef(); name != "" {
		return name, nil
	}
	if s.seenBranch != "" {
		if _, err := repo.Storer.Reference(s.seenBranch); errors.Is(err, plumbing.ErrReferenceNotFound) {
			return s.seenBranch, nil
		}
	}
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return "", fmt.Errorf("gitsource: %s: read HEAD: %w: %w", s.path, ErrUnreachable, err)
	}
	if head.Type() != plumbing.SymbolicReference {
		return "", fmt.Errorf("gitsource: %s: HEAD is detached, so no branch can be tracked; check out a branch or configure one: %w: %w", s.path, ErrNoBranch, errDetached)
	}
	return head.Target(), nil
}

// fetchLocal re-reads the local repository; an unchanged head returns the
// previous Commit.
func (s *Source) fetchLocal(ctx context.Context) (Commit, error) {
	repo, h, err := s.localHead(ctx)
	if err != nil {
		return Commit{}, err
	}
	if s.last != nil && s.last.SHA == h.String() {
		return *s.last, nil
	}
	path := s.path
	c, err := buildCommit(repo.Storer, h, func() (storer.EncodedObjectStorer, error) {
		r, err := openRepo(path)
		if err != nil {
			return nil, err
		}
		return r.Storer, nil
	})
	if err != nil {
		return Commit{}, fmt.Errorf("gitsource: %s: %w", s.path, err)
	}
	if s.last == nil || s.last.SHA != c.SHA {
		s.log.Debug("new commit on local branch", "repo", s.path, "sha", c.SHA, "subject", c.Subject)
	}
	s.last = &c
	return c, nil
}

// buildCommit reads commit h and wraps its tree. reopen gives the tree view a
// fresh storage when the first one fails (see objects).
func buildCommit(sto storer.EncodedObjectStorer, h plumbing.Hash, reopen func() (storer.EncodedObjectStorer, error)) (Commit, error) {
	co, err := object.GetCommit(sto, h)
	if err != nil {
		return Commit{}, fmt.Errorf("read commit %s: %w: %w", h, ErrBadObject, err)
	}
	objs := newObjects(sto, reopen)
	if _, err := objs.tree(co.TreeHash); err != nil {
		return Commit{}, fmt.Errorf("commit %s: %w: %w", h, ErrBadObject, err)
	}
	subject, _, _ := strings.Cut(strings.TrimLeft(co.Message, "\n"), "\n")
	var payload []byte
	if co.PGPSignature != "" {
		enc := &plumbing.MemoryObject{}
		if err := co.EncodeWithoutSignature(enc); err != nil {
			return Commit{}, fmt.Errorf("commit %s: encode for signature check: %w", h, err)
		}
		r, err := enc.Reader()
		if err != nil {
			return Commit{}, fmt.Errorf("commit %s: encode for signature check: %w", h, err)
		}
		payload, err = io.ReadAll(r)
		if err != nil {
			return Commit{}, fmt.Errorf("commit %s: encode for signature check: %w", h, err)
		}
	}
	parents := make([]string, len(co.ParentHashes))
	for i, p := range co.ParentHashes {
		parents[i] = p.String()
	}
	return Commit{
		SHA:     h.String(),
		Parents: parents,
		Author:  fmt.Sprintf("%s <%s>", co.Author.Name, co.Author.Email),
		Subject: strings.TrimSpace(subject),
		Message: co.Message,
		Time:    co.Author.When,
		Tree:    &treeFS{objs: objs, root: co.TreeHash, modTime: co.Author.When},

		Signature:     co.PGPSignature,
		signedPayload: payload,
	}, nil
}

// gitDirs returns the directory holding HEAD and the one holding refs/ and
// packed-refs (they differ for linked work trees) of a local repository.
func gitDirs(path string) (gitDir, commonDir string, err error) {
	dotGit := filepath.Join(path, ".git")
	fi, err := os.Stat(dotGit)
	switch {
	case err == nil && fi.IsDir():
		gitDir = dotGit
	case err == nil:
		// A ".git" file: "gitdir: <path>" (linked work tree or submodule).
		b, err := os.ReadFile(dotGit)
		if err != nil {
			return "", "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		target, ok := strings.CutPrefix(strings.TrimSpace(line), "gitdir:")
		if !ok {
			return "", "", fmt.Errorf("%s: no gitdir line", dotGit)
		}
		gitDir = strings.TrimSpace(target)
		if !filepath.IsAbs(gitDir) {
			gitDir = filepath.Join(path, gitDir)
		}
	case errors.Is(err, os.ErrNotExist):
		gitDir = path // bare repository
	default:
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(gitDir, "HEAD")); err != nil {
		return "", "", fmt.Errorf("%s is not a git repository: %w", path, err)
	}
	commonDir = gitDir
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		commonDir = strings.TrimSpace(string(b))
		if !filepath.IsAbs(commonDir) {
			commonDir = filepath.Join(gitDir, commonDir)
		}
	}
	return filepath.Clean(gitDir), filepath.Clean(commonDir), nil
}
