package apiserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/sync/state"
)

const (
	deployPath = "/apis/apps/v1/namespaces/default/deployments"
	leasePath  = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
)

func TestManagedObjectsAreReadOnly(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	web := deployment("default", "web", nil, true)
	e.create(web)
	want := "deployments default/web is managed by Git: change apps/web.yaml (line 3) in the repository and commit; it was synced from commit 1a2b3c4d"
	body := deployment("default", "web", nil, true)
	body.ResourceVersion = web.ResourceVersion
	tests := []struct {
		method string
		body   any
	}{
		{"PUT", body},
		{"DELETE", nil},
		{"PATCH", `{"spec":{"replicas":3}}`},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			code, b := e.do(tc.method, deployPath+"/web", tc.body)
			st := decodeStatus(t, b)
			if code != 405 || st.Reason != metav1.StatusReasonMethodNotAllowed || st.Message != want {
				t.Fatalf("%s = %d %s %q\nwant 405 %q", tc.method, code, st.Reason, st.Message, want)
			}
		})
	}
	var got appsv1.Deployment
	if err := e.st.Get(ctx(t), "default", "web", &got); err != nil || got.ResourceVersion != web.ResourceVersion {
		t.Fatalf("the managed object changed: rv %s (was %s), err %v", got.ResourceVersion, web.ResourceVersion, err)
	}
}

// TestCreateUpdateDelete checks the mechanics of writes on a kind that is
// not desired state (Leases): create, strict decoding, compare-and-swap,
// conditional delete.
func TestCreateUpdateDelete(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	lease := func(name, holder string) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
		}
	}
	withLeaseRV := func(l *coordinationv1.Lease, rv string) *coordinationv1.Lease {
		l.ResourceVersion = rv
		return l
	}
	managed := lease("m", "a")
	managed.Labels = map[string]string{api.LabelManagedBy: api.ManagedByValue}

	code, b := e.do("POST", leasePath, lease("api", "a"))
	if code != 201 {
		t.Fatalf("POST = %d %s", code, b)
	}
	var created coordinationv1.Lease
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatal(err)
	}
	if created.Namespace != "default" || created.ResourceVersion == "" || created.UID == "" || created.Kind != "Lease" {
		t.Fatalf("created %+v", created.ObjectMeta)
	}

	errTests := []struct {
		name, method, path string
		body               any
		code               int
		reason             metav1.StatusReason
		msg                string
	}{
		{"create existing", "POST", leasePath, lease("api", "a"), 409, metav1.StatusReasonAlreadyExists, `leases "api" already exists in namespace "default"`},
		{"create with the managed label", "POST", leasePath, managed, 403, metav1.StatusReasonForbidden, "write it in the Git repository"},
		{"unknown field", "POST", leasePath, `{"metadata":{"name":"x"},"spec":{"holder":"a"}}`, 400, metav1.StatusReasonBadRequest, `unknown field "spec.holder"`},
		{"wrong kind", "POST", leasePath, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, "the path is for coordination.k8s.io/v1 Lease"},
		{"namespace mismatch", "POST", leasePath, `{"metadata":{"namespace":"shop","name":"x"}}`, 400, metav1.StatusReasonBadRequest, "does not match the namespace"},
		{"no name", "POST", leasePath, `{"spec":{}}`, 400, metav1.StatusReasonBadRequest, "has no metadata.name"},
		{"not JSON", "POST", leasePath, `{"metadata":`, 400, metav1.StatusReasonBadRequest, "decode Lease"},
		{"too large", "POST", leasePath, `{"metadata":{"name":"` + strings.Repeat("x", apiserver.DefaultMaxBodyBytes) + `"}}`, 413, metav1.StatusReasonRequestEntityTooLarge, "larger than the limit"},
		{"update without resourceVersion", "PUT", leasePath + "/api", lease("api", "b"), 400, metav1.StatusReasonBadRequest, "resourceVersion is required"},
		{"update missing", "PUT", leasePath + "/nope", withLeaseRV(lease("nope", "a"), "5"), 404, metav1.StatusReasonNotFound, `leases "nope" not found in namespace "default"`},
		{"update name mismatch", "PUT", leasePath + "/api", withLeaseRV(lease("other", "a"), created.ResourceVersion), 400, metav1.StatusReasonBadRequest, "does not match the name"},
		{"update adds managed label", "PUT", leasePath + "/api", withLeaseRV(func() *coordinationv1.Lease { l := lease("api", "a"); l.Labels = managed.Labels; return l }(), created.ResourceVersion), 403, metav1.StatusReasonForbidden, "only bosun's Git sync"},
		{"delete missing", "DELETE", leasePath + "/nope", nil, 404, metav1.StatusReasonNotFound, `leases "nope" not found`},
		{"post to an object", "POST", leasePath + "/api", "{}", 405, metav1.StatusReasonMethodNotAllowed, "POST is not supported"},
		{"patch without a patch type", "PATCH", leasePath + "/api", "{}", 415, metav1.StatusReasonUnsupportedMediaType, "use application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json or application/apply-patch+yaml"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.do(tc.method, tc.path, tc.body)
			st := decodeStatus(t, b)
			if code != tc.code || int(st.Code) != tc.code || st.Reason != tc.reason || !strings.Contains(st.Message, tc.msg) {
				t.Fatalf("%s %s = %d %s %q, want %d %s containing %q", tc.method, tc.path, code, st.Reason, st.Message, tc.code, tc.reason, tc.msg)
			}
		})
	}

	// Compare-and-swap: a stale resourceVersion is a conflict.
	upd := created.DeepCopy()
	upd.Spec.HolderIdentity = ptr("b")
	code, b = e.do("PUT", leasePath+"/api", upd)
	if code != 200 {
		t.Fatalf("PUT = %d %s", code, b)
	}
	var updated coordinationv1.Lease
	if err := json.Unmarshal(b, &updated); err != nil {
		t.Fatal(err)
	}
	if updated.ResourceVersion == created.ResourceVersion || *updated.Spec.HolderIdentity != "b" || updated.Generation != 2 {
		t.Fatalf("updated rv %s gen %d holder %s", updated.ResourceVersion, updated.Generation, *updated.Spec.HolderIdentity)
	}
	stale := created.DeepCopy()
	stale.Spec.HolderIdentity = ptr("c")
	code, b = e.do("PUT", leasePath+"/api", stale)
	if st := decodeStatus(t, b); code != 409 || st.Reason != metav1.StatusReasonConflict || !strings.Contains(st.Message, "the object has been modified") {
		t.Fatalf("stale PUT = %d %+v", code, st)
	}

	// Conditional delete with a stale precondition, then unconditional.
	code, b = e.do("DELETE", leasePath+"/api", `{"preconditions":{"resourceVersion":"`+created.ResourceVersion+`"}}`)
	if st := decodeStatus(t, b); code != 409 || st.Reason != metav1.StatusReasonConflict {
		t.Fatalf("stale DELETE = %d %+v", code, st)
	}
	if code, b = e.do("DELETE", leasePath+"/api", nil); code != 200 {
		t.Fatalf("DELETE = %d %s", code, b)
	}
	if code, _ = e.do("GET", leasePath+"/api", nil); code != 404 {
		t.Fatalf("GET after DELETE = %d", code)
	}
}

