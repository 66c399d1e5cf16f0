package cronjob

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

// env is a CronJob controller on embedded etcd with a fake clock that
// starts at hour, a whole hour after the store's (real) creation times.
type env struct {
	s    *store.Store
	inf  *cache.Informers
	c    *Controller
	clk  *testingclock.FakeClock
	hour time.Time
	jobs api.Resource
	cjs  api.Resource
}

func newEnv(t testing.TB) *env {
	t.Helper()
	s := storetest.Start(t)
	inf := cache.NewInformers(s, storetest.Logger(t))
	hour := time.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	clk := testingclock.NewFakeClock(hour)
	c := New(Config{Writer: s, Informers: inf, Logger: storetest.Logger(t), Clock: clk, Location: time.UTC,
		Recorder: eventstest.Recorder(t, s, "cronjob-controller")})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, _ := api.Lookup("jobs")
	cjs, _ := api.Lookup("cronjobs")
	return &env{s: s, inf: inf, c: c, clk: clk, hour: hour, jobs: jobs, cjs: cjs}
}

func testCronJob(schedule string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tick"}, Annotations: map[string]string{"note": "x"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}},
			},
		},
	}
}

func (e *env) create(t testing.TB, obj api.Object) {
	t.Helper()
	if err := e.s.Create(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
}

// settle waits until the caches hold exactly the stored CronJobs and Jobs.
func (e *env) settle(t testing.TB) {
	t.Helper()
	for _, r := range []api.Resource{e.jobs, e.cjs} {
		inf := e.inf.For(r)
		testutil.Eventually(t, 10*time.Second, "the "+r.Name+" cache to catch up", func() (bool, string) {
			objs, _, err := e.s.List(t.Context(), r, "default", store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(inf.List("default", nil)); n != len(objs) {
				return false, fmt.Sprintf("%d cached, %d stored", n, len(objs))
			}
			for _, o := range objs {
				if c, ok := inf.Get(o.GetNamespace(), o.GetName()); !ok || c.GetResourceVersion() != o.GetResourceVersion() {
					return false, o.GetName() + " not cached at its version"
				}
			}
			return true, ""
		})
	}
}

func (e *env) reconcile(t testing.TB) reconcile.Result {
	t.Helper()
	e.settle(t)
	res, err := e.c.Reconcile(t.Context(), "default/tick")
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return res
}

func (e *env) cronJob(t testing.TB) *batchv1.CronJob {
	t.Helper()
	cj := &batchv1.CronJob{}
	if err := e.s.Get(t.Context(), "default", "tick", cj); err != nil {
		t.Fatal(err)
	}
	return cj
}

func (e *env) jobList(t testing.TB) []*batchv1.Job {
	t.Helper()
	objs, _, err := e.s.List(t.Context(), e.jobs, "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*batchv1.Job, len(objs))
	for i, o := range objs {
		out[i] = o.(*batchv1.Job)
	}
	return out
}

// finishJob gives the Job a True condition ct (Complete or Failed) at the
// fake clock's now, as the Job controller would.
func (e *env) finishJob(t testing.TB, j *batchv1.Job, ct batchv1.JobConditionType) {
	t.Helper()
	j = j.DeepCopy()
	now := metav1.NewTime(e.clk.Now())
	j.Status.StartTime = &now
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: now})
	if ct == batchv1.JobComplete {
		j.Status.CompletionTime = &now
	}
	if err := e.s.Update(t.Context(), j); err != nil {
		t.Fatal(err)
	}
}

func (e *env) events(t testing.TB, reason string) []*corev1.Event {
	t.Helper()
	return eventstest.Find(t, e.s, "default", "tick", reason)
}

func (e *env) wantEvent(t testing.TB, reason string) *corev1.Event {
	t.Helper()
	var ev *corev1.Event
	testutil.EventuallyTrue(t, 10*time.Second, "a "+reason+" event", func() bool {
		if evs := e.events(t, reason); len(evs) > 0 {
			ev = evs[0]
		}
		return ev != nil
	})
	return ev
}

func TestFiresOnFakeClock(t *testing.T) {
	e := newEnv(t)
	e.clk.SetTime(e.hour.Add(-time.Minute))
	e.create(t, testCronJob("@hourly", batchv1.AllowConcurrent))
	if res := e.reconcile(t); res.RequeueAfter != time.Minute+nextScheduleDelta {
		t.Fatalf("RequeueAfter = %v, want a minute (and %v) to the next start", res.RequeueAfter, nextScheduleDelta)
	}
	if n := len(e.jobList(t)); n != 0 {
		t.Fatalf("%d jobs before the first start time", n)
	}
	e.clk.Step(time.Minute)
	if res := e.reconcile(t); res.RequeueAfter != time.Hour+nextScheduleDelta {
		t.Fatalf("RequeueAfter = %v, want an hour to the next start", res.RequeueAfter)
	}
	jobs := e.jobList(t)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs at the start time, want 1", len(jobs))
	}
	j := jobs[0]
	if want := "tick-" + strconv.FormatInt(e.hour.Unix()/60, 10); j.Name != want {
		t.Errorf("job name %s, want %s", j.Name, want)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != e.hour.Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp %q, want %q", got, e.hour.Format(time.RFC3339))
	}
	if j.Labels["app"] != "tick" || j.Annotations["note"] != "x" {
		t.Errorf("labels %v annotations %v, want the template's", j.Labels, j.Annotations)
	}
	cj := e.cronJob(t)
	if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("job controller = %+v, want the CronJob", ref)
	}
	if len(cj.Status.Active) != 1 || cj.Status.Active[0].Name != j.Name || cj.Status.LastScheduleTime == nil || !cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: e.hour}) {
		t.Fatalf("status = %+v, want the job active and lastScheduleTime %v", cj.Status, e.hour)
	}
	e.wantEvent(t, ReasonSuccessfulCreate)
	e.reconcile(t)
	if n := len(e.jobList(t)); n != 1 {
		t.Fatalf("%d jobs after a second pass at the same time, want 1", n)
	}
	e.finishJob(t, j, batchv1.JobComplete)
	e.reconcile(t)
	cj = e.cronJob(t)
	if len(cj.Status.Active) != 0 || cj.Status.LastSuccessfulTime == nil {
		t.Fatalf("status = %+v, want no active job and a lastSuccessfulTime", cj.Status)
	}
	e.wantEvent(t, ReasonSawCompletedJob)
}

