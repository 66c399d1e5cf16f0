package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

type env struct {
	t   *testing.T
	st  *store.Store
	url string
	// client sends the requests; nil means http.DefaultClient.
	client *http.Client
}

func (e *env) httpClient() *http.Client {
	if e.client != nil {
		return e.client
	}
	return http.DefaultClient
}

func newEnv(t *testing.T, cfg apiserver.Config) *env {
	t.Helper()
	st := storetest.Start(t)
	cfg.Store = st
	if cfg.Logger == nil {
		cfg.Logger = storetest.Logger(t)
	}
	ts := httptest.NewServer(apiserver.New(cfg).Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, st: st, url: ts.URL}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func int32p(n int32) *int32 { return &n }

func deployment(ns, name string, labels map[string]string, managed bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.25"}}},
			},
		},
	}
	for k, v := range labels {
		d.Labels[k] = v
	}
	if managed {
		d.Labels[api.LabelManagedBy] = api.ManagedByValue
		d.Annotations = map[string]string{
			api.AnnotationSource: "apps/" + name + ".yaml:3",
			api.AnnotationCommit: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
		}
	}
	return d
}

func (e *env) create(obj api.Object) {
	e.t.Helper()
	if err := e.st.Create(ctx(e.t), obj); err != nil {
		e.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// do sends a request and returns the code and body.
func (e *env) do(method, path string, body any, header ...string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx(e.t), method, e.url+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decodeStatus(t *testing.T, b []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("decode Status %s: %v", b, err)
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure {
		t.Fatalf("not a failure Status: %s", b)
	}
	return st
}

type listJSON struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Metadata   struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Items []struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	} `json:"items"`
}

func (l listJSON) names() []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, it.Metadata.Namespace+"/"+it.Metadata.Name)
	}
	return out
}

func seed(e *env) {
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	e.create(deployment("default", "web", map[string]string{"tier": "front"}, true))
	e.create(deployment("default", "api", map[string]string{"tier": "back"}, false))
	e.create(deployment("shop", "cart", map[string]string{"tier": "back"}, false))
	e.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cfg"}, Data: map[string]string{"a": "b"}})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
}

func TestGetAndList(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	tests := []struct {
		name      string
		path      string
		code      int
		kind      string
		apiVer    string
		wantNames []string // for lists: namespace/name in order
		wantName  string   // for gets
		reason    metav1.StatusReason
	}{
		{name: "list in namespace", path: "/apis/apps/v1/namespaces/default/deployments", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: []string{"default/api", "default/web"}},
		{name: "list all namespaces", path: "/apis/apps/v1/deployments", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: []string{"default/api", "default/web", "shop/cart"}},
		{name: "list other namespace", path: "/apis/apps/v1/namespaces/shop/deployments", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: []string{"shop/cart"}},
		{name: "empty namespace list", path: "/apis/apps/v1/namespaces/nothing/deployments", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: nil},
		{name: "selector", path: "/apis/apps/v1/deployments?labelSelector=tier%3Dback", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: []string{"default/api", "shop/cart"}},
		{name: "selector set-based", path: "/apis/apps/v1/deployments?labelSelector=tier+notin+(back)", code: 200, kind: "DeploymentList", apiVer: "apps/v1", wantNames: []string{"default/web"}},
		{name: "bad selector", path: "/apis/apps/v1/deployments?labelSelector=tier%3D%3D%3Dx", code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "core list", path: "/api/v1/namespaces/default/configmaps", code: 200, kind: "ConfigMapList", apiVer: "v1", wantNames: []string{"default/cfg"}},
		{name: "cluster-scoped list", path: "/api/v1/namespaces", code: 200, kind: "NamespaceList", apiVer: "v1", wantNames: []string{"/shop"}},
		{name: "get", path: "/apis/apps/v1/namespaces/default/deployments/web", code: 200, kind: "Deployment", apiVer: "apps/v1", wantName: "web"},
		{name: "get namespace", path: "/api/v1/namespaces/shop", code: 200, kind: "Namespace", apiVer: "v1", wantName: "shop"},
		{name: "get node", path: "/api/v1/nodes/node-1", code: 200, kind: "Node", apiVer: "v1", wantName: "node-1"},
		{name: "get in wrong namespace", path: "/apis/apps/v1/namespaces/shop/deployments/web", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "wrong group", path: "/api/v1/namespaces/default/deployments", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "wrong version", path: "/apis/apps/v1beta1/namespaces/default/deployments", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown resource", path: "/api/v1/widgets", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "namespaced object without namespace", path: "/apis/apps/v1/deployments/web", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "cluster-scoped in namespace", path: "/api/v1/namespaces/default/nodes", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown path", path: "/nothing/here", code: 404, reason: metav1.StatusReasonNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do("GET", tc.path, nil)
			if code != tc.code {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, body, tc.code)
			}
			if tc.code != 200 {
				if st := decodeStatus(t, body); st.Reason != tc.reason || int(st.Code) != tc.code {
					t.Fatalf("status %+v, want reason %s code %d", st, tc.reason, tc.code)
				}
				return
			}
			if tc.wantName != "" {
				var obj struct {
					metav1.TypeMeta `json:",inline"`
					Metadata        metav1.ObjectMeta `json:"metadata"`
				}
				if err := json.Unmarshal(body, &obj); err != nil {
					t.Fatal(err)
				}
				if obj.Kind != tc.kind || obj.APIVersion != tc.apiVer || obj.Metadata.Name != tc.wantName || obj.Metadata.ResourceVersion == "" {
					t.Fatalf("got %s %s %s rv %q, want %s %s %s", obj.APIVersion, obj.Kind, obj.Metadata.Name, obj.Metadata.ResourceVersion, tc.apiVer, tc.kind, tc.wantName)
				}
				return
			}
			var l listJSON
			if err := json.Unmarshal(body, &l); err != nil {
				t.Fatal(err)
			}
			if l.Kind != tc.kind || l.APIVersion != tc.apiVer || l.Metadata.ResourceVersion == "" {
				t.Fatalf("list header %s %s rv %q", l.APIVersion, l.Kind, l.Metadata.ResourceVersion)
			}
			if got := strings.Join(l.names(), ","); got != strings.Join(tc.wantNames, ",") {
				t.Fatalf("names %q, want %q", got, tc.wantNames)
			}
			if !strings.Contains(string(body), `"items":[`) {
				t.Fatalf("items must be a JSON array: %s", body)
			}
			for _, it := range l.Items {
				if it.Kind != strings.TrimSuffix(tc.kind, "List") || it.APIVersion != tc.apiVer {
					t.Fatalf("item without apiVersion/kind: %+v", it)
				}
			}
		})
	}
}