// TestGitOnly: desired state gets in only through Git. The API creates and
// replaces no object of a kind sync manages, whether or not it came from
// Git; it deletes those not from Git (a stray, or a pod a controller will
// replace), and status writes stay open.
func TestGitOnly(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	stray := deployment("default", "stray", nil, false) // written before Git-only, or by hand into etcd
	e.create(stray)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u1", Controller: ptr(true)}}}}
	e.create(rs)
	const rsPath = "/apis/apps/v1/namespaces/default/replicasets"
	tests := []struct {
		name, method, path string
		body               any
		code               int
		msg                string
	}{
		{"create a Deployment", "POST", deployPath, deployment("", "api", nil, false), 403, "desired state gets in only through Git"},
		{"create a ConfigMap", "POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"c"}}`, 403, "desired state gets in only through Git"},
		{"create a Namespace", "POST", "/api/v1/namespaces", `{"metadata":{"name":"extra"}}`, 403, "desired state gets in only through Git"},
		{"replace a stray", "PUT", deployPath + "/stray", stray, 403, "is not from Git"},
		{"patch a stray", "PATCH", deployPath + "/stray", `{"spec":{"replicas":7}}`, 403, "is not from Git"},
		{"replace a controller's ReplicaSet", "PUT", rsPath + "/web-1", rs, 403, "is written by the controller of Deployment web"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.method == "PATCH" {
				header = []string{"Content-Type", "application/merge-patch+json"}
			}
			code, b := e.do(tc.method, tc.path, tc.body, header...)
			if code != tc.code || !strings.Contains(string(b), tc.msg) {
				t.Fatalf("%s %s = %d %s, want %d containing %q", tc.method, tc.path, code, b, tc.code, tc.msg)
			}
		})
	}
	for _, p := range []string{deployPath + "/api", "/api/v1/namespaces/default/configmaps/c", "/api/v1/namespaces/extra"} {
		if code, _ := e.do("GET", p, nil); code != 404 {
			t.Errorf("GET %s = %d after a refused create, want 404", p, code)
		}
	}
	in := stray.DeepCopy()
	in.Status.Replicas = 3
	if code, b := e.do("PUT", deployPath+"/stray/status", in); code != 200 {
		t.Errorf("PUT status = %d %s", code, b)
	}
	if code, b := e.do("DELETE", deployPath+"/stray", nil); code != 200 {
		t.Errorf("DELETE of a stray = %d %s", code, b)
	}
}

func withRV(d *appsv1.Deployment, rv string) *appsv1.Deployment {
	d.ResourceVersion = rv
	return d
}

