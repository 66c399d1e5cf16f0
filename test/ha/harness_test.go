// Package ha tests bosun's highly available control plane as users run it:
// several "bosun server" processes (the built binary) on one machine, each
// with its own data directory and loopback ports, sharing one etcd cluster,
// plus "bosun hollow" nodes. The tests kill (SIGKILL), pause (SIGSTOP) and
// resume (SIGCONT) servers and check that the sync loop and the controllers
// carry on elsewhere without losing, duplicating or rolling back anything.
// Nothing needs root: every process listens on 127.0.0.1 only.
//
// The benchmarks of issue 12 (failover time, commit to API latency with
// three etcd members against one) run with make bench-ha.
package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// bosunBin is the binary under test, built once by TestMain.
var bosunBin string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBosun(m, "ha", &bosunBin)) }

// Timeouts of the harness's waits: generous, so that a loaded machine makes
// the tests slower rather than red. Assertions about how fast something must
// happen use their own, tighter, limits.
const (
	startTimeout = 90 * time.Second
	syncTimeout  = 60 * time.Second
)

func loopbackURL(tb testing.TB, scheme string) string {
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, testutil.FreePort(tb))
}

// server is one "bosun server" process of a test cluster, with --no-agent.
type server struct {
	t    testing.TB
	name string // the etcd member's name, and the server's in messages: s1, s2, ...
	// dataDir is the server's --data-dir.
	dataDir string
	// url is the plain-HTTP listener (--insecure-listen) that the tests,
	// the CLI and hollow nodes use; apiURL the HTTPS API (--listen).
	url, apiURL string
	// etcdClientURL and etcdPeerURL are its embedded member's URLs; both ""
	// for a server on another server's etcd (--etcd-endpoints).
	etcdClientURL, etcdPeerURL string
	args                       []string
	logPath                    string
	client                     *client.Client

	cmd  *exec.Cmd
	done chan struct{}
}

// newServer prepares server name on repo with a fresh data directory and
// loopback ports; embedded or sharedEtcd then say which etcd it uses, and
// start runs it. The process is killed when the test ends, and its log
// shown when the test failed.
func newServer(t testing.TB, name, repo string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{
		t:       t,
		name:    name,
		dataDir: filepath.Join(dir, "data"),
		url:     loopbackURL(t, "http"),
		apiURL:  loopbackURL(t, "https"),
		logPath: filepath.Join(dir, name+".log"),
	}
	s.args = []string{"server",
		"--repo", repo,
		"--data-dir", s.dataDir,
		"--listen", strings.TrimPrefix(s.apiURL, "https://"),
		"--insecure-listen", strings.TrimPrefix(s.url, "http://"),
		"--no-agent",
		// Local repositories are watched: polling must not be what syncs.
		"--interval", "1h",
		"--log-level", "debug",
	}
	c, err := client.New(s.url, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s.client = c
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", s.name, s.logPath, tail(s.logs(), 200))
		}
	})
	return s
}

// embedded makes s run an embedded etcd member over TLS on loopback ports,
// the first of a cluster (--cluster-init); extra are further flags (--join
// and its companions for the other members).
func (s *server) embedded(extra ...string) *server {
	s.etcdClientURL = loopbackURL(s.t, "https")
	s.etcdPeerURL = loopbackURL(s.t, "https")
	s.args = append(s.args, "--etcd-client-url", s.etcdClientURL, "--etcd-peer-url", s.etcdPeerURL)
	s.args = append(s.args, extra...)
	return s
}

// sharedEtcd makes s use the embedded etcd of first (--etcd-endpoints), with
// first's etcd client credential.
func (s *server) sharedEtcd(first *server) *server {
	dir := first.etcdTLSDir()
	s.args = append(s.args,
		"--etcd-endpoints", first.etcdClientURL,
		"--etcd-cafile", filepath.Join(dir, pki.EtcdCACertFile),
		"--etcd-certfile", filepath.Join(dir, pki.EtcdClientCertFile),
		"--etcd-keyfile", filepath.Join(dir, pki.EtcdClientKeyFile))
	return s
}

// etcdTLSDir is where the server keeps its etcd credentials.
func (s *server) etcdTLSDir() string { return filepath.Join(s.dataDir, "pki", pki.EtcdDir) }

