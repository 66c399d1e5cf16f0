package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// DefaultTimeout is the deadline of one network operation when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Errors returned (wrapped) by Source. Check them with errors.Is.
var (
	// ErrUnreachable means the repository could not be read: the local path is not a
	// repository, or the remote could not be reached, refused the credentials or does not exist.
	ErrUnreachable = errors.New("repository unreachable")
	// ErrBadObject means a commit's or tree's Git object could not be read
	// although the repository could: it is corrupt or missing (a damaged
	// object store, or a shallow cache that lacks it).
	ErrBadObject = errors.New("Git object corrupt or missing")
	// ErrNoBranch means the repository was read but the tracked branch does not exist
	// (or, with no branch configured, HEAD does not name a branch that has commits).
	ErrNoBranch = errors.New("branch not found")
	// ErrBranchGone means the tracked branch existed when the Source last read it
	// and no longer does: it was deleted, locally or on the remote. Errors that
	// wrap it also match ErrNoBranch and name the branch, the repository and
	// the head the branch had.
	ErrBranchGone = errors.New("tracked branch no longer exists")
	// ErrNotLocal is returned by Watch for a remote source.
	ErrNotLocal = errors.New("not a local repository")
	// ErrInvalidConfig is returned by New for a URL or configuration it cannot use.
	ErrInvalidConfig = errors.New("invalid configuration")

	// errDetached marks the ErrNoBranch of a detached HEAD: no branch is missing.
	errDetached = errors.New("detached HEAD")
)

// Config says which repository and branch a Source tracks.
type Config struct {
	// URL is a local path ("/srv/repo", "./repo"), a "file://" URL, an "https://",
	// "http://", "ssh://" or "git://" URL, or an scp-like address ("git@host:org/repo.git").
	URL string
	// Branch is the tracked branch ("main" or "refs/heads/main"). "" means the remote's
	// default branch (its HEAD); for a local repository, the branch its HEAD names.
	Branch string
	// CacheDir is where remote repositories are cloned (under bosun's data dir).
	// Required for remote URLs, unused for local repositories.
	CacheDir string
	// Auth holds credentials for remote repositories.
	Auth Auth
	// Timeout bounds each network operation; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives debug and warning messages; nil discards them.
	Logger *slog.Logger
}

// Auth holds the credentials used for remote repositories.
type Auth struct {
	// Username and Password are HTTPS basic-auth credentials; a token goes in
	// Password (Username then defaults to "git").
	Username, Password string
	// SSHKeyFile is the private key used for ssh:// and scp-like URLs. When empty,
	// the ssh agent (SSH_AUTH_SOCK) is asked.
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile when it is encrypted.
	SSHKeyPassphrase string
	// SSHKnownHostsFile lists the trusted host keys; "" means ~/.ssh/known_hosts.
	// Unknown hosts always fail: there is no insecure mode.
	SSHKnownHostsFile string
}

// Commit is one commit of the tracked branch with a read-only view of its tree.
type Commit struct {
	SHA     string    // full hexadecimal object name
	Author  string    // "Name <email>"
	Subject string    // first line of the message
	Message string    // the whole message
	Time    time.Time // author time
	Parents []string  // the parents' SHAs, first parent first
	// Tree holds the commit's files. It implements fs.ReadFileFS, fs.ReadDirFS,
	// fs.StatFS and fs.ReadLinkFS: symbolic links report fs.ModeSymlink in ReadDir
	// and Lstat, ReadLink returns their target, and Open follows links that stay
	// inside the tree. Submodules are listed as fs.ModeIrregular entries with no
	// content. Tree is safe for concurrent use and stays readable after later
	// fetches or a "git gc" of the repository.
	Tree fs.FS
	// Signature is the commit's armored signature (git's gpgsig header), empty
	// for an unsigned commit. Verify checks it.
	Signature string

	// signedPayload is the commit object without its signature: the bytes the
	// signature covers. Set only for signed commits read from a repository.
	signedPayload []byte
}

// Source tracks one branch of one repository. Its methods are safe for concurrent
// use; calls that touch the repository are serialised.
type Source struct {
	cfg    Config
	log    *slog.Logger
	local  bool
	path   string // local: absolute path of the work tree or bare repository
	remote string // remote: the URL handed to go-git
	cache  string // remote: clone directory under CacheDir

	mu         sync.Mutex             // serialises Fetch and Head, guards last, seen and seenBranch
	last       *Commit                // the commit returned by the previous Fetch
	seen       string                 // the branch head the last successful Fetch or Head read
	seenBranch plumbing.ReferenceName // the branch that read resolved (refs/heads/...)

	// quiet and maxWait are Watch's coalescing (see coalescer); tests change them.
	quiet, maxWait time.Duration
	// watchReady, when set, is called once Watch has installed its watches (tests).
	watchReady func()
}

