package apiserver_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
)

// blockingAgent answers container logs only once release is closed, and
// tells started about each request it holds.
func blockingAgent(t *testing.T, started chan<- struct{}, release <-chan struct{}) int32 {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("done\n"))
	}))
	t.Cleanup(ts.Close)
	_, p, _ := net.SplitHostPort(ts.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// TestInFlightLimit holds the only read-only place with a log request the
// agent does not answer: the next read gets 429 with Retry-After, a
// mutating request and a watch still get through, and once the log is
// answered reads are served again.
func TestInFlightLimit(t *testing.T) {
	e := newEnv(t, apiserver.Config{MaxRequestsInFlight: 1, MaxMutatingRequestsInFlight: 1})
	started, release := make(chan struct{}, 1), make(chan struct{})
	e.create(nodeAt("n1", "127.0.0.1", blockingAgent(t, started, release)))
	e.create(podOn("one", "n1", "app"))

	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx(t), "GET", e.url+"/api/v1/namespaces/default/pods/one/log", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	<-started

	req, _ := http.NewRequestWithContext(ctx(t), "GET", e.url+"/api/v1/namespaces/default/configmaps", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a read beyond the limit = %d, Retry-After %q; want 429 with Retry-After: 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	code, body := e.do("GET", "/api/v1/namespaces/default/configmaps", nil)
	if st := decodeStatus(t, body); code != 429 || st.Reason != "TooManyRequests" || !strings.Contains(st.Message, "too many read-only requests") {
		t.Fatalf("refusal = %d %+v", code, st)
	}
	if code, body := e.do("DELETE", "/api/v1/namespaces/default/pods/one", nil); code != 200 {
		t.Fatalf("a mutating request is counted apart: DELETE = %d %s", code, body)
	}
	w := e.watch("/api/v1/namespaces/default/pods?watch=true")
	_ = w // a watch is long-running: not counted

	close(release)
	if c := <-held; c != 200 {
		t.Fatalf("held log request = %d", c)
	}
	testutil.Eventually(t, 5*time.Second, "reads are served again once the held one is answered", func() (bool, string) {
		code, _ := e.do("GET", "/api/v1/namespaces/default/configmaps", nil)
		return code == 200, "GET = " + strconv.Itoa(code)
	})
}

// TestWatchesPerClient refuses a client's watch beyond the limit with 429
// and serves it again once one of its watches is closed; another identity
// is not held back, nor is the plain-HTTP listener, which has no
// identities.
func TestWatchesPerClient(t *testing.T) {
	e := newTLSEnv(t, func(cfg *apiserver.Config, _ *store.Store) { cfg.MaxWatchesPerClient = 2 })
	open := func(c context.Context, u api.User) *http.Response {
		req, _ := http.NewRequestWithContext(c, "GET", e.url+"/api/v1/pods?watch=true", nil)
		resp, err := e.client(u).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	c1, cancel1 := context.WithCancel(ctx(t))
	if r := open(c1, admin); r.StatusCode != 200 {
		t.Fatalf("first watch = %d", r.StatusCode)
	}
	if r := open(ctx(t), admin); r.StatusCode != 200 {
		t.Fatalf("second watch = %d", r.StatusCode)
	}
	r := open(ctx(t), admin)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third watch = %d, want 429 with Retry-After", r.StatusCode)
	}
	other := api.User{Name: "bob", Groups: []string{api.GroupMasters}}
	if r := open(ctx(t), other); r.StatusCode != 200 {
		t.Fatalf("another identity's watch = %d, want 200", r.StatusCode)
	}
	cancel1()
	testutil.Eventually(t, 5*time.Second, "a watch is served again once one of the client's watches closed", func() (bool, string) {
		c, cancel := context.WithCancel(ctx(t))
		defer cancel()
		code := open(c, admin).StatusCode
		return code == 200, "watch = " + strconv.Itoa(code)
	})

	plain := newEnv(t, apiserver.Config{MaxWatchesPerClient: 1})
	for range 3 {
		plain.watch("/api/v1/pods?watch=true") // fails the test unless 200
	}
}