func TestStatusSubresource(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	web := deployment("default", "web", nil, true)
	e.create(web)

	in := deployment("default", "web", nil, false)
	in.ResourceVersion = web.ResourceVersion
	in.Spec.Replicas = int32p(99) // ignored: only status is taken
	in.Labels["sneaky"] = "yes"   // ignored too
	in.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 1, ObservedGeneration: 1}
	code, b := e.do("PUT", deployPath+"/web/status", in)
	if code != 200 {
		t.Fatalf("PUT status = %d %s", code, b)
	}
	var got appsv1.Deployment
	if err := e.st.Get(ctx(t), "default", "web", &got); err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 2 || got.Labels["sneaky"] != "" || got.Labels[api.LabelManagedBy] != api.ManagedByValue ||
		got.Generation != web.Generation || got.Status.ReadyReplicas != 1 || got.Status.Replicas != 2 {
		t.Fatalf("after status update: replicas %d labels %v generation %d (was %d) status %+v",
			*got.Spec.Replicas, got.Labels, got.Generation, web.Generation, got.Status)
	}
	// The old resourceVersion is now stale.
	code, b = e.do("PUT", deployPath+"/web/status", in)
	if st := decodeStatus(t, b); code != 409 || st.Reason != metav1.StatusReasonConflict {
		t.Fatalf("stale status PUT = %d %+v", code, st)
	}
	// GET of the status subresource returns the object.
	if code, b = e.do("GET", deployPath+"/web/status", nil); code != 200 || !strings.Contains(string(b), `"readyReplicas":1`) {
		t.Fatalf("GET status = %d %s", code, b)
	}
}

func TestSyncStatusAndHistory(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	var before struct {
		Message string `json:"message"`
		Synced  any    `json:"synced"`
	}
	getJSON(t, e, "/bosun/v1/status", &before)
	if before.Message != apiserver.NotSyncedMessage || before.Synced != nil {
		t.Fatalf("status before sync = %+v", before)
	}
	var empty []state.Attempt
	getJSON(t, e, "/bosun/v1/history", &empty)
	if empty == nil || len(empty) != 0 {
		t.Fatalf("history before sync = %#v, want []", empty)
	}

	c := ctx(t)
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	attempts := []state.Attempt{
		{Commit: state.CommitInfo{SHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", Subject: "Add web"}, Time: t0, Result: state.ResultApplied, Created: 3},
		{Commit: state.CommitInfo{SHA: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", Subject: "Break it"}, Time: t0.Add(time.Minute), Result: state.ResultRejected,
			Problems: []manifests.Problem{{File: "apps/web.yaml", Line: 12, Object: "Deployment default/web", Field: "spec.replicas", Message: "must be greater than or equal to 0"}}},
		{Commit: state.CommitInfo{SHA: "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"}, Time: t0.Add(2 * time.Minute), Result: state.ResultFailed, Message: "fetch: connection refused"},
	}
	for _, a := range attempts {
		if err := records.Append(c, e.st, a); err != nil {
			t.Fatal(err)
		}
	}
	st := state.Status{Repo: "https://git.example/repo.git", Branch: "main", Synced: &attempts[0], LastAttempt: &attempts[2], Objects: 3}
	if err := records.SetStatus(c, e.st, st); err != nil {
		t.Fatal(err)
	}
	var got state.Status
	getJSON(t, e, "/bosun/v1/status", &got)
	if got.Repo != st.Repo || got.Synced == nil || got.Synced.Commit.SHA != attempts[0].Commit.SHA || got.LastAttempt.Result != state.ResultFailed || got.Objects != 3 {
		t.Fatalf("status = %+v", got)
	}
	tests := []struct {
		query string
		want  []string
		code  int
	}{
		{"", []string{"2b3c4d5e", "1a2b3c4d", "9f8e7d6c"}, 200},
		{"?limit=2", []string{"2b3c4d5e", "1a2b3c4d"}, 200},
		{"?limit=0", []string{"2b3c4d5e", "1a2b3c4d", "9f8e7d6c"}, 200},
		{"?limit=-1", nil, 400},
		{"?limit=x", nil, 400},
	}
	for _, tc := range tests {
		t.Run("history"+tc.query, func(t *testing.T) {
			code, b := e.do("GET", "/bosun/v1/history"+tc.query, nil)
			if code != tc.code {
				t.Fatalf("code %d %s", code, b)
			}
			if code != 200 {
				decodeStatus(t, b)
				return
			}
			var h []state.Attempt
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			var shas []string
			for _, a := range h {
				shas = append(shas, a.Commit.Short())
			}
			if strings.Join(shas, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("history %v, want %v", shas, tc.want)
			}
			if len(h) > 1 && (h[1].Problems == nil || h[1].Problems[0].Line != 12) {
				t.Fatalf("problems lost: %+v", h[1])
			}
		})
	}
}

func TestPanicIsRecovered(t *testing.T) {
	e := newEnv(t, apiserver.Config{Ready: func(context.Context) error { panic("boom") }})
	code, b := e.do("GET", "/readyz", nil)
	if st := decodeStatus(t, b); code != 500 || st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "boom") {
		t.Fatalf("panicking handler = %d %+v", code, st)
	}
	// The server keeps serving.
	if code, _ := e.do("GET", "/healthz", nil); code != 200 {
		t.Fatalf("/healthz after a panic = %d", code)
	}
}