// New checks cfg and returns a Source for it. It does no I/O beyond resolving a
// relative local path against the working directory.
func New(cfg Config) (*Source, error) {
	return newSource(cfg, false)
}

// newSource is New with forceRemote, which makes a file:// URL take the remote
// path (clone into CacheDir, fetch). Only tests use it, together with go-git's
// in-process server transport installed for the "file" scheme.
func newSource(cfg Config, forceRemote bool) (*Source, error) {
	defaults.Positive(&cfg.Timeout, DefaultTimeout)
	log := cfg.Logger
	defaults.Logger(&log)
	s := &Source{cfg: cfg, log: log, quiet: watchQuiet, maxWait: watchMaxWait}
	if strings.HasPrefix(cfg.Branch, "refs/") && !strings.HasPrefix(cfg.Branch, "refs/heads/") {
		return nil, fmt.Errorf("%w: branch %q: only branches (refs/heads/...) can be tracked", ErrInvalidConfig, cfg.Branch)
	}
	kind, path, err := classifyURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if kind == urlLocal && !forceRemote {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("%w: url %q: %v", ErrInvalidConfig, cfg.URL, err)
		}
		s.local = true
		s.path = abs
		return s, nil
	}
	if kind == urlLocal {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("%w: url %q: %v", ErrInvalidConfig, cfg.URL, err)
		}
		s.remote = "file://" + filepath.ToSlash(abs)
	} else {
		s.remote = strings.TrimSpace(cfg.URL)
	}
	if cfg.CacheDir == "" {
		return nil, fmt.Errorf("%w: url %q is remote and needs a cache directory", ErrInvalidConfig, cfg.URL)
	}
	s.cache = filepath.Join(cfg.CacheDir, cacheName(s.remote, cfg.Branch))
	return s, nil
}

// Local reports whether the source is a local path or file:// URL, opened in place.
func (s *Source) Local() bool { return s.local }

// String returns the URL and branch, for logs.
func (s *Source) String() string {
	b := s.cfg.Branch
	if b == "" {
		b = "HEAD"
	}
	return s.cfg.URL + "@" + b
}

type urlKind int

const (
	urlLocal urlKind = iota
	urlRemote
)

// isSCPLike reports git's scp-like syntax, [user@]host:path: a colon with no
// slash before it (git's own rule, so "./a:b" and "/a:b" stay paths).
func isSCPLike(raw string) bool {
	i := strings.IndexByte(raw, ':')
	return i > 0 && i < len(raw)-1 && !strings.ContainsRune(raw[:i], '/')
}

// classifyURL tells local from remote URLs and returns the local path.
func classifyURL(raw string) (urlKind, string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return 0, "", fmt.Errorf("%w: empty repository url", ErrInvalidConfig)
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return 0, "", fmt.Errorf("%w: url %q: %v", ErrInvalidConfig, raw, err)
		}
		switch u.Scheme {
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return 0, "", fmt.Errorf("%w: url %q: file urls cannot name a host", ErrInvalidConfig, raw)
			}
			if u.Path == "" {
				return 0, "", fmt.Errorf("%w: url %q: no path", ErrInvalidConfig, raw)
			}
			return urlLocal, u.Path, nil
		case "http", "https", "ssh", "git":
			if u.Host == "" {
				return 0, "", fmt.Errorf("%w: url %q: no host", ErrInvalidConfig, raw)
			}
			if _, err := transport.NewEndpoint(raw); err != nil {
				return 0, "", fmt.Errorf("%w: url %q: %v", ErrInvalidConfig, raw, err)
			}
			return urlRemote, "", nil
		default:
			return 0, "", fmt.Errorf("%w: url %q: unsupported scheme %q (use a path, file, https, http, ssh or git)", ErrInvalidConfig, raw, u.Scheme)
		}
	}
	if !strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, ".") && isSCPLike(raw) {
		if _, err := transport.NewEndpoint(raw); err != nil {
			return 0, "", fmt.Errorf("%w: url %q: %v", ErrInvalidConfig, raw, err)
		}
		return urlRemote, "", nil
	}
	return urlLocal, raw, nil
}

