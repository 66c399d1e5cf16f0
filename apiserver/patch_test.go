package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
)

const (
	mergePatch     = "application/merge-patch+json"
	jsonPatch      = "application/json-patch+json"
	strategicPatch = "application/strategic-merge-patch+json"
)

func TestPatch(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", Taints: []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
	}
	e.create(node)
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-node-lease", Name: "n1"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1")}}
	e.create(lease)
	web := deployment("default", "web", nil, true)
	e.create(web)
	const nodePath, leasePath = "/api/v1/nodes/n1", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"

	tests := []struct {
		name, path, ct, body string
		code                 int
		want                 string // in the answer
		check                func(t *testing.T)
	}{
		{
			// What kubectl cordon sends.
			name: "strategic merge patch: cordon", path: nodePath, ct: strategicPatch, body: `{"spec":{"unschedulable":true}}`, code: 200, want: `"unschedulable":true`,
			check: func(t *testing.T) {
				var n corev1.Node
				if err := e.st.Get(ctx(t), "", "n1", &n); err != nil || !n.Spec.Unschedulable || n.Spec.PodCIDR != "10.244.1.0/24" || len(n.Spec.Taints) != 1 || n.Labels["zone"] != "a" {
					t.Errorf("after cordon: %+v %+v, %v", n.Spec, n.Labels, err)
				}
			},
		},
		{
			// Taints have no patch merge key in k8s.io/api: the list is replaced.
			name: "strategic merge patch replaces a list without a merge key", path: nodePath, ct: strategicPatch, body: `{"spec":{"taints":[{"key":"spot","effect":"NoExecute"}]}}`, code: 200,
			check: func(t *testing.T) {
				var n corev1.Node
				if err := e.st.Get(ctx(t), "", "n1", &n); err != nil || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "spot" {
					t.Errorf("taints after the patch: %+v, %v", n.Spec.Taints, err)
				}
			},
		},
		{
			name: "JSON merge patch replaces lists and deletes with null", path: nodePath, ct: mergePatch, body: `{"metadata":{"labels":{"zone":null,"disk":"ssd"}},"spec":{"taints":[]}}`, code: 200,
			check: func(t *testing.T) {
				var n corev1.Node
				if err := e.st.Get(ctx(t), "", "n1", &n); err != nil || len(n.Spec.Taints) != 0 || n.Labels["zone"] != "" || n.Labels["disk"] != "ssd" {
					t.Errorf("after the merge patch: %+v %+v, %v", n.Spec.Taints, n.Labels, err)
				}
			},
		},
		{
			name: "JSON patch", path: leasePath, ct: jsonPatch, body: `[{"op":"test","path":"/spec/holderIdentity","value":"n1"},{"op":"replace","path":"/spec/holderIdentity","value":"n2"}]`, code: 200, want: `"holderIdentity":"n2"`,
		},
		{name: "JSON patch whose test fails", path: leasePath, ct: jsonPatch, body: `[{"op":"test","path":"/spec/holderIdentity","value":"n1"}]`, code: 422, want: "apply the patch"},
		{name: "patch naming a stale resourceVersion", path: nodePath, ct: mergePatch, body: `{"metadata":{"resourceVersion":"1"},"spec":{"unschedulable":false}}`, code: 409, want: "the object has been modified"},
		{name: "patch to an unknown field", path: nodePath, ct: mergePatch, body: `{"spec":{"unschedulabel":false}}`, code: 400, want: "spec.unschedulabel"},
		{name: "patch renaming the object", path: nodePath, ct: mergePatch, body: `{"metadata":{"name":"n9"}}`, code: 400, want: "does not match the name"},
		{name: "patch of a Git object", path: deployPath + "/web", ct: strategicPatch, body: `{"spec":{"replicas":5}}`, code: 405, want: "is managed by Git"},
		{name: "server-side apply without a field manager", path: nodePath, ct: "application/apply-patch+yaml", body: "spec: {}", code: 422, want: "fieldManager is required"},
		{name: "server-side apply of another kind", path: nodePath + "?fieldManager=me", ct: "application/apply-patch+yaml", body: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: n1\n", code: 400, want: "is a /v1, Kind=Pod"},
		{name: "not a patch type", path: nodePath, ct: "application/json", body: "{}", code: 415, want: "is not supported"},
		{name: "missing object", path: "/api/v1/nodes/n9", ct: mergePatch, body: "{}", code: 404, want: "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := e.do("PATCH", tt.path, tt.body, "Content-Type", tt.ct)
			if code != tt.code || !strings.Contains(string(b), tt.want) {
				t.Fatalf("PATCH %s (%s) = %d %s; want %d containing %q", tt.path, tt.ct, code, b, tt.code, tt.want)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
	var got corev1.Node
	if err := e.st.Get(ctx(t), "", "n1", &got); err != nil || !got.Spec.Unschedulable {
		t.Errorf("a refused patch changed the node: %+v, %v", got.Spec, err)
	}
}

// TestPatchStatus: a patch of .../status takes only the status, and a
// strategic merge patch merges lists by their merge key (conditions by
// type) where a JSON merge patch replaces them.
func TestPatchStatus(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}})
	conditions := func() []corev1.NodeCondition {
		var n corev1.Node
		if err := e.st.Get(ctx(t), "", "n1", &n); err != nil {
			t.Fatal(err)
		}
		if n.Spec.Unschedulable {
			t.Errorf("a status patch changed the spec: %+v", n.Spec)
		}
		return n.Status.Conditions
	}
	body := `{"spec":{"unschedulable":true},"status":{"conditions":[{"type":"MemoryPressure","status":"False"}]}}`
	if code, b := e.do("PATCH", "/api/v1/nodes/n1/status", body, "Content-Type", strategicPatch); code != http.StatusOK {
		t.Fatalf("PATCH status = %d %s", code, b)
	}
	if c := conditions(); len(c) != 2 {
		t.Errorf("strategic merge patch: conditions %+v, want Ready and MemoryPressure", c)
	}
	if code, b := e.do("PATCH", "/api/v1/nodes/n1/status", body, "Content-Type", mergePatch); code != http.StatusOK {
		t.Fatalf("PATCH status = %d %s", code, b)
	}
	if c := conditions(); len(c) != 1 || c[0].Type != corev1.NodeMemoryPressure {
		t.Errorf("JSON merge patch: conditions %+v, want MemoryPressure alone", c)
	}
}

