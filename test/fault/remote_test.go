package fault

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testenv"
)

// gitHTTPBackend is git's smart-HTTP server program.
const gitHTTPBackend = "/usr/lib/git-core/git-http-backend"

// hangingProxy forwards TCP connections on 127.0.0.1 to a backend, or, while
// hanging, accepts them and never answers.
type hangingProxy struct {
	ln      net.Listener
	backend string
	hang    atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
	held    atomic.Int64 // connections accepted, or requests held back, while hanging
}

// startHangingProxy listens on 127.0.0.1 in front of backend until the test
// ends.
func startHangingProxy(t *testing.T, backend string) *hangingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangingProxy{ln: ln, backend: backend}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

func (p *hangingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if p.hang.Load() {
			p.held.Add(1)
			continue // accepted, never answered, closed at cleanup
		}
		go p.forward(c)
	}
}

func (p *hangingProxy) forward(c net.Conn) {
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		_ = c.Close()
		return
	}
	go func() { p.copyUnlessHung(b, c); _ = b.Close() }()
	p.copyUnlessHung(c, b)
	_ = c.Close()
}

// copyUnlessHung copies src to dst, holding back what it read while the
// proxy hangs, so that connections opened before the hang (kept-alive HTTP
// connections) stop answering too.
func (p *hangingProxy) copyUnlessHung(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.hang.Load() {
			p.held.Add(1)
			for p.hang.Load() {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveGit serves the bare repositories under root over smart HTTP until the
// test ends and returns the server's host:port.
func serveGit(t *testing.T, root string) string {
	t.Helper()
	h := &cgi.Handler{
		Path: gitHTTPBackend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// configMapCommit is a manifest of one ConfigMap holding version.
func configMapCommit(version string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: marker\n  namespace: default\ndata:\n  version: %q\n", version)
}

// TestHangingRemote syncs from an http:// remote behind a proxy on
// 127.0.0.1 that, once switched, accepts connections and never answers.
// With --git-timeout 2s the sync must record a failed attempt naming the
// timeout within the timeout plus one poll interval (and some slack), the
// server must keep serving reads, and once the remote answers again the
// pending commit must be applied.
func TestHangingRemote(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), func() error {
		if err := exec.Command(gitHTTPBackend, "--help").Run(); err != nil {
			if _, ok := err.(*exec.ExitError); !ok {
				return fmt.Errorf("%s is not runnable (git installs it): %w", gitHTTPBackend, err)
			}
		}
		return nil
	})
	const timeout, interval = 2 * time.Second, time.Second
	root := t.TempDir()
	bare := filepath.Join(root, "deploy.git")
	r := newRepo(t, "marker.yaml", configMapCommit("v1"))
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput(); err != nil {
		t.Fatalf("git init --bare: %v: %s", err, out)
	}
	r.git("remote", "add", "origin", bare)
	r.git("push", "-q", "origin", "main")

	proxy := startHangingProxy(t, serveGit(t, root))
	s := startServer(t, "http://"+proxy.ln.Addr().String()+"/deploy.git",
		"--interval", interval.String(), "--git-timeout", timeout.String())
	s.waitAttempt(r.git("rev-parse", "HEAD"), "applied", 60*time.Second)

	proxy.hang.Store(true)
	r.write("marker.yaml", configMapCommit("v2"))
	pending := r.commitAll("v2")
	r.git("push", "-q", "origin", "main")
	hungAt := time.Now()
	var st syncStatus
	failed := pollFor(timeout+interval+10*time.Second, func() bool {
		st = s.status()
		return st.LastAttempt != nil && st.LastAttempt.Result == "failed"
	})
	took := time.Since(hungAt)
	if !failed {
		t.Fatalf("no failed attempt %v after the remote hung (timeout %v); last attempt %+v", took, timeout, st.LastAttempt)
	}
	t.Logf("the hanging remote failed the sync after %v: %s", took, st.LastAttempt.Message)
	if msg := strings.ToLower(st.LastAttempt.Message); !strings.Contains(msg, "timeout") && !strings.Contains(msg, "deadline") && !strings.Contains(msg, "timed out") {
		t.Errorf("the failed attempt does not say it timed out: %q", st.LastAttempt.Message)
	}
	if proxy.held.Load() == 0 {
		t.Errorf("no connection reached the hanging remote: the failure is not the hang's")
	}
	// The server keeps serving while the remote hangs.
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if code := s.getJSON("/api/v1/namespaces/default/configmaps/marker", &cm); code != http.StatusOK || cm.Data["version"] != "v1" {
		t.Errorf("reading the last good commit's ConfigMap while the remote hangs: HTTP %d, version %q; want 200, v1", code, cm.Data["version"])
	}

	proxy.hang.Store(false)
	healedAt := time.Now()
	s.waitAttempt(pending, "applied", timeout+interval+20*time.Second)
	t.Logf("RESULT hanging-remote timeout=%v failed-after=%v held-requests=%d resumed-after=%v recovered=1",
		timeout, took.Round(time.Millisecond), proxy.held.Load(), time.Since(healedAt).Round(time.Millisecond))
}
