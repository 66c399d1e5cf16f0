package apiserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store/storetest"
)

// FuzzAPIRequest sends arbitrary requests (method, path with query, content
// type, body) to the API on a real store: the server must never fail with
// a panic or an internal error, and every refusal must be a Kubernetes
// Status with the code of the answer.
func FuzzAPIRequest(f *testing.F) {
	seeds := []struct{ method, path, ct, body string }{
		{"POST", "/api/v1/namespaces/default/events", "application/json", `{"apiVersion":"v1","kind":"Event","metadata":{"name":"e"},"involvedObject":{"kind":"Node","name":"n"}}`},
		{"POST", "/api/v1/nodes", "application/json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},"spec":{"taints":[{"key":"a","effect":"NoSchedule"}]}}`},
		{"PUT", "/api/v1/nodes/n1", "application/json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","resourceVersion":"1"}}`},
		{"PATCH", "/api/v1/nodes/n1", "application/merge-patch+json", `{"metadata":{"labels":{"a":"b"}}}`},
		{"PATCH", "/api/v1/nodes/n1", "application/strategic-merge-patch+json", `{"spec":{"taints":[{"key":"x","$patch":"delete"}]}}`},
		{"PATCH", "/api/v1/nodes/n1", "application/json-patch+json", `[{"op":"replace","path":"/spec/unschedulable","value":true}]`},
		{"PATCH", "/api/v1/nodes/n2?fieldManager=kubectl", "application/apply-patch+yaml", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n2\n"},
		{"GET", "/api/v1/pods?labelSelector=a%3Db&fieldSelector=spec.nodeName%3Dn1&limit=2", "", ""},
		{"GET", "/api/v1/namespaces/%2e%2e/configmaps", "", ""},
		{"DELETE", "/api/v1/namespaces/default/pods/p?gracePeriodSeconds=0", "application/json", `{"preconditions":{"uid":"x"}}`},
		{"POST", "/api/v1/namespaces/default/pods/p/eviction", "application/json", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p"}}`},
		{"PUT", "/apis/apps/v1/namespaces/default/deployments/d/scale", "application/json", `{"spec":{"replicas":-1}}`},
		{"GET", "/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion=abc&timeoutSeconds=0", "", ""},
		{"POST", "/bosun/v1/freeze", "application/json", `{"reason":"x"}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ct, []byte(s.body))
	}
	st := storetest.Start(f)
	srv := apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(f)}).Handler()
	f.Fuzz(func(t *testing.T, method, path, ct string, body []byte) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") || strings.Contains(path, "watch") || strings.Contains(path, "follow") {
			return // watches and followed logs stay open: not for a fuzzer
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s (%s) %q = %d %s", method, path, ct, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			var s metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || s.Kind != "Status" || int(s.Code) != rec.Code {
				t.Fatalf("%s %s = %d with no matching Status: %s", method, path, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
