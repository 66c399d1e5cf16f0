package upgrade

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

var bosunBin string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBosun(m, "upgrade", &bosunBin)) }

// server is one bosun server process of a test.
type server struct {
	t       testing.TB
	bin     string
	url     string // the plain HTTP development listener
	etcdURL string
	args    []string
	cmd     *exec.Cmd
	log     *testutil.SyncBuffer
	done    chan struct{}
	started time.Time
}

// newServer returns a server of binary bin on dataDir and repoDir (none:
// the cluster's) with extra flags; start runs it. The test's cleanup kills it.
func newServer(t testing.TB, bin, dataDir, repoDir string, extra ...string) *server {
	t.Helper()
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	s := &server{t: t, bin: bin, url: "http://" + listen, etcdURL: fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))}
	s.args = []string{"server",
		"--data-dir", dataDir,
		"--insecure-listen", listen,
		"--listen", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		"--etcd-client-url", s.etcdURL,
		"--etcd-peer-url", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)),
		"--interval", "1h",
	}
	if repoDir != "" {
		s.args = append(s.args, "--repo", repoDir)
	}
	s.args = append(s.args, extra...)
	t.Cleanup(func() {
		s.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("server log (%s):\n%s", filepath.Base(bin), s.log)
		}
	})
	return s
}

// start runs the server and waits until its API answers /readyz.
func (s *server) start() {
	s.t.Helper()
	s.log = &testutil.SyncBuffer{}
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start %s server: %v", s.bin, err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	testutil.Eventually(s.t, 60*time.Second, "the API answers /readyz", func() (bool, string) {
		select {
		case <-s.done:
			s.t.Fatalf("bosun server exited early:\n%s", s.log)
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

// stop sends sig and waits for the process to exit.
func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// newRepo makes a Git repository of the files in dir, committed on main.
func newRepo(t testing.TB, dir string) string {
	t.Helper()
	repo := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	newRepoIn(t, repo)
	return repo
}

// newRepoIn makes dir a Git repository of its files, committed on main.
func newRepoIn(t testing.TB, repo string) {
	t.Helper()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.name=bosun", "-c", "user.email=bosun@example.com", "commit", "-qm", "the cluster"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}