// start runs the server and waits until its API answers /readyz (a standby
// is ready once some server has synced).
func (s *server) start() *server {
	s.t.Helper()
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	s.cmd = exec.Command(bosunBin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.name, err)
	}
	done := make(chan struct{})
	s.done = done
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	testutil.EventuallyEvery(s.t, startTimeout, 200*time.Millisecond, s.name+"'s API to answer /readyz", func() (bool, string) {
		select {
		case <-done:
			s.t.Fatalf("%s exited while starting:\n%s", s.name, tail(s.logs(), 80))
		default:
		}
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return s
}

// running reports whether the process runs (or is paused).
func (s *server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// signal sends sig to the running server.
func (s *server) signal(sig syscall.Signal) {
	s.t.Helper()
	if !s.running() {
		s.t.Fatalf("signal %v to %s: it does not run", sig, s.name)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to %s: %v", sig, s.name, err)
	}
}

// kill stops the server with SIGKILL, as a crash would, and waits for it
// to be gone. A server that does not run is left as it is.
func (s *server) kill() {
	if !s.running() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL) // stopped processes die too
	<-s.done
}

// pause stops the process with SIGSTOP; resume continues it.
func (s *server) pause()  { s.signal(syscall.SIGSTOP) }
func (s *server) resume() { s.signal(syscall.SIGCONT) }

// logs returns everything the server (in all its runs) logged.
func (s *server) logs() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// bosun runs a client command against s's plain-HTTP API and returns its
// output; it fails the test when the command fails.
func (s *server) bosun(args ...string) string {
	s.t.Helper()
	out, err := s.tryBosun(args...)
	if err != nil {
		s.t.Fatalf("bosun %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// tryBosun is bosun returning the command's error instead of failing.
func (s *server) tryBosun(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bosunBin, args...)
	cmd.Env = append(os.Environ(), client.EnvServer+"="+s.url)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cluster is a set of servers syncing one repository through one etcd
// cluster, and the test's own etcd client (with the first server's client
// credential, to all embedded members).
type cluster struct {
	t       *testing.T
	repo    string
	servers []*server
	etcd    *clientv3.Client
	store   *store.Store
}

// newRepo makes the cluster's Git repository with its first commit: the
// Deployment web (2 replicas) and the ConfigMap marker ("0").
func newRepo(t *testing.T) string {
	t.Helper()
	repo := gittest.Init(t)
	gittest.Commit(t, repo, "web and marker", map[string]string{
		"apps/web.yaml":    gittest.Web,
		"apps/marker.yaml": configMap("marker", "0"),
	})
	return repo
}

// configMap is a ConfigMap manifest in the default namespace holding
// value at key "value".
func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, value)
}

// startShared starts n servers on one etcd, as main supports it without
// joining: the first with --cluster-init (its embedded etcd over TLS), the
// others on its etcd with --etcd-endpoints and its client credential.
func startShared(t *testing.T, n int) *cluster {
	t.Helper()
	testenv.E2E(t, testenv.Binary("git"))
	c := &cluster{t: t, repo: newRepo(t)}
	first := newServer(t, "s1", c.repo).embedded("--cluster-init").start()
	c.servers = append(c.servers, first)
	for i := 2; i <= n; i++ {
		c.servers = append(c.servers, newServer(t, "s"+strconv.Itoa(i), c.repo).sharedEtcd(first).start())
	}
	c.connect()
	return c
}

// connect opens the test's etcd client to every embedded member.
func (c *cluster) connect() {
	c.t.Helper()
	tlsConfig, err := pki.LoadEtcdClientTLS(c.servers[0].etcdTLSDir())
	if err != nil {
		c.t.Fatal(err)
	}
	var endpoints []string
	for _, s := range c.servers {
		if s.etcdClientURL != "" {
			endpoints = append(endpoints, s.etcdClientURL)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := store.Connect(ctx, endpoints, store.WithTLS(tlsConfig))
	if err != nil {
		c.t.Fatalf("connect to the cluster's etcd: %v", err)
	}
	c.t.Cleanup(func() { _ = cli.Close() })
	c.etcd = cli
	c.store = store.New(cli, store.Options{})
}

// ctx is a context for one etcd call of the test. (API calls have the
// clients' own timeout.)
func (c *cluster) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// byPID returns the running server with process id pid.
func (c *cluster) byPID(pid int) *server {
	for _, s := range c.servers {
		if s.running() && s.pid() == pid {
			return s
		}
	}
	return nil
}

// others returns the running servers but not.
func (c *cluster) others(not ...*server) []*server {
	var out []*server
	for _, s := range c.servers {
		if s.running() && !slices.Contains(not, s) {
			out = append(out, s)
		}
	}
	return out
}

// syncLeader returns the server leading the sync election (its candidate id
// is "host/pid", see leader.DefaultID), or an error saying why there is none.
func (c *cluster) syncLeader() (*server, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	id, err := leader.Leader(ctx, c.etcd, syncer.ElectionName)
	if err != nil {
		return nil, err
	}
	_, p, _ := strings.Cut(id, "/")
	pid, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("sync leader %q: no process id", id)
	}
	if s := c.byPID(pid); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("sync leader %q is none of the running servers", id)
}

// waitSyncLeader waits until a server other than not leads the sync loop.
func (c *cluster) waitSyncLeader(timeout time.Duration, not ...*server) *server {
	c.t.Helper()
	var s *server
	testutil.EventuallyEvery(c.t, timeout, 50*time.Millisecond, "a sync leader", func() (bool, string) {
		var err error
		if s, err = c.syncLeader(); err != nil {
			return false, err.Error()
		}
		return !slices.Contains(not, s), s.name + " leads"
	})
	return s
}

// etcdLeader returns the server whose embedded member is etcd's raft
// leader.
func (c *cluster) etcdLeader() (*server, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	members, err := store.ListMembers(ctx, c.etcd)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if !m.Leader {
			continue
		}
		for _, s := range c.servers {
			if s.etcdPeerURL != "" && slices.Contains(m.PeerURLs, s.etcdPeerURL) {
				return s, nil
			}
		}
		return nil, fmt.Errorf("etcd leader %s (%v) is none of the servers", m.Name, m.PeerURLs)
	}
	return nil, errors.New("etcd has no leader")
}

// commit commits files to the cluster's repository and returns the SHA.
func (c *cluster) commit(msg string, files map[string]string) string {
	c.t.Helper()
	return gittest.Commit(c.t, c.repo, msg, files)
}

// waitSynced waits until s's API says commit sha is the synced one.
func (c *cluster) waitSynced(s *server, sha string, timeout time.Duration) {
	c.t.Helper()
	testutil.EventuallyEvery(c.t, timeout, 20*time.Millisecond, fmt.Sprintf("%s to serve commit %.8s as synced", s.name, sha), func() (bool, string) {
		st, err := s.client.Status(context.Background())
		switch {
		case err != nil:
			return false, err.Error()
		case st.Synced == nil:
			return false, "nothing synced"
		}
		return st.Synced.Commit.SHA == sha, fmt.Sprintf("synced %.8s", st.Synced.Commit.SHA)
	})
}

// get reads the object name of resource r in the default namespace through
// s's API.
func get[T api.Object](c *cluster, s *server, resource, name string) (T, error) {
	var zero T
	r, ok := api.Lookup(resource)
	if !ok {
		c.t.Fatalf("no resource %q", resource)
	}
	o, err := s.client.Get(context.Background(), r, "default", name)
	if err != nil {
		return zero, err
	}
	t, ok := o.(T)
	if !ok {
		c.t.Fatalf("%s %s is a %T", resource, name, o)
	}
	return t, nil
}

// list lists resource r in all namespaces through s's API, failing the test
// on an error.
func list[T api.Object](c *cluster, s *server, resource, selector string) []T {
	c.t.Helper()
	r, ok := api.Lookup(resource)
	if !ok {
		c.t.Fatalf("no resource %q", resource)
	}
	objs, err := s.client.List(context.Background(), r, "", selector)
	if err != nil {
		c.t.Fatalf("list %s through %s: %v", resource, s.name, err)
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(T))
	}
	return out
}

// hollow starts n hollow nodes talking to s, named after s, until the test
// ends.
func (c *cluster) hollow(s *server, n int) {
	c.t.Helper()
	path := filepath.Join(c.t.TempDir(), "hollow.log")
	f, err := os.Create(path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bosunBin, "hollow", "--server", s.url, "--nodes", strconv.Itoa(n),
		"--name-prefix", "hollow-"+s.name+"-")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start hollow nodes: %v", err)
	}
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if c.t.Failed() {
			b, _ := os.ReadFile(path)
			c.t.Logf("hollow log:\n%s", tail(string(b), 40))
		}
	})
}

// jsonOut decodes a command's JSON output.
func jsonOut[T any](t testing.TB, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return v
}

// stage runs one stage of a test that goes through several on the same
// cluster, logging its name and how long it took.
func stage(t *testing.T, name string, f func()) {
	t.Helper()
	t.Logf("stage %q", name)
	begin := time.Now()
	f()
	t.Logf("stage %q done in %.1f s", name, time.Since(begin).Seconds())
}
