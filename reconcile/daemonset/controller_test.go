package daemonset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestFollowsNodes: a daemon pod per node, a node joining gets one, a node
// leaving loses it, and the status counts them.
func TestFollowsNodes(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	h.addNode("n2", nil)
	h.createSet(testSet(nil))
	h.waitPodNodes("n1", "n2")

	h.addNode("n3", nil)
	h.waitPodNodes("n1", "n2", "n3")
	h.kubelet()
	h.waitStatus("3 of 3 available", func(st appsv1.DaemonSetStatus) bool {
		return st.DesiredNumberScheduled == 3 && st.CurrentNumberScheduled == 3 && st.NumberReady == 3 &&
			st.NumberAvailable == 3 && st.UpdatedNumberScheduled == 3 && st.ObservedGeneration == 1
	})

	// n2 leaves: its pod (bound, running) goes with it; nothing runs it.
	h.deleteNode("n2")
	h.waitPodNodes("n1", "n3")
	testutil.Eventually(t, 10*time.Second, "the pod of n2 removed", func() (bool, string) {
		return len(h.pods()) == 2, fmt.Sprintf("%d pods", len(h.pods()))
	})
	h.waitStatus("2 desired", func(st appsv1.DaemonSetStatus) bool {
		return st.DesiredNumberScheduled == 2 && st.CurrentNumberScheduled == 2 && st.NumberAvailable == 2
	})
	for _, p := range h.pods() {
		if p.Labels[LabelRevisionHash] == "" || p.Labels[LabelTemplateGeneration] != "1" {
			t.Errorf("pod %s labels %v: want controller-revision-hash and pod-template-generation 1", p.Name, p.Labels)
		}
	}
	if evs := eventstest.Find(t, h.st, "default", "agent", ReasonSuccessfulCreate); len(evs) == 0 {
		t.Error("no SuccessfulCreate Event")
	}
}

// TestTaintsAndNodeSelector: only matching nodes whose taints the pods
// tolerate get one; NoSchedule keeps a running pod, NoExecute removes it.
func TestTaintsAndNodeSelector(t *testing.T) {
	h := start(t, nil)
	worker := map[string]string{"role": "worker"}
	h.addNode("w1", worker)
	h.addNode("w2", worker)
	h.addNode("tainted", worker, taint("dedicated", corev1.TaintEffectNoSchedule))
	h.addNode("cordoned", worker, taint(taintUnschedulable, corev1.TaintEffectNoSchedule))
	h.addNode("master", nil)
	h.createSet(testSet(func(s *corev1.PodSpec) { s.NodeSelector = worker }))
	h.waitPodNodes("w1", "w2", "cordoned")
	h.kubelet()

	// A NoSchedule taint keeps the running pod; a NoExecute one removes it.
	h.modifyNode("w1", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{taint("dedicated", corev1.TaintEffectNoSchedule)} })
	h.modifyNode("w2", func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{taint("dedicated", corev1.TaintEffectNoExecute)} })
	h.waitPodNodes("w1", "cordoned")
	h.kubelet() // the agent of w2 stops the pod
	h.waitStatus("w1 no longer desired but still running: misscheduled", func(st appsv1.DaemonSetStatus) bool {
		return st.DesiredNumberScheduled == 1 && st.NumberMisscheduled == 1
	})

	// Tolerating the taint brings the pods back; a label change removes one.
	h.modifySet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	})
	h.waitPodNodes("w1", "w2", "tainted", "cordoned")
	h.modifyNode("tainted", func(n *corev1.Node) { n.Labels = nil })
	h.waitPodNodes("w1", "w2", "cordoned")
}

// TestGracefulDeletion: a running pod that must go is deleted gracefully
// (deletionTimestamp, left for its agent) and no replacement starts on the
// node until it is gone.
func TestGracefulDeletion(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	h.createSet(rollingSet(1, 0))
	h.waitPodNodes("n1")
	h.kubelet()
	h.waitStatus("available", func(st appsv1.DaemonSetStatus) bool { return st.NumberAvailable == 1 })
	old := h.pods()[0]

	h.modifySet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	testutil.Eventually(t, 10*time.Second, "the old pod terminating", func() (bool, string) {
		pods := h.pods()
		return len(pods) == 1 && pods[0].DeletionTimestamp != nil, fmt.Sprintf("%d pods", len(pods))
	})
	p := h.pods()[0]
	if p.UID != old.UID || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != api.DefaultTerminationGracePeriodSeconds {
		t.Fatalf("pod %s: deletionGracePeriodSeconds %v, want the old pod with 30", p.Name, p.DeletionGracePeriodSeconds)
	}
	time.Sleep(300 * time.Millisecond) // the controller must not start a second pod meanwhile
	if n := len(h.pods()); n != 1 {
		t.Fatalf("%d pods while the old one terminates, want 1", n)
	}
	h.kubelet() // the agent finishes it
	testutil.Eventually(t, 10*time.Second, "a new pod", func() (bool, string) {
		pods := h.pods()
		return len(pods) == 1 && pods[0].UID != old.UID && pods[0].Spec.Containers[0].Image == "agent:2", fmt.Sprintf("%d pods", len(pods))
	})
}

