package hpa

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var appLabels = labels.Set{"app": "web"}

// podOpt changes a test pod.
type podOpt func(*corev1.Pod)

// testPod is a Running, Ready pod of app=web started 10 minutes before t0,
// requesting cpuRequest millicores and 100Mi of memory.
func testPod(name string, cpuRequest int64, opts ...podOpt) *corev1.Pod {
	started := metav1.NewTime(t0.Add(-10 * time.Minute))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(cpuRequest, resource.DecimalSI),
				corev1.ResourceMemory: resource.MustParse("100Mi"),
			},
		}}}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			StartTime:  &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func pending(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }

func deleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }

func noCPURequest(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Requests, corev1.ResourceCPU) }

// startedAgo makes the pod start d before t0 and turn ready (or not) at readyAt before t0.
func startedAgo(d, readyAgo time.Duration, ready bool) podOpt {
	return func(p *corev1.Pod) {
		p.Status.StartTime = &metav1.Time{Time: t0.Add(-d)}
		st := corev1.ConditionTrue
		if !ready {
			st = corev1.ConditionFalse
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(t0.Add(-readyAgo))}}
	}
}

func newTestCalculator(pods []*corev1.Pod, m *fakeMetrics) *calculator {
	return &calculator{
		metrics:        m,
		pods:           func(string, labels.Selector) []*corev1.Pod { return pods },
		now:            func() time.Time { return t0 },
		tolerance:      DefaultTolerance,
		cpuInitPeriod:  DefaultCPUInitializationPeriod,
		readinessDelay: DefaultInitialReadinessDelay,
	}
}

func TestResourceReplicasUtilization(t *testing.T) {
	tests := []struct {
		name        string
		pods        []*corev1.Pod
		usage       map[string]int64 // cpu millicores by pod; absent = no metrics
		current     int32
		target      int32
		want        int32
		wantUtil    int32
		wantErrText string
	}{
		{name: "scale up: 90% of request against 50%",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 900, "b": 900, "c": 900, "d": 900}, current: 4, target: 50, want: 8, wantUtil: 90},
		{name: "within the 10% tolerance: 53% against 50%",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 530, "b": 530, "c": 530, "d": 530}, current: 4, target: 50, want: 4, wantUtil: 53},
		{name: "just outside the tolerance: 56% against 50%",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 560, "b": 560, "c": 560, "d": 560}, current: 4, target: 50, want: 5, wantUtil: 56},
		{name: "scale down: 10% against 50%",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 100, "b": 100, "c": 100, "d": 100}, current: 4, target: 50, want: 1, wantUtil: 10},
		{name: "missing metric on a scale up counts as 0",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 900, "b": 900, "c": 900}, current: 4, target: 50, want: 6, wantUtil: 90},
		{name: "missing metric on a scale down counts as 100% of its request",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000)},
			usage: map[string]int64{"a": 100, "b": 100, "c": 100}, current: 4, target: 50, want: 3, wantUtil: 10},
		{name: "pending pod counts as 0 on a scale up",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000, pending)},
			usage: map[string]int64{"a": 900, "b": 900, "c": 900, "d": 900}, current: 4, target: 50, want: 6, wantUtil: 90},
		{name: "pending pod is left out of a scale down",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000), testPod("d", 1000, pending)},
			usage: map[string]int64{"a": 100, "b": 100, "c": 100, "d": 900}, current: 4, target: 50, want: 1, wantUtil: 10},
		{name: "cpu sample within the initialization period, ready for less than a window: unready",
			pods: []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, startedAgo(time.Minute, 10*time.Second, true))},
			// c counted as ready would make it 93% and 6 replicas; as unready it counts as 0: 60%, 4.
			usage: map[string]int64{"a": 900, "b": 900, "c": 1000}, current: 3, target: 50, want: 4, wantUtil: 90},
		{name: "never ready pod after the initialization period: unready",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, startedAgo(10*time.Minute, 10*time.Minute-10*time.Second, false))},
			usage: map[string]int64{"a": 900, "b": 900, "c": 1000}, current: 3, target: 50, want: 4, wantUtil: 90},
		{name: "unready pod that was ready once, after the initialization period, still counts",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, startedAgo(10*time.Minute, time.Minute, false))},
			usage: map[string]int64{"a": 900, "b": 900, "c": 1000}, current: 3, target: 50, want: 6, wantUtil: 93},
		{name: "deleted pod is ignored",
			pods:  []*corev1.Pod{testPod("a", 1000), testPod("b", 1000), testPod("c", 1000, deleting)},
			usage: map[string]int64{"a": 900, "b": 900, "c": 0}, current: 3, target: 50, want: 4, wantUtil: 90},
		{name: "no metrics at all",
			pods: []*corev1.Pod{testPod("a", 1000)}, usage: map[string]int64{}, current: 1, target: 50,
			wantErrText: "unable to get metrics for resource cpu: no metrics returned from resource metrics API"},
		{name: "metrics only of unready pods",
			pods: []*corev1.Pod{testPod("a", 1000, pending)}, usage: map[string]int64{"a": 500}, current: 1, target: 50,
			wantErrText: "did not receive metrics for targeted pods (pods might be unready)"},
		{name: "container without a cpu request",
			pods: []*corev1.Pod{testPod("a", 1000, noCPURequest)}, usage: map[string]int64{"a": 500}, current: 1, target: 50,
			wantErrText: "missing request for cpu in container app of Pod a"},
		{name: "no pods",
			pods: nil, usage: map[string]int64{"a": 500}, current: 1, target: 50,
			wantErrText: "no pods returned by selector while calculating replica count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMetrics(func() time.Time { return t0 })
			for pod, v := range tt.usage {
				m.set(pod, appLabels, v)
			}
			c := newTestCalculator(tt.pods, m)
			got, err := c.resourceReplicas(context.Background(), tt.current, tt.target, corev1.ResourceCPU, "default", labels.SelectorFromSet(appLabels))
			if tt.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.replicas != tt.want || got.utilization != tt.wantUtil {
				t.Errorf("replicas %d at %d%%, want %d at %d%%", got.replicas, got.utilization, tt.want, tt.wantUtil)
			}
		})
	}
}

