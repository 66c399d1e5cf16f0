package apiserver_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// whoAmI is a webhook handler that answers the identity the API server
// put in the request's context.
var whoAmI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, ok := apiserver.UserFrom(r.Context())
	if !ok {
		http.Error(w, "no user in the context", http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, u.Name+" "+strings.Join(u.Groups, ","))
})

func TestAuthentication(t *testing.T) {
	e := newTLSEnv(t, func(cfg *apiserver.Config, _ *store.Store) { cfg.Hooks, cfg.ServiceCIDR = whoAmI, "10.96.0.0/16" })
	tests := []struct {
		name   string
		user   api.User
		method string
		path   string
		code   int
		body   string // a part of the answer
	}{
		{"anonymous healthz", nobody, "GET", "/healthz", 200, "ok"},
		{"anonymous livez", nobody, "GET", "/livez", 200, "ok"},
		{"anonymous readyz", nobody, "GET", "/readyz", 200, "ok"},
		{"anonymous readyz verbose", nobody, "GET", "/readyz?verbose", 200, "[+]etcd ok"},
		{"anonymous single check", nobody, "GET", "/readyz/etcd", 200, "ok"},
		{"anonymous version", nobody, "GET", "/version", 200, "gitVersion"},
		{"anonymous cluster info", nobody, "GET", api.PathClusterInfo, 200, "caCert"},
		{"the cluster info names the service CIDR", nobody, "GET", api.PathClusterInfo, 200, `"serviceCIDR":"10.96.0.0/16"`},
		{"anonymous discovery", nobody, "GET", "/api", 401, `"reason":"Unauthorized"`},
		{"anonymous list", nobody, "GET", "/api/v1/pods", 401, `"code":401`},
		{"anonymous sync status", nobody, "GET", "/bosun/v1/status", 401, "client certificate"},
		{"anonymous tokens", nobody, "GET", api.PathTokens, 401, "Unauthorized"},
		{"anonymous unknown path", nobody, "GET", "/nothing", 401, "Unauthorized"},
		{"anonymous renewal", nobody, "POST", api.PathCertificates, 401, "Unauthorized"},
		{"anonymous webhook carries its identity", nobody, "POST", "/hooks/git", 200, "system:anonymous system:unauthenticated"},
		{"admin webhook carries its identity", admin, "POST", "/hooks/git", 200, "admin system:masters"},
		{"node identity", nodeA, "POST", "/hooks/git", 200, "system:node:a system:nodes"},
		{"admin lists", admin, "GET", "/api/v1/pods", 200, "PodList"},
		{"admin sync status", admin, "GET", "/bosun/v1/status", 200, "not synced yet"},
		{"admin unknown path", admin, "GET", "/nothing", 404, "NotFound"},
		{"user discovery", alice, "GET", "/apis", 200, "APIGroupList"},
		{"user list", alice, "GET", "/api/v1/pods", 403, `pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" at the cluster scope`},
		{"user sync history", alice, "GET", "/bosun/v1/history", 403, `forbidden: User \"alice\" cannot get path \"/bosun/v1/history\"`},
		{"user renewal", alice, "POST", api.PathCertificates, 403, "only a node credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.as(tt.user)
			c.t = t
			code, body := c.do(tt.method, tt.path, nil)
			if code != tt.code || !strings.Contains(string(body), tt.body) {
				t.Errorf("%s %s as %q = %d %s; want %d containing %s", tt.method, tt.path, tt.user.Name, code, body, tt.code, tt.body)
			}
		})
	}

	t.Run("certificate of another CA", func(t *testing.T) {
		other := newTestCA(t)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.pool(), Certificates: []tls.Certificate{other.clientCert(t, admin)}}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(e.url + "/api/v1/pods")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a certificate from another CA was accepted: %d", resp.StatusCode)
		}
	})
}