// rollOut changes the template and plays kubelet until every pod runs the new
// one, checking at each step (after giving the controller time to overreach)
// that at most maxUnavailable nodes lack an available pod and at most
// maxSurge nodes run two.
func rollOut(t *testing.T, h *harness, nodes []string, maxUnavailable, maxSurge int) (steps int) {
	h.modifySet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond)
		pods := h.pods()
		avail, perNode, updated := map[string]bool{}, map[string]int{}, 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue // stopping: neither available nor surging
			}
			n, _ := targetNode(p)
			perNode[n]++
			if isReady(p) {
				avail[n] = true
				if p.Spec.Containers[0].Image == "agent:2" {
					updated++
				}
			}
		}
		unavailable, surging := 0, 0
		for _, n := range nodes {
			if !avail[n] {
				unavailable++
			}
			if perNode[n] > 1 {
				surging++
			}
		}
		if unavailable > maxUnavailable {
			t.Fatalf("%d nodes without an available pod, maxUnavailable %d", unavailable, maxUnavailable)
		}
		if surging > maxSurge {
			t.Fatalf("%d nodes with two pods, maxSurge %d", surging, maxSurge)
		}
		if updated == len(nodes) && len(pods) == len(nodes) {
			return steps
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout not done after 30 s: %d of %d updated, %d pods", updated, len(nodes), len(pods))
		}
		h.kubelet()
		steps++
	}
}

func TestRollingUpdateMaxUnavailable(t *testing.T) {
	h := start(t, nil)
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	for _, n := range nodes {
		h.addNode(n, nil)
	}
	h.createSet(rollingSet(2, 0))
	h.waitPodNodes(nodes...)
	h.kubelet()
	h.waitStatus("5 available", func(st appsv1.DaemonSetStatus) bool { return st.NumberAvailable == 5 })
	steps := rollOut(t, h, nodes, 2, 0)
	if steps < 3 {
		t.Errorf("rollout of 5 nodes, 2 at a time, took %d steps: want at least 3", steps)
	}
	h.waitStatus("5 updated and available", func(st appsv1.DaemonSetStatus) bool {
		return st.UpdatedNumberScheduled == 5 && st.NumberAvailable == 5 && st.ObservedGeneration == 2
	})
}

func TestRollingUpdateMaxSurge(t *testing.T) {
	h := start(t, nil)
	nodes := []string{"n1", "n2", "n3", "n4"}
	for _, n := range nodes {
		h.addNode(n, nil)
	}
	h.createSet(rollingSet(0, 1))
	h.waitPodNodes(nodes...)
	h.kubelet()
	h.waitStatus("4 available", func(st appsv1.DaemonSetStatus) bool { return st.NumberAvailable == 4 })
	if steps := rollOut(t, h, nodes, 0, 1); steps < 4 {
		t.Errorf("rollout of 4 nodes, 1 surging at a time, took %d steps: want at least 4", steps)
	}
}

// TestOnDelete: a template change replaces nothing until a pod is deleted.
func TestOnDelete(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	h.addNode("n2", nil)
	ds := testSet(nil)
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	h.createSet(ds)
	h.waitPodNodes("n1", "n2")
	h.kubelet()
	h.modifySet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	h.waitStatus("generation 2 observed, nothing updated", func(st appsv1.DaemonSetStatus) bool {
		return st.ObservedGeneration == 2 && st.UpdatedNumberScheduled == 0 && st.NumberAvailable == 2
	})
	time.Sleep(300 * time.Millisecond)
	for _, p := range h.pods() {
		if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != "agent:1" {
			t.Fatalf("OnDelete touched pod %s (image %s, deleting %v)", p.Name, p.Spec.Containers[0].Image, p.DeletionTimestamp != nil)
		}
	}
	victim := h.pods()[0]
	if err := h.st.Delete(h.ctx(), storetest.Resource(t, "pods"), "default", victim.Name, ""); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the deleted pod replaced with the new template", func() (bool, string) {
		var images []string
		for _, p := range h.pods() {
			images = append(images, p.Spec.Containers[0].Image)
		}
		slices.Sort(images)
		return slices.Equal(images, []string{"agent:1", "agent:2"}), fmt.Sprintf("images %v", images)
	})
	h.kubelet()
	h.waitStatus("1 updated", func(st appsv1.DaemonSetStatus) bool { return st.UpdatedNumberScheduled == 1 })
}