func TestRawResourceReplicasAverageValue(t *testing.T) {
	mi := int64(1 << 20)
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		memory  map[string]int64 // bytes
		current int32
		target  string
		want    int32
	}{
		{name: "twice the average value", pods: []*corev1.Pod{testPod("a", 100), testPod("b", 100)},
			memory: map[string]int64{"a": 200 * mi, "b": 200 * mi}, current: 2, target: "100Mi", want: 4},
		{name: "within tolerance", pods: []*corev1.Pod{testPod("a", 100), testPod("b", 100)},
			memory: map[string]int64{"a": 105 * mi, "b": 105 * mi}, current: 2, target: "100Mi", want: 2},
		{name: "half the average value", pods: []*corev1.Pod{testPod("a", 100), testPod("b", 100), testPod("c", 100), testPod("d", 100)},
			memory: map[string]int64{"a": 50 * mi, "b": 50 * mi, "c": 50 * mi, "d": 50 * mi}, current: 4, target: "100Mi", want: 2},
		{name: "missing pod on a scale down counts as the target",
			pods:   []*corev1.Pod{testPod("a", 100), testPod("b", 100), testPod("c", 100), testPod("d", 100)},
			memory: map[string]int64{"a": 20 * mi, "b": 20 * mi, "c": 20 * mi}, current: 4, target: "100Mi", want: 2},
		{name: "memory of a starting pod counts (the readiness rules are cpu's)",
			pods:   []*corev1.Pod{testPod("a", 100), testPod("b", 100, startedAgo(time.Minute, 10*time.Second, true))},
			memory: map[string]int64{"a": 200 * mi, "b": 200 * mi}, current: 2, target: "100Mi", want: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeMetrics(func() time.Time { return t0 })
			for pod, v := range tt.memory {
				m.labels[pod], m.memory[pod] = appLabels, v
			}
			c := newTestCalculator(tt.pods, m)
			q := resource.MustParse(tt.target)
			got, err := c.rawResourceReplicas(context.Background(), tt.current, q.MilliValue(), corev1.ResourceMemory, "default", labels.SelectorFromSet(appLabels))
			if err != nil {
				t.Fatal(err)
			}
			if got.replicas != tt.want {
				t.Errorf("replicas %d, want %d", got.replicas, tt.want)
			}
		})
	}
}
