package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
)

func TestCheckJoinFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "join", args: []string{"--join", "https://10.0.0.1:6443", "--token", "abcdef.0123456789abcdef", "--ca-cert-hash", "sha256:ab"}},
		{name: "join with an etcd name", args: []string{"--join", "https://10.0.0.1:6443", "--etcd-name", "cp-2"}},
		{name: "etcd name with --no-agent", args: []string{"--cluster-init", "--no-agent", "--etcd-name", "cp-1"}},
		{name: "token without join", args: []string{"--token", "abcdef.0123456789abcdef"}, wantErr: "--token has no effect without --join"},
		{name: "hash without join", args: []string{"--ca-cert-hash", "sha256:ab"}, wantErr: "--ca-cert-hash has no effect without --join"},
		{name: "join and cluster-init", args: []string{"--join", "https://10.0.0.1:6443", "--cluster-init"}, wantErr: "give one of them"},
		{name: "join with external etcd", args: []string{"--join", "https://10.0.0.1:6443", "--etcd-endpoints", "https://etcd:2379"}, wantErr: "same --etcd-endpoints"},
		{name: "plain-HTTP join URL", args: []string{"--join", "http://10.0.0.1:6443"}, wantErr: "want the API URL of a running server"},
		{name: "etcd name with external etcd", args: []string{"--etcd-endpoints", "https://etcd:2379", "--etcd-name", "x"}, wantErr: "--etcd-name has no effect with --etcd-endpoints"},
		{name: "bad etcd name", args: []string{"--cluster-init", "--etcd-name", "CP_1"}, wantErr: `--etcd-name "CP_1"`},
		{name: "node name with --no-agent", args: []string{"--no-agent", "--node-name", "cp-1"}, wantErr: "--node-name has no effect with --no-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &serverConfig{}
			cmd := newServerCommand(&globalOptions{})
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			c.etcdEndpoints, _ = cmd.Flags().GetStringSlice("etcd-endpoints")
			c.clusterInit, _ = cmd.Flags().GetBool("cluster-init")
			c.noAgent, _ = cmd.Flags().GetBool("no-agent")
			c.join.url, _ = cmd.Flags().GetString("join")
			c.etcdName, _ = cmd.Flags().GetString("etcd-name")
			err := checkServerFlags(cmd, c)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkServerFlags: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAdoptClusterSettings(t *testing.T) {
	stored := api.ClusterSettings{ClusterCIDR: "10.64.0.0/12", ServiceCIDR: "10.96.0.0/16", NodePortRange: "30000-32767", Repo: "https://git.example.com/deploy.git", Branch: "prod"}
	flags := serverConfig{clusterCIDR: "10.244.0.0/16", serviceCIDR: "10.96.0.0/16", nodePortRange: "30000-32767"}
	tests := []struct {
		name     string
		change   func(c *serverConfig)
		explicit []string
		wantErr  string
	}{
		{name: "no flags: every value adopted"},
		{name: "flags equal to the cluster's", explicit: []string{"cluster-cidr", "repo"}, change: func(c *serverConfig) {
			c.clusterCIDR, c.repo = stored.ClusterCIDR, stored.Repo
		}},
		{name: "another cluster CIDR", explicit: []string{"cluster-cidr"}, wantErr: `--cluster-cidr "10.244.0.0/16" differs from the cluster's "10.64.0.0/12"`},
		{name: "another repository", explicit: []string{"repo"}, change: func(c *serverConfig) { c.repo = "https://git.example.com/other.git" },
			wantErr: `--repo "https://git.example.com/other.git" differs from the cluster's "https://git.example.com/deploy.git"`},
		{name: "the default branch given where the cluster names one", explicit: []string{"branch"}, wantErr: `--branch "" differs from the cluster's "prod"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := flags
			if tt.change != nil {
				tt.change(&c)
			}
			err := adoptClusterSettings(&c, stored, func(f string) bool { return strings.Contains(" "+strings.Join(tt.explicit, " ")+" ", " "+f+" ") })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), store.ClusterSettingsKey) {
					t.Fatalf("err = %v, want one saying %q and naming %s", err, tt.wantErr, store.ClusterSettingsKey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := settingsFromFlags(&c); got != stored {
				t.Errorf("settings %+v, want the cluster's %+v", got, stored)
			}
		})
	}
}

func TestControlPlaneCARefusals(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		c         serverConfig
		clustered bool
		wantErr   string
	}{
		{"cluster member", serverConfig{}, true, ""},
		{"single loopback member", serverConfig{}, false, "restart it with --cluster-init"},
		{"external etcd", serverConfig{etcdEndpoints: []string{"https://etcd:2379"}}, false, "same --etcd-endpoints"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key, err := newControlPlaneCA(&tt.c, ca, tt.clustered).CAKeyPEM()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CAKeyPEM = %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Contains(key, []byte("PRIVATE KEY")) {
				t.Fatalf("CAKeyPEM = %q, %v; want the CA's key", key, err)
			}
		})
	}
}

// testServer is a bosun server run in the test's process through the root
// command, as main runs it.
type testServer struct {
	t      *testing.T
	args   []string
	log    *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startTestServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	s := &testServer{t: t, args: args}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) start() {
	s.log = &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	root := newRootCommand(s.log, s.log)
	root.SetArgs(append([]string{"--log-level", "info"}, s.args...))
	go func() { s.done <- root.ExecuteContext(ctx) }()
}

// exited fails the test when the server has returned.
func (s *testServer) checkRunning() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.done <- err
		s.t.Fatalf("bosun %s returned %v:\n%s", strings.Join(s.args, " "), err, s.log.String())
	default:
	}
}

// stop stops the server and waits until it has returned.
func (s *testServer) stop() {
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			s.t.Errorf("bosun server returned %v:\n%s", err, s.log.String())
		}
		s.done <- nil
	case <-time.After(30 * time.Second):
		s.t.Errorf("bosun server did not stop within 30 s:\n%s", s.log.String())
	}
}

// membersOf lists the etcd members as the server with data directory
// dataDir sees them through its own etcd at endpoint.
func membersOf(dataDir, endpoint string) ([]store.Member, error) {
	tlsConfig, err := pki.LoadEtcdClientTLS(etcdTLSDir(dataDir))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := store.Connect(ctx, []string{endpoint}, store.WithTLS(tlsConfig))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return store.ListMembers(ctx, c)
}

// votersNamed says why members are not exactly the started voters names,
// "" when they are.
func votersNamed(members []store.Member, names ...string) string {
	var got []string
	for _, m := range members {
		role := "voter"
		if m.Learner {
			role = "learner"
		}
		got = append(got, memberName(m)+":"+role)
	}
	var want []string
	for _, n := range names {
		want = append(want, n+":voter")
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Sprintf("members %v, want %v", got, want)
	}
	return ""
}

// TestServerJoin grows a control plane from one server to two, in this
// process, through the commands a user runs: bosun server --cluster-init,
// bosun token create --control-plane, and the bosun server --join it prints. The
// second server is added as a learner through the API, promotes itself,
// adopts the cluster's settings, serves the API, and both members list
// each other; a restart of the joined server ignores --join.
func TestServerJoin(t *testing.T) {
	repo := gittest.Init(t)
	gittest.Commit(t, repo, "a config map", map[string]string{"conf.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n  namespace: default\ndata:\n  a: b\n"})
	d1, d2 := t.TempDir(), t.TempDir()
	etcd1, etcd2 := "https://"+testutil.FreeAddr(t), "https://"+testutil.FreeAddr(t)
	common := []string{"--no-agent", "--interval", "1h", "--webhook-secret", "x"}
	s1 := startTestServer(t, append([]string{"server", "--cluster-init", "--repo", repo, "--data-dir", d1, "--listen", testutil.FreeAddr(t),
		"--etcd-name", "s1", "--etcd-client-url", etcd1, "--etcd-peer-url", "https://" + testutil.FreeAddr(t), "--cluster-cidr", "10.64.0.0/12"}, common...)...)

	var joinCmd string
	testutil.Eventually(t, 60*time.Second, "bosun token create --control-plane on the first server", func() (bool, string) {
		s1.checkRunning()
		out, stderr, err := runRoot(t, "--kubeconfig", filepath.Join(d1, "kubeconfig"), "token", "create", "--control-plane", "--usages", "2")
		joinCmd = strings.TrimSpace(out)
		return err == nil, fmt.Sprintf("%v %s", err, stderr)
	})
	args := strings.Fields(joinCmd)
	if len(args) != 10 || strings.Join(args[:3], " ") != "bosun server --join" || args[8] != "--repo" || args[9] != repo {
		t.Fatalf("token create --control-plane printed %q, want bosun server --join URL --token T --ca-cert-hash H --repo %s", joinCmd, repo)
	}
	// The printed command, without --repo: the joiner adopts the cluster's.
	joinArgs := append(slices.Clone(args[1:8]), "--data-dir", d2, "--listen", testutil.FreeAddr(t),
		"--etcd-name", "s2", "--etcd-client-url", etcd2, "--etcd-peer-url", "https://"+testutil.FreeAddr(t))
	s2 := startTestServer(t, append(joinArgs, common...)...)

	for _, m := range []struct{ dataDir, endpoint string }{{d1, etcd1}, {d2, etcd2}} {
		testutil.Eventually(t, 150*time.Second, "both members voters, seen from "+m.endpoint, func() (bool, string) {
			s1.checkRunning()
			s2.checkRunning()
			members, err := membersOf(m.dataDir, m.endpoint)
			if err != nil {
				return false, err.Error()
			}
			why := votersNamed(members, "s1", "s2")
			return why == "", why
		})
	}
	// The joined server serves the API on the shared state with its own
	// admin credential, from the same CA.
	testutil.Eventually(t, 60*time.Second, "token list through the joined server", func() (bool, string) {
		s2.checkRunning()
		out, stderr, err := runRoot(t, "--kubeconfig", filepath.Join(d2, "kubeconfig"), "token", "list")
		if err != nil {
			return false, fmt.Sprintf("%v %s", err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.Contains(lines[1], "server") || strings.Fields(lines[1])[4] != "1" {
			return false, "token list:\n" + out + "\nwant the server token with 1 use left"
		}
		return true, ""
	})
	ca1, err1 := pki.LoadOrCreateCA(filepath.Join(d1, "pki"))
	ca2, err2 := pki.LoadOrCreateCA(filepath.Join(d2, "pki"))
	if err1 != nil || err2 != nil || ca1.Hash() != ca2.Hash() {
		t.Fatalf("CAs %v (%v) and %v (%v): want the same", ca1, err1, ca2, err2)
	}
	if l := s2.log.String(); !strings.Contains(l, "this etcd member is a voter now") || !strings.Contains(l, "bosun server started") {
		t.Errorf("the joined server's log lacks its promotion or start:\n%s", l)
	}

	// A restart with the same flags: already a member, --join ignored.
	s2.stop()
	s2.start()
	testutil.Eventually(t, 60*time.Second, "the restarted server to serve", func() (bool, string) {
		s2.checkRunning()
		_, stderr, err := runRoot(t, "--kubeconfig", filepath.Join(d2, "kubeconfig"), "token", "list")
		return err == nil, fmt.Sprintf("%v %s", err, stderr)
	})
	if l := s2.log.String(); !strings.Contains(l, "already a member of the control plane") {
		t.Errorf("the restarted server did not say it ignores --join:\n%s", l)
	}
	members, err := membersOf(d2, etcd2)
	if err != nil {
		t.Fatal(err)
	}
	if why := votersNamed(members, "s1", "s2"); why != "" {
		t.Errorf("after the restart: %s", why)
	}
}
