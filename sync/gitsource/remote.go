package gitsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	cryptossh "golang.org/x/crypto/ssh"
)

// remoteName is the name of the remote in cache clones.
const remoteName = "origin"

// cacheName is the directory name of a remote's clone: a hash of URL and branch,
// so a changed URL or branch never reuses another clone.
func cacheName(url, branch string) string {
	sum := sha256.Sum256([]byte(url + "\x00" + branch))
	return hex.EncodeToString(sum[:12])
}

// advert is what the remote's reference advertisement says about the tracked branch.
type advert struct {
	branch  plumbing.ReferenceName // refs/heads/...
	sha     plumbing.Hash
	shallow bool // the server accepts depth-limited fetches
}

// authMethod builds the credentials for the remote's protocol. It reads key and
// known-hosts files, so it runs on each network operation rather than in New.
func (s *Source) authMethod(ep *transport.Endpoint) (transport.AuthMethod, error) {
	return AuthMethod(ep, s.cfg.Auth, s.cfg.Timeout)
}

// AuthMethod builds go-git credentials from a for the endpoint's protocol:
// basic auth for https (user "git" when only a password or token is
// given), an ssh key file or the ssh agent for ssh, checked against the
// known_hosts file; nil for local and anonymous access. timeout bounds the
// ssh dial and handshake. It reads the key and known-hosts files, so call it
// for each network operation.
func AuthMethod(ep *transport.Endpoint, a Auth, timeout time.Duration) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		if a.Username == "" && a.Password == "" {
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		known := a.SSHKnownHostsFile
		if known == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("find ~/.ssh/known_hosts: %w", err)
			}
			known = filepath.Join(home, ".ssh", "known_hosts")
		}
		db, err := gitssh.NewKnownHostsDb(known)
		if err != nil {
			return nil, fmt.Errorf("read known hosts %s (add the server's key, e.g. with ssh-keyscan): %w", known, err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		helper := gitssh.HostKeyCallbackHelper{
			HostKeyCallback:   db.HostKeyCallback(),
			HostKeyAlgorithms: db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port))),
		}
		if a.SSHKeyFile != "" {
			pk, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
			if err != nil {
				return nil, fmt.Errorf("read ssh key %s: %w", a.SSHKeyFile, err)
			}
			pk.HostKeyCallbackHelper = helper
			return sshTimeout{AuthMethod: pk, timeout: timeout}, nil
		}
		ag, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("no ssh key file configured and no ssh agent available: %w", err)
		}
		ag.HostKeyCallbackHelper = helper
		return sshTimeout{AuthMethod: ag, timeout: timeout}, nil
	default:
		return nil, nil
	}
}

// sshTimeout bounds the ssh dial and handshake, which go-git does not tie to
// the operation's context.
type sshTimeout struct {
	gitssh.AuthMethod
	timeout time.Duration
}

// ClientConfig implements gitssh.AuthMethod.
func (a sshTimeout) ClientConfig() (*cryptossh.ClientConfig, error) {
	c, err := a.AuthMethod.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = a.timeout
	return c, nil
}

// advertise asks the remote for its references (git ls-remote) and picks the
// tracked branch; no objects are transferred.
func (s *Source) advertise(ctx context.Context) (advert, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	fail := func(err error) (advert, error) {
		return advert{}, fmt.Errorf("gitsource: %s: list references: %w: %w", s.cfg.URL, ErrUnreachable, err)
	}
	ep, err := transport.NewEndpoint(s.remote)
	if err != nil {
		return fail(err)
	}
	auth, err := s.authMethod(ep)
	if err != nil {
		return fail(err)
	}
	cli, err := client.NewClient(ep)
	if err != nil {
		return fail(err)
	}
	sess, err := cli.NewUploadPackSession(ep, auth)
	if err != nil {
		return fail(err)
	}
	defer sess.Close()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return advert{}, fmt.Errorf("gitsource: %s: the repository is empty; push a commit: %w", s.cfg.URL, ErrNoBranch)
	}
	if err != nil {
		return fail(err)
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return fail(err)
	}
	name := s.branchRef()
	if name == "" && s.seenBranch != "" && refs[s.seenBranch] == nil {
		// The branch HEAD named before is gone: report that (ErrBranchGone),
		// do not silently follow another one.
		name = s.seenBranch
	}
	if name == "" {
		head := refs[plumbing.HEAD]
		if head == nil || head.Type() != plumbing.SymbolicReference {
			return advert{}, fmt.Errorf("gitsource: %s: the remote does not say which branch HEAD names; configure a branch: %w", s.cfg.URL, ErrNoBranch)
		}
		name = head.Target()
	}
	ref := refs[name]
	if ref == nil || ref.Type() != plumbing.HashReference {
		return advert{}, fmt.Errorf("gitsource: %s: no branch %q on the remote: %w", s.cfg.URL, name.Short(), ErrNoBranch)
	}
	s.seenBranch = name
	return advert{branch: name, sha: ref.Hash(), shallow: ar.Capabilities.Supports(capability.Shallow)}, nil
}

