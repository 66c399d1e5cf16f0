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

// sshSigner is a key pair made by ssh-keygen.
type sshSigner struct {
	priv string // private key file, git's user.signingkey
	pub  string // public key line
	fp   string // SHA256 fingerprint as ssh-keygen -l prints it
}

func newSSHSigner(t *testing.T, dir, name, typ string) sshSigner {
	t.Helper()
	priv := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", name, "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -t %s: %v\n%s", typ, err, out)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-l", "-f", priv+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	return sshSigner{priv: priv, pub: strings.TrimSpace(string(pub)), fp: strings.Fields(string(out))[1]}
}

// TestVerifySignaturesWithSSH runs bosun server --verify-signatures with an
// OpenSSH allowed_signers file and commits signed by the git command line
// with gpg.format ssh: commits signed by an allowed ed25519 or RSA key are
// applied and the status records the principal; an unsigned commit, one
// signed by a key not in the file, one by a key past its valid-before and a
// tampered one are rejected whole, and the objects stay as they were.
func TestVerifySignaturesWithSSH(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), testenv.Binary("ssh-keygen"))
	keys := t.TempDir()
	deployer := newSSHSigner(t, keys, "deployer", "ed25519")
	robot := newSSHSigner(t, keys, "robot", "rsa")
	stranger := newSSHSigner(t, keys, "stranger", "ed25519")
	retired := newSSHSigner(t, keys, "retired", "ed25519")
	allowed := filepath.Join(keys, "allowed_signers")
	lines := "deployer@bosun.test namespaces=\"git\" " + deployer.pub + "\n" +
		"robot@bosun.test " + robot.pub + "\n" +
		"retired@bosun.test valid-before=\"20200101Z\" " + retired.pub + "\n"
	if err := os.WriteFile(allowed, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}

	r := newRepo(t)
	s := startServer(t, r.dir, "--verify-signatures", allowed)
	if st := s.waitAttempt(r.git("rev-parse", "HEAD"), "rejected"); !strings.Contains(st.LastAttempt.Message, "not signed") {
		t.Errorf("unsigned first commit: message %q, want it to say the commit is not signed", st.LastAttempt.Message)
	}
	var d object
	if code := s.getJSON("/apis/apps/v1/namespaces/demo/deployments/hello", &d); code != http.StatusNotFound {
		t.Fatalf("GET deployment demo/hello after a refused first commit: %d, want 404", code)
	}

	tests := []struct {
		name        string
		key         *sshSigner // nil: unsigned
		tamper      bool       // change the signed commit's message afterwards
		replicas    string
		wantResult  string
		wantMessage string // substring of the attempt's message
		wantSigner  string // substring of the attempt's commit.signedBy
		wantOutcome string // substring of the attempt's commit.signature
		wantLive    int    // hello's replicas afterwards
	}{
		{"allowed ed25519 key", &deployer, false, "4", "applied", "", "deployer@bosun.test (key " + deployer.fp + ")", "good signature from deployer@bosun.test", 4},
		{"key not in allowed_signers", &stranger, false, "5", "rejected", "signed by key " + stranger.fp + ", which is not in the --verify-signatures keyring", "", "signed by unknown key " + stranger.fp, 4},
		{"expired key", &retired, false, "6", "rejected", "expired", "", "bad signature", 4},
		{"tampered", &deployer, true, "7", "rejected", "does not verify", "", "bad signature", 4},
		{"unsigned", nil, false, "8", "rejected", "not signed", "", "unsigned", 4},
		{"allowed rsa key", &robot, false, "9", "applied", "", "robot@bosun.test (key " + robot.fp + ")", "good signature from robot@bosun.test", 9},
	}
	prev := "replicas: 3"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.replace("apps/hello/deployment.yaml", prev, "replicas: "+tc.replicas)
			prev = "replicas: " + tc.replicas
			r.git("add", "-A")
			var sign []string
			if tc.key != nil {
				sign = []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + tc.key.priv}
			}
			msg := "Scale hello to " + tc.replicas
			var sha string
			if tc.tamper {
				// Signed off the branch, so the server only ever sees the forgery.
				signed := r.git(append(sign, "commit-tree", "-S", "-p", "HEAD", "-m", msg, r.git("write-tree"))...)
				sha = tamperCommit(t, r, signed)
			} else {
				args := append(sign, "commit", "-q", "-m", msg)
				if tc.key != nil {
					args = append(args, "-S")
				}
				r.git(args...)
				sha = r.git("rev-parse", "HEAD")
				if tc.key != nil && !strings.Contains(r.git("cat-file", "commit", sha), "-----BEGIN SSH SIGNATURE-----") {
					t.Fatalf("git did not SSH-sign commit %.8s", sha)
				}
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
		})
	}
}

// tamperCommit writes a copy of the signed commit sha with another message
// and the same signature, moves main to it and returns the copy's SHA.
func tamperCommit(t *testing.T, r *repo, sha string) string {
	t.Helper()
	obj := r.git("cat-file", "commit", sha)
	forged := obj[:strings.LastIndex(obj, "\n\n")] + "\n\nScale hello, honestly\n"
	cmd := exec.Command("git", "hash-object", "-t", "commit", "-w", "--stdin")
	cmd.Dir = r.dir
	cmd.Stdin = strings.NewReader(forged)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	forgedSHA := strings.TrimSpace(string(out))
	if !strings.Contains(forged, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("git did not SSH-sign commit %.8s", sha)
	}
	r.git("update-ref", "refs/heads/main", forgedSHA)
	return forgedSHA
}
