package apiserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestKubectlEvents: kubectl describe of a Pending pod says why (the
// scheduler's FailedScheduling Event), and kubectl get events lays Events
// out as it does against Kubernetes, field selectors included.
func TestKubectlEvents(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	k := newKubectl(t, e)
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

	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := k.run(t, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	inOrder := func(t *testing.T, out string, want ...string) {
		t.Helper()
		if !inOrder(want).MatchString(out) {
			t.Fatalf("%q not all there, in order, in:\n%s", want, out)
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

// TestKubectlOperationalEvents: writes that are not desired state (a node
// cordoned and labeled, a pod deleted, a node deleted) are recorded as Events naming who
// made them.
func TestKubectlOperationalEvents(t *testing.T) {
	st := storetest.Start(t)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t),
		Recorder: eventstest.Recorder(t, st, "bosun-apiserver")}).Handler())
	t.Cleanup(ts.Close)
	e := &env{t: t, st: st, url: ts.URL}
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}})
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}})
	e.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}})
	k := newKubectl(t, e)
	for _, args := range [][]string{
		{"cordon", "node-1"}, {"label", "node", "node-1", "disk=ssd"}, {"delete", "pod", "web-1", "--wait=false"}, {"delete", "node", "node-2", "--wait=false"},
	} {
		if out, err := k.run(t, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, w := range []struct{ name, reason, message string }{
		{"node-1", apiserver.ReasonNodeNotSchedulable, "Node node-1 cordoned by "},
		{"node-1", apiserver.ReasonLabelsChanged, "Labels changed by "},
		{"web-1", apiserver.ReasonDeleted, "Pod deleted through the API by "},
		{"node-2", apiserver.ReasonDeleted, "Node deleted through the API by "},
	} {
		testutil.EventuallyTrue(t, 10*time.Second, "a "+w.reason+" Event", func() bool {
			for _, ev := range eventstest.Find(t, st, "default", w.name, w.reason) {
				if strings.HasPrefix(ev.Message, w.message) && ev.Source.Component == "bosun-apiserver" {
					return true
				}
			}
			return false
		})
	}
	if evs := eventstest.Find(t, st, "default", "node-1", apiserver.ReasonLabelsChanged); len(evs) != 1 || !strings.HasSuffix(evs[0].Message, ": +disk=ssd") {
		t.Errorf("LabelsChanged Events: %v", evs)
	}
}

// TestEventsV1: events.k8s.io/v1 serves the same Events as core/v1, in
// its own form (regarding, note, deprecated* fields), both ways.
func TestEventsV1(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	e.create(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "back-off", Count: 3,
		Source: corev1.EventSource{Component: "kubelet", Host: "n1"}, ReportingController: "bosun.dev/kubelet"})
	var list eventsv1.EventList
	code, body := e.do("GET", "/apis/events.k8s.io/v1/namespaces/default/events?fieldSelector=regarding.name%3Dweb", nil)
	if code != http.StatusOK {
		t.Fatalf("list events.k8s.io/v1: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d events.k8s.io/v1 Events, want 1: %s", len(list.Items), body)
	}
	got := list.Items[0]
	if got.Regarding.Name != "web" || got.Note != "back-off" || got.DeprecatedCount != 3 || got.DeprecatedSource.Host != "n1" ||
		got.ReportingController != "bosun.dev/kubelet" || got.Reason != "BackOff" || got.Type != corev1.EventTypeWarning {
		t.Errorf("events.k8s.io/v1 Event = %+v", got)
	}
	// Written as events.k8s.io/v1, read as core/v1.
	v1 := eventsv1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "events.k8s.io/v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web.2"}, EventTime: metav1.NowMicro(),
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Note: "pulled", Reason: "Pulled",
		Type: corev1.EventTypeNormal, Action: "Pulling", ReportingController: "x/y", ReportingInstance: "i",
		Series: &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}}
	if code, body := e.do("POST", "/apis/events.k8s.io/v1/namespaces/default/events", v1); code != http.StatusCreated {
		t.Fatalf("create events.k8s.io/v1 Event: %d %s", code, body)
	}
	var core corev1.Event
	if code, body := e.do("GET", "/api/v1/namespaces/default/events/web.2", nil); code != http.StatusOK {
		t.Fatalf("read it as core/v1: %d %s", code, body)
	} else if err := json.Unmarshal(body, &core); err != nil {
		t.Fatal(err)
	}
	if core.InvolvedObject.Name != "web" || core.Message != "pulled" || core.Series == nil || core.Series.Count != 2 || core.Action != "Pulling" {
		t.Errorf("core/v1 form = %+v", core)
	}
}
