package rollout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/rollout"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	c      *client.Client
	d      *appsv1.Deployment
	newRS  *appsv1.ReplicaSet
	oldRS  *appsv1.ReplicaSet
	newPod *corev1.Pod
	oldPod *corev1.Pod
}

const sha1 = "1111111111111111111111111111111111111111"

// setup stores a synced commit and a Deployment of 2 replicas in the middle
// of a rollout: spec generation 2 not yet observed, a new ReplicaSet
// (revision 2) with one pod and an old one (revision 1) with one pod.
func setup(t *testing.T) *fixture {
	t.Helper()
	st, url := apitest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, st: st, c: c}
	f.setStatus(state.CommitInfo{SHA: sha1, Subject: "v2"}, state.ResultApplied, "")
	f.d = &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web",
			Labels:      map[string]string{api.LabelManagedBy: api.ManagedByValue},
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "hello:v1"}}}}},
	}
	f.must(st.Create(ctx, f.d))
	f.d.Spec.Template.Spec.Containers[0].Image = "hello:v2"
	f.must(st.Update(ctx, f.d)) // generation 2
	rs := func(name, rev string) *appsv1.ReplicaSet {
		r := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(f.d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
			Spec: appsv1.ReplicaSetSpec{Selector: f.d.Spec.Selector, Template: f.d.Spec.Template}}
		f.must(st.Create(ctx, r))
		return r
	}
	f.oldRS, f.newRS = rs("web-old", "1"), rs("web-new", "2")
	pod := func(name string, owner *appsv1.ReplicaSet) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "hello"}}}}
		f.must(st.Create(ctx, p))
		return p
	}
	f.oldPod, f.newPod = pod("web-old-a", f.oldRS), pod("web-new-a", f.newRS)
	f.d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	f.must(st.Update(ctx, f.d))
	return f
}

func ptr[T any](v T) *T { return &v }

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) setStatus(c state.CommitInfo, result, msg string) {
	f.t.Helper()
	att := &state.Attempt{Commit: c, Time: time.Now(), Result: result, Message: msg}
	st := state.Status{Repo: "/repo", Branch: "main", LastAttempt: att}
	if result == state.ResultApplied {
		st.Synced = att
	} else {
		st.Synced = &state.Attempt{Commit: state.CommitInfo{SHA: sha1, Subject: "v2"}, Result: state.ResultApplied}
	}
	f.must(records.SetStatus(f.ctx, f.st, st))
}

// addHistory records an earlier sync attempt of commit sha, a minute ago.
func (f *fixture) addHistory(sha, result, msg string) {
	f.t.Helper()
	f.must(records.Append(f.ctx, f.st, state.Attempt{Time: time.Now().Add(-time.Minute),
		Commit: state.CommitInfo{SHA: sha}, Result: result, Message: msg}))
}

// finish completes the rollout: status caught up, old pod gone.
func (f *fixture) finish() {
	f.t.Helper()
	f.must(f.st.Delete(f.ctx, storetest.Resource(f.t, "pods"), "default", f.oldPod.Name, ""))
	f.d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	f.must(f.st.Update(f.ctx, f.d))
}

// waitFor waits until out contains s.
func waitFor(t *testing.T, out *testutil.SyncBuffer, s string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("output showing %q", s), func() (bool, string) {
		o := out.String()
		return strings.Contains(o, s), "output:\n" + o
	})
}

// frozenAPI answers with what the real API answered once: the fixture's
// state read through the server, held still so that Wait can run in a
// synctest bubble, in virtual time, where the network cannot be used. Its
// watches report no change until they end.
type frozenAPI struct {
	status  state.Status
	history []state.Attempt
	lists   map[string][]api.Object // by resource name and selector
}

// freeze reads what Wait reads (see rollout.API) through f's client.
func freeze(f *fixture) *frozenAPI {
	f.t.Helper()
	a := &frozenAPI{lists: map[string][]api.Object{}}
	var err error
	a.status, err = f.c.Status(f.ctx)
	f.must(err)
	a.history, err = f.c.History(f.ctx, 100)
	f.must(err)
	for _, l := range []struct{ name, sel string }{
		{"deployments", api.LabelManagedBy + "=" + api.ManagedByValue}, {"replicasets", ""}, {"pods", ""}, {"events", ""},
	} {
		objs, _, err := f.c.ListAt(f.ctx, storetest.Resource(f.t, l.name), "", l.sel)
		f.must(err)
		a.lists[l.name+"?"+l.sel] = objs
	}
	return a
}

func (a *frozenAPI) Status(context.Context) (state.Status, error) { return a.status, nil }

