package job

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/events/eventstest"
)

func TestCompletesWithParallelism(t *testing.T) {
	e := newEnv(t, nil)
	e.create(t, testJob(3, 2))
	e.reconcile(t)
	pods := e.podList(t)
	if len(pods) != 2 {
		t.Fatalf("%d pods after the first pass, want 2 (parallelism)", len(pods))
	}
	j := e.job(t)
	for _, p := range pods {
		want := map[string]string{"app": "work", batchv1.JobNameLabel: "work", LegacyJobNameLabel: "work",
			batchv1.ControllerUidLabel: string(j.UID), LegacyControllerUIDLabel: string(j.UID)}
		for k, v := range want {
			if p.Labels[k] != v {
				t.Errorf("pod %s label %s = %q, want %q", p.Name, k, p.Labels[k], v)
			}
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != j.UID || ref.Kind != "Job" {
			t.Errorf("pod %s controller = %+v, want the Job", p.Name, ref)
		}
		if !strings.HasPrefix(p.Name, "work-") {
			t.Errorf("pod name %s, want work-<random>", p.Name)
		}
	}
	if j.Status.Active != 2 || j.Status.StartTime == nil {
		t.Fatalf("status = %+v, want active 2 and a startTime", j.Status)
	}
	e.wantEvent(t, ReasonSuccessfulCreate)

	e.finishAll(t, 0)
	e.reconcile(t)
	if n := len(e.podList(t, corev1.PodPending)); n != 1 {
		t.Fatalf("%d new pods after 2 successes of 3, want 1", n)
	}
	if j := e.job(t); j.Status.Succeeded != 2 || j.Status.Active != 1 {
		t.Fatalf("status = %+v, want succeeded 2 active 1", j.Status)
	}
	e.finishAll(t, 0)
	e.reconcile(t)
	j = e.job(t)
	wantCondition(t, j, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached)
	wantCondition(t, j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
	if j.Status.Succeeded != 3 || j.Status.CompletionTime == nil || j.Status.Active != 0 {
		t.Fatalf("status = %+v, want succeeded 3, active 0 and a completionTime", j.Status)
	}
	e.wantEvent(t, ReasonCompleted)
	if n := len(e.podList(t)); n != 3 {
		t.Errorf("%d pods after completion, want the 3 that ran", n)
	}
}

func TestBackoffLimitWithRetries(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(1, 1)
	j.Spec.BackoffLimit = ptrTo[int32](1)
	e.create(t, j)
	e.reconcile(t)
	e.finishAll(t, 1)
	res := e.reconcile(t)
	if n := len(e.podList(t, corev1.PodPending)); n != 0 {
		t.Fatalf("a replacement was created at once; want it after the 10 s backoff")
	}
	if res.RequeueAfter != DefaultPodFailureBackoff {
		t.Fatalf("RequeueAfter = %v, want the backoff %v", res.RequeueAfter, DefaultPodFailureBackoff)
	}
	if j := e.job(t); j.Status.Failed != 1 || condition(j, batchv1.JobFailed) != nil {
		t.Fatalf("status = %+v, want failed 1 and not Failed", j.Status)
	}
	e.clk.Step(DefaultPodFailureBackoff)
	e.reconcile(t)
	if n := len(e.podList(t, corev1.PodPending)); n != 1 {
		t.Fatalf("%d replacements after the backoff, want 1", n)
	}
	e.finishAll(t, 1)
	e.reconcile(t)
	j = e.job(t)
	wantCondition(t, j, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded)
	wantCondition(t, j, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded)
	if j.Status.Failed != 2 {
		t.Errorf("failed = %d, want 2", j.Status.Failed)
	}
	if ev := e.wantEvent(t, batchv1.JobReasonBackoffLimitExceeded); ev.Type != corev1.EventTypeWarning || ev.Message != msgBackoffLimit {
		t.Errorf("event = %s %q, want Warning %q", ev.Type, ev.Message, msgBackoffLimit)
	}
}

func TestBackoffDoubles(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{4, 80 * time.Second},
		{6, 320 * time.Second},
		{7, 6 * time.Minute},
		{40, 6 * time.Minute},
	}
	for _, tc := range tests {
		p := &pass{now: t0}
		for range tc.failures {
			p.failed = append(p.failed, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, LastTransitionTime: metav1.NewTime(t0)}}}})
		}
		if got := p.backoffWait(); got != tc.want {
			t.Errorf("%d failures: backoff %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestIndexed(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(3, 2)
	mode := batchv1.IndexedCompletion
	j.Spec.CompletionMode = &mode
	e.create(t, j)
	e.reconcile(t)
	pods := e.podList(t)
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	seen := map[int]bool{}
	for _, p := range pods {
		i := indexOf(t, p)
		seen[i] = true
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != p.Annotations[batchv1.JobCompletionIndexAnnotation] {
			t.Errorf("pod %s index label %q != annotation", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation])
		}
		if want := "work-" + p.Annotations[batchv1.JobCompletionIndexAnnotation]; p.Spec.Hostname != want || !strings.HasPrefix(p.Name, want+"-") {
			t.Errorf("pod %s hostname %q, want %q and the name prefix", p.Name, p.Spec.Hostname, want)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != CompletionIndexEnv || env[0].ValueFrom == nil ||
			env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("pod %s env = %+v, want JOB_COMPLETION_INDEX from the annotation", p.Name, env)
		}
	}
	if !seen[0] || !seen[1] {
		t.Fatalf("indexes %v, want 0 and 1 first", seen)
	}
	for _, p := range pods {
		if indexOf(t, p) == 1 {
			e.finish(t, p, 0)
		}
	}
	e.reconcile(t)
	j = e.job(t)
	if j.Status.CompletedIndexes != "1" || j.Status.Succeeded != 1 {
		t.Fatalf("completedIndexes %q succeeded %d, want \"1\" and 1", j.Status.CompletedIndexes, j.Status.Succeeded)
	}
	var idx2 bool
	for _, p := range e.podList(t, corev1.PodPending) {
		idx2 = idx2 || indexOf(t, p) == 2
	}
	if !idx2 {
		t.Fatal("no pod for index 2 after index 1 succeeded")
	}
	e.finishAll(t, 0)
	e.reconcile(t)
	j = e.job(t)
	if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
		t.Fatalf("completedIndexes %q succeeded %d, want \"0-2\" and 3", j.Status.CompletedIndexes, j.Status.Succeeded)
	}
	wantCondition(t, j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
}

