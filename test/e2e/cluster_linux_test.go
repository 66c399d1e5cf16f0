package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// Node lifecycle timings of the cluster tests' server: an agent renews its
// Lease every 10 s, so the grace period must be longer than that.
const (
	clusterGracePeriod     = "20s"
	clusterEvictionTimeout = "2s"
)

// clusterRepo is the example repository with the hello Deployment at zero
// replicas, so that no pod is placed before every machine has joined.
func clusterRepo(t testing.TB) *repo {
	r := newRepo(t)
	r.replace("apps/hello/deployment.yaml", "replicas: 3", "replicas: 0")
	r.commitAll("hello: no replicas until the machines have joined")
	return r
}

// scaleHello commits the hello Deployment's replica count.
func scaleHello(r *repo, from, to int) {
	r.replace("apps/hello/deployment.yaml", fmt.Sprintf("replicas: %d", from), fmt.Sprintf("replicas: %d", to))
	r.commitAll(fmt.Sprintf("hello: %d replicas", to))
}

// podNames lists pod names by node, for messages.
func podNames(byNode map[string][]*corev1.Pod) map[string][]string {
	out := map[string][]string{}
	for n, ps := range byNode {
		for _, p := range ps {
			out[n] = append(out[n], p.Name)
		}
	}
	return out
}

// checkOutlived fails t unless every task in running still runs: a killed
// agent leaves its containers running, as kubelet does.
func checkOutlived(t testing.TB, m *machine, running map[string]task) {
	t.Helper()
	if len(running) == 0 {
		t.Fatalf("no containers ran on %s before it was killed", m.name)
	}
	for id, tk := range running {
		if start, err := procStart(tk.pid); err != nil || start != tk.start {
			t.Fatalf("container %s on %s: process %d did not outlive its agent (%v)", id, m.name, tk.pid, err)
		}
	}
}

// waitNoStaleContainers waits until m's containerd holds only containers of
// pods bound to m in the API c, and until the processes of the containers
// in before that are no longer any pod's have ended: a rejoining agent
// removes what belonged to pods deleted while it was away.
func waitNoStaleContainers(t testing.TB, c *client.Client, m *machine, before map[string]task) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, m.name+"'s containers of deleted pods removed", func() (bool, string) {
		owned := map[string]bool{}
		for _, p := range listPods(t, c, "", "") {
			if p.Spec.NodeName != m.name {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				owned[strings.TrimPrefix(cs.ContainerID, "containerd://")] = true
			}
		}
		ids, err := m.containers()
		if err != nil {
			return false, err.Error()
		}
		var stale []string
		for _, id := range ids {
			if !owned[id] {
				stale = append(stale, "container "+id)
			}
		}
		for id, tk := range before {
			if start, err := procStart(tk.pid); !owned[id] && err == nil && start == tk.start {
				stale = append(stale, fmt.Sprintf("process %d of container %s", tk.pid, id))
			}
		}
		return len(stale) == 0, fmt.Sprintf("left of no pod on %s: %v", m.name, stale)
	})
}
