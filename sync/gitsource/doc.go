// Package gitsource tracks one branch of a Git repository and hands out its head
// commit with a read-only fs.FS of the commit's files.
//
// A Source is either local or remote. A local source (a path or a file:// URL)
// is opened in place with go-git: nothing is cloned and no git CLI is needed;
// every Fetch re-resolves the branch, and an unchanged head returns the previous
// Commit, so polling is cheap (well under a millisecond). Watch turns ref changes
// of a local repository into notifications through fsnotify. A remote source
// (https, ssh, scp-like, git) is cloned once, bare and single-branch, into a
// directory under Config.CacheDir named by a hash of URL and branch; afterwards
// each Fetch first asks the remote for its references (git ls-remote) and only
// fetches when the branch moved, with a forced refspec so force-pushes and
// resets are followed. Fetches are shallow (depth 1) when the server supports it.
// A cache that cannot be opened, belongs to another URL or fails a fetch while
// the remote itself answers is deleted and cloned again.
//
// Commit.Tree reads objects lazily from the repository and keeps working after
// later fetches or a "git gc" (it reopens the object database when a read
// fails). Symbolic links are reported as such by ReadDir, Lstat and ReadLink and
// followed by Open, ReadFile and Stat as long as they stay inside the tree.
// Submodules appear as fs.ModeIrregular entries without content: callers that
// walk the tree should read regular files only (d.Type().IsRegular()).
//
// With no Branch configured, a remote source follows the branch the remote's
// HEAD names, and a local one the branch its HEAD names (so checking out another
// branch in a work tree switches what is tracked; configure Branch to avoid it).
// A switch happens only while the branch followed so far still exists: when
// it was deleted, Head and Fetch report ErrBranchGone (whatever HEAD names
// now) until it is back; a new Source follows HEAD afresh.
//
// Testing remote sources: go-git runs "git-upload-pack" for file:// URLs. The
// package's tests instead install go-git's in-process server transport for the
// "file" scheme once in TestMain (client.InstallProtocol is process-wide state,
// so production code never calls it) and use an unexported constructor option
// that sends a file:// URL down the remote path.
//
// Errors wrap ErrUnreachable (not a repository, network, authentication),
// ErrBadObject (a commit or tree object corrupt or missing) or
// ErrNoBranch; check them with errors.Is. A branch that Fetch or Head read
// before and that is now missing (deleted locally or on the remote) also
// matches ErrBranchGone, whose message names the branch, the repository and
// the head the branch had; no cached head is handed out instead. When the
// branch comes back, Fetch follows it like any moved branch, and IsAncestor
// tells whether its history still contains the old head.
//
// # Signed commits
//
// Commit.Signature holds a commit's armored signature (git's gpgsig header)
// and Commit.VerifyKeys checks it against a Keyring of trusted keys: OpenPGP
// public keys (the output of "gpg --armor --export", several blocks allowed)
// and SSH keys from an OpenSSH allowed_signers file (git's gpg.format ssh;
// the SSHSIG signature must be in the "git" namespace, and the line's
// namespaces=, valid-after= and valid-before= options are honoured).
// LoadKeys reads a keyring from a comma-separated list of files and
// directories, telling the two formats apart by content; Commit.Verify
// with an OpenPGP-only keyring (LoadKeyring, ReadKeyring) remains. Verify
// returns the Signer (OpenPGP: primary user ID, key ID, fingerprint; SSH:
// the allowed_signers principals and the SHA256 fingerprint) or an error
// wrapping ErrUnsigned, ErrUnknownKey (the Signer then names the key ID)
// or ErrBadSignature (tampered, malformed, several signatures, X.509
// signatures, expired or revoked keys). Only the branch head is checked;
// what it was built on is the signer's responsibility.
//
//	keys, err := gitsource.LoadKeys("/etc/bosun/trusted.asc,/etc/bosun/allowed_signers")
//	if err != nil {
//		return err // errors.Is(err, gitsource.ErrKeyring)
//	}
//	who, err := c.VerifyKeys(keys, time.Now())
//	if errors.Is(err, gitsource.ErrUnknownKey) {
//		log.Warn("signed by an untrusted key", "key", who.KeyID)
//	}
//
// Example:
//
//	src, err := gitsource.New(gitsource.Config{
//		URL:      "https://git.example.com/ops/cluster.git",
//		Branch:   "main",
//		CacheDir: filepath.Join(dataDir, "git"),
//		Auth:     gitsource.Auth{Password: token},
//		Logger:   logger,
//	})
//	if err != nil {
//		return err
//	}
//	c, err := src.Fetch(ctx)
//	if err != nil {
//		return err // errors.Is(err, gitsource.ErrNoBranch), ...
//	}
//	fmt.Println(c.SHA, c.Subject)
//	err = fs.WalkDir(c.Tree, ".", func(p string, d fs.DirEntry, err error) error {
//		if err != nil || !d.Type().IsRegular() || path.Ext(p) != ".yaml" {
//			return err
//		}
//		data, err := fs.ReadFile(c.Tree, p)
//		...
//	})
//
// For a local repository, Watch replaces most polling:
//
//	src, _ := gitsource.New(gitsource.Config{URL: "/srv/cluster-repo", Branch: "main"})
//	wake := make(chan struct{}, 1)
//	go src.Watch(ctx, func() {
//		select {
//		case wake <- struct{}{}:
//		default:
//		}
//	})
package gitsource
