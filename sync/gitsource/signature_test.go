package gitsource

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bosun-dev/bosun/internal/gittest"
)

// commitSigned commits a file in the work tree at dir, signed by key (nil = unsigned).
func commitSigned(t testing.TB, repo *git.Repository, dir, name, data string, key *openpgp.Entity) plumbing.Hash {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add(name); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit("change "+name, &git.CommitOptions{
		Author:  &object.Signature{Name: "Alice", Email: "alice@example.com", When: testTime(1)},
		SignKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerify(t *testing.T) {
	alice := gittest.SigningKey(t, "Alice", "alice@example.com")
	mallory := gittest.SigningKey(t, "Mallory", "mallory@example.com")
	keyring, err := ReadKeyring(strings.NewReader(gittest.ArmoredKeys(t, alice)))
	if err != nil {
		t.Fatal(err)
	}
	dir, repo := initRepo(t, false)
	now := time.Now()

	// A commit whose signature was made over other content: copy alice's
	// signature of one commit onto a different commit object.
	good := commitSigned(t, repo, dir, "a.yaml", "a: 1\n", alice)
	goodObj, err := repo.CommitObject(good)
	if err != nil {
		t.Fatal(err)
	}
	forged := *goodObj
	forged.Message = "something else\n"
	enc := repo.Storer.NewEncodedObject()
	if err := forged.Encode(enc); err != nil {
		t.Fatal(err)
	}
	forgedHash, err := repo.Storer.SetEncodedObject(enc)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		commit  func() plumbing.Hash
		wantErr error
		wantID  string // Signer.Identity
		wantKey string // Signer.KeyID
	}{
		{name: "trusted key", commit: func() plumbing.Hash { return good }, wantID: "Alice <alice@example.com>", wantKey: alice.PrimaryKey.KeyIdString()},
		{name: "unsigned", commit: func() plumbing.Hash { return commitSigned(t, repo, dir, "b.yaml", "b: 1\n", nil) }, wantErr: ErrUnsigned},
		{name: "unknown key", commit: func() plumbing.Hash { return commitSigned(t, repo, dir, "c.yaml", "c: 1\n", mallory) },
			wantErr: ErrUnknownKey, wantKey: mallory.PrimaryKey.KeyIdString()},
		{name: "forged", commit: func() plumbing.Hash { return forgedHash }, wantErr: ErrBadSignature, wantKey: alice.PrimaryKey.KeyIdString()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.commit()
			if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), h)); err != nil {
				t.Fatal(err)
			}
			src := mainSource(t, dir)
			c := mustFetch(t, src)
			if c.SHA != h.String() {
				t.Fatalf("fetched %s, want %s", c.SHA, h)
			}
			who, err := c.Verify(keyring, now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.wantErr)
			}
			if who.Identity != tt.wantID || who.KeyID != tt.wantKey {
				t.Errorf("Verify() signer = %+v, want identity %q key %q", who, tt.wantID, tt.wantKey)
			}
			if tt.wantKey != "" && err != nil && !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name key %s", err, tt.wantKey)
			}
			if err == nil && who.String() != "Alice <alice@example.com> (key "+tt.wantKey+")" {
				t.Errorf("Signer.String() = %q", who.String())
			}
		})
	}
}

func TestVerifyNeitherOpenPGPNorSSH(t *testing.T) {
	c := Commit{SHA: "0123456789", Signature: "-----BEGIN SIGNED MESSAGE-----\nabc\n-----END SIGNED MESSAGE-----\n", signedPayload: []byte("x")}
	_, err := c.Verify(nil, time.Now())
	if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "SIGNED MESSAGE") {
		t.Fatalf("Verify() = %v, want ErrBadSignature naming the X.509 signature", err)
	}
}

func TestReadKeyring(t *testing.T) {
	alice := gittest.SigningKey(t, "Alice", "alice@example.com")
	bob := gittest.SigningKey(t, "Bob", "bob@example.com")
	two := gittest.ArmoredKeys(t, alice) + "# comment between blocks\n" + gittest.ArmoredKeys(t, bob)
	tests := []struct {
		name    string
		in      string
		want    int
		wantMsg string
	}{
		{name: "one key", in: gittest.ArmoredKeys(t, alice), want: 1},
		{name: "two blocks", in: two, want: 2},
		{name: "empty", in: "", wantMsg: "holds no keys"},
		{name: "not armored", in: "just some text\n", wantMsg: "no armored key block"},
		{name: "truncated", in: gittest.ArmoredKeys(t, alice)[:200], wantMsg: "without an END line"},
		{name: "garbage body", in: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64!!\n-----END PGP PUBLIC KEY BLOCK-----\n", wantMsg: "key block 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ReadKeyring(strings.NewReader(tt.in))
			if tt.wantMsg != "" {
				if !errors.Is(err, ErrKeyring) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ReadKeyring() error = %v, want ErrKeyring with %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tt.want {
				t.Errorf("got %d keys, want %d", len(keys), tt.want)
			}
		})
	}

	if _, err := LoadKeyring(filepath.Join(t.TempDir(), "missing.asc")); !errors.Is(err, ErrKeyring) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeyring(missing) = %v, want ErrKeyring and ErrNotExist", err)
	}
}
