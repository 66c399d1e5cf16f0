package cronjob

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/reconcile"
)

// nextScheduleDelta is added to the wait for the next start time, so the
// pass runs just after it (as Kubernetes' controller).
const nextScheduleDelta = 100 * time.Millisecond

// maxMissedTimes is how many missed start times are tolerated silently.
const maxMissedTimes = 100

// maxScan bounds the start times counted in one pass (a year of minutes).
const maxScan = 600_000

// schedule starts the Job of the most recent missed start time, if the
// policies allow, and asks to be called again at the next start time.
func (c *Controller) schedule(ctx context.Context, p *pass) (reconcile.Result, error) {
	cj := p.cj
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return reconcile.Result{}, nil
	}
	sched, loc, ok := c.parse(cj)
	if !ok {
		return reconcile.Result{}, nil // a human must fix the spec; its change queues it again
	}
	now := p.now.In(loc)
	scheduled, missed := mostRecentScheduleTime(cj, now, sched)
	if missed > maxMissedTimes {
		c.rec.Eventf(events.Ref(cj), corev1.EventTypeWarning, ReasonTooManyMissedTimes,
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	res := reconcile.Result{RequeueAfter: sched.Next(now).Sub(now) + nextScheduleDelta}
	if scheduled.IsZero() {
		return res, nil
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil && scheduled.Add(time.Duration(*sds)*time.Second).Before(now) {
		c.rec.Eventf(events.Ref(cj), corev1.EventTypeWarning, ReasonMissSchedule, "Missed scheduled time to start a job: %s", scheduled.Format(time.RFC1123Z))
		return res, nil
	}
	name := jobName(cj, scheduled)
	if slices.ContainsFunc(p.jobs, func(j *batchv1.Job) bool { return j.Name == name }) ||
		(p.status.LastScheduleTime != nil && p.status.LastScheduleTime.Equal(&metav1.Time{Time: scheduled})) {
		return res, nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(p.status.Active) > 0 {
			c.rec.Event(events.Ref(cj), corev1.EventTypeNormal, ReasonJobAlreadyActive, "Not starting job because prior execution is running and concurrency policy is Forbid")
			return res, nil
		}
	case batchv1.ReplaceConcurrent:
		if err := c.replaceActive(ctx, p); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := c.createJob(ctx, p, scheduled, loc); err != nil {
		return reconcile.Result{}, err
	}
	return res, nil
}

// parse returns the CronJob's schedule and time zone, recording
// Kubernetes' Warning when either cannot be used.
func (c *Controller) parse(cj *batchv1.CronJob) (cron.Schedule, *time.Location, bool) {
	ref := events.Ref(cj)
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		c.rec.Eventf(ref, corev1.EventTypeWarning, ReasonUnsupportedSchedule,
			"CRON_TZ or TZ used in schedule %q is not supported: set spec.timeZone instead", cj.Spec.Schedule)
		return nil, nil, false
	}
	sched, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		c.rec.Eventf(ref, corev1.EventTypeWarning, ReasonUnparseableSchedule, "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return nil, nil, false
	}
	loc := c.loc
	if tz := cj.Spec.TimeZone; tz != nil {
		if loc, err = time.LoadLocation(*tz); err != nil {
			c.rec.Eventf(ref, corev1.EventTypeWarning, ReasonUnknownTimeZone, "invalid timeZone: %q: %s", *tz, err)
			return nil, nil, false
		}
	}
	return sched, loc, true
}

// mostRecentScheduleTime returns the latest start time of sched after the
// last one (status.lastScheduleTime, else the CronJob's creation; no
// earlier than startingDeadlineSeconds before now) and not after now, and
// how many start times there were in that span; zero when none.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) (time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if sds := cj.Spec.StartingDeadlineSeconds; sds != nil {
		if deadline := now.Add(-time.Duration(*sds) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	var recent time.Time
	n := 0
	for t := sched.Next(earliest.In(now.Location())); !t.IsZero() && !t.After(now) && n < maxScan; t = sched.Next(t) {
		recent = t
		n++
	}
	return recent, n
}

// jobName is Kubernetes' name of the Job started at scheduled:
// <cronjob>-<minutes since the epoch>.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// createJob creates the Job of start time scheduled and records it in the
// status. A Job of that name that exists already (a previous pass whose
// status write was lost) counts as created.
func (c *Controller) createJob(ctx context.Context, p *pass, scheduled time.Time, loc *time.Location) error {
	cj := p.cj
	tmpl := &cj.Spec.JobTemplate
	ann := maps.Clone(tmpl.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   cj.Namespace,
			Name:        jobName(cj, scheduled),
			Labels:      maps.Clone(tmpl.Labels),
			Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
				Controller: ptrTo(true), BlockOwnerDeletion: ptrTo(true)}},
		},
		Spec: *tmpl.Spec.DeepCopy(),
	}
	err := c.writer.Create(ctx, job)
	switch {
	case errors.Is(err, api.ErrExists):
		c.log.Debug("job of this start time exists", "cronjob", reconcile.KeyOf(cj), "job", job.Name)
	case err != nil:
		c.rec.Eventf(events.Ref(cj), corev1.EventTypeWarning, ReasonFailedCreate, "Error creating job: %v", err)
		return fmt.Errorf("cronjob: %s: create job %s: %w", reconcile.KeyOf(cj), job.Name, err)
	default:
		c.rec.Eventf(events.Ref(cj), corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created job %s", job.Name)
		p.status.Active = append(p.status.Active, jobRef(job))
	}
	p.status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return nil
}

