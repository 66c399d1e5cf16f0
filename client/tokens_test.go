package client_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
)

func TestTokens(t *testing.T) {
	ts := startTokenServer(t)
	admin := issue(t, ts.ca, "admin", api.GroupMasters)
	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{
		ExplicitPath: kubeconfig{server: ts.url, ca: ts.ca.cert, user: &admin}.write(t, filepath.Join(t.TempDir(), "admin.conf"))})
	if err != nil {
		t.Fatal(err)
	}

	req := api.TokenRequest{TTL: 2 * time.Hour, Usages: 3, Description: "worker-2"}
	resp, err := c.CreateToken(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Token != "uvwxyz.0123456789abcdef" || resp.ID != "uvwxyz" || resp.Description != "worker-2" || resp.UsagesLeft != 3 ||
		resp.Server != "https://10.0.0.1:6443" || resp.CACertHash != "sha256:00ff" {
		t.Fatalf("CreateToken = %+v", resp)
	}
	ts.mu.Lock()
	if len(ts.created) != 1 || ts.created[0] != req {
		t.Fatalf("server got %+v, want %+v", ts.created, req)
	}
	ts.mu.Unlock()

	tests := []struct {
		name, id string
		wantErr  string
		notFound bool
	}{
		{"full token", "abcdef.0123456789abcdef", "", false},
		{"again", "abcdef", "bootstrap token abcdef: unknown", true},
		{"empty", "", "an id is required", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.DeleteToken(ctx(t), tt.id)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || client.IsNotFound(err) != tt.notFound) {
				t.Fatalf("DeleteToken(%q) = %v, want %q (not found %v)", tt.id, err, tt.wantErr, tt.notFound)
			}
		})
	}
	ts.mu.Lock()
	if strings.Join(ts.deleted, ",") != "abcdef" {
		t.Fatalf("deleted %v", ts.deleted)
	}
	ts.mu.Unlock()
	toks, err := c.ListTokens(ctx(t))
	if err != nil || len(toks) != 0 {
		t.Fatalf("ListTokens after delete = %v, %v", toks, err)
	}
}
