package nodeagent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/metrics/metricstest"
)

func TestAgentMetrics(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	waiting := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	st := func(phase corev1.PodPhase, cs ...corev1.ContainerStatus) *corev1.PodStatus {
		return &corev1.PodStatus{Phase: phase, ContainerStatuses: cs}
	}
	reg := metrics.NewRegistry()
	m := newAgentMetrics(reg)
	// A new pod: seen without a sandbox, one container up, then both.
	m.seen("new", false, t0)
	m.synced("new", st(corev1.PodPending, running, waiting), t0.Add(time.Second))
	m.seen("new", true, t0.Add(2*time.Second)) // later syncs do not move the clock
	m.synced("new", st(corev1.PodRunning, running, running), t0.Add(3*time.Second))
	m.synced("new", st(corev1.PodRunning, running, running), t0.Add(9*time.Second)) // observed once
	// A pod running before the agent started: adopted, not timed.
	m.seen("adopted", true, t0)
	m.synced("adopted", st(corev1.PodRunning, running), t0.Add(time.Second))
	fams := metricstest.Families(t, reg)
	if n, _ := metricstest.Value(fams, "kubelet_pod_start_duration_seconds", nil); n != 1 {
		t.Errorf("%v pod starts observed, want 1", n)
	}
	if sum := fams["kubelet_pod_start_duration_seconds"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != 3 {
		t.Errorf("pod start took %vs, want 3", sum)
	}
	for name, want := range map[string]float64{"kubelet_running_pods": 2, "kubelet_running_containers": 3} {
		if got, _ := metricstest.Value(fams, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.gone("adopted")
	if got, _ := metricstest.Value(metricstest.Families(t, reg), "kubelet_running_pods", nil); got != 1 {
		t.Errorf("kubelet_running_pods after a pod went = %v, want 1", got)
	}
}
