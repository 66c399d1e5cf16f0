package apiserver_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// TestKubectlEvents: kubectl describe of a Pending pod says why (the
// scheduler's FailedScheduling Event), and kubectl get events lays Events
// out as it does against Kubernetes, field selectors included.
func TestKubectlEvents(t *testing.T) {
	kubectl := needKubectl(t)
	e := newEnv(t, apiserver.Config{})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "big"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available: 3 Insufficient cpu.",
		}}},
	}
	e.create(pod)
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "small"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
	e.create(other)
	sched := eventstest.Recorder(t, e.st, "default-scheduler")
	for range 3 {
		sched.Event(events.Ref(pod), corev1.EventTypeWarning, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.")
	}
	sched.Event(events.Ref(other), corev1.EventTypeNormal, "Scheduled", "Successfully assigned default/small to node-1")
	testutil.EventuallyTrue(t, 10*time.Second, "the Events are written", func() bool {
		return len(eventstest.Find(t, e.st, "default", "small", "Scheduled")) == 1
	})

	home := t.TempDir()
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		args = append([]string{"--server", e.url, "--cache-dir", home + "/cache", "-n", "default"}, args...)
		cmd := exec.CommandContext(ctx(t), kubectl, args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/none")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	inOrder := func(t *testing.T, out string, want ...string) {
		t.Helper()
		rest := out
		for _, w := range want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Fatalf("%q missing (in order) from:\n%s", w, out)
			}
			rest = rest[i+len(w):]
		}
	}
	t.Run("describe a Pending pod says why", func(t *testing.T) {
		out := run(t, "describe", "pod", "big")
		inOrder(t, out, "Status:", "Pending", "Events:", "Type", "Reason", "From", "Message",
			"Warning", "FailedScheduling", "(x3 over", "default-scheduler", "0/3 nodes are available: 3 Insufficient cpu.")
		if strings.Contains(out, "Successfully assigned") {
			t.Errorf("describe of big shows another pod's Event:\n%s", out)
		}
	})
	t.Run("get events", func(t *testing.T) {
		inOrder(t, run(t, "get", "events"), "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE",
			"Warning", "FailedScheduling", "pod/big", "0/3 nodes are available")
	})
	t.Run("field selector", func(t *testing.T) {
		out := run(t, "get", "events", "--field-selector", "involvedObject.name=small,type=Normal", "-o", "name")
		if strings.Count(out, "event/") != 1 || !strings.Contains(out, "event/small.") {
			t.Errorf("events of small: %s", out)
		}
	})
}
