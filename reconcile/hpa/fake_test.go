package hpa

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// fakeMetrics is a MetricsSource whose per-pod usage the test sets: cpu in
// millicores, memory in bytes, sampled at now() over a 30 s window.
type fakeMetrics struct {
	mu     sync.Mutex
	now    func() time.Time
	cpu    map[string]int64
	memory map[string]int64
	labels map[string]labels.Set
	calls  int
}

func newFakeMetrics(now func() time.Time) *fakeMetrics {
	return &fakeMetrics{now: now, cpu: map[string]int64{}, memory: map[string]int64{}, labels: map[string]labels.Set{}}
}

// set gives pod (labelled lbls) its cpu usage in millicores.
func (f *fakeMetrics) set(pod string, lbls labels.Set, cpuMilli int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cpu[pod], f.labels[pod] = cpuMilli, lbls
}

// clear drops every pod's metrics.
func (f *fakeMetrics) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cpu, f.memory = map[string]int64{}, map[string]int64{}
}

func (f *fakeMetrics) PodMetrics(_ context.Context, _ string, sel labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var out []metricsv1beta1.PodMetrics
	for name, lbls := range f.labels {
		if !sel.Matches(lbls) {
			continue
		}
		usage := corev1.ResourceList{}
		if v, ok := f.cpu[name]; ok {
			usage[corev1.ResourceCPU] = *resource.NewMilliQuantity(v, resource.DecimalSI)
		}
		if v, ok := f.memory[name]; ok {
			usage[corev1.ResourceMemory] = *resource.NewQuantity(v, resource.BinarySI)
		}
		if len(usage) == 0 {
			continue
		}
		out = append(out, metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Timestamp:  metav1.NewTime(f.now()),
			Window:     metav1.Duration{Duration: 30 * time.Second},
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "app", Usage: usage}},
		})
	}
	return out, nil
}
