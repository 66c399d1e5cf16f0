package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"POD_NAME": "p"},
			want: config{podName: "p", version: "v1", crashAfter: -1, failLivenessAfter: -1}},
		{name: "version override", env: map[string]string{"POD_NAME": "p", "VERSION": "v9"},
			want: config{podName: "p", version: "v9", crashAfter: -1, failLivenessAfter: -1}},
		{name: "knobs", env: map[string]string{"POD_NAME": "p", "CRASH_AFTER": "0", "HANG": "1", "NOT_READY": "1",
			"READY_AFTER": "2s", "FAIL_LIVENESS_AFTER": "1m"},
			want: config{podName: "p", version: "v1", crashAfter: 0, hang: true, notReady: true,
				readyAfter: 2 * time.Second, failLivenessAfter: time.Minute}},
		{name: "bad duration", env: map[string]string{"READY_AFTER": "soon"}, wantErr: `READY_AFTER="soon"`},
		{name: "negative duration", env: map[string]string{"CRASH_AFTER": "-1s"}, wantErr: `CRASH_AFTER="-1s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromEnv(envOf(tt.env), "v1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(file, []byte("from a volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type step struct {
		advance  time.Duration
		path     string
		wantCode int
		wantBody string // substring
	}
	tests := []struct {
		name  string
		env   map[string]string
		steps []step
	}{
		{name: "hello", env: map[string]string{"POD_NAME": "web-1"}, steps: []step{
			{path: "/", wantCode: 200, wantBody: "hello from web-1 (version v1)\n"},
			{path: "/healthz", wantCode: 200, wantBody: "ok"},
			{path: "/ready", wantCode: 200, wantBody: "ready"},
			{path: "/nope", wantCode: 404},
		}},
		{name: "version from env", env: map[string]string{"POD_NAME": "p", "VERSION": "v2"}, steps: []step{
			{path: "/", wantCode: 200, wantBody: "hello from p (version v2)\n"},
		}},
		{name: "ready after", env: map[string]string{"READY_AFTER": "10s"}, steps: []step{
			{path: "/ready", wantCode: 503},
			{advance: 9 * time.Second, path: "/ready", wantCode: 503},
			{advance: time.Second, path: "/ready", wantCode: 200},
		}},
		{name: "never ready", env: map[string]string{"NOT_READY": "1"}, steps: []step{
			{advance: time.Hour, path: "/ready", wantCode: 503},
			{path: "/healthz", wantCode: 200},
		}},
		{name: "liveness fails after", env: map[string]string{"FAIL_LIVENESS_AFTER": "30s"}, steps: []step{
			{path: "/healthz", wantCode: 200},
			{advance: 30 * time.Second, path: "/healthz", wantCode: 500},
		}},
		{name: "env", env: map[string]string{}, steps: []step{
			{path: "/env", wantCode: 200, wantBody: "A=1\nB=2\n"},
		}},
		{name: "file", env: map[string]string{}, steps: []step{
			{path: "/file?path=" + file, wantCode: 200, wantBody: "from a volume\n"},
			{path: "/file?path=" + filepath.Join(dir, "missing"), wantCode: 404},
			{path: "/file", wantCode: 400},
		}},
		{name: "burn", env: map[string]string{}, steps: []step{
			{path: "/burn?ms=20", wantCode: 200},
			{path: "/burn?ms=x", wantCode: 400},
			{path: "/burn?ms=60001", wantCode: 400},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFromEnv(envOf(tt.env), "v1")
			if err != nil {
				t.Fatal(err)
			}
			environ := func() []string { return []string{"B=2", "A=1"} }
			clock := &fakeClock{t: time.Unix(1000, 0)}
			var logs bytes.Buffer
			h := handler(cfg, environ, slog.New(slog.NewTextHandler(&logs, nil)), clock.now(), clock.now)
			for _, s := range tt.steps {
				clock.advance(s.advance)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", s.path, nil))
				if rec.Code != s.wantCode {
					t.Fatalf("GET %s: code %d, want %d (body %q)", s.path, rec.Code, s.wantCode, rec.Body.String())
				}
				if !strings.Contains(rec.Body.String(), s.wantBody) {
					t.Fatalf("GET %s: body %q, want it to contain %q", s.path, rec.Body.String(), s.wantBody)
				}
			}
			if n := strings.Count(logs.String(), "msg=request"); n != len(tt.steps) {
				t.Fatalf("%d request log lines, want %d:\n%s", n, len(tt.steps), logs.String())
			}
			if !strings.Contains(logs.String(), "time=") {
				t.Fatalf("log lines have no timestamp:\n%s", logs.String())
			}
		})
	}
}

// TestHangHealthzTimesOut checks in virtual time that with HANG=1 /healthz
// never answers: its handler stays blocked while everything else is idle,
// until the request ends; /ready still answers.
func TestHangHealthzTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, _ := configFromEnv(envOf(map[string]string{"HANG": "1"}), "v1")
		h := handler(cfg, os.Environ, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now(), time.Now)
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/healthz", nil))
		}()
		synctest.Wait() // the handler is blocked, and nothing else runs
		select {
		case <-done:
			t.Fatalf("GET /healthz answered %d %q, want it to hang with HANG=1", rec.Code, rec.Body.String())
		default:
		}
		ready := httptest.NewRecorder()
		h.ServeHTTP(ready, httptest.NewRequest(http.MethodGet, "/ready", nil))
		if ready.Code != http.StatusOK {
			t.Errorf("GET /ready = %d %q, want 200 while /healthz hangs", ready.Code, ready.Body.String())
		}
		time.Sleep(time.Hour) // the client gives up
		<-done
		if rec.Body.Len() != 0 {
			t.Errorf("GET /healthz wrote %q after hanging", rec.Body.String())
		}
	})
}

func TestServeShutdownAndCrash(t *testing.T) {
	t.Run("cancel shuts down cleanly, even with a hanging request", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := configFromEnv(envOf(map[string]string{"HANG": "1", "POD_NAME": "p"}), "v1")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, ln, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now) }()
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello from p (version v1)\n" {
			t.Fatalf("body %q", b)
		}
		hung := make(chan error, 1)
		go func() {
			resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			hung <- err
		}()
		cancel()
		if err := testutil.Receive(t, done, 10*time.Second, "serve to return after cancel"); err != nil {
			t.Fatalf("serve = %v, want nil after cancel", err)
		}
		<-hung
	})
	t.Run("crash after", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := configFromEnv(envOf(map[string]string{"CRASH_AFTER": "20ms"}), "v1")
		err = serve(context.Background(), ln, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
		if !errors.Is(err, errCrash) {
			t.Fatalf("serve = %v, want errCrash", err)
		}
	})
}

func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	os.WriteFile(f, []byte("content\n"), 0o644)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "nope", 500)
			return
		}
		io.WriteString(w, "body\n")
	}))
	defer srv.Close()
	t.Setenv("APP_TEST_VAR", "x")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"exit 3", []string{"exit", "3"}, 3, "exiting with 3"},
		{"exit bad", []string{"exit", "x"}, 2, ""},
		{"sleep", []string{"sleep", "0.01"}, 0, ""},
		{"sleep bad", []string{"sleep", "-1"}, 2, ""},
		{"cat", []string{"cat", f}, 0, "content\n"},
		{"cat missing", []string{"cat", filepath.Join(dir, "nope")}, 1, ""},
		{"env", []string{"env"}, 0, "APP_TEST_VAR=x\n"},
		{"write", []string{"write", filepath.Join(dir, "w"), "one"}, 0, "appended"},
		{"write again", []string{"write", filepath.Join(dir, "w"), "two"}, 0, "appended"},
		{"cat written", []string{"cat", filepath.Join(dir, "w")}, 0, "one\ntwo\n"},
		{"write no dir", []string{"write", filepath.Join(dir, "no", "w"), "x"}, 1, ""},
		{"write usage", []string{"write", "f"}, 2, ""},
		{"get", []string{"get", srv.URL + "/"}, 0, "body\n"},
		{"get 500", []string{"get", srv.URL + "/bad"}, 1, "nope"},
		{"version", []string{"version"}, 0, "dev\n"},
		{"unknown", []string{"frobnicate"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := realMain(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("stdout %q, want it to contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

// TestLookup resolves a name from /etc/hosts (no DNS traffic) and checks
// the usage error.
func TestLookup(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := subcommand([]string{"lookup", "localhost"}, &out, &errOut); code != 0 {
		t.Fatalf("app lookup localhost: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "127.0.0.1\n") {
		t.Errorf("app lookup localhost printed %q, want 127.0.0.1 among its lines", out.String())
	}
	out.Reset()
	errOut.Reset()
	if code := subcommand([]string{"lookup"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "lookup NAME") {
		t.Errorf("app lookup without a name: exit %d, %q; want 2 and the usage", code, errOut.String())
	}
}
