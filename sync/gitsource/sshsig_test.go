package gitsource

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/internal/testenv"
)

// sshKey is a key pair made by ssh-keygen.
type sshKey struct {
	priv string // private key file, for git's user.signingkey
	pub  string // the public key line ("ssh-ed25519 AAAA... comment")
	fp   string // "SHA256:..." as ssh-keygen -l prints it
}

// newSSHKey makes a key of type typ ("ed25519", "rsa") with no passphrase in dir.
func newSSHKey(t *testing.T, dir, name, typ string) sshKey {
	t.Helper()
	testenv.Need(t, testenv.Binary("ssh-keygen"))
	priv := filepath.Join(dir, name)
	args := []string{"-q", "-t", typ, "-N", "", "-C", name, "-f", priv}
	if typ == "rsa" {
		args = append(args, "-b", "3072")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-f", priv+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	return sshKey{priv: priv, pub: strings.TrimSpace(string(pub)), fp: strings.Fields(string(out))[1]}
}

// sshCommit commits a change to file name in the work tree dir, signed by
// the git command line with key (gpg.format ssh), and returns its SHA.
func sshCommit(t *testing.T, dir, name string, key sshKey) string {
	t.Helper()
	gittest.Write(t, dir, map[string]string{name: "x: " + name + "\n"})
	gittest.Git(t, dir, "add", "-A")
	gittest.Git(t, dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key.priv, "commit", "-q", "-S", "-m", "change "+name)
	sha := gittest.Git(t, dir, "rev-parse", "HEAD")
	if !strings.Contains(gittest.Git(t, dir, "cat-file", "commit", sha), sshSignatureHeader) {
		t.Fatalf("git did not SSH-sign commit %s", sha)
	}
	return sha
}

// tamper writes a copy of commit sha with another message, keeping its
// signature, and returns the copy's SHA.
func tamper(t *testing.T, dir, sha string) string {
	t.Helper()
	obj := gittest.Git(t, dir, "cat-file", "commit", sha)
	i := strings.LastIndex(obj, "\n\n")
	forged := obj[:i] + "\n\nsomething else\n"
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin", "--literally")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(forged)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestVerifySSH(t *testing.T) {
	testenv.Need(t, testenv.Binary("git"), testenv.Binary("ssh-keygen"))
	keys := t.TempDir()
	alice := newSSHKey(t, keys, "alice", "ed25519")
	bob := newSSHKey(t, keys, "bob", "rsa")
	mallory := newSSHKey(t, keys, "mallory", "ed25519")
	carol := newSSHKey(t, keys, "carol", "ed25519")
	dave := newSSHKey(t, keys, "dave", "ed25519")
	erin := newSSHKey(t, keys, "erin", "ed25519")
	allowed := strings.Join([]string{
		"# who may deploy",
		"alice@example.com " + alice.pub,
		`"bob@example.com,robert@example.com" namespaces="file,git" ` + bob.pub,
		`carol@example.com valid-before="20200101Z" ` + carol.pub,
		`dave@example.com namespaces="file" ` + dave.pub,
		`erin@example.com valid-after="20990101" ` + erin.pub,
		"",
	}, "\n")
	keyring, err := ParseKeys([]byte(allowed))
	if err != nil {
		t.Fatal(err)
	}

	dir := gittest.Init(t)
	good := sshCommit(t, dir, "a.yaml", alice)
	tests := []struct {
		name    string
		commit  func() string
		wantErr error
		wantMsg string // in the error
		wantID  string // Signer.Identity
		wantKey string // Signer.KeyID
	}{
		{name: "ed25519 allowed", commit: func() string { return good }, wantID: "alice@example.com", wantKey: alice.fp},
		{name: "rsa allowed", commit: func() string { return sshCommit(t, dir, "b.yaml", bob) },
			wantID: "bob@example.com,robert@example.com", wantKey: bob.fp},
		{name: "not in allowed signers", commit: func() string { return sshCommit(t, dir, "c.yaml", mallory) },
			wantErr: ErrUnknownKey, wantMsg: mallory.fp, wantKey: mallory.fp},
		{name: "tampered", commit: func() string { return tamper(t, dir, good) },
			wantErr: ErrBadSignature, wantMsg: alice.fp, wantID: "alice@example.com", wantKey: alice.fp},
		{name: "expired", commit: func() string { return sshCommit(t, dir, "d.yaml", carol) },
			wantErr: ErrBadSignature, wantMsg: "expired at 2020-01-01", wantID: "carol@example.com", wantKey: carol.fp},
		{name: "not yet valid", commit: func() string { return sshCommit(t, dir, "e.yaml", erin) },
			wantErr: ErrBadSignature, wantMsg: "not valid before 2099-01-01", wantID: "erin@example.com", wantKey: erin.fp},
		{name: "namespace not allowed", commit: func() string { return sshCommit(t, dir, "f.yaml", dave) },
			wantErr: ErrBadSignature, wantMsg: `namespace "git"`, wantID: "dave@example.com", wantKey: dave.fp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sha := tt.commit()
			gittest.Git(t, dir, "update-ref", "refs/heads/main", sha)
			c, err := mainSource(t, dir).Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			who, err := c.VerifyKeys(keyring, time.Now())
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifyKeys() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
			if who.Identity != tt.wantID || who.KeyID != tt.wantKey {
				t.Errorf("VerifyKeys() signer = %+v, want identity %q key %q", who, tt.wantID, tt.wantKey)
			}
			if err == nil && who.String() != tt.wantID+" (key "+tt.wantKey+")" {
				t.Errorf("Signer.String() = %q", who.String())
			}
		})
	}

	// An OpenPGP-only keyring knows no SSH key.
	c, err := mainSource(t, dir).Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(nil, time.Now()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify(no OpenPGP keys) of an SSH-signed commit = %v, want ErrUnknownKey", err)
	}
}