func TestNotFoundMessage(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	code, body := e.do("GET", "/apis/apps/v1/namespaces/default/deployments/web", nil)
	st := decodeStatus(t, body)
	if code != 404 || st.Message != `deployments "web" not found in namespace "default"` {
		t.Fatalf("got %d %q", code, st.Message)
	}
	code, body = e.do("GET", "/api/v1/namespaces/shop", nil)
	if st := decodeStatus(t, body); code != 404 || st.Message != `namespaces "shop" not found` {
		t.Fatalf("got %d %q", code, st.Message)
	}
}

func TestListAtRevision(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(deployment("default", "a", nil, false))
	_, body := e.do("GET", "/apis/apps/v1/deployments", nil)
	var before listJSON
	if err := json.Unmarshal(body, &before); err != nil {
		t.Fatal(err)
	}
	e.create(deployment("default", "b", nil, false))
	_, body = e.do("GET", "/apis/apps/v1/deployments?resourceVersion="+before.Metadata.ResourceVersion, nil)
	var at listJSON
	if err := json.Unmarshal(body, &at); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(at.names(), ","); got != "default/a" || at.Metadata.ResourceVersion != before.Metadata.ResourceVersion {
		t.Fatalf("list at %s = %s rv %s", before.Metadata.ResourceVersion, got, at.Metadata.ResourceVersion)
	}
	code, body := e.do("GET", "/apis/apps/v1/deployments?resourceVersion=abc", nil)
	if code != 400 {
		t.Fatalf("bad resourceVersion: %d %s", code, body)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, apiserver.Config{Version: "v0.1.0"})
	var versions metav1.APIVersions
	getJSON(t, e, "/api", &versions)
	if len(versions.Versions) != 1 || versions.Versions[0] != "v1" || versions.Kind != "APIVersions" {
		t.Fatalf("/api = %+v", versions)
	}
	var groups metav1.APIGroupList
	getJSON(t, e, "/apis", &groups)
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name+"/"+g.PreferredVersion.Version)
	}
	if got := strings.Join(names, ","); got != "apps/v1,batch/v1,autoscaling/v2,policy/v1,discovery.k8s.io/v1,coordination.k8s.io/v1,events.k8s.io/v1,metrics.k8s.io/v1beta1" {
		t.Fatalf("/apis groups = %s", got)
	}
	tests := []struct {
		path, resource, kind, short string
		namespaced                  bool
	}{
		{"/api/v1", "pods", "Pod", "po", true},
		{"/api/v1", "nodes", "Node", "no", false},
		{"/api/v1", "namespaces", "Namespace", "ns", false},
		{"/apis/apps/v1", "deployments", "Deployment", "deploy", true},
		{"/apis/apps/v1", "replicasets", "ReplicaSet", "rs", true},
		{"/apis/coordination.k8s.io/v1", "leases", "Lease", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.path+"/"+tc.resource, func(t *testing.T) {
			var l metav1.APIResourceList
			getJSON(t, e, tc.path, &l)
			if l.Kind != "APIResourceList" || "/api/"+l.GroupVersion != tc.path && "/apis/"+l.GroupVersion != tc.path {
				t.Fatalf("header %s %s", l.Kind, l.GroupVersion)
			}
			for _, r := range l.APIResources {
				if r.Name != tc.resource {
					continue
				}
				if r.Kind != tc.kind || r.Namespaced != tc.namespaced || !strings.Contains(strings.Join(r.Verbs, ","), "list") ||
					!strings.Contains(strings.Join(r.Verbs, ","), "watch") {
					t.Fatalf("resource %+v", r)
				}
				if tc.short != "" && (len(r.ShortNames) == 0 || r.ShortNames[0] != tc.short) {
					t.Fatalf("short names %v, want %s", r.ShortNames, tc.short)
				}
				return
			}
			t.Fatalf("%s not in %s", tc.resource, tc.path)
		})
	}
	var v struct {
		Major, Minor, GitVersion string
	}
	getJSON(t, e, "/version", &v)
	if v.Major != "1" || !strings.HasPrefix(v.GitVersion, "v1.") || !strings.HasSuffix(v.GitVersion, "+bosun.v0.1.0") {
		t.Fatalf("/version = %+v", v)
	}
	if code, _ := e.do("GET", "/apis/nope.example.com/v1", nil); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}
}

