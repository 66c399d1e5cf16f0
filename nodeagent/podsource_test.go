package nodeagent_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent"
	"github.com/bosun-dev/bosun/store/storetest"
)

// podRecorder is a PodHandler that records its calls as "set a,b",
// "upsert a" and "delete a".
type podRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *podRecorder) record(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *podRecorder) SetPods(pods []*corev1.Pod) {
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	r.record("set " + strings.Join(names, ","))
}

func (r *podRecorder) UpsertPod(p *corev1.Pod) { r.record("upsert " + p.Name) }
func (r *podRecorder) DeletePod(p *corev1.Pod) { r.record("delete " + p.Name) }

// waitCalls waits until r recorded want (in order) and nothing else.
func (r *podRecorder) waitCalls(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := slices.Clone(r.calls)
		r.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			t.Fatalf("pod handler calls = %q, want %q", got, want)
		}
		time.Sleep(2 * time.Millisecond) // poll interval
	}
}

func TestListWatchPods(t *testing.T) {
	st := storetest.Start(t)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "app"}}}}
	}
	create := func(p *corev1.Pod) *corev1.Pod {
		t.Helper()
		if err := st.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := create(pod("p1", "n1"))
	create(pod("p0", "n1"))
	create(pod("other", "n2"))

	var rec podRecorder
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- nodeagent.APIPodSource{Client: c, Logger: storetest.Logger(t)}.WatchPods(runCtx, "n1", &rec)
	}()
	rec.waitCalls(t, "set p0,p1")

	pods, ok := api.Lookup("pods")
	if !ok {
		t.Fatal("no pods resource")
	}
	want := []string{"set p0,p1"}
	steps := []struct {
		name   string
		change func()
		want   string // the call it adds; "" = none
	}{
		{name: "pod added to the node", change: func() { create(pod("p2", "n1")) }, want: "upsert p2"},
		{name: "pod added to another node", change: func() { create(pod("p3", "n2")) }},
		{name: "pod changed", change: func() {
			p1.Labels = map[string]string{"changed": "yes"}
			if err := st.Update(ctx, p1); err != nil {
				t.Fatal(err)
			}
		}, want: "upsert p1"},
		{name: "pod deleted", change: func() {
			if err := st.Delete(ctx, pods, "default", "p1", ""); err != nil {
				t.Fatal(err)
			}
		}, want: "delete p1"},
		{name: "streams cut, then a pod added", change: func() {
			ts.CloseClientConnections()
			create(pod("p4", "n1"))
		}, want: "upsert p4"},
	}
	for _, step := range steps {
		step.change()
		if step.want != "" {
			want = append(want, step.want)
		}
		rec.waitCalls(t, want...)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchPods = %v, want nil once its context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WatchPods did not return after its context ended")
	}
}
