// Package e2e runs the bosun binary as a user does: a real Git repository,
// bosun server with embedded etcd as a child process, and the client
// commands against it.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// bosunBin is the binary under test, built once by TestMain.
var bosunBin string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBosun(m, "e2e", &bosunBin)) }

// repo is a Git working tree the test commits to, as a user would.
type repo struct {
	t   testing.TB
	dir string
}

// newRepo makes a Git repository holding a copy of examples/repo.
func newRepo(t testing.TB) *repo {
	t.Helper()
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.name", "E2E Tester")
	r.git("config", "user.email", "e2e@bosun.test")
	if out, err := exec.Command("cp", "-r", "../../examples/repo/.", r.dir).CombinedOutput(); err != nil {
		t.Fatalf("copy examples/repo: %v: %s", err, out)
	}
	r.commitAll("Add the hello example")
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) replace(path, old, new string) {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, path))
	if err != nil {
		r.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		r.t.Fatalf("%s does not contain %q", path, old)
	}
	r.write(path, strings.Replace(string(b), old, new, 1))
}

// commitAll commits every change and returns the commit's SHA.
func (r *repo) commitAll(msg string) string {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// server is a bosun server child process.
type server struct {
	t       testing.TB
	url     string
	dataDir string
	args    []string
	env     []string // added to the test's environment
	cmd     *exec.Cmd
	log     *testutil.SyncBuffer
	done    chan struct{}
}

// startServer runs bosun server on repoDir with a fresh data directory.
func startServer(t testing.TB, repoDir string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, repoDir, extra...)
}

// startServerEnv is startServer with env ("NAME=value") added to the
// server's environment.
func startServerEnv(t testing.TB, env []string, repoDir string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir(), env: env}
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	s.url = "http://" + listen
	s.args = []string{"server",
		"--repo", repoDir,
		"--data-dir", s.dataDir,
		// The tests' clients speak plain HTTP to the development listener;
		// the HTTPS API listens beside it on a port of its own.
		"--insecure-listen", listen,
		"--listen", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		"--interval", "1h", // local repositories are watched; polling must not be what syncs
		"--log-level", "debug",
	}
	if !hasArg(extra, "--etcd-endpoints") {
		s.args = append(s.args,
			"--etcd-client-url", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)),
			"--etcd-peer-url", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)))
	}
	s.args = append(s.args, extra...)
	if !hasArg(extra, "--with-agent") {
		s.args = append(s.args, "--no-agent") // most tests exercise the control plane alone
	} else {
		s.args = removeArg(s.args, "--with-agent")
	}
	s.start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.log = &testutil.SyncBuffer{}
	s.cmd = exec.Command(bosunBin, s.args...)
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start bosun server: %v", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	testutil.Eventually(s.t, 30*time.Second, "the API answers /readyz", func() (bool, string) {
		select {
		case <-s.done:
			s.t.Fatalf("bosun server exited early:\n%s", s.log.String())
		default:
		}
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// kill stops the server with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// bosun runs a client command against s and returns its output and exit
// status.
func (s *server) bosun(args ...string) (string, int) {
	s.t.Helper()
	cmd := exec.Command(bosunBin, args...)
	cmd.Env = append(os.Environ(), "BOSUN_SERVER="+s.url)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("bosun %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// getJSON decodes an API response into v; it returns the HTTP status.
func (s *server) getJSON(path string, v any) int {
	s.t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			s.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

type syncStatus struct {
	Synced *struct {
		Commit struct{ SHA string } `json:"commit"`
	} `json:"synced"`
	LastAttempt *struct {
		Commit struct {
			SHA       string
			SignedBy  string `json:"signedBy"`
			Signature string `json:"signature"`
		} `json:"commit"`
		Result   string `json:"result"`
		Message  string `json:"message"`
		Problems []struct {
			File, Field, Message string
			Line                 int
			Warning              bool
		} `json:"problems"`
	} `json:"lastAttempt"`
}

func (s *server) status() syncStatus {
	s.t.Helper()
	var st syncStatus
	s.getJSON("/bosun/v1/status", &st)
	return st
}

// waitAttempt waits until the last attempt is about sha and returns the
// status.
func (s *server) waitAttempt(sha, result string) syncStatus {
	s.t.Helper()
	var st syncStatus
	testutil.Eventually(s.t, 20*time.Second, fmt.Sprintf("commit %.8s %s", sha, result), func() (bool, string) {
		st = s.status()
		if st.LastAttempt == nil {
			return false, "no attempt yet"
		}
		return st.LastAttempt.Commit.SHA == sha && st.LastAttempt.Result == result,
			fmt.Sprintf("last attempt %.8s %s: %s", st.LastAttempt.Commit.SHA, st.LastAttempt.Result, st.LastAttempt.Message)
	})
	return st
}

type object struct {
	Metadata struct {
		Name        string            `json:"name"`
		UID         string            `json:"uid"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Replicas *int `json:"replicas"`
	} `json:"spec"`
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func removeArg(args []string, a string) []string {
	out := args[:0:0]
	for _, x := range args {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}
