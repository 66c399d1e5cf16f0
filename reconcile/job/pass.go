package job

import (
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client/cache"
)

// Messages of the conditions, as Kubernetes writes them.
const (
	msgBackoffLimit    = "Job has reached the specified backoff limit"
	msgDeadline        = "Job was active longer than specified deadline"
	msgCompletions     = "Reached expected number of succeeded pods"
	msgSuspended       = "Job suspended"
	msgResumed         = "Job resumed"
	reasonJobSuspended = "JobSuspended"
	reasonJobResumed   = "JobResumed"
)

// event is an Event to record once the status that causes it is written.
type event struct{ typ, reason, message string }

// pass is one reconciliation of one Job: its pods sorted by state, and the
// status being computed.
type pass struct {
	job    *batchv1.Job
	now    time.Time
	status batchv1.JobStatus
	events []event

	active      []*corev1.Pod
	terminating int32
	succeeded   []*corev1.Pod
	failed      []*corev1.Pod // failed pods the failure policy does not ignore
	// indexed mode: the indexes that succeeded (status.completedIndexes and
	// succeeded pods), below completions.
	doneIndexes map[int32]bool

	// failure is set when the Job must fail: reason and message of the
	// FailureTarget and Failed conditions.
	failure *batchv1.JobCondition
	// finished: the Complete or Failed condition was added in this pass.
	finished bool
	// after is the earliest time to look again (0: none).
	after time.Duration
}

// requeue asks for the Job to be reconciled again within d.
func (p *pass) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if p.after == 0 || d < p.after {
		p.after = d
	}
}

// newPass sorts the pods job controls and starts its status from the
// cached one.
func (c *Controller) newPass(job *batchv1.Job, now time.Time) *pass {
	p := &pass{job: job, now: now, status: *job.Status.DeepCopy()}
	for _, obj := range c.pods.ByIndex(cache.IndexOwnerUID, string(job.UID)) {
		pod, ok := obj.(*corev1.Pod)
		ref := metav1.GetControllerOfNoCopy(obj)
		if !ok || ref == nil || ref.UID != job.UID || pod.Namespace != job.Namespace {
			continue
		}
		p.add(pod)
	}
	if isIndexed(job) {
		p.doneIndexes = parseIndexes(job.Status.CompletedIndexes, completions(job))
		for _, pod := range p.succeeded {
			if i, ok := podIndex(pod); ok && i < completions(job) {
				p.doneIndexes[i] = true
			}
		}
	}
	return p
}

// add files one pod of the Job.
func (p *pass) add(pod *corev1.Pod) {
	switch {
	case pod.Status.Phase == corev1.PodSucceeded:
		p.succeeded = append(p.succeeded, pod)
	case pod.Status.Phase == corev1.PodFailed:
		action, msg := matchFailurePolicy(p.job.Spec.PodFailurePolicy, pod)
		switch action {
		case batchv1.PodFailurePolicyActionIgnore:
		case batchv1.PodFailurePolicyActionFailJob:
			p.failed = append(p.failed, pod)
			if p.failure == nil {
				p.failure = &batchv1.JobCondition{Reason: batchv1.JobReasonPodFailurePolicy, Message: msg}
			}
		default:
			p.failed = append(p.failed, pod)
		}
	case pod.DeletionTimestamp != nil:
		p.terminating++
	default:
		p.active = append(p.active, pod)
	}
}

// decide computes the counts and the Suspended condition, and whether the
// Job must fail (or when to look again for its deadline).
func (p *pass) decide() {
	st := &p.status
	suspended := p.job.Spec.Suspend != nil && *p.job.Spec.Suspend
	p.setSuspended(suspended)
	if st.StartTime == nil && !suspended {
		st.StartTime = &metav1.Time{Time: p.now}
	}
	st.Succeeded = int32(len(p.succeeded))
	if p.doneIndexes != nil {
		st.Succeeded = int32(len(p.doneIndexes))
		st.CompletedIndexes = formatIndexes(p.doneIndexes)
	}
	st.Failed = int32(len(p.failed))
	if prev := findCondition(st.Conditions, batchv1.JobFailureTarget); prev != nil {
		p.failure = &batchv1.JobCondition{Reason: prev.Reason, Message: prev.Message}
	}
	if p.failure == nil && findCondition(st.Conditions, batchv1.JobSuccessCriteriaMet) == nil {
		p.checkFailure(suspended)
	}
}

// checkFailure sets p.failure when the backoff limit or the active deadline
// is exceeded, or asks to look again at the deadline.
func (p *pass) checkFailure(suspended bool) {
	limit := backoffLimit(p.job)
	if int32(len(p.failed)) > limit || p.restartsPastLimit(limit) {
		p.failure = &batchv1.JobCondition{Reason: batchv1.JobReasonBackoffLimitExceeded, Message: msgBackoffLimit}
		return
	}
	ads := p.job.Spec.ActiveDeadlineSeconds
	if ads == nil || suspended || p.status.StartTime == nil {
		return
	}
	deadline := p.status.StartTime.Add(time.Duration(*ads) * time.Second)
	if !p.now.Before(deadline) {
		p.failure = &batchv1.JobCondition{Reason: batchv1.JobReasonDeadlineExceeded, Message: msgDeadline}
		return
	}
	p.requeue(deadline.Sub(p.now))
}