func (h *harness) revisions() map[string]int64 {
	h.t.Helper()
	objs, _, err := h.st.List(h.ctx(), storetest.Resource(h.t, "controllerrevisions"), "default", store.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, o := range objs {
		r := o.(*appsv1.ControllerRevision)
		out[r.Labels[LabelRevisionHash]] = r.Revision
	}
	return out
}

// TestHistory: a revision per template, numbered 1, 2, ...; going back to a
// template renumbers its revision; the limit prunes revisions no pod uses.
func TestHistory(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	ds := rollingSet(1, 0)
	ds.Spec.RevisionHistoryLimit = ptr.To(int32(1))
	h.createSet(ds)
	h.waitPodNodes("n1")
	hash1 := h.pods()[0].Labels[LabelRevisionHash]
	if got := h.revisions(); len(got) != 1 || got[hash1] != 1 {
		t.Fatalf("revisions %v, want {%s: 1}", got, hash1)
	}
	image := func(img string) {
		h.modifySet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = img })
	}
	settle := func(img string) string {
		testutil.Eventually(t, 10*time.Second, "the pod of "+img, func() (bool, string) {
			h.kubelet()
			pods := h.pods()
			return len(pods) == 1 && pods[0].Spec.Containers[0].Image == img && isReady(pods[0]), fmt.Sprintf("%d pods", len(pods))
		})
		return h.pods()[0].Labels[LabelRevisionHash]
	}
	h.kubelet()
	image("agent:2")
	hash2 := settle("agent:2")
	image("agent:1")
	if got := settle("agent:1"); got != hash1 {
		t.Errorf("back to the first template: pod hash %s, want %s", got, hash1)
	}
	testutil.Eventually(t, 10*time.Second, "revisions {1st: 3, 2nd: 2}", func() (bool, string) {
		got := h.revisions()
		return len(got) == 2 && got[hash1] == 3 && got[hash2] == 2, fmt.Sprintf("%v", got)
	})
	if p := h.pods()[0]; p.Labels[LabelTemplateGeneration] != "3" {
		t.Errorf("pod-template-generation %s, want 3", p.Labels[LabelTemplateGeneration])
	}
	image("agent:3")
	hash3 := settle("agent:3")
	testutil.Eventually(t, 10*time.Second, "the oldest unused revision pruned (limit 1)", func() (bool, string) {
		got := h.revisions()
		return len(got) == 2 && got[hash3] == 4 && got[hash1] == 3, fmt.Sprintf("%v", got)
	})
}

type refuseAll struct{}

func (refuseAll) AdmitPod(context.Context, *corev1.Pod) error {
	return fmt.Errorf("pods \"x\" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2: %w", api.ErrForbidden)
}

// TestAdmissionRefused: a refused pod is not created; a FailedCreate
// Warning Event carries the admission's message.
func TestAdmissionRefused(t *testing.T) {
	h := start(t, refuseAll{})
	h.addNode("n1", nil)
	h.createSet(testSet(nil))
	testutil.Eventually(t, 10*time.Second, "a FailedCreate Event", func() (bool, string) {
		evs := eventstest.Find(t, h.st, "default", "agent", ReasonFailedCreate)
		return len(evs) > 0 && strings.Contains(evs[0].Message, "exceeded quota: compute"), fmt.Sprintf("%d events", len(evs))
	})
	if n := len(h.pods()); n != 0 {
		t.Errorf("%d pods created despite the refusal", n)
	}
	h.waitStatus("desired 1, scheduled 0", func(st appsv1.DaemonSetStatus) bool {
		return st.DesiredNumberScheduled == 1 && st.CurrentNumberScheduled == 0 && st.NumberUnavailable == 1
	})
}

// TestAdoptsOrphans: a matching pod without an owner on a node is adopted
// instead of a new one created.
func TestAdoptsOrphans(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "orphan", Labels: map[string]string{"app": "agent"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
	}
	if err := h.st.Create(h.ctx(), orphan); err != nil {
		t.Fatal(err)
	}
	// The controller must know the orphan when it first sees the set:
	// otherwise it creates a pod of its own, and of two pods made in the
	// same second the name decides which is kept, as in Kubernetes.
	testutil.Eventually(t, 10*time.Second, "the controller sees the orphan", func() (bool, string) {
		_, ok := h.c.pods.Get("default", "orphan")
		return ok, "not in the pod cache"
	})
	h.createSet(testSet(nil))
	testutil.Eventually(t, 10*time.Second, "the orphan adopted", func() (bool, string) {
		p := &corev1.Pod{}
		if err := h.st.Get(h.ctx(), "default", "orphan", p); err != nil {
			return false, err.Error()
		}
		ref := metav1.GetControllerOf(p)
		return ref != nil && ref.Kind == "DaemonSet", fmt.Sprintf("owner %+v", ref)
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(h.pods()); n != 1 {
		t.Errorf("%d pods, want only the adopted one", n)
	}
}

// TestFailedPodReplaced: a failed daemon pod is deleted (FailedDaemonPod
// Warning Event) and a new one takes its place.
func TestFailedPodReplaced(t *testing.T) {
	h := start(t, nil)
	h.addNode("n1", nil)
	h.createSet(testSet(nil))
	h.waitPodNodes("n1")
	h.kubelet()
	failed := h.pods()[0]
	storetest.Modify(t, h.st, "default", failed.Name, &corev1.Pod{}, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })
	testutil.Eventually(t, 10*time.Second, "the failed pod replaced", func() (bool, string) {
		pods := h.pods()
		return len(pods) == 1 && pods[0].UID != failed.UID, fmt.Sprintf("%d pods", len(pods))
	})
	if evs := eventstest.Find(t, h.st, "default", "agent", ReasonFailedDaemonPod); len(evs) == 0 {
		t.Error("no FailedDaemonPod Event")
	}
}