// replaceActive deletes the CronJob's running Jobs (concurrencyPolicy
// Replace); the garbage collector deletes their pods.
func (c *Controller) replaceActive(ctx context.Context, p *pass) error {
	for _, ref := range p.status.Active {
		i := slices.IndexFunc(p.jobs, func(j *batchv1.Job) bool { return j.UID == ref.UID })
		if i < 0 {
			continue
		}
		if err := c.deleteJob(ctx, p, p.jobs[i]); err != nil {
			return err
		}
	}
	return nil
}

// deleteJob deletes j, records SuccessfulDelete and drops j from the pass.
func (c *Controller) deleteJob(ctx context.Context, p *pass, j *batchv1.Job) error {
	err := c.writer.Delete(ctx, c.jobsRes, j.Namespace, j.Name, j.ResourceVersion)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("cronjob: %s: delete job %s: %w", reconcile.KeyOf(p.cj), j.Name, err)
	}
	if err == nil {
		c.rec.Eventf(events.Ref(p.cj), corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted job %s", j.Name)
	}
	p.status.Active = slices.DeleteFunc(p.status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID })
	p.jobs = slices.DeleteFunc(p.jobs, func(x *batchv1.Job) bool { return x.UID == j.UID })
	return nil
}

// cleanupHistory deletes the oldest finished Jobs beyond
// successfulJobsHistoryLimit (default 3) and failedJobsHistoryLimit
// (default 1).
func (c *Controller) cleanupHistory(ctx context.Context, p *pass) error {
	var succeeded, failed []*batchv1.Job
	for _, j := range p.jobs {
		switch finishedCondition(j) {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	var errs []error
	for _, set := range []struct {
		jobs  []*batchv1.Job
		limit *int32
		def   int32
	}{{succeeded, p.cj.Spec.SuccessfulJobsHistoryLimit, 3}, {failed, p.cj.Spec.FailedJobsHistoryLimit, 1}} {
		limit := set.def
		if set.limit != nil {
			limit = *set.limit
		}
		if int32(len(set.jobs)) <= limit {
			continue
		}
		slices.SortStableFunc(set.jobs, byStartTime)
		for _, j := range set.jobs[:int32(len(set.jobs))-limit] {
			if err := c.deleteJob(ctx, p, j); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// byStartTime orders Jobs oldest first: by status.startTime (a Job not
// started yet last), then creation, then name.
func byStartTime(a, b *batchv1.Job) int {
	switch {
	case a.Status.StartTime == nil && b.Status.StartTime != nil:
		return 1
	case a.Status.StartTime != nil && b.Status.StartTime == nil:
		return -1
	case a.Status.StartTime != nil && !a.Status.StartTime.Equal(b.Status.StartTime):
		return a.Status.StartTime.Compare(b.Status.StartTime.Time)
	case !a.CreationTimestamp.Equal(&b.CreationTimestamp):
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	}
	return strings.Compare(a.Name, b.Name)
}

func ptrTo[T any](v T) *T { return &v }
