package gitwrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/sync/gitsource"
)

// MaxAttempts is how many times Commit and Revert try when the branch moves
// under them (a non-fast-forward push or a changed local ref).
const MaxAttempts = 5

// DefaultTimeout bounds one network operation when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Environment variables the CLI reads the default author from.
const (
	EnvAuthorName  = "BOSUN_GIT_AUTHOR_NAME"
	EnvAuthorEmail = "BOSUN_GIT_AUTHOR_EMAIL"
)

// Errors returned (wrapped) by Writer. Check them with errors.Is.
var (
	// ErrNoChange means the edit left every file as it was: no commit is made.
	ErrNoChange = errors.New("nothing changed")
	// ErrConflict means a revert would undo changes made after the reverted
	// commit: the error names the files (and the later commits).
	ErrConflict = errors.New("conflict")
	// ErrNotFound means a commit is not on the branch, or no commit matched.
	ErrNotFound = errors.New("not found")
	// ErrMergeCommit means Revert was asked to revert a merge commit.
	ErrMergeCommit = errors.New("merge commit")
	// ErrBranchExists means PushOptions.Branch names a branch that exists.
	ErrBranchExists = errors.New("branch exists")
	// ErrDirty means the checked-out work tree of a local repository has
	// uncommitted changes in a file the commit changes.
	ErrDirty = errors.New("uncommitted changes")
	// ErrRaced means the branch kept moving: MaxAttempts tries all lost the race.
	ErrRaced = errors.New("branch kept moving")
)

// Signature is a commit author.
type Signature struct {
	Name, Email string
}

// String returns "Name <email>".
func (s Signature) String() string { return s.Name + " <" + s.Email + ">" }

// Config says which repository and branch a Writer commits to.
type Config struct {
	// URL is a local path, a file:// URL, or an https://, http://, ssh:// or
	// scp-like URL: the same forms as gitsource.Config.URL. Local
	// repositories are written in place (see the package documentation).
	URL string
	// Branch is the tracked branch; "" means the remote's default branch, or
	// for a local repository the branch its HEAD names.
	Branch string
	// Auth holds credentials for remote repositories.
	Auth gitsource.Auth
	// WorkDir is where the clone of a remote repository lives (reused across
	// calls when it holds a clone of the same URL). Required for remote URLs.
	WorkDir string
	// Author signs the commits; a zero value means "bosun" <bosun@localhost>.
	Author Signature
	// Timeout bounds each network operation; zero means DefaultTimeout.
	Timeout time.Duration
	// Now returns the commit time; nil means time.Now.
	Now func() time.Time
	// Logger receives debug messages; nil discards them.
	Logger *slog.Logger
}

// PushOptions says where a commit goes.
type PushOptions struct {
	// Branch, when set, is a new branch the commit is pushed to (based on the
	// tracked branch's head) instead of the tracked branch, for a pull
	// request. A branch that already exists is refused with ErrBranchExists.
	Branch string
	// Author, when its Name is set, authors the commit instead of
	// Config.Author (the committer stays Config.Author): the person on
	// whose behalf bosun commits, such as the user of an API write.
	Author Signature
}

// Commit describes one commit of the branch.
type Commit struct {
	SHA     string
	Author  string // "Name <email>"
	Subject string
	Message string
	Time    time.Time // author time
	Parents []string
}

// Writer writes commits to one branch of one repository. Its methods may be
// called concurrently; each call works on its own attempt state.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	local  bool
	path   string // local: absolute path
	remote string // remote: URL for go-git
}

// New checks cfg and returns a Writer. It does no I/O.
func New(cfg Config) (*Writer, error) {
	return newWriter(cfg, false)
}

