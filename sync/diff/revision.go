package diff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/bosun-dev/bosun/sync/gitsource"
)

// maxOtherFileBytes bounds the files without a manifest extension that
// ReadRevision copies out of a commit (symbolic links may point at them).
const maxOtherFileBytes = 1 << 20

// RevisionOptions say which revision ReadRevision reads.
type RevisionOptions struct {
	// Repo is a local directory (a work tree, a bare repository, or a plain
	// directory of manifests), a file:// URL, or a remote URL (https, ssh,
	// scp-like, git).
	Repo string
	// Rev is a branch, tag or commit (full or abbreviated SHA, or anything
	// go-git's ResolveRevision accepts, e.g. "main~1"). "" reads the files
	// of a local directory as they are on disk (the working tree, edits
	// included); for a bare or remote repository it reads HEAD.
	Rev string
	// TempDir is where a remote repository is fetched and a commit's files
	// are written; "" means os.TempDir(). Revision.Close removes what was
	// written.
	TempDir string
	// Auth holds credentials for a remote repository.
	Auth gitsource.Auth
}

// Revision is one revision's files.
type Revision struct {
	// Name labels the revision in reports: "feature (1a2b3c4d)" or
	// "working tree /src/cluster".
	Name string
	// SHA is the commit's full SHA; "" for a working tree.
	SHA string
	// Subject is the first line of the commit message; "" for a working tree.
	Subject string
	// Tree holds the revision's files, paths relative to the repository root.
	Tree fs.FS

	tmp string
}

// Close removes the temporary files of the revision. It is safe to call
// more than once.
func (r *Revision) Close() error {
	if r == nil || r.tmp == "" {
		return nil
	}
	err := os.RemoveAll(r.tmp)
	r.tmp = ""
	if err != nil {
		return fmt.Errorf("diff: remove %s: %w", r.tmp, err)
	}
	return nil
}

// ReadRevision reads the revision opts name. A local repository is opened
// in place (no git CLI). A branch is read through package gitsource (a
// remote one with a shallow, single-branch fetch); a tag or commit of a
// remote repository needs a fetch of all its branches and tags into
// opts.TempDir. Errors wrap gitsource.ErrUnreachable when the repository
// cannot be read and ErrUnknownRevision when rev names nothing.
func ReadRevision(ctx context.Context, opts RevisionOptions) (*Revision, error) {
	return readRevision(ctx, opts, false)
}

// ErrUnknownRevision means the repository has no branch, tag or commit of
// that name.
var ErrUnknownRevision = errors.New("unknown revision")

// readRevision is ReadRevision; forceRemote sends a file:// URL down the
// remote path (tests only; go-git then runs git-upload-pack).
func readRevision(ctx context.Context, opts RevisionOptions, forceRemote bool) (*Revision, error) {
	repo := strings.TrimSpace(opts.Repo)
	if repo == "" {
		return nil, fmt.Errorf("diff: no repository given")
	}
	local, dir := localDir(repo)
	if local && !forceRemote {
		return readLocal(ctx, dir, opts)
	}
	return readRemote(ctx, repo, opts)
}

// localDir reports whether repo is a local directory (plain path or
// file:// URL) and returns its path.
func localDir(repo string) (bool, string) {
	p := repo
	if rest, ok := strings.CutPrefix(repo, "file://"); ok {
		p = rest
	} else if strings.Contains(repo, "://") {
		return false, ""
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return false, ""
	}
	return true, p
}

func openInPlace(dir string) (*git.Repository, error) {
	return git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
}

func readLocal(ctx context.Context, dir string, opts RevisionOptions) (*Revision, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("diff: %s: %w", dir, err)
	}
	r, openErr := openInPlace(abs)
	if opts.Rev == "" {
		bare := false
		if openErr == nil {
			if _, err := r.Worktree(); errors.Is(err, git.ErrIsBareRepository) {
				bare = true
			}
		}
		if !bare {
			return &Revision{Name: "working tree " + abs, Tree: os.DirFS(abs)}, nil
		}
		opts.Rev = "HEAD"
	}
	if openErr != nil {
		return nil, fmt.Errorf("diff: open %s: %w: %w", abs, gitsource.ErrUnreachable, openErr)
	}
	if _, err := r.Reference(plumbing.NewBranchReferenceName(opts.Rev), true); err == nil {
		return readBranch(ctx, abs, opts)
	}
	return readResolved(ctx, r, opts)
}

