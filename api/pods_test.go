package api_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
)

func TestGracefulPodDelete(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	bound := func(mut ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		for _, m := range mut {
			m(p)
		}
		return p
	}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		grace     *int64
		graceful  bool
		wantGrace int64 // deletionGracePeriodSeconds when graceful
		wantAt    time.Time
	}{
		{"default 30 s", bound(), nil, true, 30, now.Add(30 * time.Second)},
		{"spec grace", bound(func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5) }), nil, true, 5, now.Add(5 * time.Second)},
		{"options override spec", bound(func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5) }), ptr.To[int64](2), true, 2, now.Add(2 * time.Second)},
		{"grace 0 removes at once", bound(), ptr.To[int64](0), false, 0, time.Time{}},
		{"negative is 0", bound(), ptr.To[int64](-3), false, 0, time.Time{}},
		{"unbound removes at once", &corev1.Pod{}, nil, false, 0, time.Time{}},
		{"succeeded removes at once", bound(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), nil, false, 0, time.Time{}},
		{"failed removes at once", bound(func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }), nil, false, 0, time.Time{}},
		{"second delete shortens", bound(func(p *corev1.Pod) {
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(20 * time.Second)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		}), ptr.To[int64](3), true, 3, now.Add(3 * time.Second)},
		{"second delete never lengthens", bound(func(p *corev1.Pod) {
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(2 * time.Second)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
		}), ptr.To[int64](60), true, 30, now.Add(2 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := api.GracefulPodDelete(tc.pod, now, tc.grace)
			if got != tc.graceful {
				t.Fatalf("graceful = %v, want %v", got, tc.graceful)
			}
			if !got {
				if tc.pod.DeletionTimestamp != nil {
					t.Errorf("deletionTimestamp set on a pod to remove at once: %v", tc.pod.DeletionTimestamp)
				}
				return
			}
			if tc.pod.DeletionTimestamp == nil || !tc.pod.DeletionTimestamp.Time.Equal(tc.wantAt) {
				t.Errorf("deletionTimestamp = %v, want %v", tc.pod.DeletionTimestamp, tc.wantAt)
			}
			if tc.pod.DeletionGracePeriodSeconds == nil || *tc.pod.DeletionGracePeriodSeconds != tc.wantGrace {
				t.Errorf("deletionGracePeriodSeconds = %v, want %d", tc.pod.DeletionGracePeriodSeconds, tc.wantGrace)
			}
		})
	}
}
