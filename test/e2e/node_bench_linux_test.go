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

	"sigs.k8s.io/yaml"

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

// podTimes records, per pod name, when the pod first appeared in the API
// and when the agent first reported its container running and the pod
// Ready.
type podTimes struct {
	mu                    sync.Mutex
	added, running, ready map[string]time.Time
}

func (p *podTimes) observe(ev client.Event) error {
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return nil
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.added[pod.Name]; !seen {
		p.added[pod.Name] = now
	}
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

func (p *podTimes) addedAt(name string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.added[name]
}

// BenchmarkNodePodStart measures, on a real node (containerd, CNI), the
// time from a pod bound to the node appearing in the API (committed to Git
// and synced: the API writes no desired state) until the agent reports its
// container running, and until Ready (readiness probe every second), median
// of 30 pods started one after another; then 50 pods bound at once (one
// commit), from their appearance until all are Ready. Compare with the raw containerd
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
		times := &podTimes{added: map[string]time.Time{}, running: map[string]time.Time{}, ready: map[string]time.Time{}}
		ctx, cancel := context.WithCancel(context.Background())
		_, rv, err := c.ListAt(ctx, pods, "default", "")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = c.Watch(ctx, pods, "default", "bench=start", rv, times.observe) }()
		// Warm up: the node's network appears with its first pod.
		h.startAndWait(b, r, times, "warmup")

		var toRunning, toReady []time.Duration
		for i := range 30 {
			name := fmt.Sprintf("single-%02d", i)
			h.startAndWait(b, r, times, name)
			start := times.addedAt(name)
			running, ready := times.get(name)
			toRunning = append(toRunning, running.Sub(start))
			toReady = append(toReady, ready.Sub(start))
			r.git("rm", "-q", benchPodFile(name))
			r.commitAll("remove " + name) // sync prunes it

		}
		slices.Sort(toRunning)
		slices.Sort(toReady)
		b.ReportMetric(ms(toRunning[len(toRunning)/2]), "running-median-ms")
		b.ReportMetric(ms(toReady[len(toReady)/2]), "ready-median-ms")

		var names []string
		for i := range 50 {
			name := fmt.Sprintf("burst-%02d", i)
			names = append(names, name)
			writeBenchPod(b, r, name)
		}
		r.commitAll("50 pods")
		var start time.Time
		testutil.Eventually(b, time.Minute, "50 pods in the API", func() (bool, string) {
			start = times.addedAt(names[0])
			return !start.IsZero(), "not synced yet"
		})
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

// benchPodFile is where the manifest of bench pod name lives in the repo.
func benchPodFile(name string) string { return "apps/" + name + ".yaml" }

// writeBenchPod writes the manifest of bench pod name into the repo.
func writeBenchPod(b *testing.B, r *repo, name string) {
	b.Helper()
	p := benchPod(name)
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	y, err := yaml.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	r.write(benchPodFile(name), string(y))
}

// startAndWait commits pod name to the repo and waits until it is Ready.
func (h *nodeHost) startAndWait(b *testing.B, r *repo, times *podTimes, name string) {
	b.Helper()
	writeBenchPod(b, r, name)
	r.commitAll("add " + name)
	testutil.Eventually(b, 60*time.Second, "pod "+name+" Ready", func() (bool, string) {
		_, ready := times.get(name)
		return !ready.IsZero(), "not ready"
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