func getJSON(t *testing.T, e *env, path string, into any) {
	t.Helper()
	code, body := e.do("GET", path, nil)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
}

func TestHealth(t *testing.T) {
	var notReady error = errors.New("the first sync has not finished")
	e := newEnv(t, apiserver.Config{Ready: func(context.Context) error { return notReady }})
	for _, p := range []string{"/healthz", "/livez"} {
		if code, body := e.do("GET", p, nil); code != 200 || string(body) != "ok" {
			t.Fatalf("%s = %d %q", p, code, body)
		}
	}
	// kube-apiserver answers a failed check with 500 (not 503) and the checks' lines.
	if code, body := e.do("GET", "/readyz", nil); code != 500 || !strings.Contains(string(body), "[-]sync failed: the first sync has not finished") {
		t.Fatalf("/readyz before ready = %d %q", code, body)
	}
	notReady = nil
	if code, body := e.do("GET", "/readyz", nil); code != 200 || string(body) != "ok" {
		t.Fatalf("/readyz when ready = %d %q", code, body)
	}
}

func TestHooksMounted(t *testing.T) {
	hits := 0
	e := newEnv(t, apiserver.Config{Hooks: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.WriteHeader(http.StatusAccepted)
	})})
	if code, _ := e.do("POST", "/hooks/git", "{}"); code != http.StatusAccepted || hits != 1 {
		t.Fatalf("POST /hooks/git = %d, hits %d", code, hits)
	}
}