func (a *frozenAPI) History(_ context.Context, limit int) ([]state.Attempt, error) {
	return a.history[:min(limit, len(a.history))], nil
}

func (a *frozenAPI) ListAt(_ context.Context, r api.Resource, ns, sel string) ([]api.Object, string, error) {
	objs, ok := a.lists[r.Name+"?"+sel]
	if !ok || ns != "" {
		return nil, "", fmt.Errorf("frozenAPI: %s in namespace %q with selector %q was not read by freeze", r.Name, ns, sel)
	}
	return objs, "1", nil
}

func (a *frozenAPI) Watch(ctx context.Context, _ api.Resource, _, _, _ string, _ func(client.Event) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestWait(t *testing.T) {
	tests := []struct {
		name    string
		opts    rollout.Options
		before  func(f *fixture) // before Wait starts
		during  func(f *fixture) // once progress was printed
		want    rollout.Outcome
		reason  string
		pods    []string
		outputs []string
		absent  []string // not in the output
		// virtual runs Wait on a frozenAPI in a synctest bubble: for the
		// timeouts, which then pass in virtual time, exactly.
		virtual bool
	}{
		{
			name:    "succeeds when the rollout completes",
			during:  (*fixture).finish,
			want:    rollout.Succeeded,
			outputs: []string{"default/web: updated 1/2, ready 1/2, available 1/2, 1 old pods\n", "default/web: updated 2/2, ready 2/2, available 2/2 (rolled out)\n", "Rolled out: commit 11111111, 1 Deployments"},
		},
		{
			name:   "already rolled out",
			before: (*fixture).finish,
			want:   rollout.Succeeded,
		},
		{
			name: "progress deadline exceeded",
			during: func(f *fixture) {
				f.d.Status.ObservedGeneration = 2
				f.d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
					Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-new" has timed out progressing.`}}
				f.must(f.st.Update(f.ctx, f.d))
			},
			want:   rollout.Failed,
			reason: `deployment default/web: ProgressDeadlineExceeded: ReplicaSet "web-new" has timed out progressing.`,
		},
		{
			name: "new pod crash-loops",
			during: func(f *fixture) {
				f.d.Status.ObservedGeneration = 2
				f.must(f.st.Update(f.ctx, f.d))
				f.newPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}}}}
				f.must(f.st.Update(f.ctx, f.newPod))
			},
			want:    rollout.Failed,
			pods:    []string{"pod default/web-new-a container app: CrashLoopBackOff: back-off 10s restarting failed container"},
			outputs: []string{"Rollout failed: new pods are failing\n  pod default/web-new-a container app: CrashLoopBackOff"},
		},
		{
			name: "crash-looping old pod does not fail",
			before: func(f *fixture) {
				f.oldPod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
				f.must(f.st.Update(f.ctx, f.oldPod))
			},
			opts: rollout.Options{Timeout: 300 * time.Millisecond}, virtual: true,
			want: rollout.TimedOut, reason: "timed out after 300ms waiting for default/web: updated 1/2",
		},
		{
			name: "times out while an old pod remains",
			opts: rollout.Options{Timeout: rollout.DefaultTimeout}, virtual: true,
			want:    rollout.TimedOut,
			reason:  "timed out after 5m0s waiting for default/web: updated 1/2, ready 1/2, available 1/2, 1 old pods",
			outputs: []string{"Rollout not finished: timed out after 5m0s"},
		},
		{
			name: "times out saying why pods are pending",
			before: func(f *fixture) {
				ev := func(name, typ, reason, msg string, count int32, involved api.Object) {
					ref := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: involved.GetName(), UID: involved.GetUID()}
					f.must(f.st.Create(f.ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
						InvolvedObject: ref, Type: typ, Reason: reason, Message: msg, Count: count,
						LastTimestamp: metav1.NewTime(time.Now())}))
				}
				ev("a.1", corev1.EventTypeWarning, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", 3, f.newPod)
				ev("a.2", corev1.EventTypeNormal, "Pulled", "image present", 1, f.newPod)
				ev("b.1", corev1.EventTypeWarning, "BackOff", "the old pod's trouble", 1, f.oldPod)
			},
			opts: rollout.Options{Timeout: 300 * time.Millisecond}, virtual: true,
			want: rollout.TimedOut, reason: "timed out after 300ms waiting for default/web",
			outputs: []string{"Rollout not finished", "Events:\n  Warning FailedScheduling pod/web-new-a (x3): 0/3 nodes are available: 3 Insufficient cpu.\n"},
			absent:  []string{"Pulled", "old pod's trouble"},
		},
		{
			name: "last sync rejected",
			before: func(f *fixture) {
				f.setStatus(state.CommitInfo{SHA: "2222222222"}, state.ResultRejected, "invalid manifests")
			},
			want:   rollout.Failed,
			reason: "the sync of commit 22222222 was rejected: invalid manifests",
		},
		{
			name: "waits for a commit, then its rollout",
			opts: rollout.Options{Commit: "33333333"},
			during: func(f *fixture) {
				f.setStatus(state.CommitInfo{SHA: "3333333333333333", Subject: "v3"}, state.ResultApplied, "")
				f.finish()
			},
			want:    rollout.Succeeded,
			outputs: []string{"Waiting for the rollout of 33333333 \"v3\""},
		},
		{
			name:   "awaited commit rejected",
			opts:   rollout.Options{Commit: "4444"},
			during: func(f *fixture) { f.setStatus(state.CommitInfo{SHA: "4444444444"}, state.ResultRejected, "bad") },
			want:   rollout.Failed,
			reason: "the sync of commit 44444444 was rejected: bad",
		},
		{
			name:   "awaited commit rolled back",
			opts:   rollout.Options{Commit: "6666"},
			before: func(f *fixture) { f.addHistory("6666666666", "rolled back", "reverted by 77777777") },
			want:   rollout.Failed,
			reason: "the sync of commit 66666666 was rolled back: reverted by 77777777",
		},
		{
			name: "awaited commit superseded",
			opts: rollout.Options{Commit: "8888"},
			before: func(f *fixture) {
				f.addHistory("8888888888", state.ResultApplied, "")
				f.finish()
			},
			want:    rollout.Succeeded,
			outputs: []string{"Commit 88888888 was synced and then superseded by 11111111; following that one."},
		},
		{
			name: "awaited commit never synced",
			opts: rollout.Options{Commit: "5555", Timeout: 300 * time.Millisecond}, virtual: true,
			want:   rollout.TimedOut,
			reason: "timed out after 300ms waiting for commit 5555 to be synced",
		},
		{
			name:    "terminal bars",
			opts:    rollout.Options{Terminal: true},
			during:  (*fixture).finish,
			want:    rollout.Succeeded,
			outputs: []string{"updated [##########..........] 1/2", "available [####################] 2/2", "\x1b[2A\r\x1b[J"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			if tt.before != nil {
				tt.before(f)
			}
			out := &testutil.SyncBuffer{}
			opts := tt.opts
			opts.Out = out
			if opts.Timeout == 0 {
				opts.Timeout = time.Minute // real time: generous for a busy machine
			}
			type ret struct {
				res rollout.Result
				err error
			}
			var r ret
			if tt.virtual {
				a := freeze(f)
				synctest.Test(t, func(t *testing.T) {
					start := time.Now()
					r.res, r.err = rollout.Wait(t.Context(), a, opts)
					if d := time.Since(start); d != opts.Timeout {
						t.Errorf("Wait returned after %s, want exactly its timeout %s", d, opts.Timeout)
					}
				})
			} else {
				opts.Interval = 50 * time.Millisecond
				done := make(chan ret, 1)
				go func() {
					res, err := rollout.Wait(f.ctx, f.c, opts)
					done <- ret{res, err}
				}()
				if tt.during != nil {
					if opts.Commit != "" {
						waitFor(t, out, "Waiting for commit "+opts.Commit+" to be synced (synced now: 11111111)")
					} else if opts.Terminal {
						waitFor(t, out, "1/2")
					} else {
						waitFor(t, out, "default/web: updated 1/2")
					}
					tt.during(f)
				}
				r = <-done
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.res.Outcome != tt.want {
				t.Errorf("outcome %v (%s), want %v\n%s", r.res.Outcome, r.res.Reason, tt.want, out.String())
			}
			if !strings.Contains(r.res.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", r.res.Reason, tt.reason)
			}
			var pods []string
			for _, p := range r.res.FailingPods {
				pods = append(pods, p.String())
			}
			if strings.Join(pods, "\n") != strings.Join(tt.pods, "\n") {
				t.Errorf("failing pods %q, want %q", pods, tt.pods)
			}
			for _, o := range tt.outputs {
				if !strings.Contains(out.String(), o) {
					t.Errorf("output lacks %q:\n%s", o, out.String())
				}
			}
			for _, o := range tt.absent {
				if strings.Contains(out.String(), o) {
					t.Errorf("output has %q:\n%s", o, out.String())
				}
			}
		})
	}
}

func TestWaitCancelled(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, err := rollout.Wait(ctx, f.c, rollout.Options{Timeout: time.Minute}); err == nil {
		t.Fatal("Wait with a cancelled context returned no error")
	}
}
