package events_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
)

// memSink is an in-memory Sink with resourceVersions, like the store.
type memSink struct {
	mu      sync.Mutex
	rv      int
	objs    map[string]*corev1.Event
	creates int
	updates int
}

func newSink() *memSink { return &memSink{objs: map[string]*corev1.Event{}} }

func (m *memSink) Create(_ context.Context, obj api.Object) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := obj.(*corev1.Event)
	key := ev.Namespace + "/" + ev.Name
	if _, ok := m.objs[key]; ok {
		return fmt.Errorf("create %s: %w", key, api.ErrExists)
	}
	m.rv++
	m.creates++
	ev.ResourceVersion = strconv.Itoa(m.rv)
	m.objs[key] = ev.DeepCopy()
	return nil
}

func (m *memSink) Update(_ context.Context, obj api.Object) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ev := obj.(*corev1.Event)
	key := ev.Namespace + "/" + ev.Name
	old, ok := m.objs[key]
	switch {
	case !ok:
		return fmt.Errorf("update %s: %w", key, api.ErrNotFound)
	case old.ResourceVersion != ev.ResourceVersion:
		return fmt.Errorf("update %s: %w", key, api.ErrConflict)
	}
	m.rv++
	m.updates++
	ev.ResourceVersion = strconv.Itoa(m.rv)
	m.objs[key] = ev.DeepCopy()
	return nil
}

func (m *memSink) list() []corev1.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []corev1.Event
	for _, ev := range m.objs {
		out = append(out, *ev)
	}
	return out
}

func (m *memSink) remove(ev corev1.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, ev.Namespace+"/"+ev.Name)
}

var start = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

func testPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "web-1", UID: "u1", ResourceVersion: "7"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}, InitContainers: []corev1.Container{{Name: "init"}}}}
}

