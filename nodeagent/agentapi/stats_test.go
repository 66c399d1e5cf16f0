package agentapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// TestStatsSummary: /stats/summary is 503 before the first sample, then
// kubelet's summary of the pods' running containers with the window of
// its CPU rates in a header; only the API server's credential reads it.
func TestStatsSummary(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	if code, body := get(t, f.hc, f.url+api.PathStatsSummary); code != http.StatusServiceUnavailable {
		t.Fatalf("before a sample: %d %s, want 503", code, body)
	}
	// Sample until two samples are apart in the runtime's time.
	testutil.Eventually(t, 5*time.Second, "a CPU rate", func() (bool, string) {
		if err := f.stats.Sample(context.Background()); err != nil {
			t.Fatal(err)
		}
		s, _ := f.stats.Summary()
		return len(s.Pods) == 1 && s.Pods[0].CPU.UsageNanoCores != nil, "no rate yet"
	})
	resp, err := f.hc.Get(f.url + api.PathStatsSummary)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum statsv1alpha1.Summary
	if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("summary: %d, %v", resp.StatusCode, err)
	}
	if w, err := time.ParseDuration(resp.Header.Get(api.HeaderStatsWindow)); err != nil || w <= 0 {
		t.Errorf("%s = %q, want the time between the samples", api.HeaderStatsWindow, resp.Header.Get(api.HeaderStatsWindow))
	}
	if sum.Node.NodeName != "n1" || *sum.Node.Memory.WorkingSetBytes != 1<<30 {
		t.Errorf("node = %+v, want n1 with 1Gi", sum.Node)
	}
	if len(sum.Pods) != 1 || sum.Pods[0].PodRef.Name != "web" || len(sum.Pods[0].Containers) != 1 ||
		sum.Pods[0].Containers[0].Name != "app" || *sum.Pods[0].Containers[0].Memory.WorkingSetBytes != runtimetest.DefaultUsage.MemoryBytes ||
		sum.Pods[0].Containers[0].CPU.UsageNanoCores == nil {
		t.Errorf("pods = %+v, want web's app with the fake's default usage and a CPU rate", sum.Pods)
	}
	nodeCert := f.ca.issue(t, "system:node:n2", "system:nodes")
	if code, body := get(t, httpClient(f.ca, &nodeCert), f.url+api.PathStatsSummary); code != http.StatusForbidden {
		t.Errorf("a node's credential: %d %s, want 403", code, body)
	}
}
