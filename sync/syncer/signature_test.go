package syncer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// keyringFile writes the public keys of es to a file, as gpg --armor --export does.
func keyringFile(t *testing.T, es ...*openpgp.Entity) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trusted.asc")
	if err := os.WriteFile(p, []byte(gittest.ArmoredKeys(t, es...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// signedCommit writes a file and commits it signed by key (nil: unsigned).
func (g *gitRepo) signedCommit(msg, name, content string, key *openpgp.Entity) string {
	g.t.Helper()
	p := filepath.Join(g.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := wt.Add(name); err != nil {
		g.t.Fatal(err)
	}
	g.when = g.when.Add(time.Minute)
	h, err := wt.Commit(msg, &git.CommitOptions{
		Author:  &object.Signature{Name: "Tester", Email: "t@example.com", When: g.when},
		SignKey: key,
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return h.String()
}

func TestVerifySignatures(t *testing.T) {
	alice := gittest.SigningKey(t, "Alice", "alice@example.com")
	mallory := gittest.SigningKey(t, "Mallory", "mallory@example.com")
	keyring, err := gitsource.LoadKeys(keyringFile(t, alice))
	if err != nil {
		t.Fatal(err)
	}
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Repo: "test", Path: "deploy", VerifySignatures: keyring})
	aliceKey, malloryKey := alice.PrimaryKey.KeyIdString(), mallory.PrimaryKey.KeyIdString()

	steps := []struct {
		name        string
		key         *openpgp.Entity
		replicas    int
		wantResult  string
		wantSigned  string // CommitInfo.SignedBy
		wantOutcome string // CommitInfo.Signature
		wantMsg     string // in Attempt.Message
		wantRunning int32  // replicas of web afterwards
	}{
		{name: "signed by a trusted key", key: alice, replicas: 1, wantResult: state.ResultApplied,
			wantSigned:  "Alice <alice@example.com> (key " + aliceKey + ")",
			wantOutcome: "good signature from Alice <alice@example.com> (key " + aliceKey + ")", wantRunning: 1},
		{name: "unsigned", replicas: 2, wantResult: state.ResultRejected, wantOutcome: "unsigned",
			wantMsg: "not signed", wantRunning: 1},
		{name: "signed by another key", key: mallory, replicas: 3, wantResult: state.ResultRejected,
			wantOutcome: "signed by unknown key " + malloryKey, wantMsg: "key " + malloryKey, wantRunning: 1},
		{name: "trusted again", key: alice, replicas: 4, wantResult: state.ResultApplied,
			wantSigned: "Alice <alice@example.com> (key " + aliceKey + ")", wantRunning: 4},
	}
	var firstSHA string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			sha := g.signedCommit(st.name, "deploy/web.yaml", deployment("web", st.replicas), st.key)
			if firstSHA == "" {
				firstSHA = sha
			}
			att := mustSync(t, sy, sha, st.wantResult)
			if att.Commit.SignedBy != st.wantSigned {
				t.Errorf("SignedBy = %q, want %q", att.Commit.SignedBy, st.wantSigned)
			}
			if st.wantOutcome != "" && att.Commit.Signature != st.wantOutcome {
				t.Errorf("Signature = %q, want %q", att.Commit.Signature, st.wantOutcome)
			}
			if !strings.Contains(att.Message, st.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", att.Message, st.wantMsg)
			}
			if st.wantResult == state.ResultRejected && !strings.Contains(att.Message, "still running commit "+firstSHA[:8]) {
				t.Errorf("Message = %q does not name the commit that keeps running", att.Message)
			}
			if got := replicas(t, s, "web"); got != st.wantRunning {
				t.Errorf("replicas = %d, want %d", got, st.wantRunning)
			}
			status, err := records.ReadStatus(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if status.LastAttempt.Commit.Signature != att.Commit.Signature || status.LastAttempt.Commit.SignedBy != att.Commit.SignedBy {
				t.Errorf("status records signature %q / %q, want %q / %q", status.LastAttempt.Commit.Signature,
					status.LastAttempt.Commit.SignedBy, att.Commit.Signature, att.Commit.SignedBy)
			}
			if st.wantResult == state.ResultApplied && status.Synced.Commit.SignedBy != st.wantSigned {
				t.Errorf("status.Synced.Commit.SignedBy = %q, want %q", status.Synced.Commit.SignedBy, st.wantSigned)
			}
			h, err := records.ReadHistory(t.Context(), s, 1)
			if err != nil || len(h) != 1 || h[0].Commit.SHA != sha || h[0].Commit.Signature != att.Commit.Signature {
				t.Errorf("newest history entry = %+v, %v; want %.8s with its signature", h, err, sha)
			}
		})
	}
}

func TestLoadKeyringErrorsAtStartup(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.asc")
	if err := os.WriteFile(bad, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing.asc")} {
		_, err := gitsource.LoadKeyring(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "keyring") {
			t.Errorf("LoadKeyring(%s) = %v, want an error naming the file", p, err)
		}
	}
}
