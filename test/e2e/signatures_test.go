package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// gpgHome is a throwaway GnuPG home with its own agent.
type gpgHome struct {
	t   *testing.T
	dir string
}

// newGPGHome makes a GnuPG home in a short temporary directory (the
// agent's socket path is limited in length) and stops its agent at the
// end of the test.
func newGPGHome(t *testing.T) *gpgHome {
	t.Helper()
	dir, err := os.MkdirTemp("", "bosun-gpg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gpgHome{t: t, dir: dir}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("gpgconf --kill all: %v\n%s", err, out)
		}
		os.RemoveAll(dir)
	})
	return g
}

func (g *gpgHome) gpg(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.dir)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// newKey makes a signing key with no passphrase for uid and returns its
// fingerprint.
func (g *gpgHome) newKey(uid string) string {
	g.t.Helper()
	g.gpg("--passphrase", "", "--quick-generate-key", uid, "ed25519", "sign", "never")
	for _, line := range strings.Split(g.gpg("--with-colons", "--list-secret-keys", uid), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint listed for the new key %s", uid)
	return ""
}

// TestVerifySignaturesWithGPG runs bosun server --verify-signatures with
// the armored public key of one gpg key, and commits signed by the git and
// gpg command lines: a commit signed by that key is applied and the status
// records the signer; one signed by a key not in the keyring, and an
// unsigned one, are rejected whole and the objects stay as they were.
func TestVerifySignaturesWithGPG(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), testenv.Binary("gpg"), testenv.Binary("gpgconf"))
	g := newGPGHome(t)
	trusted := g.newKey("Trusted Deployer <trusted@bosun.test>")
	unknown := g.newKey("Somebody Else <unknown@bosun.test>")
	keys := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(keys, []byte(g.gpg("--armor", "--export", trusted)), 0o644); err != nil {
		t.Fatal(err)
	}

	r := newRepo(t)
	r.git("config", "gpg.program", "gpg")
	t.Setenv("GNUPGHOME", g.dir) // for the gpg that git runs to sign
	// The first commit (from newRepo) is unsigned: the server refuses it.
	s := startServer(t, r.dir, "--verify-signatures", keys)
	st := s.waitAttempt(r.git("rev-parse", "HEAD"), "rejected")
	if !strings.Contains(st.LastAttempt.Message, "not signed") {
		t.Errorf("unsigned first commit: message %q, want it to say the commit is not signed", st.LastAttempt.Message)
	}
	var d object
	if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d); code != http.StatusNotFound {
		t.Fatalf("GET deployment demo/hello after a refused first commit: %d, want 404", code)
	}

	tests := []struct {
		name        string
		key         string // fingerprint to sign with, "" for unsigned
		replicas    string
		wantResult  string
		wantMessage string // substring of the attempt's message, also shown by `bosun status`
		wantSigner  string // substring of the attempt's commit.signedBy
		wantOutcome string // substring of the attempt's commit.signature
		wantLive    int    // hello's replicas afterwards
	}{
		{"good key", trusted, "4", "applied", "", "Trusted Deployer <trusted@bosun.test>", "good signature from Trusted Deployer", 4},
		{"unknown key", unknown, "5", "rejected", "not in the --verify-signatures keyring", "", "signed by unknown key", 4},
		{"unsigned", "", "6", "rejected", "not signed", "", "unsigned", 4},
		{"good key again", trusted, "7", "applied", "", "Trusted Deployer <trusted@bosun.test>", "good signature from Trusted Deployer", 7},
	}
	prev := "replicas: 3"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.replace("apps/hello/deployment.yaml", prev, "replicas: "+tc.replicas)
			prev = "replicas: " + tc.replicas
			r.git("add", "-A")
			args := []string{"commit", "-q", "-m", "Scale hello to " + tc.replicas}
			if tc.key != "" {
				args = append(args, "-S"+tc.key)
			}
			r.git(args...)
			sha := r.git("rev-parse", "HEAD")
			if tc.key != "" && !strings.Contains(r.git("cat-file", "commit", sha), "-----BEGIN PGP SIGNATURE-----") {
				t.Fatalf("git did not sign commit %.8s", sha)
			}
			st := s.waitAttempt(sha, tc.wantResult)
			if !strings.Contains(st.LastAttempt.Message, tc.wantMessage) {
				t.Errorf("attempt message %q does not contain %q", st.LastAttempt.Message, tc.wantMessage)
			}
			if c := st.LastAttempt.Commit; !strings.Contains(c.SignedBy, tc.wantSigner) || (tc.wantSigner == "") != (c.SignedBy == "") || !strings.Contains(c.Signature, tc.wantOutcome) {
				t.Errorf("attempt records signedBy %q, signature %q; want signer %q, outcome %q", c.SignedBy, c.Signature, tc.wantSigner, tc.wantOutcome)
			}
			var d object
			if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d); code != http.StatusOK || d.Spec.Replicas == nil || *d.Spec.Replicas != tc.wantLive {
				t.Errorf("after commit %.8s: GET demo/hello %d, replicas %v, want %d", sha, code, d.Spec.Replicas, tc.wantLive)
			}
			if out, _ := s.bosun("status"); !strings.Contains(out, sha[:8]+" "+tc.wantResult) || !strings.Contains(out, tc.wantMessage) {
				t.Errorf("bosun status does not say %.8s %s (%q):\n%s", sha, tc.wantResult, tc.wantMessage, out)
			}
		})
	}
}
