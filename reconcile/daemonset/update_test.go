package daemonset

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// dpod is a daemon pod on node of revision hash; ready says whether it is
// ready (since t0 - 1 min).
func dpod(name, node, hash string, ready bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			Labels: map[string]string{LabelRevisionHash: hash, LabelTemplateGeneration: map[string]string{"new": "2", "old": "1"}[hash]}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}}
	}
	return p
}

func podNames(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

func TestUnavailablePlan(t *testing.T) {
	tests := []struct {
		name           string
		pods           []*corev1.Pod
		maxUnavailable int
		wantN          int      // pods deleted
		mustInclude    []string // pods that must be among them
	}{
		{name: "all old and available: maxUnavailable of them", maxUnavailable: 2, wantN: 2,
			pods: []*corev1.Pod{dpod("a", "n1", "old", true), dpod("b", "n2", "old", true), dpod("c", "n3", "old", true), dpod("d", "n4", "old", true)}},
		{name: "an unavailable new pod uses the budget", maxUnavailable: 2, wantN: 1,
			pods: []*corev1.Pod{dpod("a", "n1", "new", false), dpod("b", "n2", "old", true), dpod("c", "n3", "old", true)}},
		{name: "budget used up: nothing", maxUnavailable: 1, wantN: 0,
			pods: []*corev1.Pod{dpod("a", "n1", "new", false), dpod("b", "n2", "old", true)}},
		{name: "an unavailable old pod is always replaced", maxUnavailable: 1, wantN: 1, mustInclude: []string{"b"},
			pods: []*corev1.Pod{dpod("a", "n1", "new", false), dpod("b", "n2", "old", false), dpod("c", "n3", "old", true)}},
		{name: "all new and available: nothing", maxUnavailable: 3, wantN: 0,
			pods: []*corev1.Pod{dpod("a", "n1", "new", true), dpod("b", "n2", "new", true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &rollout{ds: testSet(nil), hash: "new", gen: 2, now: t0, byNode: groupByNode(tt.pods, false), maxUnavailable: tt.maxUnavailable}
			got := podNames(r.unavailablePlan())
			if len(got) != tt.wantN {
				t.Errorf("deleted %v, want %d pods", got, tt.wantN)
			}
			for _, n := range tt.mustInclude {
				if !slices.Contains(got, n) {
					t.Errorf("deleted %v, want %s among them", got, n)
				}
			}
		})
	}
}

func TestSurgePlan(t *testing.T) {
	run := eligibility{true, true}
	tests := []struct {
		name       string
		pods       []*corev1.Pod
		nodes      []string // all eligible
		maxSurge   int
		wantDelete []string
		wantCreate int
	}{
		{name: "old available pods: maxSurge new ones beside them", maxSurge: 2, wantCreate: 2, nodes: []string{"n1", "n2", "n3"},
			pods: []*corev1.Pod{dpod("a", "n1", "old", true), dpod("b", "n2", "old", true), dpod("c", "n3", "old", true)}},
		{name: "a surging node counts against maxSurge", maxSurge: 1, wantCreate: 0, nodes: []string{"n1", "n2"},
			pods: []*corev1.Pod{dpod("a", "n1", "old", true), dpod("a2", "n1", "new", false), dpod("b", "n2", "old", true)}},
		{name: "the old pod goes once the new one is available", maxSurge: 1, wantCreate: 1, wantDelete: []string{"a"}, nodes: []string{"n1", "n2"},
			pods: []*corev1.Pod{dpod("a", "n1", "old", true), dpod("a2", "n1", "new", true), dpod("b", "n2", "old", true)}},
		{name: "an unavailable old pod gets a new one beyond maxSurge", maxSurge: 1, wantCreate: 2, nodes: []string{"n1", "n2"},
			pods: []*corev1.Pod{dpod("a", "n1", "old", false), dpod("b", "n2", "old", true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verdicts := map[string]eligibility{}
			for _, n := range tt.nodes {
				verdicts[n] = run
			}
			r := &rollout{ds: testSet(nil), hash: "new", gen: 2, now: t0, byNode: groupByNode(tt.pods, false), maxSurge: tt.maxSurge, desired: len(tt.nodes)}
			del, create := r.surgePlan(verdicts)
			if got := podNames(del); !slices.Equal(got, tt.wantDelete) && (len(got) > 0 || len(tt.wantDelete) > 0) {
				t.Errorf("deleted %v, want %v", got, tt.wantDelete)
			}
			if len(create) != tt.wantCreate {
				t.Errorf("new pods on %v, want %d nodes", create, tt.wantCreate)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	ds := testSet(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"role": "worker"} })
	ds.Generation = 5
	ds.Spec.MinReadySeconds = 120
	worker := map[string]string{"role": "worker"}
	nodes := []*corev1.Node{testNode("n1", worker), testNode("n2", worker), testNode("n3", worker), testNode("n4", worker), testNode("other", nil)}
	recent := dpod("recent", "n3", "new", true)
	recent.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(-30 * time.Second))
	pods := []*corev1.Pod{
		dpod("old-ready", "n1", "old", true),
		dpod("new-not-ready", "n2", "new", false),
		recent,
		dpod("stray", "other", "new", true),
	}
	h := history{cur: &appsv1.ControllerRevision{}}
	h.cur.Labels = map[string]string{LabelRevisionHash: "new"}
	h.cur.Revision = 2
	for _, synced := range []bool{true, false} {
		st, wait := calculateStatus(ds, h, nodes, daemonTolerations(ds), groupByNode(pods, false), t0, synced)
		if st.DesiredNumberScheduled != 4 || st.CurrentNumberScheduled != 3 || st.NumberMisscheduled != 1 ||
			st.NumberReady != 2 || st.NumberAvailable != 0 || st.UpdatedNumberScheduled != 2 || st.NumberUnavailable != 4 {
			t.Errorf("status = %+v; want desired 4, current 3, misscheduled 1, ready 2, available 0, updated 2, unavailable 4", st)
		}
		if wantGen := map[bool]int64{true: 5, false: 0}[synced]; st.ObservedGeneration != wantGen {
			t.Errorf("synced %v: observedGeneration = %d, want %d", synced, st.ObservedGeneration, wantGen)
		}
		if want := time.Minute + 10*time.Millisecond; wait != want {
			t.Errorf("wait = %v, want %v", wait, want)
		}
	}
}
