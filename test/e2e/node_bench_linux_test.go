package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// benchPod is a bare pod bound to the node, as the scheduler would bind it.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"bench": "start"}},
		Spec: corev1.PodSpec{
			NodeName:      "node-1",
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "app", Image: "bosun.local/hello:v1", ImagePullPolicy: corev1.PullIfNotPresent,
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

// watchPodTimes records, per pod name, when the agent first reported the
// container running and the pod Ready.
type podTimes struct {
	mu             sync.Mutex
	running, ready map[string]time.Time
}

func (p *podTimes) observe(ev client.Event) error {
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			if _, seen := p.running[pod.Name]; !seen {
				p.running[pod.Name] = now
			}
		}
	}
	if podReady(pod) {
		if _, seen := p.ready[pod.Name]; !seen {
			p.ready[pod.Name] = now
		}
	}
	return nil
}

func (p *podTimes) get(name string) (running, ready time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running[name], p.ready[name]
}

// BenchmarkNodePodStart measures, on a real node (containerd, CNI), the
// time from a pod bound to the node being written to the API until the
// agent reports its container running, and until Ready (readiness probe
// every second), median of 30 pods started one after another; then 50 pods
// bound at once, until all are Ready. Compare with the raw containerd
// start of BenchmarkPodStart in nodeagent/runtime/containerd (make bench
// runs both).
func BenchmarkNodePodStart(b *testing.B) {
	r := newRepo(b)
	r.git("rm", "-q", "-r", "apps")
	r.commitAll("no apps")
	for b.Loop() {
		h := newNodeHost(b, r.dir)
		c := h.client()
		pods := resource(b, "pods")
		times := &podTimes{running: map[string]time.Time{}, ready: map[string]time.Time{}}
		ctx, cancel := context.WithCancel(context.Background())
		_, rv, err := c.ListAt(ctx, pods, "default", "")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = c.Watch(ctx, pods, "default", "bench=start", rv, times.observe) }()
		// Warm up: the node's network appears with its first pod.
		h.startAndWait(b, c, times, "warmup")

		var toRunning, toReady []time.Duration
		for i := range 30 {
			name := fmt.Sprintf("single-%02d", i)
			start := time.Now()
			h.startAndWait(b, c, times, name)
			running, ready := times.get(name)
			toRunning = append(toRunning, running.Sub(start))
			toReady = append(toReady, ready.Sub(start))
			if err := c.Delete(ctx, pods, "default", name, ""); err != nil {
				b.Fatal(err)
			}
		}
		slices.Sort(toRunning)
		slices.Sort(toReady)
		b.ReportMetric(ms(toRunning[len(toRunning)/2]), "running-median-ms")
		b.ReportMetric(ms(toReady[len(toReady)/2]), "ready-median-ms")

		start := time.Now()
		var names []string
		for i := range 50 {
			name := fmt.Sprintf("burst-%02d", i)
			names = append(names, name)
			if err := c.Create(ctx, pods, benchPod(name)); err != nil {
				b.Fatal(err)
			}
		}
		testutil.Eventually(b, 3*time.Minute, "50 pods Ready", func() (bool, string) {
			n := 0
			for _, name := range names {
				if _, ready := times.get(name); !ready.IsZero() {
					n++
				}
			}
			return n == 50, fmt.Sprintf("%d ready", n)
		})
		b.ReportMetric(time.Since(start).Seconds(), "50-pods-ready-s")
		cancel()
	}
}

func (h *nodeHost) startAndWait(b *testing.B, c *client.Client, times *podTimes, name string) {
	b.Helper()
	if err := c.Create(context.Background(), resource(b, "pods"), benchPod(name)); err != nil {
		b.Fatal(err)
	}
	testutil.Eventually(b, 60*time.Second, "pod "+name+" Ready", func() (bool, string) {
		_, ready := times.get(name)
		return !ready.IsZero(), "not ready"
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
