package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestSessionAffinityThroughServer runs the example repository on a real
// node and changes the hello Service's sessionAffinity by commits: the
// synced Service reaches the agent's proxy through the API, and its
// iptables rules send one client to one pod with ClientIP and over all
// pods without it.
func TestSessionAffinityThroughServer(t *testing.T) {
	r := newRepo(t)
	h := newNodeHost(t, r.dir)
	h.readyPods("demo", "app=hello", 3)
	// The test host has no default route: route the service range to the
	// pod bridge, which traffic leaves through DNAT (as in TestRealNode).
	if out, err := h.host.Command(context.Background(), "ip", "route", "add", h.serviceCIDR, "dev", "bosun0").CombinedOutput(); err != nil {
		t.Fatalf("route the service range in the test host: %v: %s", err, out)
	}
	svc, err := h.client().Get(context.Background(), resource(t, "services"), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + svc.(*corev1.Service).Spec.ClusterIP + "/"

	// requests makes n requests to the ClusterIP (a new connection each)
	// and counts the answers by pod.
	requests := func(n int) (map[string]int, error) {
		seen := map[string]int{}
		for range n {
			body, err := h.get(url)
			if err != nil {
				return seen, err
			}
			seen[strings.TrimSpace(body)]++
		}
		return seen, nil
	}
	spread := func(what string) {
		t.Helper()
		seen := map[string]int{}
		testutil.Eventually(t, 60*time.Second, what, func() (bool, string) {
			got, err := requests(10)
			for k, v := range got {
				seen[k] += v
			}
			return len(seen) == 3, fmt.Sprintf("seen %v, error %v", seen, err)
		})
	}
	setAffinity := func(msg string, want corev1.ServiceAffinity, from, to string) {
		t.Helper()
		r.replace("apps/hello/service.yaml", from, to)
		r.commitAll(msg)
		testutil.Eventually(t, 30*time.Second, "the Service's sessionAffinity "+string(want)+" in the API", func() (bool, string) {
			o, err := h.client().Get(context.Background(), resource(t, "services"), "demo", "hello")
			if err != nil {
				return false, err.Error()
			}
			got := o.(*corev1.Service).Spec.SessionAffinity
			return got == want, string(got)
		})
	}

	spread("requests without affinity to reach all three pods")

	setAffinity("hello: session affinity", corev1.ServiceAffinityClientIP,
		"  name: hello\n  namespace: demo\nspec:\n", "  name: hello\n  namespace: demo\nspec:\n  sessionAffinity: ClientIP\n")
	// Once the proxy has the rules, every request of this client goes to
	// one pod: 20 in a row by chance would be a 1 in 3^19 event.
	var pod string
	testutil.Eventually(t, 60*time.Second, "20 requests in a row to answer from one pod", func() (bool, string) {
		seen, err := requests(20)
		for k := range seen {
			pod = k
		}
		return err == nil && len(seen) == 1, fmt.Sprintf("seen %v, error %v", seen, err)
	})
	if seen, err := requests(50); err != nil || len(seen) != 1 || seen[pod] != 50 {
		t.Errorf("with sessionAffinity ClientIP, 50 more requests were answered by %v (error %v), want all by %q", seen, err, pod)
	}

	setAffinity("hello: no session affinity", corev1.ServiceAffinityNone,
		"  sessionAffinity: ClientIP\n", "")
	spread("requests to reach all three pods again once affinity is removed")
}