// newWriter is New with forceRemote, which sends a local path or file:// URL
// down the clone-and-push path (tests, with an in-process file transport).
func newWriter(cfg Config, forceRemote bool) (*Writer, error) {
	defaults.Positive(&cfg.Timeout, DefaultTimeout)
	if cfg.Author.Name == "" {
		cfg.Author.Name = "bosun"
	}
	if cfg.Author.Email == "" {
		cfg.Author.Email = "bosun@localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	defaults.Logger(&log)
	if strings.HasPrefix(cfg.Branch, "refs/") && !strings.HasPrefix(cfg.Branch, "refs/heads/") {
		return nil, fmt.Errorf("gitwrite: branch %q: only branches (refs/heads/...) can be written", cfg.Branch)
	}
	w := &Writer{cfg: cfg, log: log}
	raw := strings.TrimSpace(cfg.URL)
	if raw == "" {
		return nil, errors.New("gitwrite: empty repository url")
	}
	localPath, isLocal, err := localPathOf(raw)
	if err != nil {
		return nil, err
	}
	if isLocal {
		abs, err := filepath.Abs(localPath)
		if err != nil {
			return nil, fmt.Errorf("gitwrite: url %q: %w", raw, err)
		}
		if !forceRemote {
			w.local, w.path = true, abs
			return w, nil
		}
		w.remote = "file://" + filepath.ToSlash(abs)
	} else {
		w.remote = raw
	}
	if cfg.WorkDir == "" {
		return nil, fmt.Errorf("gitwrite: url %q is remote and needs a work directory", raw)
	}
	return w, nil
}

// localPathOf tells local paths (and file:// URLs) from remote URLs.
func localPathOf(raw string) (string, bool, error) {
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", false, fmt.Errorf("gitwrite: url %q: %w", raw, err)
		}
		switch u.Scheme {
		case "file":
			if u.Path == "" || (u.Host != "" && u.Host != "localhost") {
				return "", false, fmt.Errorf("gitwrite: url %q: a file url needs a local path", raw)
			}
			return u.Path, true, nil
		case "http", "https", "ssh", "git":
			if _, err := transport.NewEndpoint(raw); err != nil {
				return "", false, fmt.Errorf("gitwrite: url %q: %w", raw, err)
			}
			return "", false, nil
		default:
			return "", false, fmt.Errorf("gitwrite: url %q: unsupported scheme %q (use a path, file, https, http, ssh or git)", raw, u.Scheme)
		}
	}
	if i := strings.IndexByte(raw, ':'); i > 0 && !strings.ContainsRune(raw[:i], '/') && !strings.HasPrefix(raw, ".") {
		return "", false, nil // scp-like: git@host:org/repo.git
	}
	return raw, true, nil
}

// Local reports whether the repository is written in place.
func (w *Writer) Local() bool { return w.local }

// String returns the URL and branch, for messages.
func (w *Writer) String() string {
	b := w.cfg.Branch
	if b == "" {
		b = "HEAD"
	}
	return w.cfg.URL + "@" + b
}

// signature is the author and committer of a new commit.
func (w *Writer) signature() object.Signature {
	return object.Signature{Name: w.cfg.Author.Name, Email: w.cfg.Author.Email, When: w.cfg.Now()}
}

// Commit applies edit to the tracked branch's head, commits the result with
// message and the configured author, and publishes it: for a remote
// repository by pushing, for a local one by moving the branch in place. When
// the branch moved meanwhile (another push won), it fetches, runs edit again
// on the new head and retries, up to MaxAttempts times in all. edit may thus
// run more than once and must work from what the Tree holds.
//
// It returns the new commit's SHA. An edit that changes nothing gives
// ErrNoChange; an edit's own error is returned as is (wrapped).
func (w *Writer) Commit(ctx context.Context, message string, edit func(t *Tree) error, opts PushOptions) (string, error) {
	if strings.TrimSpace(message) == "" {
		return "", errors.New("gitwrite: empty commit message")
	}
	var lastErr error
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		sha, err := w.attemptBase(ctx, nil, func() string { return message }, edit, opts)
		if err == nil {
			return sha, nil
		}
		if !errors.Is(err, errMoved) {
			return "", err
		}
		lastErr = err
		w.log.Debug("branch moved while committing; retrying on the new head", "repo", w.String(), "attempt", attempt, "err", err)
	}
	return "", fmt.Errorf("gitwrite: %s: %w after %d attempts: %w", w, ErrRaced, MaxAttempts, lastErr)
}

// errMoved marks a lost race: the branch moved between reading and updating.
var errMoved = errors.New("branch moved")

// base is what one attempt starts from.
type base struct {
	repo   *git.Repository
	branch plumbing.ReferenceName // the tracked branch, refs/heads/...
	head   *object.Commit
}