func TestReadAllowedSigners(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	tests := []struct {
		name    string
		in      string
		want    []AllowedSigner // Key not compared
		wantMsg string
	}{
		{name: "plain", in: "a@x " + key + " comment\n", want: []AllowedSigner{{Principals: "a@x"}}},
		{name: "comments and blanks", in: "# c\n\n  a@x " + key + "\n", want: []AllowedSigner{{Principals: "a@x"}}},
		{name: "options", in: `"a@x,b@x" namespaces="git,file",valid-after="20240102",valid-before="20250102030405Z" ` + key + "\n",
			want: []AllowedSigner{{Principals: "a@x,b@x", Namespaces: []string{"git", "file"},
				ValidAfter: time.Date(2024, 1, 2, 0, 0, 0, 0, time.Local), ValidBefore: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}},
		{name: "empty", in: "# nothing\n", wantMsg: "holds no keys"},
		{name: "no key", in: "a@x\n", wantMsg: "line 1: no key after the principals"},
		{name: "bad key", in: "a@x\nb@x ssh-ed25519 !!!\n", wantMsg: "line 1"},
		{name: "cert authority", in: "a@x cert-authority " + key + "\n", wantMsg: "certificate signers are not supported"},
		{name: "unknown option", in: "a@x frobnicate " + key + "\n", wantMsg: "unknown option"},
		{name: "bad time", in: `a@x valid-before="2024-01-02" ` + key + "\n", wantMsg: "want YYYYMMDD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadAllowedSigners(strings.NewReader(tt.in))
			if tt.wantMsg != "" {
				if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ReadAllowedSigners() error = %v, want ErrKeyring with %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d signers, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Key == nil || g.Key.Type() != "ssh-ed25519" || g.Principals != w.Principals ||
					strings.Join(g.Namespaces, ",") != strings.Join(w.Namespaces, ",") ||
					!g.ValidAfter.Equal(w.ValidAfter) || !g.ValidBefore.Equal(w.ValidBefore) {
					t.Errorf("signer %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestLoadKeys(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	pgp := gittest.ArmoredKeys(t, gittest.SigningKey(t, "Alice", "alice@example.com"))
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asc := write("keys.asc", pgp)
	signers := write("allowed_signers", "a@x "+key+"\n")
	write("d/1.asc", pgp)
	write("d/2", "b@x "+key+"\nc@x "+key+"\n")
	write("d/.hidden", "not a key\n")
	bad := write("bad", "hello world\n")

	tests := []struct {
		name             string
		spec             string
		wantPGP, wantSSH int
		wantMsg          string
	}{
		{name: "openpgp file", spec: asc, wantPGP: 1},
		{name: "allowed signers file", spec: signers, wantSSH: 1},
		{name: "comma list", spec: asc + ", " + signers, wantPGP: 1, wantSSH: 1},
		{name: "directory", spec: filepath.Join(dir, "d"), wantPGP: 1, wantSSH: 2},
		{name: "missing", spec: filepath.Join(dir, "missing"), wantMsg: "no such file"},
		{name: "neither format", spec: bad, wantMsg: "file " + bad},
		{name: "empty", spec: " , ", wantMsg: "names no key files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKeys(tt.spec)
			if tt.wantMsg != "" {
				if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("LoadKeys() error = %v, want ErrKeyring with %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(k.OpenPGP) != tt.wantPGP || len(k.SSH) != tt.wantSSH {
				t.Errorf("LoadKeys() = %d OpenPGP, %d SSH keys; want %d, %d", len(k.OpenPGP), len(k.SSH), tt.wantPGP, tt.wantSSH)
			}
		})
	}
}