func TestConcurrencyPolicy(t *testing.T) {
	tests := []struct {
		policy    batchv1.ConcurrencyPolicy
		wantJobs  int    // after the second start time, the first still running
		wantEvent string // recorded at the second start time
		wantOld   bool   // the first job still exists
	}{
		{batchv1.AllowConcurrent, 2, ReasonSuccessfulCreate, true},
		{batchv1.ForbidConcurrent, 1, ReasonJobAlreadyActive, true},
		{batchv1.ReplaceConcurrent, 1, ReasonSuccessfulDelete, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			e := newEnv(t)
			e.create(t, testCronJob("*/5 * * * *", tc.policy))
			e.reconcile(t)
			first := e.jobList(t)
			if len(first) != 1 {
				t.Fatalf("%d jobs at the first start, want 1", len(first))
			}
			e.clk.Step(5 * time.Minute)
			e.reconcile(t)
			jobs := e.jobList(t)
			if len(jobs) != tc.wantJobs {
				t.Fatalf("%d jobs, want %d", len(jobs), tc.wantJobs)
			}
			old := false
			for _, j := range jobs {
				old = old || j.UID == first[0].UID
			}
			if old != tc.wantOld {
				t.Errorf("first job kept = %v, want %v", old, tc.wantOld)
			}
			e.wantEvent(t, tc.wantEvent)
			if n := len(e.cronJob(t).Status.Active); n != tc.wantJobs {
				t.Errorf("status.active has %d, want %d", n, tc.wantJobs)
			}
		})
	}
}

func TestForbidRunsOnceThePriorFinished(t *testing.T) {
	e := newEnv(t)
	e.create(t, testCronJob("*/5 * * * *", batchv1.ForbidConcurrent))
	e.reconcile(t)
	e.clk.Step(5 * time.Minute)
	e.reconcile(t)
	e.finishJob(t, e.jobList(t)[0], batchv1.JobComplete)
	e.clk.Step(time.Minute) // the 5-minute start was missed while the prior ran
	e.reconcile(t)
	if n := len(e.jobList(t)); n != 2 {
		t.Fatalf("%d jobs, want the missed start run once the prior finished", n)
	}
}

func TestHistoryLimits(t *testing.T) {
	e := newEnv(t)
	cj := testCronJob("*/5 * * * *", batchv1.AllowConcurrent)
	cj.Spec.SuccessfulJobsHistoryLimit = ptrTo[int32](2)
	cj.Spec.FailedJobsHistoryLimit = ptrTo[int32](1)
	e.create(t, cj)
	outcomes := []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailed, batchv1.JobComplete}
	var names []string
	for _, ct := range outcomes {
		e.reconcile(t)
		for _, j := range e.jobList(t) {
			if finishedCondition(j) == "" {
				names = append(names, j.Name)
				e.finishJob(t, j, ct)
			}
		}
		e.clk.Step(5 * time.Minute)
	}
	e.clk.Step(-time.Minute) // no new start in the last pass
	e.reconcile(t)
	got := map[string]bool{}
	for _, j := range e.jobList(t) {
		got[j.Name] = true
	}
	want := map[string]bool{names[2]: true, names[4]: true, names[3]: true}
	if len(got) != len(want) {
		t.Fatalf("jobs kept %v, want %v (the 2 newest complete, the newest failed)", got, want)
	}
	for n := range want {
		if !got[n] {
			t.Fatalf("jobs kept %v, want %v", got, want)
		}
	}
}

