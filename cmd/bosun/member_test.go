package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestClusterEtcdConfig(t *testing.T) {
	for _, tc := range []struct {
		name              string
		server            serverConfig
		wantClient, wantP string // "" with wantErr
		wantErr           string
	}{
		{
			name:       "defaults: TLS on loopback, peer on the advertise address",
			server:     serverConfig{advertise: "192.0.2.10", listen: ":6443", etcdClientURL: defaultEtcdClientURL, etcdPeerURL: defaultEtcdPeerURL},
			wantClient: "https://127.0.0.1:2379", wantP: "https://192.0.2.10:2380",
		},
		{
			name:       "the listen address when no advertise address",
			server:     serverConfig{listen: "192.0.2.11:6443", etcdClientURL: defaultEtcdClientURL, etcdPeerURL: defaultEtcdPeerURL},
			wantClient: "https://127.0.0.1:2379", wantP: "https://192.0.2.11:2380",
		},
		{
			name:       "the node IP when the advertise address is a name",
			server:     serverConfig{advertise: "cp.example.com", listen: ":6443", etcdClientURL: defaultEtcdClientURL, etcdPeerURL: defaultEtcdPeerURL, agent: agentConfig{nodeIP: "192.0.2.12"}},
			wantClient: "https://127.0.0.1:2379", wantP: "https://192.0.2.12:2380",
		},
		{
			name:       "URLs given",
			server:     serverConfig{listen: ":6443", etcdClientURL: "https://127.0.0.1:12379", etcdPeerURL: "https://127.0.0.1:12380"},
			wantClient: "https://127.0.0.1:12379", wantP: "https://127.0.0.1:12380",
		},
		{
			name:    "a plain-HTTP peer URL given",
			server:  serverConfig{listen: ":6443", etcdClientURL: defaultEtcdClientURL, etcdPeerURL: "http://192.0.2.10:2380"},
			wantErr: "TLS only",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.server
			c.dataDir = t.TempDir()
			c.agent.nodeName = "cp-1"
			if c.agent.nodeIP == "" {
				c.agent.nodeIP = "192.0.2.99" // never the route lookup
			}
			cfg := store.EmbedConfig{ClientURL: c.etcdClientURL, PeerURL: c.etcdPeerURL}
			_, err := clusterEtcd(&c, &cfg, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ClientURL != tc.wantClient || cfg.PeerURL != tc.wantP || cfg.Name != "cp-1" || cfg.TLS == nil {
				t.Fatalf("client %s peer %s name %s TLS %v, want %s %s cp-1 with TLS", cfg.ClientURL, cfg.PeerURL, cfg.Name, cfg.TLS != nil, tc.wantClient, tc.wantP)
			}
			if ok, err := clusteredEtcd(&serverConfig{dataDir: c.dataDir}); !ok || err != nil {
				t.Errorf("a later start without --cluster-init: clustered %t, %v; want true", ok, err)
			}
		})
	}
	if ok, err := clusteredEtcd(&serverConfig{dataDir: t.TempDir()}); ok || err != nil {
		t.Errorf("a new data directory without --cluster-init: clustered %t, %v; want false", ok, err)
	}
}

// TestMemberCommands runs bosun member list and remove against a TLS
// member whose credentials are in a server's data directory layout.
func TestMemberCommands(t *testing.T) {
	dataDir := t.TempDir()
	c := &serverConfig{dataDir: dataDir, listen: "127.0.0.1:6443", agent: agentConfig{nodeName: "cp-1", nodeIP: "127.0.0.1"},
		etcdClientURL: "https://127.0.0.1:0", etcdPeerURL: "https://127.0.0.1:0"}
	cfg := storetest.Config(t, dataDir)
	cfg.ClientURL, cfg.PeerURL = c.etcdClientURL, c.etcdPeerURL
	if _, err := clusterEtcd(c, &cfg, nil); err != nil {
		t.Fatal(err)
	}
	e := storetest.StartEmbedded(t, cfg)
	// A second, added member that never starts: listed, and removable by ID.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	added, _, err := store.AddLearner(ctx, e.Client(), "cp-2", "https://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newMemberCommand()
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append(args, "--data-dir", dataDir, "--etcd-endpoints", e.Endpoints()[0], "--timeout", "10s"))
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string // regular expressions, each matching a line
		wantErr string
	}{
		{"list", []string{"list"}, []string{
			`^NAME +ID +ROLE +LEADER +PEER URLS +CLIENT URLS$`,
			`^cp-1 +[0-9a-f]+ +voter +\* +https://127\.0\.0\.1:\d+ +https://127\.0\.0\.1:\d+$`,
			`^\(not started\) +` + store.FormatID(added.ID) + ` +learner +https://127\.0\.0\.1:1 *$`,
		}, ""},
		{"remove unknown", []string{"remove", "cp-9"}, nil, "not found"},
		{"remove the member it talks to", []string{"remove", "cp-1"}, nil, `run "bosun member remove cp-1" on another server`},
		{"remove by ID", []string{"remove", store.FormatID(added.ID)}, []string{`^Removed etcd member \(not started\) \(` + store.FormatID(added.ID) + `\)\.$`}, ""},
		{"list after remove", []string{"list"}, []string{`^NAME`, `^cp-1 +[0-9a-f]+ +voter +\*`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q\n%s", err, tc.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("output has %d lines, want %d:\n%s", len(lines), len(tc.want), out)
			}
			for i, re := range tc.want {
				if !regexp.MustCompile(re).MatchString(lines[i]) {
					t.Errorf("line %d %q does not match %s", i+1, lines[i], re)
				}
			}
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		cmd := newMemberCommand()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs([]string{"list", "--data-dir", t.TempDir()})
		if err := cmd.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), "--cluster-init") {
			t.Fatalf("err = %v, want one asking whether the server ran with --cluster-init", err)
		}
	})
	if _, err := os.Stat(filepath.Join(dataDir, "pki", pki.EtcdDir, pki.EtcdClientKeyFile)); err != nil {
		t.Errorf("client key not in the data directory: %v", err)
	}
}