// readBranch reads a branch through gitsource.
func readBranch(ctx context.Context, url string, opts RevisionOptions) (*Revision, error) {
	tmp, err := os.MkdirTemp(opts.TempDir, "bosun-diff-")
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	src, err := gitsource.New(gitsource.Config{URL: url, Branch: opts.Rev, CacheDir: tmp, Auth: opts.Auth})
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("diff: %w", err)
	}
	c, err := src.Fetch(ctx)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("diff: %w", err)
	}
	name := opts.Rev
	if name == "" {
		name = "HEAD"
	}
	return &Revision{Name: fmt.Sprintf("%s (%s)", name, short(c.SHA)), SHA: c.SHA, Subject: c.Subject, Tree: c.Tree, tmp: tmp}, nil
}

// readRemote reads a branch with a shallow fetch and anything else after
// fetching every branch and tag.
func readRemote(ctx context.Context, url string, opts RevisionOptions) (*Revision, error) {
	if opts.Rev == "" || !looksLikeSHA(opts.Rev) {
		rev, err := readBranch(ctx, url, opts)
		if err == nil || !errors.Is(err, gitsource.ErrNoBranch) {
			return rev, err
		}
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "bosun-diff-")
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	r, err := git.PlainInit(filepath.Join(tmp, "repo.git"), true)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	rem, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	err = rem.FetchContext(ctx, &git.FetchOptions{
		RefSpecs: []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
		Tags:     git.AllTags,
		Auth:     remoteAuth(url, opts.Auth),
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("diff: fetch %s: %w: %w", url, gitsource.ErrUnreachable, err)
	}
	if opts.Rev == "" {
		opts.Rev = "HEAD"
	}
	opts.TempDir = tmp
	rev, err := readResolved(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	rev.tmp = tmp
	ok = true
	return rev, nil
}

// remoteAuth returns HTTP basic auth for https URLs with a password; other
// transports use their defaults (ssh agent, known hosts).
func remoteAuth(url string, a gitsource.Auth) transport.AuthMethod {
	if a.Password == "" || !strings.HasPrefix(url, "http") {
		return nil
	}
	user := a.Username
	if user == "" {
		user = "git"
	}
	return &githttp.BasicAuth{Username: user, Password: a.Password}
}

func looksLikeSHA(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// readResolved resolves opts.Rev in r and writes the commit's files under
// a new directory in opts.TempDir.
func readResolved(ctx context.Context, r *git.Repository, opts RevisionOptions) (*Revision, error) {
	h, err := r.ResolveRevision(plumbing.Revision(opts.Rev))
	if err != nil {
		return nil, fmt.Errorf("diff: %q: %w: %w", opts.Rev, ErrUnknownRevision, err)
	}
	c, err := r.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("diff: read commit %s: %w", h, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("diff: read tree of %s: %w", h, err)
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "bosun-diff-tree-")
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	if err := writeTree(ctx, tree, tmp); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("diff: commit %s: %w", h, err)
	}
	subject, _, _ := strings.Cut(strings.TrimLeft(c.Message, "\n"), "\n")
	return &Revision{
		Name:    fmt.Sprintf("%s (%s)", opts.Rev, short(h.String())),
		SHA:     h.String(),
		Subject: strings.TrimSpace(subject),
		Tree:    os.DirFS(tmp),
		tmp:     tmp,
	}, nil
}

// writeTree writes the manifests and symbolic links of tree under dir, and
// other files up to maxOtherFileBytes (a link may name them).
func writeTree(ctx context.Context, tree *object.Tree, dir string) error {
	return tree.Files().ForEach(func(f *object.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if f.Mode == filemode.Symlink {
			target, err := f.Contents()
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		}
		switch strings.ToLower(path.Ext(f.Name)) {
		case ".yaml", ".yml", ".json":
		default:
			if f.Size > maxOtherFileBytes {
				return nil
			}
		}
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, rd); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
