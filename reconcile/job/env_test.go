package job

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events/eventstest"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// env is a Job controller on embedded etcd with started informers and a
// fake clock; tests call Reconcile through env.reconcile.
type env struct {
	s    *store.Store
	inf  *cache.Informers
	c    *Controller
	clk  *testingclock.FakeClock
	pods api.Resource
	jobs api.Resource
}

func newEnv(t testing.TB, admit reconcile.PodAdmitter) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	clk := testingclock.NewFakeClock(t0)
	c := New(Config{Writer: s, Informers: inf, Logger: storetest.Logger(t), Clock: clk, Admit: admit,
		Recorder: eventstest.Recorder(t, s, "job-controller")})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	pods, _ := api.Lookup("pods")
	jobs, _ := api.Lookup("jobs")
	return &env{s: s, inf: inf, c: c, clk: clk, pods: pods, jobs: jobs}
}

// testJob is a Job "work" in default of completions and parallelism whose
// pods never restart.
func testJob(completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "work"},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "work"}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}
}

func (e *env) create(t testing.TB, job *batchv1.Job) {
	t.Helper()
	if err := e.s.Create(t.Context(), job); err != nil {
		t.Fatal(err)
	}
}

// settle waits until the caches hold exactly the stored Jobs and pods of
// namespace default, each at its stored resourceVersion.
func (e *env) settle(t testing.TB) {
	t.Helper()
	for _, r := range []api.Resource{e.pods, e.jobs} {
		inf := e.inf.For(r)
		testutil.Eventually(t, 10*time.Second, "the "+r.Name+" cache to catch up", func() (bool, string) {
			objs, _, err := e.s.List(t.Context(), r, "default", store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cached := inf.List("default", nil)
			if len(cached) != len(objs) {
				return false, fmt.Sprintf("%d cached, %d stored", len(cached), len(objs))
			}
			for _, o := range objs {
				c, ok := inf.Get(o.GetNamespace(), o.GetName())
				if !ok || c.GetResourceVersion() != o.GetResourceVersion() {
					return false, o.GetName() + " not cached at its version"
				}
			}
			return true, ""
		})
	}
}

// reconcile settles the caches and reconciles default/work.
func (e *env) reconcile(t testing.TB) reconcile.Result {
	t.Helper()
	e.settle(t)
	res, err := e.c.Reconcile(t.Context(), "default/work")
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return res
}

// job reads default/work from the store.
func (e *env) job(t testing.TB) *batchv1.Job {
	t.Helper()
	j := &batchv1.Job{}
	if err := e.s.Get(t.Context(), "default", "work", j); err != nil {
		t.Fatal(err)
	}
	return j
}

// podList lists the stored pods of default, optionally only those in phase.
func (e *env) podList(t testing.TB, phases ...corev1.PodPhase) []*corev1.Pod {
	t.Helper()
	objs, _, err := e.s.List(t.Context(), e.pods, "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if len(phases) == 0 || contains(phases, p.Status.Phase) {
			out = append(out, p)
		}
	}
	return out
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// finish makes pod terminate at the fake clock's now with exitCode (0:
// Succeeded, else Failed), and extra pod conditions.
func (e *env) finish(t testing.TB, pod *corev1.Pod, exitCode int32, conds ...corev1.PodCondition) {
	t.Helper()
	p := pod.DeepCopy()
	p.Status.Phase = corev1.PodSucceeded
	if exitCode != 0 {
		p.Status.Phase = corev1.PodFailed
	}
	now := metav1.NewTime(e.clk.Now())
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: now}}}}
	p.Status.Conditions = conds
	if err := e.s.Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

// finishAll terminates every non-terminated pod with exitCode.
func (e *env) finishAll(t testing.TB, exitCode int32) {
	t.Helper()
	for _, p := range e.podList(t, corev1.PodPending, corev1.PodRunning) {
		e.finish(t, p, exitCode)
	}
}

// condition returns the Job's condition of type ct, or nil.
func condition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	return findCondition(j.Status.Conditions, ct)
}

// wantCondition fails the test unless j has ct True with reason.
func wantCondition(t testing.TB, j *batchv1.Job, ct batchv1.JobConditionType, reason string) {
	t.Helper()
	c := condition(j, ct)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != reason {
		t.Fatalf("condition %s = %+v, want True with reason %s; all: %+v", ct, c, reason, j.Status.Conditions)
	}
}

// wantEvent waits for an Event about default/work with reason.
func (e *env) wantEvent(t testing.TB, reason string) *corev1.Event {
	t.Helper()
	var ev *corev1.Event
	testutil.EventuallyTrue(t, 10*time.Second, "a "+reason+" event", func() bool {
		evs := eventstest.Find(t, e.s, "default", "work", reason)
		if len(evs) > 0 {
			ev = evs[0]
		}
		return ev != nil
	})
	return ev
}

// indexOf returns a pod's completion index annotation as an int.
func indexOf(t testing.TB, p *corev1.Pod) int {
	t.Helper()
	i, err := strconv.Atoi(p.Annotations[batchv1.JobCompletionIndexAnnotation])
	if err != nil {
		t.Fatalf("pod %s: completion index: %v", p.Name, err)
	}
	return i
}

// refuseAll is a PodAdmitter that refuses every pod as quota would.
type refuseAll struct{}

func (refuseAll) AdmitPod(context.Context, *corev1.Pod) error {
	return fmt.Errorf("exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2: %w", api.ErrForbidden)
}