func TestActiveDeadline(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(2, 2)
	j.Spec.ActiveDeadlineSeconds = ptrTo[int64](30)
	e.create(t, j)
	if res := e.reconcile(t); res.RequeueAfter != 30*time.Second {
		t.Fatalf("RequeueAfter = %v, want the deadline in 30s", res.RequeueAfter)
	}
	// One pod runs on a node (deleted gracefully), one is not bound yet
	// (removed at once).
	pods := e.podList(t)
	bound := pods[0].DeepCopy()
	bound.Spec.NodeName = "n1"
	bound.Status.Phase = corev1.PodRunning
	if err := e.s.Update(t.Context(), bound); err != nil {
		t.Fatal(err)
	}
	e.clk.Step(30 * time.Second)
	e.reconcile(t)
	j = e.job(t)
	wantCondition(t, j, batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded)
	if condition(j, batchv1.JobFailed) != nil {
		t.Fatal("Failed before the running pod terminated")
	}
	if j.Status.Terminating == nil || *j.Status.Terminating != 1 || j.Status.Active != 0 {
		t.Fatalf("status = %+v, want terminating 1, active 0", j.Status)
	}
	left := e.podList(t)
	if len(left) != 1 || left[0].DeletionTimestamp == nil || left[0].DeletionGracePeriodSeconds == nil {
		t.Fatalf("pods = %d, want only the bound one, marked for deletion", len(left))
	}
	e.finish(t, left[0], 137)
	e.reconcile(t)
	j = e.job(t)
	wantCondition(t, j, batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)
	if ev := e.wantEvent(t, batchv1.JobReasonDeadlineExceeded); ev.Message != msgDeadline {
		t.Errorf("event message %q, want %q", ev.Message, msgDeadline)
	}
}

func TestTTLAfterFinished(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(1, 1)
	j.Spec.TTLSecondsAfterFinished = ptrTo[int32](60)
	e.create(t, j)
	e.reconcile(t)
	e.finishAll(t, 0)
	if res := e.reconcile(t); res.RequeueAfter != time.Minute {
		t.Fatalf("RequeueAfter = %v after finishing, want the TTL", res.RequeueAfter)
	}
	e.clk.Step(59 * time.Second)
	if res := e.reconcile(t); res.RequeueAfter != time.Second {
		t.Fatalf("RequeueAfter = %v, want 1s left", res.RequeueAfter)
	}
	e.clk.Step(time.Second)
	e.reconcile(t)
	if err := e.s.Get(t.Context(), "default", "work", &batchv1.Job{}); err == nil {
		t.Fatal("the Job still exists after its TTL")
	}
}

func TestPodFailurePolicy(t *testing.T) {
	disruption := []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{1, 42}}},
	}}
	tests := []struct {
		name        string
		exitCode    int32
		conds       []corev1.PodCondition
		wantFailed  int32
		wantReason  string // of the Failed condition; "" = not failed
		wantMessage string
		wantNewPod  bool // a replacement at once (no backoff)
	}{
		{name: "FailJob on exit code", exitCode: 42, wantFailed: 1, wantReason: batchv1.JobReasonPodFailurePolicy,
			wantMessage: "Container app for pod default/%s failed with exit code 42 matching FailJob rule at index 1"},
		{name: "Ignore on DisruptionTarget", exitCode: 137, conds: disruption, wantFailed: 0, wantNewPod: true},
		{name: "Count on exit code", exitCode: 1, wantFailed: 1},
		{name: "FailJob on NotIn", exitCode: 3, wantFailed: 1, wantReason: batchv1.JobReasonPodFailurePolicy,
			wantMessage: "Container app for pod default/%s failed with exit code 3 matching FailJob rule at index 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			j := testJob(1, 1)
			j.Spec.PodFailurePolicy = policy
			e.create(t, j)
			e.reconcile(t)
			pod := e.podList(t)[0]
			e.finish(t, pod, tc.exitCode, tc.conds...)
			e.reconcile(t)
			j = e.job(t)
			if j.Status.Failed != tc.wantFailed {
				t.Errorf("failed = %d, want %d", j.Status.Failed, tc.wantFailed)
			}
			if tc.wantReason != "" {
				wantCondition(t, j, batchv1.JobFailed, tc.wantReason)
				if want := strings.Replace(tc.wantMessage, "%s", pod.Name, 1); condition(j, batchv1.JobFailed).Message != want {
					t.Errorf("message %q, want %q", condition(j, batchv1.JobFailed).Message, want)
				}
			} else if condition(j, batchv1.JobFailed) != nil {
				t.Errorf("Job failed: %+v", j.Status.Conditions)
			}
			if got := len(e.podList(t, corev1.PodPending)) == 1; got != tc.wantNewPod {
				t.Errorf("replacement created at once = %v, want %v", got, tc.wantNewPod)
			}
		})
	}
}