// attemptBase makes one try at a commit: open (or fetch) the branch, hand
// the base to onBase, run edit, write the commit with message() and publish it.
func (w *Writer) attemptBase(ctx context.Context, onBase func(*base), message func() string, edit func(t *Tree) error, opts PushOptions) (string, error) {
	b, err := w.open(ctx)
	if err != nil {
		return "", err
	}
	if onBase != nil {
		onBase(b)
	}
	var pr plumbing.ReferenceName
	if opts.Branch != "" {
		pr = plumbing.ReferenceName(opts.Branch)
		if !strings.HasPrefix(opts.Branch, "refs/heads/") {
			pr = plumbing.NewBranchReferenceName(opts.Branch)
		}
		if pr == b.branch {
			return "", fmt.Errorf("gitwrite: --branch %s is the tracked branch; leave it out to push there", opts.Branch)
		}
		if err := pr.Validate(); err != nil {
			return "", fmt.Errorf("gitwrite: branch %q: %w", opts.Branch, err)
		}
	}
	tree := newTree(b.repo.Storer, b.head.TreeHash)
	if err := edit(tree); err != nil {
		return "", fmt.Errorf("gitwrite: %w", err)
	}
	treeHash, err := tree.write()
	if err != nil {
		return "", fmt.Errorf("gitwrite: write tree: %w", err)
	}
	if treeHash.IsZero() {
		if treeHash, err = writeEmptyTree(b.repo.Storer); err != nil {
			return "", fmt.Errorf("gitwrite: write tree: %w", err)
		}
	}
	if treeHash == b.head.TreeHash {
		return "", fmt.Errorf("gitwrite: %s: %w", w, ErrNoChange)
	}
	msg := message()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	sig := w.signature()
	author := sig
	if opts.Author.Name != "" {
		author.Name, author.Email = opts.Author.Name, opts.Author.Email
	}
	c := &object.Commit{
		Author:       author,
		Committer:    sig,
		Message:      msg,
		TreeHash:     treeHash,
		ParentHashes: []plumbing.Hash{b.head.Hash},
	}
	obj := b.repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return "", fmt.Errorf("gitwrite: encode commit: %w", err)
	}
	h, err := b.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return "", fmt.Errorf("gitwrite: write commit: %w", err)
	}
	if w.local {
		err = w.publishLocal(b, h, treeHash, pr)
	} else {
		err = w.push(ctx, b, h, pr)
	}
	if err != nil {
		return "", err
	}
	target := b.branch
	if pr != "" {
		target = pr
	}
	w.log.Info("committed", "repo", w.cfg.URL, "branch", target.Short(), "sha", h.String(), "subject", firstLine(msg))
	return h.String(), nil
}

// open returns the repository and the tracked branch's head: opened in place
// for a local repository, fetched into the work directory for a remote one.
func (w *Writer) open(ctx context.Context) (*base, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gitwrite: %w", err)
	}
	if w.local {
		return w.openLocal()
	}
	return w.fetch(ctx)
}

// branchRef is the configured branch as a full name ("" when unset).
func (w *Writer) branchRef() plumbing.ReferenceName {
	b := w.cfg.Branch
	switch {
	case b == "":
		return ""
	case strings.HasPrefix(b, "refs/heads/"):
		return plumbing.ReferenceName(b)
	default:
		return plumbing.NewBranchReferenceName(b)
	}
}

// Head returns the tracked branch's head commit (fetching a remote first).
func (w *Writer) Head(ctx context.Context) (Commit, string, error) {
	b, err := w.open(ctx)
	if err != nil {
		return Commit{}, "", err
	}
	return toCommit(b.head), b.branch.Short(), nil
}

func toCommit(c *object.Commit) Commit {
	out := Commit{
		SHA:     c.Hash.String(),
		Author:  c.Author.Name + " <" + c.Author.Email + ">",
		Subject: firstLine(c.Message),
		Message: c.Message,
		Time:    c.Author.When,
	}
	for _, p := range c.ParentHashes {
		out.Parents = append(out.Parents, p.String())
	}
	return out
}

func firstLine(msg string) string {
	s, _, _ := strings.Cut(strings.TrimLeft(msg, "\n"), "\n")
	return strings.TrimSpace(s)
}

// short is the first 8 characters of a SHA.
func short(h plumbing.Hash) string { return h.String()[:8] }
