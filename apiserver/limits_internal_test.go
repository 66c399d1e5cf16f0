package apiserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
)

// TestLimits: each kind of request is held to its own number, beyond which
// it gets 429 with Retry-After; long-running requests are not counted;
// admins and nodes' heartbeats pass; a place given back is taken again.
func TestLimits(t *testing.T) {
	l := newLimits(1, 1, 2)
	node := api.NodeUser("a")
	get := httptest.NewRequest("GET", "/api/v1/pods", nil)
	follow := httptest.NewRequest("GET", "/api/v1/namespaces/d/pods/p/log?follow=true", nil)
	read := requestInfo{resourceRequest: true, verb: "list", resource: "pods"}
	write := requestInfo{resourceRequest: true, verb: "update", resource: "pods", subresource: "status"}
	logs := requestInfo{resourceRequest: true, verb: "get", resource: "pods", subresource: "log"}
	watch := requestInfo{resourceRequest: true, verb: "watch", resource: "pods"}
	lease := requestInfo{resourceRequest: true, verb: "update", group: "coordination.k8s.io", resource: "leases"}

	admit := func(u api.User, req *http.Request, ri requestInfo) (func(), int, string) {
		rec := httptest.NewRecorder()
		release, ok := l.admitRequest(rec, req, u, ri)
		if ok {
			return release, http.StatusOK, ""
		}
		if got := rec.Header().Get("Retry-After"); got != "1" {
			t.Errorf("429 with Retry-After %q, want 1", got)
		}
		return nil, rec.Code, rec.Body.String()
	}
	mustPass := func(what string, u api.User, req *http.Request, ri requestInfo) func() {
		t.Helper()
		release, code, body := admit(u, req, ri)
		if code != http.StatusOK {
			t.Fatalf("%s = %d %s, want it served", what, code, body)
		}
		return release
	}
	mustRefuse := func(what, msg string, u api.User, req *http.Request, ri requestInfo) {
		t.Helper()
		if _, code, body := admit(u, req, ri); code != http.StatusTooManyRequests || !strings.Contains(body, msg) {
			t.Fatalf("%s = %d %s, want 429 saying %q", what, code, body, msg)
		}
	}

	releaseRead := mustPass("the first read", node, get, read)
	mustRefuse("a second read at once", "too many read-only requests", node, get, read)
	releaseWrite := mustPass("a write beside it (counted apart)", node, get, write)
	mustRefuse("a second write at once", "too many mutating requests", node, get, write)
	mustPass("a node's heartbeat beyond the writes' limit", node, get, lease)
	mustPass("an admin's read beyond the limit", api.User{Name: "admin", Groups: []string{api.GroupMasters}}, get, read)
	mustPass("a followed log (long-running)", node, follow, logs)
	w1 := mustPass("a first watch", node, get, watch)
	mustPass("a second watch", node, get, watch)
	mustRefuse("a third watch of one identity", "system:node:a\\\" already holds 2 watches open", node, get, watch)
	mustPass("another identity's watch", api.NodeUser("b"), get, watch)

	releaseRead()
	releaseWrite()
	w1()
	mustPass("a read once the first is done", node, get, read)
	mustPass("a write once the first is done", node, get, write)
	mustPass("a watch once one of three closed", node, get, watch)
}
