// Package job runs the pods of batch/v1 Jobs to completion, with the
// semantics of Kubernetes' job controller: completions and parallelism (a
// fixed completion count, or a work queue when completions is unset),
// backoffLimit with the exponential pod-failure backoff (10 s doubling up to
// 6 minutes), activeDeadlineSeconds, ttlSecondsAfterFinished (the finished
// Job is deleted; the garbage collector deletes its pods), the basics of
// podFailurePolicy (FailJob, Ignore and Count on container exit codes and on
// pod conditions such as DisruptionTarget), the Indexed completion mode and
// suspend.
//
// Pods are named <job>-<random> (<job>-<index>-<random> when Indexed), carry
// the template's labels plus batch.kubernetes.io/controller-uid,
// batch.kubernetes.io/job-name, controller-uid and job-name, and a
// controller ownerReference to the Job. Indexed pods also get the
// batch.kubernetes.io/job-completion-index annotation and label, the
// hostname <job>-<index> and the JOB_COMPLETION_INDEX variable read from that
// annotation, as Kubernetes injects it.
//
// The status follows Kubernetes: active, ready, terminating, succeeded,
// failed, completedIndexes, startTime, completionTime, and the conditions
// Suspended, SuccessCriteriaMet and FailureTarget (added first, while the
// remaining pods terminate), then Complete or Failed (reasons
// CompletionsReached, BackoffLimitExceeded, DeadlineExceeded,
// PodFailurePolicy). The Events are Kubernetes': SuccessfulCreate,
// SuccessfulDelete, FailedCreate, Suspended, Resumed, Completed, and a
// Warning with the failure's reason.
//
// Unlike Kubernetes, pods carry no batch.kubernetes.io/job-tracking
// finalizer (bosun's store does not hold objects back for finalizers): the
// counts come from the pods that exist, so a terminated pod removed from the
// API before its Job finished is not counted. A finished Job's status is
// never recomputed.
//
// Pod deletions follow api.GracefulPodDelete; pod creations go through
// Config.Admit first (quota, LimitRange).
//
// Usage, inside the control plane:
//
//	inf := cache.NewInformers(s, log) // s is a *store.Store
//	jobs := job.New(job.Config{Writer: s, Informers: inf, Logger: log, Recorder: rec, Admit: admitter})
//	inf.Start(ctx) // after New: New registers handlers and indexes
//	return jobs.Run(ctx) // blocks until ctx ends
package job
