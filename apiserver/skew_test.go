package apiserver_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
)

// TestNodeVersionSkew: a server of v0.24.0 takes the Node of an agent of
// its own or the previous minor version, and refuses an older or a newer
// one with the policy in the answer.
func TestNodeVersionSkew(t *testing.T) {
	e := newTLSEnv(t, func(c *apiserver.Config, _ *store.Store) { c.Version = "v0.24.0" })
	for _, tc := range []struct {
		name, node, kubelet string
		code                int
		msg                 string
	}{
		{"same minor", "a", "bosun/v0.24.1", 201, `"name":"a"`},
		{"one minor behind", "b", "bosun/v0.23.0", 201, `"name":"b"`},
		{"two minors behind", "c", "bosun/v0.22.5", 403, "node \\\"c\\\" may not register: agent v0.22.5, server v0.24.0: outside the version skew policy"},
		{"newer agent", "d", "bosun/v0.25.0", 403, "upgrade the servers first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.as(api.NodeUser(tc.node))
			c.t = t
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: tc.node}}
			n.Status.NodeInfo.KubeletVersion = tc.kubelet
			code, b := c.do("POST", "/api/v1/nodes", n)
			if code != tc.code || !strings.Contains(string(b), tc.msg) {
				t.Errorf("create node %s (%s) = %d %s; want %d containing %s", tc.node, tc.kubelet, code, b, tc.code, tc.msg)
			}
		})
	}
	// A registered node that is upgraded past the policy is refused too.
	c := e.as(api.NodeUser("b"))
	c.t = t
	n := current(e.as(admin), "", "b", &corev1.Node{}, func(n *corev1.Node) { n.Status.NodeInfo.KubeletVersion = "bosun/v0.26.0" })()
	if code, b := c.do("PUT", "/api/v1/nodes/b/status", n); code != 403 || !strings.Contains(string(b), "the agent is newer") {
		t.Errorf("status of node b at v0.26.0 = %d %s; want 403", code, b)
	}
}
