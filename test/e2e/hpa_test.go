//go:build linux

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"

	"github.com/bosun-dev/bosun/internal/testutil"
)

// hpaBurnDeployment is a Deployment of the example app whose pods request
// 100m of cpu, so that one busy CPU is 1000% of the request.
func hpaBurnDeployment(note string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
  namespace: demo
  annotations: {note: %q}
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      containers:
        - name: burn
          image: bosun.local/hello:v1
          ports:
            - {name: http, containerPort: 8080}
          readinessProbe:
            httpGet: {path: /ready, port: http}
            periodSeconds: 1
          resources:
            requests: {cpu: 100m, memory: 32Mi}
`, note)
}

// hpaBurn autoscales the burn Deployment between 1 and 3 replicas at 50%
// of its cpu requests.
const hpaBurn = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
  namespace: demo
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: 50}
`

// hpaLoad keeps CPUs of the pods busy with /burn requests until stopped.
type hpaLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

func startHPALoad(h *nodeHost, urls []string) *hpaLoad {
	l := &hpaLoad{stop: make(chan struct{})}
	for _, u := range urls {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				_, _ = h.get(u + "/burn?ms=500")
			}
		})
	}
	return l
}

func (l *hpaLoad) close() {
	close(l.stop)
	l.wg.Wait()
}

// TestHPAScalesUnderCPULoad is issue 16's HPA test on a real node: a
// Deployment of the example app with cpu requests, an HPA committed to Git
// targeting 50% cpu, load from the
// app's /burn endpoint; the HPA scales the Deployment up, says why in an
// Event, and a later commit of the Deployment keeps the HPA's count.
func TestHPAScalesUnderCPULoad(t *testing.T) {
	r := newRepo(t)
	r.write("apps/burn/deployment.yaml", hpaBurnDeployment("v1"))
	r.commitAll("Add the burn app")
	h := newNodeHost(t, r.dir, "--horizontal-pod-autoscaler-sync-period", "2s")
	ps := h.readyPods("demo", "app=burn", 1)

	ctx := context.Background()
	c := h.client()
	r.write("apps/burn/hpa.yaml", hpaBurn)
	r.commitAll("Autoscale the burn app")
	testutil.EventuallyTrue(t, 60*time.Second, "the HPA synced from Git", func() bool {
		_, err := c.Get(ctx, resource(t, "horizontalpodautoscalers"), "demo", "burn")
		return err == nil
	})

	load := startHPALoad(h, []string{"http://" + ps[0].Status.PodIP + ":8080", "http://" + ps[0].Status.PodIP + ":8080"})
	defer load.close()

	replicas := func() int32 {
		o, err := c.Get(ctx, resource(t, "deployments"), "demo", "burn")
		if err != nil {
			t.Fatal(err)
		}
		return *o.(*appsv1.Deployment).Spec.Replicas
	}
	// Metrics need two samples of the agent (10 to 20 s), then one sync period.
	testutil.Eventually(t, 120*time.Second, "the HPA to scale burn up", func() (bool, string) {
		o, err := c.Get(ctx, resource(t, "horizontalpodautoscalers"), "demo", "burn")
		if err != nil {
			return false, err.Error()
		}
		hpa := o.(*autoscalingv2.HorizontalPodAutoscaler)
		var conds []string
		for _, cond := range hpa.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message))
		}
		n := replicas()
		return n > 1, fmt.Sprintf("replicas %d; HPA status current %d desired %d; %s", n, hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas, strings.Join(conds, "; "))
	})
	out, err := h.bosun("get", "events", "-n", "demo")
	if err != nil || !strings.Contains(out, "SuccessfulRescale") || !strings.Contains(out, "cpu resource utilization (percentage of request) above target") {
		t.Errorf("bosun get events -n demo: %v\n%s\nwant a SuccessfulRescale Event naming cpu utilization", err, out)
	}
	scaled := replicas()
	h.readyPods("demo", "app=burn", int(scaled))

	// A commit that changes the Deployment leaves the HPA's count alone.
	r.write("apps/burn/deployment.yaml", hpaBurnDeployment("v2"))
	sha := r.commitAll("burn: v2 note")
	testutil.Eventually(t, 30*time.Second, "the commit synced", func() (bool, string) {
		o, err := c.Get(ctx, resource(t, "deployments"), "demo", "burn")
		if err != nil {
			return false, err.Error()
		}
		d := o.(*appsv1.Deployment)
		return d.Annotations["note"] == "v2", fmt.Sprintf("note %q, commit %s", d.Annotations["note"], sha)
	})
	if n := replicas(); n < scaled {
		t.Errorf("after a commit of the Deployment: %d replicas, want the HPA's %d (Git says 1)", n, scaled)
	}
}