// drain runs the recorder until its queue is empty.
func drain(t *testing.T, r *events.Recorder, sink *memSink, n int, record func(i int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	for i := range n {
		record(i)
	}
	// Run takes from the queue in order: once a marker Event recorded
	// last is written, everything before it was handled.
	marker := corev1.ObjectReference{Kind: "Node", Name: "marker"}
	r.Event(marker, corev1.EventTypeNormal, "Marker", strconv.Itoa(n))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range sink.list() {
			if ev.Reason == "Marker" && ev.Message == strconv.Itoa(n) {
				sink.remove(ev)
				cancel()
				<-done
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the recorder did not write its queue within 5 s")
}

func newRecorder(t *testing.T, clk *clocktesting.FakeClock, cfg events.Config) (*events.Recorder, *memSink) {
	t.Helper()
	sink := newSink()
	cfg.Sink, cfg.Clock = sink, clk
	if cfg.Component == "" {
		cfg.Component = "test-controller"
	}
	cfg.QPS, cfg.Burst = 1e6, 1e6
	return events.New(cfg), sink
}

func TestEventFields(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	r, sink := newRecorder(t, clk, events.Config{Component: "kubelet", Host: "node-1"})
	p := testPod()
	drain(t, r, sink, 1, func(int) {
		r.Eventf(events.ContainerRef(p, "app"), corev1.EventTypeNormal, "Started", "Started container %s", "app")
	})
	evs := sink.list()
	if len(evs) != 1 {
		t.Fatalf("%d Events, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	want := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "demo", Name: "web-1", UID: "u1",
		ResourceVersion: "7", FieldPath: "spec.containers{app}"}
	if ev.InvolvedObject != want {
		t.Errorf("involvedObject = %+v, want %+v", ev.InvolvedObject, want)
	}
	checks := []struct{ name, got, want string }{
		{"namespace", ev.Namespace, "demo"},
		{"name", ev.Name, fmt.Sprintf("web-1.%x", start.UnixNano())},
		{"reason", ev.Reason, "Started"},
		{"message", ev.Message, "Started container app"},
		{"type", ev.Type, corev1.EventTypeNormal},
		{"source.component", ev.Source.Component, "kubelet"},
		{"source.host", ev.Source.Host, "node-1"},
		{"reportingController", ev.ReportingController, "bosun.dev/kubelet"},
		{"reportingInstance", ev.ReportingInstance, "node-1"},
		{"count", strconv.Itoa(int(ev.Count)), "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !ev.FirstTimestamp.Time.Equal(start) || !ev.LastTimestamp.Time.Equal(start) {
		t.Errorf("timestamps %v, %v; want %v", ev.FirstTimestamp, ev.LastTimestamp, start)
	}
	if got := events.ContainerRef(p, "init").FieldPath; got != "spec.initContainers{init}" {
		t.Errorf("init container fieldPath = %q", got)
	}
	node := events.Ref(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	if node.Kind != "Node" || node.Namespace != "" {
		t.Errorf("Ref(Node) = %+v", node)
	}
}

func TestAggregation(t *testing.T) {
	p := testPod()
	ref := events.Ref(p)
	cases := []struct {
		name string
		// step records event i; the clock advances by gap before each.
		n        int
		gap      func(i int) time.Duration
		message  func(i int) string
		wantEvts int
		wantCnt  int32 // count of the series of message(0)
		wantWr   int   // creates + updates
	}{
		{"identical repeats are one Event with a count", 10, every(time.Second),
			func(int) string { return "probe failed" }, 1, 10, 10},
		{"different messages are different Events", 3, every(time.Second),
			func(i int) string { return fmt.Sprintf("m%d", i) }, 3, 1, 3},
		{"a burst past 25 is held back", 40, every(time.Millisecond),
			func(int) string { return "same" }, 1, 25, 25},
		{"5 minutes later a held-back series writes again, counting every repeat", 31,
			func(i int) time.Duration {
				if i == 30 {
					return 5 * time.Minute
				}
				return time.Millisecond
			},
			func(int) string { return "same" }, 1, 31, 26},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			r, sink := newRecorder(t, clk, events.Config{})
			drain(t, r, sink, c.n, func(i int) {
				clk.Step(c.gap(i))
				r.Event(ref, corev1.EventTypeWarning, "Unhealthy", c.message(i))
			})
			evs := sink.list()
			if len(evs) != c.wantEvts {
				t.Fatalf("%d Events, want %d", len(evs), c.wantEvts)
			}
			for _, ev := range evs {
				if ev.Message == c.message(0) && ev.Count != c.wantCnt {
					t.Errorf("count = %d, want %d", ev.Count, c.wantCnt)
				}
			}
			if got := sink.creates + sink.updates - 1; got != c.wantWr { // -1: the marker
				t.Errorf("%d writes, want %d", got, c.wantWr)
			}
		})
	}
}

func every(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

func TestExpiredEventIsCreatedAgain(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	r, sink := newRecorder(t, clk, events.Config{})
	ref := events.Ref(testPod())
	drain(t, r, sink, 1, func(int) { r.Event(ref, corev1.EventTypeNormal, "Pulled", "x") })
	first := sink.list()[0]
	sink.remove(first) // as the store's TTL would
	clk.Step(time.Second)
	drain(t, r, sink, 1, func(int) { r.Event(ref, corev1.EventTypeNormal, "Pulled", "x") })
	evs := sink.list()
	if len(evs) != 1 || evs[0].Name == first.Name || evs[0].Count != 1 {
		t.Fatalf("after expiry got %+v, want one new Event with count 1", evs)
	}
}

func TestQueueFullDrops(t *testing.T) {
	clk := clocktesting.NewFakeClock(start)
	r, _ := newRecorder(t, clk, events.Config{QueueSize: 3})
	ref := events.Ref(testPod())
	for i := range 5 { // nobody runs the recorder: the queue fills
		r.Eventf(ref, corev1.EventTypeNormal, "X", "%d", i)
	}
	if got := r.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d, want 2", got)
	}
	var nilRec *events.Recorder
	nilRec.Eventf(ref, corev1.EventTypeNormal, "X", "nothing") // must not panic
}