func TestMissedRuns(t *testing.T) {
	e := newEnv(t)
	e.create(t, testCronJob("* * * * *", batchv1.AllowConcurrent))
	e.clk.Step(5 * time.Hour) // 300+ start times missed
	e.reconcile(t)
	jobs := e.jobList(t)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want only the latest start run", len(jobs))
	}
	latest := e.clk.Now().Truncate(time.Minute)
	if want := jobName(e.cronJob(t), latest); jobs[0].Name != want {
		t.Errorf("job %s, want %s (the latest start)", jobs[0].Name, want)
	}
	ev := e.wantEvent(t, ReasonTooManyMissedTimes)
	if ev.Type != corev1.EventTypeWarning {
		t.Errorf("event type %s, want Warning", ev.Type)
	}
}

func TestStartingDeadline(t *testing.T) {
	tests := []struct {
		name     string
		late     time.Duration
		wantJobs int
	}{
		{"within the deadline", 50 * time.Second, 1},
		{"past the deadline", 2 * time.Minute, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cj := testCronJob("0 * * * *", batchv1.AllowConcurrent)
			cj.Spec.StartingDeadlineSeconds = ptrTo[int64](60)
			e.create(t, cj)
			e.clk.Step(tc.late)
			e.reconcile(t)
			if n := len(e.jobList(t)); n != tc.wantJobs {
				t.Fatalf("%d jobs %v after the start time, want %d", n, tc.late, tc.wantJobs)
			}
		})
	}
}

func TestSuspendStartsNothing(t *testing.T) {
	e := newEnv(t)
	cj := testCronJob("*/5 * * * *", batchv1.AllowConcurrent)
	cj.Spec.Suspend = ptrTo(true)
	e.create(t, cj)
	e.reconcile(t)
	if n := len(e.jobList(t)); n != 0 {
		t.Fatalf("%d jobs of a suspended CronJob", n)
	}
}

func TestTimeZone(t *testing.T) {
	e := newEnv(t)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	cj := testCronJob("0 9 * * *", batchv1.AllowConcurrent)
	cj.Spec.TimeZone = ptrTo("America/New_York")
	e.create(t, cj)
	y, m, d := e.hour.In(ny).AddDate(0, 0, 1).Date()
	at := time.Date(y, m, d, 9, 0, 0, 0, ny)
	e.clk.SetTime(at.Add(-time.Second))
	e.reconcile(t)
	if n := len(e.jobList(t)); n != 0 {
		t.Fatalf("%d jobs before 09:00 New York", n)
	}
	e.clk.SetTime(at)
	e.reconcile(t)
	jobs := e.jobList(t)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs at 09:00 New York, want 1", len(jobs))
	}
	if got, want := jobs[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation], at.Format(time.RFC3339); got != want {
		t.Errorf("scheduled-timestamp %q, want %q (in the CronJob's zone)", got, want)
	}
}

func TestRefusedSchedules(t *testing.T) {
	tests := []struct {
		schedule, timeZone, reason string
	}{
		{"CRON_TZ=UTC */5 * * * *", "", ReasonUnsupportedSchedule},
		{"TZ=Europe/Paris 0 * * * *", "", ReasonUnsupportedSchedule},
		{"*/5 * * *", "", ReasonUnparseableSchedule},
		{"*/5 * * * *", "Mars/Olympus_Mons", ReasonUnknownTimeZone},
	}
	for _, tc := range tests {
		t.Run(tc.reason+" "+tc.schedule, func(t *testing.T) {
			e := newEnv(t)
			cj := testCronJob(tc.schedule, batchv1.AllowConcurrent)
			if tc.timeZone != "" {
				cj.Spec.TimeZone = &tc.timeZone
			}
			e.create(t, cj)
			e.clk.Step(time.Hour)
			if res := e.reconcile(t); res.RequeueAfter != 0 {
				t.Errorf("RequeueAfter = %v for a spec a human must fix, want none", res.RequeueAfter)
			}
			if n := len(e.jobList(t)); n != 0 {
				t.Fatalf("%d jobs", n)
			}
			if ev := e.wantEvent(t, tc.reason); ev.Type != corev1.EventTypeWarning {
				t.Errorf("event type %s, want Warning", ev.Type)
			}
		})
	}
}