func TestTable(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	seed(e)
	code, body := e.do("GET", "/apis/apps/v1/namespaces/default/deployments", nil,
		"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var tbl metav1.Table
	if err := json.Unmarshal(body, &tbl); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	if got := strings.Join(cols, " "); got != "NAME READY UP-TO-DATE AVAILABLE AGE COMMIT" || tbl.Kind != "Table" {
		t.Fatalf("%s columns %q", tbl.Kind, got)
	}
	if len(tbl.Rows) != 2 || tbl.Rows[1].Cells[0] != "web" || tbl.Rows[1].Cells[1] != "0/2" || tbl.Rows[1].Cells[5] != "1a2b3c4d" {
		t.Fatalf("rows %+v", tbl.Rows)
	}
}

// watchStream reads events of a watch response.
type watchStream struct {
	t    *testing.T
	resp *http.Response
	sc   *bufio.Scanner
}

type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e *env) watch(path string) *watchStream {
	e.t.Helper()
	req, err := http.NewRequestWithContext(ctx(e.t), "GET", e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("watch %s = %d %s", path, resp.StatusCode, b)
	}
	return &watchStream{t: e.t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event; ok false when the stream ended.
func (w *watchStream) next() (event, bool) {
	w.t.Helper()
	if !w.sc.Scan() {
		return event{}, false
	}
	var ev event
	if err := json.Unmarshal(w.sc.Bytes(), &ev); err != nil {
		w.t.Fatalf("decode event %s: %v", w.sc.Bytes(), err)
	}
	return ev, true
}

func (w *watchStream) expect(typ, name, rv string) {
	w.t.Helper()
	ev, ok := w.next()
	if !ok {
		w.t.Fatalf("stream ended, want %s %s", typ, name)
	}
	var obj struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(ev.Object, &obj); err != nil {
		w.t.Fatal(err)
	}
	if ev.Type != typ || obj.Metadata.Name != name || (rv != "" && obj.Metadata.ResourceVersion != rv) || obj.Kind != "Deployment" {
		w.t.Fatalf("event %s %s %s rv %s, want %s %s rv %s", ev.Type, obj.Kind, obj.Metadata.Name, obj.Metadata.ResourceVersion, typ, name, rv)
	}
}

func TestWatch(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	first := deployment("default", "a", nil, false)
	e.create(first)
	e.create(deployment("shop", "other", nil, false))

	w := e.watch("/apis/apps/v1/namespaces/default/deployments?watch=true")
	w.expect("ADDED", "a", first.ResourceVersion)

	c := ctx(t)
	second := deployment("default", "b", nil, false)
	e.create(second)
	first.Spec.Replicas = int32p(5)
	if err := e.st.Update(c, first); err != nil {
		t.Fatal(err)
	}
	r, _ := api.Lookup("deployments")
	if err := e.st.Delete(c, r, "default", "b", ""); err != nil {
		t.Fatal(err)
	}
	rev, err := e.st.Revision(c)
	if err != nil {
		t.Fatal(err)
	}
	w.expect("ADDED", "b", second.ResourceVersion)
	w.expect("MODIFIED", "a", first.ResourceVersion)
	w.expect("DELETED", "b", itoa(rev))

	// Resuming from a resourceVersion sends only what came after it.
	w2 := e.watch("/apis/apps/v1/deployments?watch=1&resourceVersion=" + second.ResourceVersion)
	w2.expect("MODIFIED", "a", first.ResourceVersion)
	w2.expect("DELETED", "b", "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWatchSelector(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	d := deployment("default", "a", map[string]string{"tier": "front"}, false)
	e.create(d)
	e.create(deployment("default", "b", map[string]string{"tier": "back"}, false))
	w := e.watch("/apis/apps/v1/deployments?watch=true&labelSelector=tier%3Dfront")
	w.expect("ADDED", "a", d.ResourceVersion)
	d.Labels["tier"] = "back"
	if err := e.st.Update(ctx(t), d); err != nil {
		t.Fatal(err)
	}
	// No longer matching: the client is told it is gone.
	w.expect("DELETED", "a", d.ResourceVersion)
	c := deployment("default", "c", map[string]string{"tier": "front"}, false)
	e.create(c)
	w.expect("ADDED", "c", c.ResourceVersion)
}

func TestWatchTimeout(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	start := time.Now()
	w := e.watch("/apis/apps/v1/deployments?watch=true&timeoutSeconds=1")
	if ev, ok := w.next(); ok {
		t.Fatalf("unexpected event %+v", ev)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 10*time.Second {
		t.Fatalf("watch ended after %v, want about 1s", d)
	}
}

func TestWatchCompacted(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	d := deployment("default", "a", nil, false)
	e.create(d)
	old := d.ResourceVersion
	c := ctx(t)
	for i := range 3 {
		d.Spec.Replicas = int32p(int32(i))
		if err := e.st.Update(c, d); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := e.st.Revision(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Client().Compact(c, rev); err != nil {
		t.Fatal(err)
	}
	w := e.watch("/apis/apps/v1/deployments?watch=true&resourceVersion=" + old)
	ev, ok := w.next()
	if !ok || ev.Type != "ERROR" {
		t.Fatalf("want an ERROR event, got %+v (ok %v)", ev, ok)
	}
	var st metav1.Status
	if err := json.Unmarshal(ev.Object, &st); err != nil {
		t.Fatal(err)
	}
	if st.Code != 410 || st.Reason != metav1.StatusReasonExpired || st.Kind != "Status" {
		t.Fatalf("status %+v", st)
	}
	if ev, ok := w.next(); ok {
		t.Fatalf("stream continued after ERROR: %+v", ev)
	}
	// A list at a compacted revision is 410 too.
	if code, body := e.do("GET", "/apis/apps/v1/deployments?resourceVersion="+old, nil); code != 410 {
		t.Fatalf("list at compacted rv: %d %s", code, body)
	}
}
