// Package cronjob creates the Jobs of batch/v1 CronJobs on their schedule,
// with the semantics of Kubernetes' CronJob controller (v2): the standard
// cron syntax with the @hourly, @daily, ... descriptors (github.com/robfig/cron/v3's
// standard parser), spec.timeZone (an IANA name; a CRON_TZ= or TZ= prefix in
// the schedule is refused as Kubernetes refuses it), concurrencyPolicy Allow,
// Forbid and Replace, suspend, startingDeadlineSeconds,
// successfulJobsHistoryLimit (default 3) and failedJobsHistoryLimit (default 1).
//
// Each pass finds the most recent start time missed since the last one
// (status.lastScheduleTime, else the CronJob's creation, but no earlier than
// startingDeadlineSeconds ago) and starts only that one; more than 100 missed
// times record a TooManyMissedTimes Warning, as Kubernetes does. A Job is
// named <cronjob>-<scheduled time in minutes since the epoch>, so a start is
// never made twice, carries the jobTemplate's labels and annotations plus
// batch.kubernetes.io/cronjob-scheduled-timestamp (RFC 3339 in the schedule's
// time zone) and a controller ownerReference to the CronJob.
//
// The status holds active (references to the running Jobs),
// lastScheduleTime and lastSuccessfulTime. The Events are Kubernetes':
// SuccessfulCreate, SuccessfulDelete, SawCompletedJob, JobAlreadyActive,
// MissSchedule, TooManyMissedTimes, UnparseableSchedule, UnsupportedSchedule,
// UnknownTimeZone and FailedCreate.
//
// Usage, inside the control plane:
//
//	inf := cache.NewInformers(s, log) // s is a *store.Store
//	cj := cronjob.New(cronjob.Config{Writer: s, Informers: inf, Logger: log, Recorder: rec})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return cj.Run(ctx) // blocks until ctx ends
package cronjob
