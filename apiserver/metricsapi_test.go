package apiserver_test

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/nodeagent/stats"
)

// podsLookup is an agentapi.PodLookup of some pods.
type podsLookup map[string]*corev1.Pod

func (p podsLookup) LookupPod(namespace, name string) (*corev1.Pod, bool) {
	pod, ok := p[namespace+"/"+name]
	return pod, ok
}

// topEnv is an API server with node n1 Ready behind a real agent API on
// the fake runtime (a fake clock: two samples 10 s apart, so the rates
// are exact), node n2 Ready whose agent does not answer, n3 not Ready;
// n1 and n2 have label zone=a, n3 zone=b.
// Pods: shop/web (app 250m 64Mi, sidecar 10m 8Mi), shop/db (1 core,
// 1Gi), default/other (the fake's default usage) on n1; shop/lost on n2.
// n1 uses 1.5 cores and 3Gi.
func topEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, apiserver.Config{})
	c := ctx(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	t0 := clk.Now()
	rt := runtimetest.New(runtimetest.Config{Clock: clk, PodCIDR: "10.42.0.0/24"})
	lookup := podsLookup{}
	run := func(ns, name, node string, labels map[string]string, usage map[string]runtimetest.Usage, names ...string) {
		pod := podOn(name, node, names...)
		pod.Namespace, pod.UID, pod.Labels = ns, types.UID("uid-"+name), labels
		pod.Status.Phase = corev1.PodRunning
		e.create(pod)
		if node != "n1" {
			return
		}
		lookup[ns+"/"+name] = pod
		sb, err := rt.RunPodSandbox(c, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: name, Namespace: ns, UID: string(pod.UID)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.PullImage(c, "img"); err != nil {
			t.Fatal(err)
		}
		for _, cn := range names {
			id, err := rt.CreateContainer(c, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: cn}, Image: "img"})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.StartContainer(c, id); err != nil {
				t.Fatal(err)
			}
			if u, ok := usage[cn]; ok {
				if err := rt.SetUsage(id, u); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	run("shop", "web", "n1", map[string]string{"app": "web"}, map[string]runtimetest.Usage{
		"app": {NanoCores: 250_000_000, MemoryBytes: 64 << 20}, "sidecar": {NanoCores: 10_000_000, MemoryBytes: 8 << 20}}, "app", "sidecar")
	run("shop", "db", "n1", map[string]string{"app": "db"}, map[string]runtimetest.Usage{
		"db": {NanoCores: 1e9, MemoryBytes: 1 << 30}}, "db")
	run("default", "other", "n1", nil, nil, "main")
	run("shop", "lost", "n2", map[string]string{"app": "lost"}, nil, "main")

	coll, err := stats.New(stats.Config{NodeName: "n1", Runtime: rt, Clock: clk, Host: func() (host.Usage, error) {
		return host.Usage{CPUUsageNanos: uint64(clk.Since(t0)) * 3 / 2, MemoryUsageBytes: 5 << 30, MemoryWorkingSetBytes: 3 << 30}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if i > 0 {
			clk.Step(10 * time.Second)
		}
		if err := coll.Sample(c); err != nil {
			t.Fatal(err)
		}
	}
	agent, err := agentapi.New(agentapi.Config{Pods: lookup, Runtime: rt, Stats: coll, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(agent.Handler())
	t.Cleanup(ts.Close)
	for _, n := range []struct {
		name  string
		port  int32
		ready corev1.ConditionStatus
	}{
		{"n1", int32(ts.Listener.Addr().(*net.TCPAddr).Port), corev1.ConditionTrue},
		{"n2", freePort(t), corev1.ConditionTrue},
		{"n3", int32(ts.Listener.Addr().(*net.TCPAddr).Port), corev1.ConditionFalse},
	} {
		node := nodeAt(n.name, "127.0.0.1", n.port)
		node.Labels = map[string]string{"zone": "a"}
		if n.name == "n3" {
			node.Labels["zone"] = "b"
		}
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: n.ready}}
		node.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi")}
		node.Status.Capacity = node.Status.Allocatable
		e.create(node)
	}
	return e
}

// TestMetricsAPI: metrics.k8s.io answers as metrics-server does, from the
// agents of Ready nodes, leaving out what did not answer.
func TestMetricsAPI(t *testing.T) {
	e := topEnv(t)
	const base = "/apis/metrics.k8s.io/v1beta1"

	code, body := e.do("GET", base+"/nodes", nil)
	var nodes metricsv1beta1.NodeMetricsList
	if err := json.Unmarshal(body, &nodes); code != 200 || err != nil {
		t.Fatalf("nodes: %d %s (%v)", code, body, err)
	}
	if nodes.Kind != "NodeMetricsList" || len(nodes.Items) != 1 {
		t.Fatalf("nodes = %s, want n1 only (n2 does not answer, n3 is not Ready)", body)
	}
	n1 := nodes.Items[0]
	if n1.Name != "n1" || n1.Labels["zone"] != "a" || n1.Window.Duration != 10*time.Second ||
		n1.Usage.Cpu().MilliValue() != 1500 || n1.Usage.Memory().Value() != 3<<30 || n1.Timestamp.IsZero() {
		t.Errorf("n1 = %s, want 1500m, 3Gi, window 10s", body)
	}

	code, body = e.do("GET", base+"/namespaces/shop/pods/web", nil)
	var web metricsv1beta1.PodMetrics
	if err := json.Unmarshal(body, &web); code != 200 || err != nil {
		t.Fatalf("pod web: %d %s (%v)", code, body, err)
	}
	if web.Kind != "PodMetrics" || web.Namespace != "shop" || web.Labels["app"] != "web" || web.Window.Duration != 10*time.Second ||
		len(web.Containers) != 2 || web.Containers[0].Name != "app" || web.Containers[0].Usage.Cpu().MilliValue() != 250 ||
		web.Containers[0].Usage.Memory().Value() != 64<<20 || web.Containers[1].Usage.Cpu().MilliValue() != 10 {
		t.Errorf("pod web = %s, want app 250m 64Mi, sidecar 10m", body)
	}
	if !strings.Contains(string(body), `"usage":{"cpu":"250m","memory":"64Mi"}`) {
		t.Errorf("pod web = %s, want quantities as metrics-server writes them", body)
	}

	tests := []struct {
		name, path string
		want       []string // pod names
	}{
		{"namespace", base + "/namespaces/shop/pods", []string{"db", "web"}},
		{"all namespaces", base + "/pods", []string{"other", "db", "web"}},
		{"label selector", base + "/namespaces/shop/pods?labelSelector=app%3Dweb", []string{"web"}},
		{"field selector", base + "/pods?fieldSelector=metadata.namespace%3Ddefault", []string{"other"}},
		{"no pods", base + "/namespaces/empty/pods", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do("GET", tt.path, nil)
			var list metricsv1beta1.PodMetricsList
			if err := json.Unmarshal(body, &list); code != 200 || err != nil || list.Kind != "PodMetricsList" {
				t.Fatalf("%d %s (%v)", code, body, err)
			}
			got := []string{}
			for _, p := range list.Items {
				got = append(got, p.Name)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("pods = %v, want %v", got, tt.want)
			}
		})
	}

	for _, tt := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"GET", base + "/nodes/n2", 404, `nodemetrics.metrics.k8s.io \"n2\" not found`},
		{"GET", base + "/nodes/nope", 404, `nodemetrics.metrics.k8s.io \"nope\" not found`},
		{"GET", base + "/namespaces/shop/pods/lost", 404, `podmetrics.metrics.k8s.io \"shop/lost\" not found`},
		{"GET", base + "/namespaces/shop/pods/nope", 404, `podmetrics.metrics.k8s.io \"shop/nope\" not found`},
		{"POST", base + "/namespaces/shop/pods", 405, "read-only"},
		{"DELETE", base + "/nodes/n1", 405, "read-only"},
		{"GET", base + "/nodes?watch=true", 405, "cannot be watched"},
		{"GET", base + "/services", 404, "could not find the requested resource"},
	} {
		code, body := e.do(tt.method, tt.path, nil)
		if code != tt.code || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s %s = %d %s, want %d with %q", tt.method, tt.path, code, body, tt.code, tt.want)
		}
	}
}

