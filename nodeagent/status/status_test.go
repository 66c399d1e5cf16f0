package status_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/status"
)

// fakeAPI stores pods by name with a revision counter, as the API server
// does for the status subresource.
type fakeAPI struct {
	mu     sync.Mutex
	rev    int
	pods   map[string]*corev1.Pod
	writes []corev1.PodPhase // phases written, in order
	fail   []error           // errors for the next UpdateStatus calls
	gate   chan struct{}     // when set, UpdateStatus waits for a receive
}

func newFakeAPI(pods ...*corev1.Pod) *fakeAPI {
	f := &fakeAPI{pods: map[string]*corev1.Pod{}}
	for _, p := range pods {
		f.rev++
		p.ResourceVersion = strconv.Itoa(f.rev)
		f.pods[p.Name] = p.DeepCopy()
	}
	return f
}

func apiErr(reason metav1.StatusReason) error {
	return &client.APIError{Status: metav1.Status{Reason: reason}}
}

func (f *fakeAPI) Get(ctx context.Context, r api.Resource, ns, name string) (api.Object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pods[name]
	if p == nil {
		return nil, apiErr(metav1.StatusReasonNotFound)
	}
	return p.DeepCopy(), nil
}

func (f *fakeAPI) UpdateStatus(ctx context.Context, r api.Resource, obj api.Object) error {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return err
	}
	in := obj.(*corev1.Pod)
	p := f.pods[in.Name]
	switch {
	case p == nil || p.UID != in.UID:
		return apiErr(metav1.StatusReasonNotFound)
	case p.ResourceVersion != in.ResourceVersion:
		return apiErr(metav1.StatusReasonConflict)
	}
	f.rev++
	p.Status, p.ResourceVersion = in.Status, strconv.Itoa(f.rev)
	f.writes = append(f.writes, in.Status.Phase)
	p.DeepCopyInto(in)
	return nil
}

// bump changes the stored pod behind the manager's back (another writer).
func (f *fakeAPI) bump(name string, edit func(*corev1.Pod)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rev++
	edit(f.pods[name])
	f.pods[name].ResourceVersion = strconv.Itoa(f.rev)
}

func (f *fakeAPI) written() []corev1.PodPhase {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]corev1.PodPhase(nil), f.writes...)
}

func (f *fakeAPI) stored(name string) *corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pods[name].DeepCopy()
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name + "-uid")}}
}

func phase(p corev1.PodPhase) corev1.PodStatus { return corev1.PodStatus{Phase: p} }

// start runs a Manager on f in the bubble; the func stops it.
func start(t *testing.T, f *fakeAPI, onWritten func(*corev1.Pod)) (*status.Manager, func()) {
	t.Helper()
	m, err := status.New(status.Config{Client: f, OnWritten: onWritten, Writers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return m, func() { cancel(); <-done }
}

func TestLatestStatusWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(testPod("web"))
		f.gate = make(chan struct{})
		var mu sync.Mutex
		var seen []string
		m, stop := start(t, f, func(p *corev1.Pod) { mu.Lock(); seen = append(seen, p.ResourceVersion); mu.Unlock() })
		defer stop()
		p := f.stored("web")
		if !m.SetPodStatus(p, phase(corev1.PodPending)) {
			t.Fatal("a changed status was not queued")
		}
		synctest.Wait() // the write of Pending is under way
		m.SetPodStatus(p, phase(corev1.PodRunning))
		m.SetPodStatus(p, phase(corev1.PodFailed))
		if st, ok := m.Pending(p.UID); !ok || st.Phase != corev1.PodFailed {
			t.Errorf("Pending = %v, %v; want Failed", st.Phase, ok)
		}
		close(f.gate)
		synctest.Wait()
		if got := f.written(); len(got) != 2 || got[0] != corev1.PodPending || got[1] != corev1.PodFailed {
			t.Errorf("writes %v, want [Pending Failed]: Running was replaced before it was written", got)
		}
		if m.Writes() != 2 {
			t.Errorf("Writes() = %d, want 2", m.Writes())
		}
		if _, ok := m.Pending(p.UID); ok {
			t.Error("a status is still pending after it was written")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen[1] != f.stored("web").ResourceVersion {
			t.Errorf("OnWritten saw revisions %v, want two ending at %s", seen, f.stored("web").ResourceVersion)
		}
	})
}

func TestNothingToWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPod("web")
		p.Status = phase(corev1.PodRunning)
		f := newFakeAPI(p)
		m, stop := start(t, f, nil)
		defer stop()
		if m.SetPodStatus(f.stored("web"), phase(corev1.PodRunning)) {
			t.Error("the status the pod has was queued")
		}
		m.SetPodStatus(f.stored("web"), phase(corev1.PodSucceeded))
		if m.SetPodStatus(f.stored("web"), phase(corev1.PodSucceeded)) {
			t.Error("the status pending already was queued again")
		}
		synctest.Wait()
		if got := f.written(); len(got) != 1 {
			t.Errorf("writes %v, want one", got)
		}
	})
}

func TestConflictRereadsAndKeepsTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		p := testPod("web")
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &t0,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t0}}}
		f := newFakeAPI(p)
		m, stop := start(t, f, nil)
		defer stop()
		stale := f.stored("web")
		f.bump("web", func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"} }) // stale's rv is old now
		later := metav1.NewTime(t0.Add(time.Hour))
		m.SetPodStatus(stale, corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &later, Message: "changed",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: later}}})
		synctest.Wait()
		got := f.stored("web").Status
		if got.Message != "changed" || !got.StartTime.Equal(&t0) || !got.Conditions[0].LastTransitionTime.Equal(&t0) {
			t.Errorf("after a conflict: %+v; want the new message with the stored times", got)
		}
	})
}

func TestFailuresAreRetriedWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(testPod("web"))
		boom := errors.New("connection refused")
		f.fail = []error{boom, boom, boom}
		m, stop := start(t, f, nil)
		defer stop()
		start := time.Now()
		m.SetPodStatus(f.stored("web"), phase(corev1.PodRunning))
		synctest.Wait()
		if len(f.written()) != 0 {
			t.Fatal("written despite the failure")
		}
		time.Sleep(200*time.Millisecond + 400*time.Millisecond + 799*time.Millisecond)
		synctest.Wait()
		if len(f.written()) != 0 {
			t.Fatalf("written after %v, before the back-off (200ms, 400ms, 800ms) ended", time.Since(start))
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := f.written(); len(got) != 1 || got[0] != corev1.PodRunning {
			t.Errorf("writes %v after the back-off, want [Running]", got)
		}
	})
}

func TestGonePodsAreDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(testPod("web"))
		m, stop := start(t, f, nil)
		defer stop()
		ghost := testPod("ghost")
		ghost.ResourceVersion = "1"
		m.SetPodStatus(ghost, phase(corev1.PodRunning))
		replaced := f.stored("web")
		replaced.UID = "an-older-pod-of-that-name"
		m.SetPodStatus(replaced, phase(corev1.PodRunning))
		synctest.Wait()
		if _, ok := m.Pending(ghost.UID); ok {
			t.Error("the status of a pod that is gone is still pending")
		}
		if _, ok := m.Pending(replaced.UID); ok {
			t.Error("the status of a replaced pod is still pending")
		}
		if len(f.written()) != 0 {
			t.Errorf("writes %v, want none", f.written())
		}
	})
}

func TestForgottenStatusIsNotWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(testPod("web"))
		m, err := status.New(status.Config{Client: f, Writers: 2})
		if err != nil {
			t.Fatal(err)
		}
		// Queue and forget before the writers run, so that no write can
		// already be under way when Forget is called.
		m.SetPodStatus(f.stored("web"), phase(corev1.PodRunning))
		m.Forget(f.stored("web").UID)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		if len(f.written()) != 0 {
			t.Errorf("a forgotten status was written: %v", f.written())
		}
	})
}

// TestWriteNow: the status is stored when WriteNow returns, without Run,
// and an older pending status is dropped rather than written after it.
func TestWriteNow(t *testing.T) {
	tests := []struct {
		name    string
		pending bool
	}{
		{name: "nothing pending"},
		{name: "older status pending", pending: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(testPod("web"))
			m, err := status.New(status.Config{Client: f})
			if err != nil {
				t.Fatal(err)
			}
			p := f.stored("web")
			if tt.pending {
				m.SetPodStatus(p, phase(corev1.PodRunning))
			}
			stored, err := m.WriteNow(context.Background(), p, phase(corev1.PodFailed))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.stored("web"); got.Status.Phase != corev1.PodFailed || stored == nil || stored.ResourceVersion != got.ResourceVersion {
				t.Fatalf("stored phase %s (returned %v), want Failed", got.Status.Phase, stored)
			}
			if _, ok := m.Pending(p.UID); ok {
				t.Error("the replaced pending status is still pending")
			}
			if got := f.written(); len(got) != 1 {
				t.Errorf("writes %v, want one", got)
			}
		})
	}
}