func TestSuspendAndResume(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(2, 2)
	j.Spec.Suspend = ptrTo(true)
	e.create(t, j)
	e.reconcile(t)
	if n := len(e.podList(t)); n != 0 {
		t.Fatalf("%d pods of a suspended Job", n)
	}
	j = e.job(t)
	wantCondition(t, j, batchv1.JobSuspended, reasonJobSuspended)
	if j.Status.StartTime != nil {
		t.Errorf("startTime %v of a Job created suspended", j.Status.StartTime)
	}
	e.clk.Step(time.Minute)
	j.Spec.Suspend = ptrTo(false)
	if err := e.s.Update(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	j = e.job(t)
	if n := len(e.podList(t)); n != 2 {
		t.Fatalf("%d pods after resume, want 2", n)
	}
	if c := condition(j, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse || c.Reason != reasonJobResumed {
		t.Errorf("Suspended = %+v, want False JobResumed", c)
	}
	if j.Status.StartTime == nil || !j.Status.StartTime.Time.Equal(e.clk.Now()) {
		t.Errorf("startTime %v, want the resume time %v", j.Status.StartTime, e.clk.Now())
	}
	e.wantEvent(t, ReasonResumed)

	j.Spec.Suspend = ptrTo(true)
	if err := e.s.Update(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	if n := len(e.podList(t)); n != 0 {
		t.Fatalf("%d pods after suspending again (unbound pods go at once), want 0", n)
	}
	e.clk.Step(time.Minute)
	j = e.job(t)
	j.Spec.Suspend = ptrTo(false)
	if err := e.s.Update(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	if j := e.job(t); j.Status.StartTime == nil || !j.Status.StartTime.Time.Equal(e.clk.Now()) {
		t.Errorf("startTime %v after the second resume, want it reset to %v", j.Status.StartTime, e.clk.Now())
	}
}

func TestWorkQueue(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(0, 2)
	j.Spec.Completions = nil
	e.create(t, j)
	e.reconcile(t)
	pods := e.podList(t)
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	e.finish(t, pods[0], 0)
	e.reconcile(t)
	if n := len(e.podList(t)); n != 2 {
		t.Fatalf("%d pods after one success, want no new pod", n)
	}
	if j := e.job(t); condition(j, batchv1.JobComplete) != nil || condition(j, batchv1.JobSuccessCriteriaMet) != nil {
		t.Fatalf("conditions %+v while a pod still runs, want none yet", j.Status.Conditions)
	}
	e.finish(t, pods[1], 0)
	e.reconcile(t)
	wantCondition(t, e.job(t), batchv1.JobComplete, batchv1.JobReasonCompletionsReached)
}

func TestAdmissionRefused(t *testing.T) {
	e := newEnv(t, refuseAll{})
	e.create(t, testJob(1, 1))
	e.settle(t)
	if _, err := e.c.Reconcile(t.Context(), "default/work"); err == nil {
		t.Fatal("Reconcile succeeded with every pod refused; want an error (retried with backoff)")
	}
	if n := len(e.podList(t)); n != 0 {
		t.Fatalf("%d pods created despite the refusal", n)
	}
	ev := e.wantEvent(t, ReasonFailedCreate)
	if ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "exceeded quota: compute") {
		t.Errorf("event %s %q, want a Warning with the quota message", ev.Type, ev.Message)
	}
}

func TestRestartsOnFailureCountAgainstBackoffLimit(t *testing.T) {
	e := newEnv(t, nil)
	j := testJob(1, 1)
	j.Spec.BackoffLimit = ptrTo[int32](2)
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	e.create(t, j)
	e.reconcile(t)
	p := e.podList(t)[0].DeepCopy()
	p.Spec.NodeName = "n1"
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 2}}
	if err := e.s.Update(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	e.reconcile(t)
	wantCondition(t, e.job(t), batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded)
	if evs := eventstest.Find(t, e.s, "default", "work", ReasonSuccessfulDelete); len(evs) == 0 {
		// The event is asynchronous: wait for it.
		e.wantEvent(t, ReasonSuccessfulDelete)
	}
}