// TestMetricsDiscovery: metrics.k8s.io/v1beta1 is in both discoveries
// with nodes and pods, get and list only.
func TestMetricsDiscovery(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	code, body := e.do("GET", "/apis/metrics.k8s.io/v1beta1", nil)
	var rl metav1.APIResourceList
	if err := json.Unmarshal(body, &rl); code != 200 || err != nil || len(rl.APIResources) != 2 {
		t.Fatalf("resource list: %d %s (%v)", code, body, err)
	}
	for _, r := range rl.APIResources {
		if strings.Join(r.Verbs, ",") != "get,list" || (r.Name == "pods") != r.Namespaced {
			t.Errorf("resource %+v, want get and list, pods namespaced", r)
		}
	}
	if code, body := e.do("GET", "/apis", nil); code != 200 || !strings.Contains(string(body), `"groupVersion":"metrics.k8s.io/v1beta1"`) {
		t.Errorf("/apis: %d %s, want metrics.k8s.io/v1beta1", code, body)
	}
	code, body = e.do("GET", "/apis", nil, "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	if code != 200 || !regexp.MustCompile(`"name":"metrics.k8s.io".*"resource":"nodes".*"kind":"NodeMetrics".*"verbs":\["get","list"\]`).Match(body) {
		t.Errorf("aggregated /apis: %d %s, want metrics.k8s.io with NodeMetrics", code, body)
	}
}
