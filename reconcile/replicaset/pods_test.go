package replicaset

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// tp builds a test pod; opts change it.
func tp(name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, CreationTimestamp: metav1.NewTime(t0)},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(at time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at),
		})
	}
}
func created(at time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}
func restarts(n int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "c", RestartCount: n})
	}
}
func withLabels(kv ...string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	return out
}

func TestRankForDeletion(t *testing.T) {
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		related []*corev1.Pod // nil: the pods themselves
		want    []string
	}{
		{
			name: "unscheduled before scheduled",
			pods: []*corev1.Pod{tp("scheduled"), tp("unscheduled", onNode(""), phase(corev1.PodPending))},
			want: []string{"unscheduled", "scheduled"},
		},
		{
			name: "pending before unknown before running",
			pods: []*corev1.Pod{tp("running"), tp("unknown", phase(corev1.PodUnknown)), tp("pending", phase(corev1.PodPending))},
			want: []string{"pending", "unknown", "running"},
		},
		{
			name: "not ready before ready",
			pods: []*corev1.Pod{tp("ready", readySince(t0)), tp("not-ready")},
			want: []string{"not-ready", "ready"},
		},
		{
			name: "more related pods on the node first",
			pods: []*corev1.Pod{tp("alone", onNode("b"), readySince(t0)), tp("crowded", onNode("a"), readySince(t0))},
			related: []*corev1.Pod{
				tp("alone", onNode("b")), tp("crowded", onNode("a")), tp("sibling-1", onNode("a")), tp("sibling-2", onNode("a")),
				tp("gone", onNode("b"), phase(corev1.PodFailed)), tp("gone2", onNode("b"), phase(corev1.PodSucceeded)),
			},
			want: []string{"crowded", "alone"},
		},
		{
			name: "more recently ready first",
			pods: []*corev1.Pod{tp("old-ready", readySince(t0)), tp("new-ready", readySince(t0.Add(time.Minute)))},
			want: []string{"new-ready", "old-ready"},
		},
		{
			name: "more restarts first",
			pods: []*corev1.Pod{tp("calm", restarts(1)), tp("flappy", restarts(7))},
			want: []string{"flappy", "calm"},
		},
		{
			name: "newer first, zero creation time first of all",
			pods: []*corev1.Pod{tp("oldest", created(t0.Add(-time.Hour))), tp("newest", created(t0.Add(time.Hour))), tp("zero", created(time.Time{})), tp("middle")},
			want: []string{"zero", "newest", "middle", "oldest"},
		},
		{
			name: "phase outranks readiness and age",
			pods: []*corev1.Pod{
				tp("running-not-ready-new", created(t0.Add(time.Hour))),
				tp("pending-old", phase(corev1.PodPending), created(t0.Add(-time.Hour))),
				tp("running-ready-new", readySince(t0), created(t0.Add(2*time.Hour))),
			},
			want: []string{"pending-old", "running-not-ready-new", "running-ready-new"},
		},
		{
			name: "readiness outranks node crowding",
			pods: []*corev1.Pod{tp("ready-crowded", onNode("a"), readySince(t0)), tp("not-ready-alone", onNode("b"))},
			related: []*corev1.Pod{
				tp("ready-crowded", onNode("a")), tp("x", onNode("a")), tp("y", onNode("a")), tp("not-ready-alone", onNode("b")),
			},
			want: []string{"not-ready-alone", "ready-crowded"},
		},
		{
			name: "the order of the issue: unscheduled, pending, not ready, ready; newest first",
			pods: []*corev1.Pod{
				tp("ready-old", readySince(t0), created(t0.Add(-2*time.Hour))),
				tp("ready-new", readySince(t0), created(t0.Add(-time.Hour))),
				tp("not-ready"),
				tp("pending", phase(corev1.PodPending)),
				tp("unscheduled", onNode(""), phase(corev1.PodPending)),
			},
			want: []string{"unscheduled", "pending", "not-ready", "ready-new", "ready-old"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			related := tt.related
			if related == nil {
				related = tt.pods
			}
			got := names(rankForDeletion(tt.pods, related))
			if !slices.Equal(got, tt.want) {
				t.Errorf("deletion order = %v, want %v", got, tt.want)
			}
			// The order must not depend on the input order.
			rev := slices.Clone(tt.pods)
			slices.Reverse(rev)
			if got := names(rankForDeletion(rev, related)); !slices.Equal(got, tt.want) {
				t.Errorf("deletion order of reversed input = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodsToDelete(t *testing.T) {
	pods := []*corev1.Pod{tp("ready", readySince(t0)), tp("pending", phase(corev1.PodPending)), tp("not-ready")}
	tests := []struct {
		n    int
		want []string
	}{
		{1, []string{"pending"}},
		{2, []string{"pending", "not-ready"}},
		{3, []string{"pending", "not-ready", "ready"}},
	}
	for _, tt := range tests {
		got := names(podsToDelete(pods, pods, tt.n))
		if tt.n < len(pods) && !slices.Equal(got, tt.want) {
			t.Errorf("podsToDelete(%d) = %v, want %v", tt.n, got, tt.want)
		}
		if len(got) != tt.n {
			t.Errorf("podsToDelete(%d) returned %d pods", tt.n, len(got))
		}
	}
}

func TestAvailableIn(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name      string
		pod       *corev1.Pod
		minReady  int32
		available bool
		wait      time.Duration
	}{
		{"not ready", tp("p"), 0, false, 0},
		{"ready, no minReadySeconds", tp("p", readySince(now)), 0, true, 0},
		{"ready long enough", tp("p", readySince(now.Add(-11*time.Second))), 10, true, 0},
		{"ready exactly minReadySeconds is not enough", tp("p", readySince(now.Add(-10*time.Second))), 10, false, 0},
		{"ready for 4 of 10 seconds", tp("p", readySince(now.Add(-4*time.Second))), 10, false, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, w := availableIn(tt.pod, tt.minReady, now)
			if a != tt.available || w != tt.wait {
				t.Errorf("availableIn = %v, %v; want %v, %v", a, w, tt.available, tt.wait)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 4},
		Spec: appsv1.ReplicaSetSpec{
			MinReadySeconds: 30,
			Template:        corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}}},
		},
	}
	failed := appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: ReasonFailedCreate, Message: "old"}
	pods := []*corev1.Pod{
		tp("full-available", withLabels("app", "web", "tier", "fe"), readySince(now.Add(-time.Minute))),
		tp("partial-ready-recent", withLabels("app", "web"), readySince(now.Add(-10*time.Second))),
		tp("full-not-ready", withLabels("app", "web", "tier", "fe")),
	}
	tests := []struct {
		name       string
		conds      []appsv1.ReplicaSetCondition
		err        error
		diff       int
		wantReason string // "" = no ReplicaFailure condition
	}{
		{name: "no error, no condition"},
		{name: "create failure sets FailedCreate", err: errors.New("boom"), diff: -2, wantReason: ReasonFailedCreate},
		{name: "delete failure sets FailedDelete", err: errors.New("boom"), diff: 2, wantReason: ReasonFailedDelete},
		{name: "success clears the condition", conds: []appsv1.ReplicaSetCondition{failed}},
		{name: "an existing condition is kept as is", conds: []appsv1.ReplicaSetCondition{failed}, err: errors.New("new"), diff: 2, wantReason: ReasonFailedCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rs.DeepCopy()
			r.Status.Conditions = tt.conds
			o := &owner{rs: r, selector: labels.Everything()}
			st, wait := calculateStatus(o, pods, 1, true, tt.err, tt.diff, now)
			if st.Replicas != 3 || st.FullyLabeledReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 || st.ObservedGeneration != 4 {
				t.Errorf("status = %+v; want replicas 3, fullyLabeled 2, ready 2, available 1, observedGeneration 4", st)
			}
			if st.TerminatingReplicas == nil || *st.TerminatingReplicas != 1 {
				t.Errorf("terminatingReplicas = %v, want 1", st.TerminatingReplicas)
			}
			if want := 20*time.Second + 10*time.Millisecond; wait != want {
				t.Errorf("wait = %v, want %v", wait, want)
			}
			var reason string
			for _, c := range st.Conditions {
				if c.Type == appsv1.ReplicaSetReplicaFailure {
					reason = c.Reason
				}
			}
			if reason != tt.wantReason {
				t.Errorf("ReplicaFailure reason = %q, want %q (conditions %+v)", reason, tt.wantReason, st.Conditions)
			}
		})
	}
}