// fetchRemote asks the remote for the branch head and fetches it into the cache
// clone when it moved.
func (s *Source) fetchRemote(ctx context.Context) (Commit, error) {
	ad, err := s.advertise(ctx)
	if err != nil {
		return Commit{}, err
	}
	if s.last != nil && s.last.SHA == ad.sha.String() {
		return *s.last, nil
	}
	c, err := s.fetchInto(ctx, ad, false)
	if err != nil && ctx.Err() == nil && isCacheError(err) {
		// The remote answered, so the clone is what is broken: start over once.
		s.log.Warn("git cache is unusable; cloning the repository again", "url", s.cfg.URL, "dir", s.cache, "err", err)
		c, err = s.fetchInto(ctx, ad, true)
	}
	if err != nil {
		return Commit{}, fmt.Errorf("gitsource: %s: fetch %s: %w: %w", s.cfg.URL, ad.branch.Short(), ErrUnreachable, err)
	}
	if s.last == nil || s.last.SHA != c.SHA {
		s.log.Debug("fetched new commit", "url", s.cfg.URL, "branch", ad.branch.Short(), "sha", c.SHA, "subject", c.Subject)
	}
	s.last = &c
	return c, nil
}

// isCacheError reports errors that say the local clone, not the remote, is at
// fault: file system errors and missing or unreadable objects or references.
// (Network errors also unwrap to syscall errors, so the test is on *fs.PathError,
// which the network code does not produce.)
func isCacheError(err error) bool {
	var pathErr *fs.PathError
	return errors.As(err, &pathErr) ||
		errors.Is(err, plumbing.ErrObjectNotFound) ||
		errors.Is(err, plumbing.ErrReferenceNotFound) ||
		errors.Is(err, git.ErrRepositoryNotExists) ||
		errors.Is(err, packfile.ErrInvalidObject) ||
		errors.Is(err, idxfile.ErrMalformedIdxFile)
}

// fetchInto makes the cache clone hold ad's commit under
// refs/remotes/origin/<branch> and returns the commit that ref names.
func (s *Source) fetchInto(ctx context.Context, ad advert, fresh bool) (Commit, error) {
	repo, err := s.openCache(fresh)
	if err != nil {
		return Commit{}, err
	}
	tracking := plumbing.NewRemoteReferenceName(remoteName, ad.branch.Short())
	if _, err := object.GetCommit(repo.Storer, ad.sha); err != nil {
		ep, err := transport.NewEndpoint(s.remote)
		if err != nil {
			return Commit{}, err
		}
		auth, err := s.authMethod(ep)
		if err != nil {
			return Commit{}, err
		}
		opts := &git.FetchOptions{
			RemoteName: remoteName,
			RemoteURL:  s.remote,
			RefSpecs:   []config.RefSpec{config.RefSpec("+" + ad.branch.String() + ":" + tracking.String())},
			Auth:       auth,
			Tags:       git.NoTags,
			Force:      true,
		}
		if ad.shallow {
			opts.Depth = 1
		}
		fctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		err = repo.FetchContext(fctx, opts)
		cancel()
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return Commit{}, err
		}
	} else {
		// Already here (the branch was reset to a commit fetched before): just move the ref.
		if err := repo.Storer.SetReference(plumbing.NewHashReference(tracking, ad.sha)); err != nil {
			return Commit{}, err
		}
	}
	ref, err := repo.Storer.Reference(tracking)
	if err != nil {
		return Commit{}, fmt.Errorf("after fetch: %w", err)
	}
	dir := s.cache
	return buildCommit(repo.Storer, ref.Hash(), func() (storer.EncodedObjectStorer, error) {
		r, err := git.PlainOpen(dir)
		if err != nil {
			return nil, err
		}
		return r.Storer, nil
	})
}

// openCache opens the bare cache clone, or creates it when it is missing, broken,
// belongs to another URL, or fresh is set.
func (s *Source) openCache(fresh bool) (*git.Repository, error) {
	if !fresh {
		repo, err := git.PlainOpen(s.cache)
		if err == nil {
			rem, rerr := repo.Remote(remoteName)
			if rerr == nil && len(rem.Config().URLs) == 1 && rem.Config().URLs[0] == s.remote {
				return repo, nil
			}
			s.log.Info("git cache belongs to another url; cloning again", "url", s.cfg.URL, "dir", s.cache)
		} else if !errors.Is(err, git.ErrRepositoryNotExists) {
			s.log.Warn("git cache is unreadable; cloning again", "url", s.cfg.URL, "dir", s.cache, "err", err)
		}
	}
	if err := os.RemoveAll(s.cache); err != nil {
		return nil, fmt.Errorf("remove cache %s: %w", s.cache, err)
	}
	if err := os.MkdirAll(filepath.Dir(s.cache), 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	repo, err := git.PlainInit(s.cache, true)
	if err != nil {
		return nil, fmt.Errorf("init cache %s: %w", s.cache, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{s.remote}}); err != nil {
		return nil, fmt.Errorf("init cache %s: %w", s.cache, err)
	}
	return repo, nil
}