// TestPlainHTTPIsAdmin: a request that did not come over TLS is admin's.
func TestPlainHTTPIsAdmin(t *testing.T) {
	st := storetest.Start(t)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Hooks: whoAmI}).Handler())
	defer ts.Close()
	e := &env{t: t, st: st, url: ts.URL}
	if code, body := e.do("POST", "/hooks/git", nil); code != 200 || string(body) != "admin system:masters" {
		t.Errorf("plain HTTP identity = %d %q, want admin", code, body)
	}
	if code, body := e.do("GET", api.PathTokens, nil); code != 200 {
		t.Errorf("plain HTTP token list = %d %s", code, body)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"127.3.4.5:1", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{":8080", false},
		{"0.0.0.0:8080", false},
		{"[::]:8080", false},
		{"10.0.0.1:8080", false},
		{"example.com:8080", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		err := apiserver.CheckLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

// nodeFixture registers nodes a and b with leases, pods bound to each, and
// the secrets and configmaps they use.
func nodeFixture(e *env) {
	for _, n := range []string{"a", "b"} {
		e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"node-restriction.kubernetes.io/pool": "x"}},
			Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", Taints: []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}}})
		e.create(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: n}})
	}
	usesSecret := func(name string) corev1.Volume {
		return corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}}
	}
	envFrom := func(cm string) []corev1.EnvFromSource {
		return []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
	}
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pa"}, Spec: corev1.PodSpec{NodeName: "a",
		Volumes: []corev1.Volume{usesSecret("sa"), {Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-a"}}}},
		Containers: []corev1.Container{{Name: "c", Image: "x", EnvFrom: envFrom("ca")}}}})
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pa-gone"}, Spec: corev1.PodSpec{NodeName: "a",
		Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "pb"}, Spec: corev1.PodSpec{NodeName: "b",
		Volumes:    []corev1.Volume{usesSecret("sb")},
		Containers: []corev1.Container{{Name: "c", Image: "x", EnvFrom: envFrom("cb")}}}})
	for _, n := range []string{"sa", "sb", "other"} {
		e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n}})
		e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: n}})
	}
	for _, n := range []string{"ca", "cb"} {
		e.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n}})
	}
	for _, n := range []string{"data-a", "data-b"} {
		e.create(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n}})
	}
	e.create(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a"}})
	e.create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
}

// current reads an object from the store, for a PUT body.
func current[T api.Object](e *env, ns, name string, obj T, change func(T)) func() any {
	return func() any {
		if err := e.st.Get(ctx(e.t), ns, name, obj); err != nil {
			e.t.Fatal(err)
		}
		if change != nil {
			change(obj)
		}
		return obj
	}
}

func newMirrorPod(name, node string, change func(*corev1.Pod)) func() any {
	return func() any {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: map[string]string{"kubernetes.io/config.mirror": "hash"}},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		if change != nil {
			change(p)
		}
		return p
	}
}

