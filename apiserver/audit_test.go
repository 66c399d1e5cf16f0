package apiserver_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/audit"
)

// TestAuditLog: writes, allowed or refused, and control changes each leave
// one audit line with the verb, the object and the answer; reads leave
// none.
func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log, err := audit.New(audit.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, apiserver.Config{Audit: log})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	ev := func(ns, name string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}}
	}
	steps := []struct {
		method, path string
		body         any
		code         int
	}{
		{"POST", "/api/v1/namespaces/default/events", ev("default", "e1"), 201},
		{"GET", "/api/v1/namespaces/default/events", nil, 200},
		{"POST", "/api/v1/namespaces/nowhere/events", ev("nowhere", "e2"), 404},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`, 403},
		{"DELETE", "/api/v1/nodes/n1", nil, 200},
		{"POST", "/bosun/v1/freeze", `{"reason":"release"}`, 200},
	}
	for _, s := range steps {
		if code, b := e.do(s.method, s.path, s.body); code != s.code {
			t.Fatalf("%s %s = %d %s, want %d", s.method, s.path, code, b, s.code)
		}
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Verb      string                `json:"verb"`
		ObjectRef *audit.ObjectRef      `json:"objectRef"`
		Status    *audit.ResponseStatus `json:"responseStatus"`
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
	}
	want := []struct {
		verb, resource, name string
		code                 int
		reason               string
	}{
		{"create", "events", "", 201, ""},
		{"create", "events", "", 404, "NotFound"},
		{"create", "configmaps", "", 403, "Forbidden"},
		{"delete", "nodes", "n1", 200, ""},
		{"freeze", "", "", 0, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d audit lines, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Verb != w.verb {
			t.Errorf("line %d: verb %q, want %q", i, g.Verb, w.verb)
		}
		if w.resource != "" && (g.ObjectRef == nil || g.ObjectRef.Resource != w.resource || g.ObjectRef.Name != w.name || g.ObjectRef.APIVersion != "v1") {
			t.Errorf("line %d: objectRef %+v, want %s %s", i, g.ObjectRef, w.resource, w.name)
		}
		if w.code != 0 && (g.Status == nil || g.Status.Code != w.code || g.Status.Reason != w.reason) {
			t.Errorf("line %d: status %+v, want %d %s", i, g.Status, w.code, w.reason)
		}
	}
}
