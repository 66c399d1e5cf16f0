package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/metrics/metricstest"
)

// checkObservability checks, on a node running the demo Deployment (pods
// ps), that the cluster explains itself: the server's /metrics, parsed
// with the Prometheus text parser, has the metrics of every component
// that did the work, and the Events of a pod and of its Deployment tell
// its story, from the commit to the running container, and kubectl top
// (metrics.k8s.io, from the agent's stats) shows the pods' and the node's
// CPU and memory.
func checkObservability(t *testing.T, h *nodeHost, ps []*corev1.Pod) {
	t.Helper()
	body, err := h.get("http://" + h.listen + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	fams, err := metricstest.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		least  float64
	}{
		{"etcd_server_has_leader", nil, 1},
		{"apiserver_request_total", map[string]string{"verb": "LIST", "resource": "pods"}, 1},
		{"apiserver_request_duration_seconds", map[string]string{"verb": "POST"}, 1},
		{"workqueue_adds_total", map[string]string{"name": "deployment"}, 1},
		{"workqueue_adds_total", map[string]string{"name": "replicaset"}, 1},
		{"scheduler_schedule_attempts_total", map[string]string{"result": "scheduled"}, float64(len(ps))},
		{"bosun_sync_total", map[string]string{"result": "applied"}, 1},
		{"bosun_sync_objects_total", map[string]string{"op": "created"}, 1},
		{"kubelet_pod_start_duration_seconds", nil, float64(len(ps))},
		{"kubelet_running_pods", nil, float64(len(ps))},
		{"kubeproxy_sync_proxy_rules_duration_seconds", nil, 1},
		{"go_goroutines", nil, 1},
	} {
		if got, ok := metricstest.Value(fams, c.name, c.labels); !ok || got < c.least {
			t.Errorf("/metrics: %s%v = %v (found %v), want at least %v", c.name, c.labels, got, ok, c.least)
		}
	}

	p := ps[0]
	want := []struct{ kind, name, reason, from, message string }{
		{"Pod", p.Name, "Scheduled", "default-scheduler", "Successfully assigned demo/" + p.Name + " to "},
		{"Pod", p.Name, "Created", "kubelet", "Created container: "},
		{"Pod", p.Name, "Started", "kubelet", "Started container "},
		{"Deployment", "hello", "ScalingReplicaSet", "deployment-controller", "Scaled up replica set hello-"},
		{"Deployment", "hello", "Synced", "bosun-sync", "Created from commit "},
	}
	evRes := resource(t, "events")
	testutil.Eventually(t, 30*time.Second, "the Events of a pod and its Deployment", func() (bool, string) {
		objs, err := h.client().List(context.Background(), evRes, "demo", "")
		if err != nil {
			return false, err.Error()
		}
		var missing []string
	next:
		for _, w := range want {
			for _, o := range objs {
				ev := o.(*corev1.Event)
				if ev.InvolvedObject.Kind == w.kind && ev.InvolvedObject.Name == w.name && ev.Reason == w.reason &&
					ev.Source.Component == w.from && strings.HasPrefix(ev.Message, w.message) {
					continue next
				}
			}
			missing = append(missing, fmt.Sprintf("%s %s/%s from %s %q...", w.reason, w.kind, w.name, w.from, w.message))
		}
		return len(missing) == 0, "missing: " + strings.Join(missing, "; ")
	})
	// bosun describe shows them too.
	out, err := h.bosun("describe", "pod", p.Name, "-n", "demo")
	if err != nil || !strings.Contains(out, "Scheduled") || !strings.Contains(out, "default-scheduler") {
		t.Errorf("bosun describe pod %s: %v\n%s", p.Name, err, out)
	}
	checkTop(t, h, ps)
}

// checkTop reads metrics.k8s.io as kubectl top does: every pod of ps and
// the node have memory in use (a working set above zero) once the
// agent has taken two samples, and kubectl top shows them when kubectl
// is installed.
func checkTop(t *testing.T, h *nodeHost, ps []*corev1.Pod) {
	t.Helper()
	base := "http://" + h.listen + "/apis/metrics.k8s.io/v1beta1"
	testutil.Eventually(t, 60*time.Second, "metrics of every demo pod", func() (bool, string) {
		body, err := h.get(base + "/namespaces/demo/pods?labelSelector=app%3Dhello")
		if err != nil {
			return false, err.Error()
		}
		var list metricsv1beta1.PodMetricsList
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			return false, body
		}
		seen := 0
		for _, m := range list.Items {
			for _, c := range m.Containers {
				if c.Usage.Memory().Value() > 0 {
					seen++
				}
			}
		}
		return seen == len(ps), body
	})
	body, err := h.get(base + "/nodes")
	var nodes metricsv1beta1.NodeMetricsList
	if err == nil {
		err = json.Unmarshal([]byte(body), &nodes)
	}
	if err != nil || len(nodes.Items) != 1 || nodes.Items[0].Usage.Memory().Value() <= 0 || nodes.Items[0].Window.Duration <= 0 {
		t.Errorf("node metrics: %v\n%s; want the node with its memory in use and a window", err, body)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("no kubectl: kubectl top not run")
		return
	}
	home := t.TempDir()
	for _, args := range [][]string{{"top", "pod", "-n", "demo"}, {"top", "node"}} {
		// In the node's network namespace, where the server listens.
		cmd := h.host.Command(context.Background(), kubectl, append([]string{"--server", "http://" + h.listen, "--cache-dir", home + "/cache"}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		out, err := cmd.CombinedOutput()
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
		if err != nil || !strings.Contains(string(out), "MEMORY(bytes)") || strings.Contains(string(out), "<unknown>") {
			t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[1] == "pod" {
			for _, p := range ps {
				if !strings.Contains(string(out), p.Name) {
					t.Errorf("kubectl top pod -n demo lacks pod %s:\n%s", p.Name, out)
				}
			}
		}
	}
}
