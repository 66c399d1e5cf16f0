package apiserver_test

import (
	"net/http"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
)

// TestWritesValidated sends writes the API allows (kinds Git does not
// hold, operational changes of Nodes) with invalid content: each is
// refused as kube-apiserver refuses it (422 Invalid naming the field, or
// 404 for a namespace that does not exist), and nothing is stored.
func TestWritesValidated(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}})
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}})
	event := func(ns, name string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}, Reason: "Test", Message: "m", Type: "Normal"}
	}
	node := func(change func(*corev1.Node)) func() any {
		return func() any {
			var n corev1.Node
			getJSON(t, e, "/api/v1/nodes/n1", &n)
			change(&n)
			return &n
		}
	}
	tests := []struct {
		name         string
		method, path string
		body         func() any
		code         int
		reason       metav1.StatusReason
		field, msg   string // the first cause's field, and the message
	}{
		{name: "upper-case name", method: "POST", path: "/api/v1/namespaces/default/events", body: func() any { return event("default", "UPPER") },
			code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.name", msg: `Event "UPPER" is invalid: metadata.name: Invalid value: "UPPER": a lowercase RFC 1123 subdomain`},
		{name: "namespace that does not exist", method: "POST", path: "/api/v1/namespaces/nowhere/events", body: func() any { return event("nowhere", "e1") },
			code: 404, reason: metav1.StatusReasonNotFound, msg: `namespaces "nowhere" not found`},
		{name: "namespace that is no DNS label", method: "POST", path: "/apis/coordination.k8s.io/v1/namespaces/a..b/leases", body: func() any {
			return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "a..b", Name: "l"}}
		}, code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.namespace", msg: "a lowercase RFC 1123 label"},
		{name: "cluster-scoped kind with a namespace", method: "POST", path: "/api/v1/nodes", body: func() any {
			return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Namespace: "team"}}
		}, code: 400, reason: metav1.StatusReasonBadRequest, msg: "nodes are not namespaced: remove metadata.namespace"},
		{name: "label value with a space", method: "PUT", path: "/api/v1/nodes/n1", body: node(func(n *corev1.Node) { n.Labels["zone"] = "a b" }),
			code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.labels", msg: `Invalid value: "a b"`},
		{name: "taint with an unknown effect", method: "PUT", path: "/api/v1/nodes/n1", body: node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: "Sometimes"}}
		}), code: 422, reason: metav1.StatusReasonInvalid, field: "spec.taints[0].effect", msg: `Unsupported value: "Sometimes"`},
		{name: "the same taint twice", method: "PUT", path: "/api/v1/nodes/n1", body: node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: "NoSchedule"}, {Key: "gpu", Value: "x", Effect: "NoSchedule"}}
		}), code: 422, reason: metav1.StatusReasonInvalid, field: "spec.taints[1]", msg: "Duplicate value"},
		{name: "a node's uid changed", method: "PUT", path: "/api/v1/nodes/n1", body: node(func(n *corev1.Node) { n.UID = "another" }),
			code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.uid", msg: "field is immutable"},
		{name: "a patch that sets an invalid label", method: "PATCH", path: "/api/v1/nodes/n1", body: func() any {
			return `{"metadata":{"labels":{"-bad-":"x"}}}`
		}, code: 422, reason: metav1.StatusReasonInvalid, field: "metadata.labels", msg: "name part must consist of alphanumeric characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			var header []string
			if tc.method == "PATCH" {
				header = []string{"Content-Type", "application/merge-patch+json"}
			}
			code, b := e.do(tc.method, tc.path, tc.body(), header...)
			st := decodeStatus(t, b)
			if code != tc.code || st.Reason != tc.reason || !strings.Contains(st.Message, tc.msg) {
				t.Fatalf("%s %s = %d %s %q; want %d %s containing %q", tc.method, tc.path, code, st.Reason, st.Message, tc.code, tc.reason, tc.msg)
			}
			if tc.field != "" && (st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != tc.field) {
				t.Fatalf("causes = %+v; want the first on field %s", st.Details, tc.field)
			}
		})
	}
	var n corev1.Node
	getJSON(t, e, "/api/v1/nodes/n1", &n)
	if n.Labels["zone"] != "a" || len(n.Spec.Taints) != 0 {
		t.Fatalf("a refused write changed the node: labels %v taints %v", n.Labels, n.Spec.Taints)
	}
	if code, _ := e.do("GET", "/api/v1/namespaces/default/events/UPPER", nil); code != http.StatusNotFound {
		t.Fatalf("the refused Event was stored: GET = %d", code)
	}
}
