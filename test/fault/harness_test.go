// Package fault injects faults into a running bosun — kill -9 of the server
// in the middle of a sync, a full etcd, a Git remote that hangs, corrupt
// Git objects — and checks that nothing is lost, duplicated or left behind
// and that bosun recovers. Like test/e2e it runs the built binary as a
// child process; internal/testenv skips the tests where their tools are
// missing and makes them required under CI.
//
// SOAK_ROUNDS sets how many kill rounds TestKillServerDuringSync runs
// (default 50; make soak runs 1,000).
package fault

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/gittest"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// bosunBin is the binary under test, built once by TestMain.
var bosunBin string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBosun(m, "fault", &bosunBin)) }

// repo is a Git working tree the test commits to, as a user would.
type repo struct {
	t   testing.TB
	dir string
}

// newRepo makes a Git repository (internal/gittest's, on branch main)
// holding one file, file holding content.
func newRepo(t testing.TB, file, content string) *repo {
	t.Helper()
	r := &repo{t: t, dir: gittest.Init(t)}
	r.write(file, content)
	r.commitAll("first commit")
	return r
}

// git runs git in the working tree and returns its output.
func (r *repo) git(args ...string) string {
	r.t.Helper()
	return gittest.Git(r.t, r.dir, args...)
}

// write writes a file of the working tree.
func (r *repo) write(path, content string) {
	r.t.Helper()
	gittest.Write(r.t, r.dir, map[string]string{path: content})
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
	cmd     *exec.Cmd
	log     *testutil.SyncBuffer
	done    chan struct{}
}

// startServer runs bosun server --no-agent on repoURL with a fresh data
// directory, extra flags appended.
func startServer(t testing.TB, repoURL string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: t.TempDir()}
	listen := testutil.FreeAddr(t)
	s.url = "http://" + listen
	s.args = append([]string{"server",
		"--repo", repoURL,
		"--data-dir", s.dataDir,
		"--insecure-listen", listen,
		"--listen", testutil.FreeAddr(t),
		"--etcd-client-url", "http://" + testutil.FreeAddr(t),
		"--etcd-peer-url", "http://" + testutil.FreeAddr(t),
		"--interval", "1h", // local repositories are watched; polling must not be what syncs
		"--log-level", "debug",
		"--no-agent",
	}, extra...)
	s.start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server log (last start, requests left out):\n%s", lastLines(withoutRequests(s.log.String()), 150))
		}
	})
	return s
}

// etcdURL is the client URL of the server's embedded etcd.
func (s *server) etcdURL() string {
	for i, a := range s.args {
		if a == "--etcd-client-url" {
			return s.args[i+1]
		}
	}
	s.t.Fatal("the server has no --etcd-client-url")
	return ""
}

// start starts the server process on its data directory and waits until
// its API answers /readyz.
func (s *server) start() {
	s.t.Helper()
	s.log = &testutil.SyncBuffer{}
	s.cmd = exec.Command(bosunBin, s.args...)
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

// alive reports whether the server process is still running.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return s.cmd != nil
	}
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
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("bosun %s: %v", strings.Join(args, " "), err)
		}
		return string(out), ee.ExitCode()
	}
	return string(out), 0
}

// getJSON decodes an API response into v and returns the HTTP status; v is
// left alone unless the status is 200.
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

// attempt is one sync attempt as /bosun/v1/status and /bosun/v1/history
// give it.
type attempt struct {
	Commit struct {
		SHA string `json:"sha"`
	} `json:"commit"`
	Result  string `json:"result"`
	Message string `json:"message"`
}

// syncStatus is /bosun/v1/status.
type syncStatus struct {
	Synced      *attempt `json:"synced"`
	LastAttempt *attempt `json:"lastAttempt"`
	StoreAlarms []string `json:"storeAlarms"`
}

func (s *server) status() syncStatus {
	s.t.Helper()
	var st syncStatus
	s.getJSON("/bosun/v1/status", &st)
	return st
}

func (s *server) history() []attempt {
	s.t.Helper()
	var h []attempt
	if code := s.getJSON("/bosun/v1/history", &h); code != http.StatusOK {
		s.t.Fatalf("GET /bosun/v1/history: HTTP %d", code)
	}
	return h
}

// waitAttempt waits until the last attempt is about sha with result and
// returns the status.
func (s *server) waitAttempt(sha, result string, timeout time.Duration) syncStatus {
	s.t.Helper()
	var st syncStatus
	testutil.Eventually(s.t, timeout, fmt.Sprintf("commit %.8s %s", sha, result), func() (bool, string) {
		st = s.status()
		if st.LastAttempt == nil {
			return false, "no attempt yet"
		}
		return st.LastAttempt.Commit.SHA == sha && st.LastAttempt.Result == result,
			fmt.Sprintf("last attempt %.8s %s: %s", st.LastAttempt.Commit.SHA, st.LastAttempt.Result, st.LastAttempt.Message)
	})
	return st
}

// hollowNodes is a `bosun hollow` child process: node agents on the fake
// runtime.
type hollowNodes struct {
	cmd  *exec.Cmd
	log  *testutil.SyncBuffer
	done chan struct{}
}

// startHollow runs nodes hollow nodes against serverURL until the test ends.
func startHollow(t testing.TB, serverURL string, nodes int) *hollowNodes {
	t.Helper()
	h := &hollowNodes{log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	h.cmd = exec.Command(bosunBin, "hollow", "--server", serverURL, "--nodes", fmt.Sprint(nodes),
		"--name-prefix", "fault-", "--start-delay", "20ms", "--heartbeat-interval", "500ms")
	h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start bosun hollow: %v", err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGKILL)
		<-h.done
		if t.Failed() {
			t.Logf("hollow log:\n%s", lastLines(h.log.String(), 80))
		}
	})
	return h
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withoutRequests drops the API's per-request debug lines from a log.
func withoutRequests(log string) string {
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=request ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