// Fetch brings the tracked branch up to date and returns its head commit.
//
// Local repositories are opened in place (read-only, no clone, no git CLI) and
// their branch is re-resolved on every call; when the head did not move, the
// previous Commit is returned as is, so a poll that finds nothing new costs a
// few file reads. Remote repositories are cloned once into CacheDir (bare,
// single branch, depth 1 when the server supports shallow fetches) and fetched
// with a forced refspec afterwards, so force-pushed or reset branches are
// followed; an unchanged remote head costs one reference advertisement.
//
// Errors wrap ErrUnreachable (missing repository, network, authentication) or
// ErrNoBranch; ErrBranchGone too when the branch was there at the previous
// Fetch or Head and is not any more (deleted locally or on the remote).
func (s *Source) Fetch(ctx context.Context) (Commit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		c   Commit
		err error
	)
	if s.local {
		c, err = s.fetchLocal(ctx)
	} else {
		c, err = s.fetchRemote(ctx)
	}
	if err != nil {
		return Commit{}, s.gone(err)
	}
	s.seen = c.SHA
	return c, nil
}

// Head returns the head commit SHA of the tracked branch without building a
// Commit: for a local repository a reference lookup, for a remote one a
// reference advertisement (no objects are downloaded). Errors are those of Fetch.
func (s *Source) Head(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sha plumbing.Hash
	if s.local {
		_, h, err := s.localHead(ctx)
		if err != nil {
			return "", s.gone(err)
		}
		sha = h
	} else {
		ad, err := s.advertise(ctx)
		if err != nil {
			return "", s.gone(err)
		}
		sha = ad.sha
	}
	s.seen = sha.String()
	return s.seen, nil
}

// gone turns err, when it says the branch is missing, into an error wrapping
// ErrBranchGone if the branch existed at the previous Fetch or Head.
func (s *Source) gone(err error) error {
	if s.seen == "" || !errors.Is(err, ErrNoBranch) || errors.Is(err, errDetached) {
		return err
	}
	branch := fmt.Sprintf("branch %q", strings.TrimPrefix(s.cfg.Branch, "refs/heads/"))
	if s.cfg.Branch == "" {
		branch = fmt.Sprintf("branch %q (followed as HEAD's branch)", s.seenBranch.Short())
	}
	repo := s.cfg.URL
	if s.local {
		repo = s.path
	}
	return &branchGoneError{branch: branch, repo: repo, last: s.seen, cause: err}
}

// branchGoneError is the error of ErrBranchGone: it matches ErrBranchGone
// and ErrNoBranch.
type branchGoneError struct {
	branch, repo, last string // branch is `branch "main"` or a description
	cause              error  // what the repository said
}

func (e *branchGoneError) Error() string {
	return fmt.Sprintf("gitsource: %s no longer exists in %s (it was at %s)", e.branch, e.repo, short(e.last))
}

// Is makes errors.Is match ErrBranchGone and, through Unwrap, ErrNoBranch.
func (e *branchGoneError) Is(target error) bool { return target == ErrBranchGone }

// Unwrap returns what the repository said.
func (e *branchGoneError) Unwrap() error { return e.cause }

// IsAncestor reports whether commit ancestor is descendant or one of its
// ancestors, in the repository as last fetched: false when the history
// was rewritten (a force-push) so that descendant no longer builds on
// ancestor. When the repository cannot tell — a shallow cache (remote
// fetches are depth 1 where the server allows it) missing commits in
// between, or more than maxAncestry commits to walk — it answers true:
// a rewrite is then not detected, rather than a sync refused wrongly.
func (s *Source) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("gitsource: %w", err)
	}
	var repo *git.Repository
	var err error
	if s.local {
		repo, err = openRepo(s.path)
	} else {
		repo, err = git.PlainOpen(s.cache)
	}
	if err != nil {
		return false, fmt.Errorf("gitsource: %s: open: %w: %w", s, ErrUnreachable, err)
	}
	want := plumbing.NewHash(ancestor)
	queue := []plumbing.Hash{plumbing.NewHash(descendant)}
	seen := map[plumbing.Hash]bool{}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if h == want {
			return true, nil
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if len(seen) > maxAncestry {
			return true, nil // too far to tell
		}
		c, err := object.GetCommit(repo.Storer, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return true, nil // a shallow cache: cannot tell
		}
		if err != nil {
			return false, fmt.Errorf("gitsource: %s: read commit %s: %w", s, h, err)
		}
		queue = append(queue, c.ParentHashes...)
	}
	return false, nil
}

// maxAncestry bounds the commits IsAncestor walks.
const maxAncestry = 100000
