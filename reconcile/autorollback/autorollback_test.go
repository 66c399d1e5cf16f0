package autorollback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/deployment"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

// fakeReverter records Revert calls and answers with a made-up SHA or err.
type fakeReverter struct {
	mu    gosync.Mutex
	calls []revertCall
	err   error
}

type revertCall struct{ sha, why string }

func (f *fakeReverter) Revert(_ context.Context, sha, why string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, revertCall{sha, why})
	if f.err != nil {
		return "", f.err
	}
	return fmt.Sprintf("%040d", len(f.calls)), nil
}

func (f *fakeReverter) Calls() []revertCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]revertCall(nil), f.calls...)
}

// env is a store with (re)startable controllers on it.
type env struct {
	t     *testing.T
	s     *store.Store
	clock *clocktesting.FakeClock
	rev   *fakeReverter
	histN int // history entries written
}

func newEnv(t *testing.T) *env {
	return &env{t: t, s: storetest.Start(t), clock: clocktesting.NewFakeClock(time.Now()), rev: &fakeReverter{}}
}

// start runs a controller with its own informers until the returned stop is
// called (or the test ends).
func (e *env) start(enabled bool) (*Controller, func()) {
	e.t.Helper()
	log := storetest.Logger(e.t)
	inf := cache.NewInformers(e.s, log)
	c, err := New(Config{Store: e.s, Informers: inf, Logger: log, Clock: e.clock, Enabled: enabled, Reverter: e.rev})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	inf.Start(ctx)
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	if err := inf.WaitForSync(ctx); err != nil {
		e.t.Fatal(err)
	}
	stop := func() { cancel(); wg.Wait() }
	e.t.Cleanup(stop) // before etcd closes
	return c, stop
}

// history records sha as applied with subject in the sync history.
func (e *env) history(sha, subject string) {
	e.t.Helper()
	e.histN++
	a := state.Attempt{Commit: state.CommitInfo{SHA: sha, Subject: subject, Author: "Alice <a@example.com>"},
		Time: time.Unix(1700000000, 0).Add(time.Duration(e.histN) * time.Second), Result: state.ResultApplied}
	if err := records.Append(context.Background(), e.s, a); err != nil {
		e.t.Fatal(err)
	}
}

// rollout describes one Deployment and the state of its rollout.
type rollout struct {
	name       string
	sha        string
	annotation string // bosun.dev/auto-rollback; "" = none
	progress   string // reason of Progressing; ProgressDeadlineExceeded makes it False
	restarts   int32  // restart count of the new pod's container
	waiting    string // waiting reason of the new pod's container
}

// create writes the Deployment, its old and new ReplicaSets and a pod of the new one.
func (e *env) create(r rollout) {
	e.t.Helper()
	ctx := context.Background()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: r.name,
			Labels:      map[string]string{api.LabelManagedBy: api.ManagedByValue},
			Annotations: map[string]string{api.AnnotationCommit: r.sha}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": r.name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": r.name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "hello:v2"}}},
			},
		},
	}
	if r.annotation != "" {
		d.Annotations[AnnotationAutoRollback] = r.annotation
	}
	if err := e.s.Create(ctx, d); err != nil {
		e.t.Fatal(err)
	}
	var rsNew *appsv1.ReplicaSet
	for rev := 1; rev <= 2; rev++ {
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: fmt.Sprintf("%s-%d", r.name, rev),
				Annotations:     map[string]string{deployment.AnnotationRevision: fmt.Sprint(rev)},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template},
		}
		if err := e.s.Create(ctx, rs); err != nil {
			e.t.Fatal(err)
		}
		rsNew = rs
	}
	cs := corev1.ContainerStatus{Name: "app", RestartCount: r.restarts}
	if r.waiting != "" {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: r.waiting, Message: "back-off pulling image \"hello:v2\""}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: r.name + "-2-abcde",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rsNew.Name, UID: rsNew.UID, Controller: ptr.To(true)}}},
		Spec:   d.Spec.Template.Spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{cs}},
	}
	if err := e.s.Create(ctx, pod); err != nil {
		e.t.Fatal(err)
	}
	// The deployment controller's view, written last so that the caches hold
	// the ReplicaSets and pod when the Deployment event arrives.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 1}
	if r.progress != "" {
		st := corev1.ConditionTrue
		if r.progress == deployment.ReasonProgressDeadlineExceeded {
			st = corev1.ConditionFalse
		}
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: st, Reason: r.progress}}
	}
	if err := e.s.Update(ctx, d); err != nil {
		e.t.Fatal(err)
	}
}

// waitCalls waits until the Reverter was called n times.
func (e *env) waitCalls(n int) []revertCall {
	e.t.Helper()
	var calls []revertCall
	testutil.Eventually(e.t, 10*time.Second, fmt.Sprintf("%d Reverter calls", n), func() (bool, string) {
		calls = e.rev.Calls()
		return len(calls) >= n, fmt.Sprintf("%d calls", len(calls))
	})
	return calls
}