// TestNodeAuthorization goes through what a node credential may and may
// not do, against objects of its own and of another node.
func TestNodeAuthorization(t *testing.T) {
	e := newTLSEnv(t, nil)
	fx := e.as(admin)
	nodeFixture(fx)
	node := func(ch func(*corev1.Node)) func(string) func() any {
		return func(name string) func() any { return current(fx, "", name, &corev1.Node{}, ch) }
	}
	sameNode := node(nil)
	lease := func(name string) func() any {
		return current(fx, corev1.NamespaceNodeLease, name, &coordinationv1.Lease{}, nil)
	}
	podStatus := func(name string) func() any {
		return current(fx, "default", name, &corev1.Pod{}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning })
	}
	lb := "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
	tests := []struct {
		name   string
		user   api.User
		method string
		path   string
		body   func() any
		code   int
		msg    string // a part of the answer
	}{
		// Nodes.
		{"list nodes", nodeA, "GET", "/api/v1/nodes", nil, 200, "NodeList"},
		{"get another node", nodeA, "GET", "/api/v1/nodes/b", nil, 200, `"name":"b"`},
		{"update own node", nodeA, "PUT", "/api/v1/nodes/a", sameNode("a"), 200, `"name":"a"`},
		{"update own node status", nodeA, "PUT", "/api/v1/nodes/a/status", sameNode("a"), 200, `"name":"a"`},
		{"update another node", nodeA, "PUT", "/api/v1/nodes/b", sameNode("b"), 403,
			`nodes \"b\" is forbidden: User \"system:node:a\" cannot update resource \"nodes\" in API group \"\" at the cluster scope: a node may only modify its own Node object`},
		{"patch another node", nodeA, "PATCH", "/api/v1/nodes/b", func() any { return "{}" }, 403,
			`nodes \"b\" is forbidden: User \"system:node:a\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope: a node may only modify its own Node object`},
		{"update another node's status", nodeA, "PUT", "/api/v1/nodes/b/status", sameNode("b"), 403, `cannot update resource \"nodes/status\"`},
		{"delete another node", nodeA, "DELETE", "/api/v1/nodes/b", nil, 403, "its own Node"},
		{"create another node", nodeA, "POST", "/api/v1/nodes", func() any { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}} }, 403,
			`nodes \"c\" is forbidden: User \"system:node:a\" cannot create resource \"nodes\"`},
		{"change a restricted label", nodeA, "PUT", "/api/v1/nodes/a", node(func(n *corev1.Node) { n.Labels["node-restriction.kubernetes.io/pool"] = "gpu" })("a"), 403,
			"node-restriction.kubernetes.io/pool"},
		{"set own pod CIDR", nodeA, "PUT", "/api/v1/nodes/a", node(func(n *corev1.Node) { n.Spec.PodCIDR = "10.244.9.0/24" })("a"), 403,
			"may not set or change its pod CIDR"},
		{"create own node with a pod CIDR", nodeA, "POST", "/api/v1/nodes", func() any {
			return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.9.0/24"}}
		}, 403, "may not set or change its pod CIDR"},
		{"remove own taints", nodeA, "PUT", "/api/v1/nodes/a", node(func(n *corev1.Node) { n.Spec.Taints = nil })("a"), 403,
			"may not change its taints"},
		{"admin patches another node: allowed past authorization, no patch type", admin, "PATCH", "/api/v1/nodes/b", func() any { return "{}" }, 415, "application/merge-patch+json"},
		// Leases.
		{"list node leases", nodeA, "GET", lb, nil, 200, "LeaseList"},
		{"update own lease", nodeA, "PUT", lb + "/a", lease("a"), 200, `"name":"a"`},
		{"update another lease", nodeA, "PUT", lb + "/b", lease("b"), 403,
			`leases.coordination.k8s.io \"b\" is forbidden: User \"system:node:a\" cannot update resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kube-node-lease\": a node may only modify its own Lease kube-node-lease/a`},
		{"create a lease of another name", nodeA, "POST", lb, func() any {
			return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "z"}}
		}, 403, "its own Lease"},
		{"lease elsewhere", nodeA, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases", nil, 403, "kube-node-lease"},
		// Pods.
		{"list pods", nodeA, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Da", nil, 200, "PodList"},
		{"watch pods", nodeA, "GET", "/api/v1/pods?watch=true&timeoutSeconds=1", nil, 200, ""},
		{"status of own pod", nodeA, "PUT", "/api/v1/namespaces/default/pods/pa/status", podStatus("pa"), 200, "Running"},
		{"status of another node's pod", nodeA, "PUT", "/api/v1/namespaces/default/pods/pb/status", podStatus("pb"), 403,
			`pods \"pb\" is forbidden: User \"system:node:a\" cannot update resource \"pods/status\" in API group \"\" in the namespace \"default\": node \"a\" may only update the status of pods with spec.nodeName set to itself`},
		{"change own pod's spec", nodeA, "PUT", "/api/v1/namespaces/default/pods/pa", podStatus("pa"), 403, "update the status of pods bound to it"},
		{"delete another node's pod", nodeA, "DELETE", "/api/v1/namespaces/default/pods/pb", nil, 403, "may only delete pods with spec.nodeName set to itself"},
		{"delete own pod", nodeA, "DELETE", "/api/v1/namespaces/default/pods/pa-gone", nil, 200, "pa-gone"},
		{"create own mirror pod", nodeA, "POST", "/api/v1/namespaces/default/pods", newMirrorPod("static-a", "a", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "a", UID: "uid-a"}}
		}), 201, "static-a"},
		{"create a mirror pod for another node", nodeA, "POST", "/api/v1/namespaces/default/pods", newMirrorPod("static-b", "b", nil), 403,
			"may only create pods with spec.nodeName set to itself"},
		{"create a pod that is no mirror", nodeA, "POST", "/api/v1/namespaces/default/pods", newMirrorPod("plain", "a", func(p *corev1.Pod) { p.Annotations = nil }), 403,
			"may only create mirror pods"},
		{"create a mirror pod using a secret", nodeA, "POST", "/api/v1/namespaces/default/pods", newMirrorPod("steal", "a", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sb"}}}}
		}), 403, "may not create pods that use secrets"},
		{"create a mirror pod owned by another node", nodeA, "POST", "/api/v1/namespaces/default/pods", newMirrorPod("owned", "a", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "b"}}
		}), 403, "owned by its own Node"},
		{"pod logs", nodeA, "GET", "/api/v1/namespaces/default/pods/pa/log", nil, 403, `cannot get resource \"pods/log\"`},
		// Secrets and configmaps.
		{"secret of own pod", nodeA, "GET", "/api/v1/namespaces/default/secrets/sa", nil, 200, `"name":"sa"`},
		{"secret of another node's pod", nodeB, "GET", "/api/v1/namespaces/default/secrets/sa", nil, 403,
			`secrets \"sa\" is forbidden: User \"system:node:b\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node \"b\" and this object`},
		{"same name in another namespace", nodeA, "GET", "/api/v1/namespaces/shop/secrets/sa", nil, 403, "no relationship"},
		{"secret no pod uses", nodeA, "GET", "/api/v1/namespaces/default/secrets/other", nil, 403, "no relationship"},
		{"list secrets", nodeA, "GET", "/api/v1/namespaces/default/secrets", nil, 403, "not list, watch or change them"},
		{"list all secrets", nodeA, "GET", "/api/v1/secrets", nil, 403, "not list"},
		{"watch secrets", nodeA, "GET", "/api/v1/namespaces/default/secrets?watch=true", nil, 403, "not list"},
		{"change own pod's secret", nodeA, "PUT", "/api/v1/namespaces/default/secrets/sa", current(fx, "default", "sa", &corev1.Secret{}, nil), 403, "cannot update"},
		{"configmap of own pod", nodeA, "GET", "/api/v1/namespaces/default/configmaps/ca", nil, 200, `"name":"ca"`},
		{"configmap of another node's pod", nodeA, "GET", "/api/v1/namespaces/default/configmaps/cb", nil, 403, "no relationship"},
		{"claim of own pod", nodeA, "GET", "/api/v1/namespaces/default/persistentvolumeclaims/data-a", nil, 200, `"name":"data-a"`},
		{"claim no pod of the node uses", nodeA, "GET", "/api/v1/namespaces/default/persistentvolumeclaims/data-b", nil, 403, "no relationship"},
		{"list claims", nodeA, "GET", "/api/v1/namespaces/default/persistentvolumeclaims", nil, 403, "not list"},
		{"list volumes", nodeA, "GET", "/api/v1/persistentvolumes", nil, 200, "PersistentVolumeList"},
		{"delete a volume", nodeA, "DELETE", "/api/v1/persistentvolumes/pv-a", nil, 403, "may only read persistentvolumes"},
		// The rest.
		{"list services", nodeA, "GET", "/api/v1/services", nil, 200, "ServiceList"},
		{"get endpoints", nodeA, "GET", "/api/v1/namespaces/default/endpoints", nil, 200, "EndpointsList"},
		{"create a service", nodeA, "POST", "/api/v1/namespaces/default/services", func() any {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
		}, 403, "may only read services"},
		{"create an event", nodeA, "POST", "/api/v1/namespaces/default/events", func() any {
			return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "a.1"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "a"}}
		}, 201, "a.1"},
		{"list events", nodeA, "GET", "/api/v1/events", nil, 403, "create and update events"},
		{"list deployments", nodeA, "GET", "/apis/apps/v1/deployments", nil, 403, "nodes have no access"},
		{"discovery", nodeA, "GET", "/apis/apps/v1", nil, 200, "APIResourceList"},
		{"sync status", nodeA, "GET", "/bosun/v1/status", nil, 403, `cannot get path \"/bosun/v1/status\"`},
		{"tokens", nodeA, "GET", api.PathTokens, nil, 403, "forbidden"},
		{"a user with the node group but no node name", api.User{Name: "mallory", Groups: []string{api.GroupNodes}}, "GET", "/api/v1/pods", nil, 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.as(tt.user)
			c.t = t
			var body any
			if tt.body != nil {
				body = tt.body()
			}
			code, b := c.do(tt.method, tt.path, body)
			if code != tt.code || !strings.Contains(string(b), tt.msg) {
				t.Errorf("%s %s as %s = %d %s; want %d containing %s", tt.method, tt.path, tt.user.Name, code, b, tt.code, tt.msg)
			}
			if code == http.StatusForbidden {
				var st metav1.Status
				if err := json.Unmarshal(b, &st); err != nil || st.Reason != metav1.StatusReasonForbidden || st.Kind != "Status" {
					t.Errorf("403 is not a Forbidden Status: %s", b)
				}
			}
		})
	}
}
