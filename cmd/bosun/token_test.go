package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bosun-dev/bosun/api"
)

// fakeTokenAPI serves the token endpoints over TLS and records what it got.
type fakeTokenAPI struct {
	srv *httptest.Server

	mu      sync.Mutex
	created []api.TokenRequest
	deleted []string
	tokens  []api.BootstrapToken
	// refuse answers every request 401 when set.
	refuse bool
	// repo is the cluster's repository a server token's answer names.
	repo string
}

func newFakeTokenAPI(t *testing.T, tokens ...api.BootstrapToken) *fakeTokenAPI {
	t.Helper()
	f := &fakeTokenAPI{tokens: tokens, repo: "https://git.example.com/deploy.git"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathTokens, func(w http.ResponseWriter, r *http.Request) {
		var req api.TokenRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.created = append(f.created, req)
		f.mu.Unlock()
		resp := api.TokenResponse{
			Token:          "k3x9q2.7f0a1b2c3d4e5f60",
			BootstrapToken: api.BootstrapToken{ID: "k3x9q2", Description: req.Description, UsagesLeft: req.Usages, Kind: req.Kind},
			Server:         "https://192.0.2.10:6443",
			CACertHash:     "sha256:" + strings.Repeat("ab", 32),
		}
		if req.Kind == api.TokenKindServer {
			resp.Repo = f.repo
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	mux.HandleFunc("GET "+api.PathTokens, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"items": f.tokens})
	})
	mux.HandleFunc("DELETE "+api.PathTokens+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.deleted = append(f.deleted, r.PathValue("id"))
	})
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		refuse := f.refuse
		f.mu.Unlock()
		if refuse {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Code: 401, Reason: metav1.StatusReasonUnauthorized, Message: "Unauthorized"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// kubeconfig writes a kubeconfig trusting the fake's certificate and
// returns its path.
func (f *fakeTokenAPI) kubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bosun"] = &clientcmdapi.Cluster{Server: f.srv.URL,
		CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["bosun"] = &clientcmdapi.Context{Cluster: "bosun", AuthInfo: "admin"}
	cfg.CurrentContext = "bosun"
	path := filepath.Join(t.TempDir(), "admin.conf")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// runRoot runs bosun with args through the root command, as main does, and
// returns stdout, stderr and the error.
func runRoot(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("BOSUN_SERVER", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	root := newRootCommand(&stdout, &stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return stdout.String(), stderr.String(), err
}

func TestTokenCreate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    api.TokenRequest
		wantOut string // stdout, exactly; "" = check JSON
		wantErr string
	}{
		{"defaults", nil, api.TokenRequest{TTL: 24 * time.Hour, Kind: api.TokenKindNode},
			"bosun agent --server https://192.0.2.10:6443 --token k3x9q2.7f0a1b2c3d4e5f60 --ca-cert-hash sha256:" + strings.Repeat("ab", 32) + "\n", ""},
		{"flags", []string{"--ttl", "1h30m", "--usages", "3", "--description", "rack 2"},
			api.TokenRequest{TTL: 90 * time.Minute, Usages: 3, Description: "rack 2", Kind: api.TokenKindNode},
			"bosun agent --server https://192.0.2.10:6443 --token k3x9q2.7f0a1b2c3d4e5f60 --ca-cert-hash sha256:" + strings.Repeat("ab", 32) + "\n", ""},
		{"never expires", []string{"--ttl", "0"}, api.TokenRequest{TTL: -1, Kind: api.TokenKindNode},
			"bosun agent --server https://192.0.2.10:6443 --token k3x9q2.7f0a1b2c3d4e5f60 --ca-cert-hash sha256:" + strings.Repeat("ab", 32) + "\n", ""},
		{"json", []string{"-o", "json", "--usages", "1"}, api.TokenRequest{TTL: 24 * time.Hour, Usages: 1, Kind: api.TokenKindNode}, "", ""},
		{"control-plane token", []string{"--control-plane", "--usages", "2"}, api.TokenRequest{TTL: 24 * time.Hour, Usages: 2, Kind: api.TokenKindServer},
			"bosun server --join https://192.0.2.10:6443 --token k3x9q2.7f0a1b2c3d4e5f60 --ca-cert-hash sha256:" + strings.Repeat("ab", 32) +
				" --repo https://git.example.com/deploy.git\n", ""},
		{"negative ttl", []string{"--ttl", "-1h"}, api.TokenRequest{}, "", "--ttl -1h0m0s: want a positive duration"},
		{"negative usages", []string{"--usages", "-2"}, api.TokenRequest{}, "", "--usages -2: want a positive count"},
		{"bad output", []string{"-o", "yaml"}, api.TokenRequest{}, "", `-o "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTokenAPI(t)
			stdout, stderr, err := runRoot(t, append([]string{"--kubeconfig", f.kubeconfig(t), "token", "create"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if len(f.created) != 0 {
					t.Fatalf("the server got %v after a flag error", f.created)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr %q, want nothing", stderr)
			}
			f.mu.Lock()
			if len(f.created) != 1 || f.created[0] != tt.want {
				t.Fatalf("server got %+v, want %+v", f.created, tt.want)
			}
			f.mu.Unlock()
			if tt.wantOut != "" {
				if stdout != tt.wantOut {
					t.Fatalf("stdout %q, want %q", stdout, tt.wantOut)
				}
				return
			}
			var resp api.TokenResponse
			if err := json.Unmarshal([]byte(stdout), &resp); err != nil || resp.Token != "k3x9q2.7f0a1b2c3d4e5f60" || resp.UsagesLeft != 1 {
				t.Fatalf("json %q: %+v, %v", stdout, resp, err)
			}
		})
	}
}

func TestTokenList(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	toks := []api.BootstrapToken{
		{ID: "abcdef", Description: "rack 2", Created: now.Add(-time.Hour), Expires: now.Add(23 * time.Hour), UsagesLeft: 2, Kind: api.TokenKindNode},
		{ID: "ghijkl", Created: now.Add(-time.Hour), UsagesLeft: -1, Kind: api.TokenKindServer},
		{ID: "mnopqr", Created: now.Add(-48 * time.Hour), Expires: now.Add(-24 * time.Hour), UsagesLeft: 0},
	}
	g := &globalOptions{kubeconfig: newFakeTokenAPI(t, toks...).kubeconfig(t)}
	got, code := diffTestRun(t, newTokenListCommand(g, func() time.Time { return now }))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, got)
	}
	want := [][]string{
		{"TOKEN ID", "KIND", "TTL", "EXPIRES", "USAGES LEFT", "DESCRIPTION"},
		{"abcdef", "node", "23h", "2026-12-08T11:00:00Z", "2", "rack 2"},
		{"ghijkl", "server", "<forever>", "<never>", "unlimited", "<none>"},
		{"mnopqr", "node", "<expired>", "2026-12-06T12:00:00Z", "0", "<none>"}, // an older server: no kind
	}
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got\n%s\nwant %d lines", got, len(want))
	}
	for i, cells := range want {
		if fields := splitColumns(lines[i]); strings.Join(fields, "|") != strings.Join(cells, "|") {
			t.Errorf("line %d = %q, want %q", i, fields, cells)
		}
	}

	t.Run("json", func(t *testing.T) {
		got, code := diffTestRun(t, newTokenListCommand(g, time.Now), "-o", "json")
		var back []api.BootstrapToken
		if code != 0 || json.Unmarshal([]byte(got), &back) != nil || len(back) != 3 || back[0].ID != "abcdef" {
			t.Fatalf("exit %d, output %s", code, got)
		}
	})
	t.Run("none", func(t *testing.T) {
		g := &globalOptions{kubeconfig: newFakeTokenAPI(t).kubeconfig(t)}
		got, code := diffTestRun(t, newTokenListCommand(g, time.Now))
		if code != 0 || got != "No bootstrap tokens: make one with bosun token create.\n" {
			t.Fatalf("exit %d, output %q", code, got)
		}
	})
}

// splitColumns splits a table line at runs of two or more spaces.
func splitColumns(line string) []string {
	var out []string
	for _, f := range strings.Split(line, "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func TestTokenDelete(t *testing.T) {
	f := newFakeTokenAPI(t)
	stdout, _, err := runRoot(t, "--kubeconfig", f.kubeconfig(t), "token", "delete", "abcdef", "ghijkl.0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "bootstrap token \"abcdef\" deleted\nbootstrap token \"ghijkl\" deleted\n" {
		t.Fatalf("stdout %q", stdout)
	}
	if strings.Join(f.deleted, ",") != "abcdef,ghijkl" {
		t.Fatalf("deleted %v", f.deleted)
	}
	if _, _, err := runRoot(t, "--kubeconfig", f.kubeconfig(t), "token", "delete"); err == nil {
		t.Fatal("token delete without an ID succeeded")
	}
}

func TestTokenClientErrors(t *testing.T) {
	f := newFakeTokenAPI(t)
	f.refuse = true
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"refused", []string{"--kubeconfig", f.kubeconfig(t), "token", "list"},
			"token list: the server refused the request: Unauthorized (no client certificate? check --kubeconfig)"},
		{"missing kubeconfig", []string{"--kubeconfig", filepath.Join(t.TempDir(), "none"), "token", "list"},
			"--kubeconfig"},
		{"server overrides the kubeconfig", []string{"--kubeconfig", f.kubeconfig(t), "--server", "https://127.0.0.1:1", "token", "list"},
			"not reachable at https://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runRoot(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://git.example.com/team/deploy.git", "https://git.example.com/team/deploy.git"},
		{"/srv/git/my repo", "'/srv/git/my repo'"},
		{"it's", `'it'\''s'`},
		{"$HOME/repo", "'$HOME/repo'"},
		{"", "''"},
	} {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