// settle waits until c's caches show the Deployment's current status, then
// reconciles it directly: afterwards every decision about it has been made.
func (e *env) settle(c *Controller, name string) {
	e.t.Helper()
	d := &appsv1.Deployment{}
	if err := e.s.Get(context.Background(), "demo", name, d); err != nil {
		e.t.Fatal(err)
	}
	testutil.Eventually(e.t, 10*time.Second, fmt.Sprintf("the caches to show deployment %s at %s", name, d.ResourceVersion),
		func() (bool, string) {
			o, ok := c.deployments.Get("demo", name)
			if !ok {
				return false, "not in the cache"
			}
			if rv := o.GetResourceVersion(); rv != d.ResourceVersion {
				return false, "cached at " + rv
			}
			return len(c.pods.List("demo", nil)) > 0, "no pods cached"
		})
	if _, err := c.Reconcile(context.Background(), "demo/"+name); err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
}

func sha(n int) string { return fmt.Sprintf("%08x%s", n+0xc0ffee, strings.Repeat("ab", 16)) }

func TestRollsBack(t *testing.T) {
	tests := []struct {
		name     string
		enabled  bool
		r        rollout
		wantWhy  []string
		advance  time.Duration // fake time to let pass before the revert is due
		wantNone bool
	}{
		{name: "progress deadline exceeded", enabled: true,
			r:       rollout{name: "hello", progress: deployment.ReasonProgressDeadlineExceeded, waiting: "ImagePullBackOff"},
			advance: 0, // the deadline alone is enough; the pod is named even though young
			wantWhy: []string{"bosun reverted this commit automatically: Deployment demo/hello did not become available within 600s (ProgressDeadlineExceeded)"}},
		{name: "crash-looping new pod", enabled: true,
			r:       rollout{name: "crashy", progress: deployment.ReasonReplicaSetUpdated, restarts: 3, waiting: "CrashLoopBackOff"},
			wantWhy: []string{"Deployment demo/crashy: new pods are failing: crashy-2-abcde: container app restarted 3 times"}},
		{name: "image pull failing long enough", enabled: true,
			r:       rollout{name: "pully", progress: deployment.ReasonReplicaSetUpdated, waiting: "ImagePullBackOff"},
			advance: 2 * time.Minute,
			wantWhy: []string{`pully-2-abcde: ImagePullBackOff: back-off pulling image "hello:v2"`}},
		{name: "opted in by annotation", enabled: false,
			r:       rollout{name: "optin", annotation: "true", progress: deployment.ReasonProgressDeadlineExceeded},
			wantWhy: []string{"Deployment demo/optin did not become available"}},
		{name: "opted out by annotation", enabled: true,
			r: rollout{name: "optout", annotation: "false", progress: deployment.ReasonProgressDeadlineExceeded}, wantNone: true},
		{name: "not enabled", enabled: false,
			r: rollout{name: "off", progress: deployment.ReasonProgressDeadlineExceeded}, wantNone: true},
		{name: "below the restart threshold", enabled: true,
			r: rollout{name: "flaky", progress: deployment.ReasonReplicaSetUpdated, restarts: 2}, wantNone: true},
		{name: "rollout complete", enabled: true,
			r: rollout{name: "done", progress: deployment.ReasonNewReplicaSetAvailable, restarts: 5}, wantNone: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c, _ := e.start(tt.enabled)
			tt.r.sha = sha(i)
			e.history(tt.r.sha, "Deploy hello v2")
			e.create(tt.r)
			if tt.advance > 0 {
				// Not yet: the pod has not failed for long enough.
				e.settle(c, tt.r.name)
				if n := len(e.rev.Calls()); n != 0 {
					t.Fatalf("reverted %d times before FailingFor passed", n)
				}
				e.clock.Step(tt.advance)
			}
			if tt.wantNone {
				e.settle(c, tt.r.name)
				if calls := e.rev.Calls(); len(calls) != 0 {
					t.Fatalf("Reverter called: %+v", calls)
				}
				return
			}
			calls := e.waitCalls(1)
			// The worker that pushed the revert records it after the push
			// returns: wait for that before looking at what it wrote.
			testutil.Eventually(t, 10*time.Second, "the revert to be recorded", func() (bool, string) {
				recs, err := ReadRecords(context.Background(), e.s)
				if err != nil || len(recs) == 0 {
					return false, fmt.Sprintf("records %v, %v", recs, err)
				}
				return recs[0].State != StateReverting, "state " + string(recs[0].State)
			})
			if calls[0].sha != tt.r.sha {
				t.Errorf("reverted %s, want %s", calls[0].sha, tt.r.sha)
			}
			for _, w := range tt.wantWhy {
				if !strings.Contains(calls[0].why, w) {
					t.Errorf("why = %q\nwant it to contain %q", calls[0].why, w)
				}
			}
			// Further events change nothing: exactly one revert.
			e.settle(c, tt.r.name)
			if n := len(e.rev.Calls()); n != 1 {
				t.Errorf("Reverter called %d times, want 1", n)
			}
			recs, err := ReadRecords(context.Background(), e.s)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].SHA != tt.r.sha || recs[0].State != StateReverted || recs[0].RevertSHA == "" ||
				recs[0].Object != "Deployment demo/"+tt.r.name || !strings.HasPrefix(calls[0].why, "bosun reverted this commit automatically: "+recs[0].Reason) {
				t.Errorf("records = %+v", recs)
			}
			h, err := records.ReadHistory(context.Background(), e.s, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != 1 || h[0].Result != state.ResultRolledBack || h[0].Commit.SHA != tt.r.sha || h[0].Commit.Subject != "Deploy hello v2" ||
				h[0].RolledBack == nil || h[0].RolledBack.RevertSHA != recs[0].RevertSHA || !strings.Contains(h[0].Message, recs[0].RevertSHA[:8]) {
				t.Errorf("newest history entry = %+v", h)
			}
		})
	}
}