func TestSlowStartChunks(t *testing.T) {
	tests := []struct {
		name       string
		count      int
		chunk      int
		failAt     int // 1-based object whose chunk fails; 0 = none
		wantOK     int
		wantChunks []int // sizes of the chunks asked for, in order (parallelism 1)
	}{
		{name: "all succeed", count: 20, chunk: 50, wantOK: 20, wantChunks: []int{1, 2, 4, 8, 5}},
		{name: "chunks split large batches", count: 40, chunk: 10, wantOK: 40, wantChunks: []int{1, 2, 4, 8, 10, 6, 9}},
		{name: "first object fails: one try only", count: 20, chunk: 50, failAt: 1, wantOK: 0, wantChunks: []int{1}},
		// batches 1, 2, 4: object 5 is in the third batch, which runs to its end.
		{name: "failure in third batch stops after it", count: 20, chunk: 50, failAt: 5, wantOK: 3, wantChunks: []int{1, 2, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks []int
			done := 0
			ok, err := slowStartChunks(t.Context(), tt.count, tt.chunk, 1, func(_ context.Context, k int) (int, error) {
				chunks = append(chunks, k)
				if tt.failAt > done && tt.failAt <= done+k {
					done += k
					return 0, errors.New("create failed")
				}
				done += k
				return k, nil
			})
			if ok != tt.wantOK || !slices.Equal(chunks, tt.wantChunks) || (err != nil) != (tt.failAt > 0) {
				t.Errorf("slowStartChunks = %d, %v with chunks %v; want %d with chunks %v", ok, err, chunks, tt.wantOK, tt.wantChunks)
			}
		})
	}
}
