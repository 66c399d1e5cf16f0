package cleanup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bosun-dev/bosun/nodeagent/cleanup"
)

// fakeIPTables holds chains per table and records what was written.
type fakeIPTables struct {
	mu       sync.Mutex
	chains   map[string][]string
	listErr  error
	restored map[string]string // table -> iptables-restore input
	deleted  []string          // "table/chain: rule" of deleted jumps
}

func (f *fakeIPTables) Restore(_ context.Context, table string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restored[table] += string(data)
	return nil
}

func (f *fakeIPTables) EnsureChain(table, chain string) error { return nil }

func (f *fakeIPTables) EnsureJump(table, chain string, rule ...string) error { return nil }

func (f *fakeIPTables) DeleteJump(table, chain string, rule ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, table+"/"+chain+": "+strings.Join(rule, " "))
	return nil
}

func (f *fakeIPTables) ListChains(table string) ([]string, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	return f.chains[table], nil
}

func (f *fakeIPTables) DeleteChain(table, chain string) error { return nil }

func TestNode(t *testing.T) {
	chains := map[string][]string{
		"nat":    {"PREROUTING", "OUTPUT", "POSTROUTING", "BOSUN-SERVICES", "BOSUN-SVC-ABC", "KUBE-SERVICES"},
		"filter": {"INPUT", "FORWARD", "BOSUN-FIREWALL", "DOCKER"},
	}
	tests := []struct {
		name     string
		agent    bool // DataDir/agent exists (an agent ran) but no containerd of its own
		listErr  error
		routeErr error
		wantErr  string
	}{
		{name: "no agent ever ran"},
		{name: "agent state without its containerd", agent: true},
		{name: "iptables unreadable", listErr: errors.New("permission denied"), wantErr: "cleanup: service rules: permission denied"},
		{name: "routes not removable", routeErr: errors.New("netlink: operation not permitted"), wantErr: "cleanup: routes: netlink: operation not permitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.agent {
				if err := os.MkdirAll(filepath.Join(dir, "agent", "pods"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			ipt := &fakeIPTables{chains: chains, listErr: tt.listErr, restored: map[string]string{}}
			routeCalls := 0
			err := cleanup.Node(t.Context(), cleanup.Config{
				DataDir:  dir,
				IPTables: ipt,
				// The real removal is tested in package routes, inside a
				// test namespace; here, never touch the machine's routes.
				Routes: func() (int, error) { routeCalls++; return 2, tt.routeErr },
				Bridge: "bosun-none0", // no such link: nothing to delete
			})
			if routeCalls != 1 {
				t.Errorf("routes removed %d times, want once", routeCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ipt.deleted) == 0 {
				t.Error("no jump rule into bosun's chains was deleted")
			}
			for table, list := range chains {
				data := ipt.restored[table]
				for _, c := range list {
					ours := strings.HasPrefix(c, "BOSUN-")
					if got := strings.Contains(data, "-X "+c+"\n"); got != ours {
						t.Errorf("%s: chain %s deleted = %v, want %v; restore input:\n%s", table, c, got, ours, data)
					}
				}
			}
			if !slices.ContainsFunc(ipt.deleted, func(s string) bool { return strings.Contains(s, "BOSUN-") }) {
				t.Errorf("deleted jumps do not lead into bosun's chains: %v", ipt.deleted)
			}
		})
	}
}
