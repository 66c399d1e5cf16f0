package apiserver_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
)

// TestWatchesPerClient: over HTTPS, a node's watch beyond the limit gets
// 429 with Retry-After, and is served again once one of its watches is
// closed; the admin is not held back.
func TestWatchesPerClient(t *testing.T) {
	e := newTLSEnv(t, func(cfg *apiserver.Config, _ *store.Store) { cfg.MaxWatchesPerClient = 2 })
	open := func(c context.Context, u api.User) *http.Response {
		req, _ := http.NewRequestWithContext(c, "GET", e.url+"/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Da", nil)
		resp, err := e.client(u).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	c1, cancel1 := context.WithCancel(ctx(t))
	for i, c := range []context.Context{c1, ctx(t)} {
		if r := open(c, nodeA); r.StatusCode != 200 {
			t.Fatalf("watch %d = %d", i+1, r.StatusCode)
		}
	}
	if r := open(ctx(t), nodeA); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("third watch = %d, want 429 with Retry-After: 1", r.StatusCode)
	}
	for range 3 {
		if r := open(ctx(t), admin); r.StatusCode != 200 {
			t.Fatalf("an admin's watch = %d, want 200", r.StatusCode)
		}
	}
	cancel1()
	testutil.Eventually(t, 5*time.Second, "a watch is served again once one of the node's watches closed", func() (bool, string) {
		c, cancel := context.WithCancel(ctx(t))
		defer cancel()
		code := open(c, nodeA).StatusCode
		return code == 200, "watch = " + strconv.Itoa(code)
	})
}
