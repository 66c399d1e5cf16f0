package apiserver_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestHealthEndpoints checks the answers of /livez, /readyz and /healthz
// and of single checks against kube-apiserver's format: "ok", ?verbose
// lines, ?exclude, 500 with every line on a failure.
func TestHealthEndpoints(t *testing.T) {
	syncErr := errors.New("the first sync has not finished")
	var ctrl apiserver.Component // never run: "not started yet"
	e := newEnv(t, apiserver.Config{
		Ready:       func(context.Context) error { return syncErr },
		ReadyChecks: []apiserver.HealthCheck{{Name: "controllers", Check: ctrl.Check}},
	})
	tests := []struct {
		name string
		path string
		code int
		body string // exact
	}{
		{"livez", "/livez", 200, "ok"},
		{"healthz", "/healthz", 200, "ok"},
		{"livez verbose", "/livez?verbose", 200, "[+]ping ok\n[+]etcd ok\nlivez check passed\n"},
		{"healthz verbose", "/healthz?verbose", 200, "[+]ping ok\n[+]etcd ok\nhealthz check passed\n"},
		{"livez exclude", "/livez?verbose&exclude=etcd", 200, "[+]ping ok\n[+]etcd excluded: ok\nlivez check passed\n"},
		{"livez exclude unknown", "/livez?verbose&exclude=nope", 200,
			"[+]ping ok\n[+]etcd ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nlivez check passed\n"},
		{"readyz failing, not verbose", "/readyz", 500,
			"[+]ping ok\n[+]etcd ok\n[-]sync failed: the first sync has not finished\n[-]controllers failed: not started yet\nreadyz check failed\n"},
		{"readyz failing checks excluded", "/readyz?exclude=sync&exclude=controllers", 200, "ok"},
		{"readyz one excluded", "/readyz?verbose&exclude=sync", 500,
			"[+]ping ok\n[+]etcd ok\n[+]sync excluded: ok\n[-]controllers failed: not started yet\nreadyz check failed\n"},
		{"one check ok", "/readyz/etcd", 200, "ok"},
		{"one livez check", "/livez/ping", 200, "ok"},
		{"one check failing", "/readyz/sync", 500, "internal server error: the first sync has not finished\n"},
		{"no readiness check in livez", "/livez/sync", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("GET", tc.path, nil)
			if code != tc.code || (tc.body != "" && string(body) != tc.body) {
				t.Fatalf("GET %s = %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}
}

// TestHealthEtcdDown checks that the etcd check makes a real read: against
// an etcd nobody answers, /livez fails within the check's timeout.
func TestHealthEtcdDown(t *testing.T) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv := apiserver.New(apiserver.Config{
		Store:            store.New(c, store.Options{}),
		Logger:           storetest.Logger(t),
		EtcdCheckTimeout: 300 * time.Millisecond,
	})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &env{t: t, url: ts.URL}
	start := time.Now()
	code, body := e.do("GET", "/livez?verbose", nil)
	if code != 500 || !strings.Contains(string(body), "[+]ping ok\n[-]etcd failed: no quorum read of etcd within 300ms") ||
		!strings.HasSuffix(string(body), "livez check failed\n") {
		t.Fatalf("/livez with etcd down = %d %q", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("/livez took %s with a 300ms etcd timeout", d)
	}
}

// TestComponent checks the states a Component's health check reports.
func TestComponent(t *testing.T) {
	ctx := context.Background()
	var c apiserver.Component
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("before Run: %v", err)
	}
	running := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(context.Context) error {
			close(running)
			<-release
			return errors.New("lost etcd")
		})
	}()
	<-running
	if err := c.Check(ctx); err != nil {
		t.Fatalf("while running: %v", err)
	}
	close(release)
	if err := <-done; err == nil || err.Error() != "lost etcd" {
		t.Fatalf("Run returned %v", err)
	}
	if err := c.Check(ctx); err == nil || err.Error() != "stopped: lost etcd" {
		t.Fatalf("after Run: %v", err)
	}
}