// TestConcurrentPatches: patches racing on one object all land; each one
// that loses the compare-and-swap is applied again to the new object.
func TestConcurrentPatches(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				body := fmt.Sprintf(`{"metadata":{"labels":{"l%d-%d":"x"}}}`, g, i)
				if code, b := e.do("PATCH", "/api/v1/nodes/n1", body, "Content-Type", mergePatch); code != http.StatusOK {
					t.Errorf("PATCH %s = %d %s", body, code, b)
				}
			}
		})
	}
	wg.Wait()
	var n corev1.Node
	if err := e.st.Get(ctx(t), "", "n1", &n); err != nil || len(n.Labels) != 40 {
		t.Errorf("labels after 40 racing patches: %d %v, %v", len(n.Labels), n.Labels, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestNonJSONBody: a protobuf (or other non-JSON) body is 415, not a
// decode error.
func TestNonJSONBody(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	for _, ct := range []string{"application/vnd.kubernetes.protobuf", "application/cbor", "application/yaml"} {
		code, b := e.do("POST", "/api/v1/nodes", "k8s\x00\n\x0f", "Content-Type", ct)
		if code != http.StatusUnsupportedMediaType || !strings.Contains(string(b), "JSON bodies only") {
			t.Errorf("POST with %s = %d %s, want 415", ct, code, b)
		}
	}
	if code, b := e.do("POST", "/api/v1/nodes", `{"metadata":{"name":"n1"}}`, "Content-Type", "application/json; charset=utf-8"); code != http.StatusCreated {
		t.Errorf("POST with JSON and a charset = %d %s", code, b)
	}
}