func TestNeverRevertsARevert(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env, sha string)
	}{
		{name: "revert subject", setup: func(e *env, sha string) {
			e.history(sha, `Revert "Deploy hello v2"`)
		}},
		{name: "a revert this controller pushed", setup: func(e *env, sha string) {
			e.history(sha, "bosun: undo")
			rec := Record{SHA: sha[1:] + "0", Object: "Deployment demo/hello", Reason: "x", Time: time.Now(), State: StateReverted, RevertSHA: sha}
			if _, err := e.s.PutRaw(context.Background(), KeyPrefix+rec.SHA, encode(rec)); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "commit not in the sync history", setup: func(*env, string) {}},
		{name: "a newer commit is synced: the newest wins", setup: func(e *env, sha string) {
			e.history(sha, "Deploy hello v2")
			newer := &state.Attempt{Commit: state.CommitInfo{SHA: "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed"}, Result: state.ResultApplied}
			if err := records.SetStatus(context.Background(), e.s, state.Status{Synced: newer, LastAttempt: newer}); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "already reverted before (another leader)", setup: func(e *env, sha string) {
			e.history(sha, "Deploy hello v2")
			rec := Record{SHA: sha, Object: "Deployment demo/hello", Reason: "x", Time: time.Now(), State: StateReverting}
			if _, err := e.s.PutRaw(context.Background(), KeyPrefix+sha, encode(rec)); err != nil {
				e.t.Fatal(err)
			}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c, _ := e.start(true)
			s := sha(100 + i)
			tt.setup(e, s)
			e.create(rollout{name: "hello", sha: s, progress: deployment.ReasonProgressDeadlineExceeded})
			e.settle(c, "hello")
			if calls := e.rev.Calls(); len(calls) != 0 {
				t.Fatalf("Reverter called: %+v", calls)
			}
		})
	}
}

func TestRestartDoesNotRevertTwice(t *testing.T) {
	e := newEnv(t)
	_, stop := e.start(true)
	s := sha(200)
	e.history(s, "Deploy hello v2")
	e.create(rollout{name: "hello", sha: s, progress: deployment.ReasonProgressDeadlineExceeded})
	e.waitCalls(1)
	stop()

	// A new controller (a restart, or a new leader) sees the same failed rollout.
	c2, _ := e.start(true)
	e.settle(c2, "hello")
	if n := len(e.rev.Calls()); n != 1 {
		t.Fatalf("Reverter called %d times across a restart, want 1", n)
	}
}

func TestRevertFailureIsRecordedNotRetried(t *testing.T) {
	e := newEnv(t)
	e.rev.err = errors.New("gitwrite: deploy/hello.yaml changed since the commit")
	c, _ := e.start(true)
	s := sha(300)
	e.history(s, "Deploy hello v2")
	e.create(rollout{name: "hello", sha: s, progress: deployment.ReasonProgressDeadlineExceeded})
	e.waitCalls(1)
	e.settle(c, "hello")
	if n := len(e.rev.Calls()); n != 1 {
		t.Errorf("Reverter called %d times, want 1", n)
	}
	var h []state.Attempt
	testutil.Eventually(t, 10*time.Second, "a rolled-back history entry", func() (bool, string) {
		var err error
		if h, err = records.ReadHistory(context.Background(), e.s, 1); err != nil {
			t.Fatal(err)
		}
		return len(h) == 1 && h[0].Result == state.ResultRolledBack, fmt.Sprintf("history %+v", h)
	})
	if h[0].RolledBack.Error == "" || !strings.Contains(h[0].Message, "bosun rollback "+s[:8]) {
		t.Errorf("history entry = %+v", h[0])
	}
	recs, err := ReadRecords(context.Background(), e.s)
	if err != nil || len(recs) != 1 || recs[0].State != StateFailed || !strings.Contains(recs[0].Error, "changed since") {
		t.Errorf("records = %+v, %v", recs, err)
	}
}

func TestNewRequiresReverter(t *testing.T) {
	s := storetest.Start(t)
	if _, err := New(Config{Store: s, Informers: cache.NewInformers(s, nil)}); err == nil {
		t.Error("New without a Reverter = nil error")
	}
}
