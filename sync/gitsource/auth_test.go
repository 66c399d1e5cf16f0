package gitsource

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	cryptossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestAuthMethod checks which credentials each URL gets. (No ssh server runs in
// the tests, so the ssh cases stop at building the client configuration.)
func TestAuthMethod(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := cryptossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	hostPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshHostPub, err := cryptossh.NewPublicKey(hostPub)
	if err != nil {
		t.Fatal(err)
	}
	knownFile := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize("git.example.com:22")}, sshHostPub)
	if err := os.WriteFile(knownFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		url      string
		auth     Auth
		wantNil  bool
		wantUser string // basic auth user or ssh user
		wantErr  bool
	}{
		{name: "https without credentials", url: "https://git.example.com/r.git", wantNil: true},
		{name: "https token defaults user to git", url: "https://git.example.com/r.git", auth: Auth{Password: "tok"}, wantUser: "git"},
		{name: "https user and password", url: "https://git.example.com/r.git", auth: Auth{Username: "jo", Password: "pw"}, wantUser: "jo"},
		{name: "ssh key with known hosts", url: "ssh://deploy@git.example.com/r.git", auth: Auth{SSHKeyFile: keyFile, SSHKnownHostsFile: knownFile}, wantUser: "deploy"},
		{name: "scp-like defaults user to git", url: "git.example.com:r.git", auth: Auth{SSHKeyFile: keyFile, SSHKnownHostsFile: knownFile}, wantUser: "git"},
		{name: "missing known hosts fails closed", url: "ssh://git@git.example.com/r.git", auth: Auth{SSHKeyFile: keyFile, SSHKnownHostsFile: filepath.Join(dir, "nope")}, wantErr: true},
		{name: "missing key file", url: "ssh://git@git.example.com/r.git", auth: Auth{SSHKeyFile: filepath.Join(dir, "nokey"), SSHKnownHostsFile: knownFile}, wantErr: true},
		{name: "git protocol has no auth", url: "git://git.example.com/r.git", auth: Auth{Password: "x"}, wantNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{URL: tt.url, CacheDir: dir, Auth: tt.auth})
			if err != nil {
				t.Fatal(err)
			}
			ep, err := transport.NewEndpoint(s.remote)
			if err != nil {
				t.Fatal(err)
			}
			am, err := s.authMethod(ep)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("authMethod = %v, want error", am)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if am != nil {
					t.Fatalf("authMethod = %v, want none", am)
				}
				return
			}
			switch a := am.(type) {
			case *githttp.BasicAuth:
				if a.Username != tt.wantUser || a.Password != tt.auth.Password {
					t.Errorf("basic auth = %q/%q", a.Username, a.Password)
				}
			case sshTimeout:
				cfg, err := a.ClientConfig()
				if err != nil {
					t.Fatal(err)
				}
				if cfg.User != tt.wantUser || cfg.Timeout != DefaultTimeout || cfg.HostKeyCallback == nil {
					t.Errorf("ssh config: user %q timeout %v callback %v", cfg.User, cfg.Timeout, cfg.HostKeyCallback != nil)
				}
				// The known host's key is accepted, another key is refused.
				addr := &fakeAddr{"192.0.2.1:22"}
				if err := cfg.HostKeyCallback("git.example.com:22", addr, sshHostPub); err != nil {
					t.Errorf("known host key refused: %v", err)
				}
				otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
				otherKey, _ := cryptossh.NewPublicKey(otherPub)
				if err := cfg.HostKeyCallback("git.example.com:22", addr, otherKey); err == nil {
					t.Error("changed host key accepted")
				}
				if err := cfg.HostKeyCallback("unknown.example.com:22", addr, sshHostPub); err == nil {
					t.Error("unknown host accepted")
				}
			default:
				t.Fatalf("unexpected auth method %T", am)
			}
		})
	}
}

type fakeAddr struct{ s string }

func (a *fakeAddr) Network() string { return "tcp" }
func (a *fakeAddr) String() string  { return a.s }