// restartsPastLimit is Kubernetes' pastBackoffLimitOnFailure: with
// restartPolicy OnFailure, the container restarts of the active pods count
// against backoffLimit.
func (p *pass) restartsPastLimit(limit int32) bool {
	if p.job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var n int32
	for _, pod := range p.active {
		for _, cs := range slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses) {
			n += cs.RestartCount
		}
	}
	if limit == 0 {
		return n > 0
	}
	return n >= limit
}

// succeededAll reports whether the Job reached its completions (for a work
// queue Job: some pod succeeded and none is active).
func (p *pass) succeededAll() bool {
	switch {
	case p.doneIndexes != nil:
		return int32(len(p.doneIndexes)) >= completions(p.job)
	case completions(p.job) < 0:
		return len(p.succeeded) > 0 && len(p.active) == 0
	}
	return int32(len(p.succeeded)) >= completions(p.job)
}

// setSuspended adds, flips or keeps the Suspended condition, resetting
// startTime on resume as Kubernetes does.
func (p *pass) setSuspended(suspended bool) {
	prev := findCondition(p.status.Conditions, batchv1.JobSuspended)
	switch {
	case suspended && (prev == nil || prev.Status != corev1.ConditionTrue):
		p.setCondition(batchv1.JobSuspended, reasonJobSuspended, msgSuspended)
		p.events = append(p.events, event{corev1.EventTypeNormal, ReasonSuspended, msgSuspended})
	case !suspended && prev != nil && prev.Status == corev1.ConditionTrue:
		prev.Status, prev.Reason, prev.Message = corev1.ConditionFalse, reasonJobResumed, msgResumed
		prev.LastProbeTime, prev.LastTransitionTime = metav1.NewTime(p.now), metav1.NewTime(p.now)
		p.status.StartTime = &metav1.Time{Time: p.now}
		p.events = append(p.events, event{corev1.EventTypeNormal, ReasonResumed, msgResumed})
	}
}

// finish adds FailureTarget or SuccessCriteriaMet when the Job failed or
// succeeded, and Failed or Complete once none of its pods runs any more.
func (p *pass) finish() {
	if p.failure != nil {
		if findCondition(p.status.Conditions, batchv1.JobFailureTarget) == nil {
			p.setCondition(batchv1.JobFailureTarget, p.failure.Reason, p.failure.Message)
		}
		if len(p.active) == 0 && p.terminating == 0 {
			p.setCondition(batchv1.JobFailed, p.failure.Reason, p.failure.Message)
			p.events = append(p.events, event{corev1.EventTypeWarning, p.failure.Reason, p.failure.Message})
			p.finished = true
		}
		return
	}
	if !p.succeededAll() && findCondition(p.status.Conditions, batchv1.JobSuccessCriteriaMet) == nil {
		return
	}
	if findCondition(p.status.Conditions, batchv1.JobSuccessCriteriaMet) == nil {
		p.setCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletions)
	}
	if len(p.active) == 0 && p.terminating == 0 {
		p.setCondition(batchv1.JobComplete, batchv1.JobReasonCompletionsReached, msgCompletions)
		p.status.CompletionTime = &metav1.Time{Time: p.now}
		p.events = append(p.events, event{corev1.EventTypeNormal, ReasonCompleted, "Job completed"})
		p.finished = true
	}
}

// fillCounts writes the pod counts of the status after the pass's writes.
func (p *pass) fillCounts() {
	ready := int32(0)
	for _, pod := range p.active {
		if podReady(pod) {
			ready++
		}
	}
	p.status.Active = int32(len(p.active))
	p.status.Ready = &ready
	p.status.Terminating = ptrTo(p.terminating)
	if p.finished {
		// A finished Job counts nothing as running (Kubernetes clears them).
		p.status.Active, p.status.Ready, p.status.Terminating = 0, ptrTo[int32](0), ptrTo[int32](0)
	}
}

// setCondition adds a True condition of type t, or updates the one there.
func (p *pass) setCondition(t batchv1.JobConditionType, reason, message string) {
	now := metav1.NewTime(p.now)
	if c := findCondition(p.status.Conditions, t); c != nil {
		if c.Status != corev1.ConditionTrue {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = corev1.ConditionTrue, reason, message, now
		return
	}
	p.status.Conditions = append(p.status.Conditions, batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: now, LastTransitionTime: now,
	})
}

// findCondition returns the condition of type t in conds, or nil.
func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// podReady reports whether the pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// backoffLimit is spec.backoffLimit, default 6.
func backoffLimit(job *batchv1.Job) int32 {
	if job.Spec.BackoffLimit != nil {
		return *job.Spec.BackoffLimit
	}
	return 6
}

// parallelism is spec.parallelism, default 1.
func parallelism(job *batchv1.Job) int32 {
	if job.Spec.Parallelism != nil {
		return *job.Spec.Parallelism
	}
	return 1
}

// completions is spec.completions; unset is 1 unless parallelism is set (a
// work queue: then -1).
func completions(job *batchv1.Job) int32 {
	switch {
	case job.Spec.Completions != nil:
		return *job.Spec.Completions
	case job.Spec.Parallelism == nil:
		return 1
	}
	return -1
}

func ptrTo[T any](v T) *T { return &v }

// describeRule names a failure policy rule in messages.
func describeRule(action batchv1.PodFailurePolicyAction, i int) string {
	return fmt.Sprintf("%s rule at index %d", action, i)
}
