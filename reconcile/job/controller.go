package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Defaults of Config.
const (
	// DefaultCreateParallelism bounds the concurrent pod writes of one pass.
	DefaultCreateParallelism = 32
	// DefaultExpectationsTimeout is how long the controller waits for the pod
	// cache to show the pods it created or deleted before acting again anyway.
	DefaultExpectationsTimeout = 5 * time.Minute
	// DefaultPodFailureBackoff is the delay before replacing a failed pod,
	// doubled for each further failure since the last success, as Kubernetes'
	// DefaultJobPodFailureBackOff.
	DefaultPodFailureBackoff = 10 * time.Second
	// MaxPodFailureBackoff caps that delay (Kubernetes' six minutes).
	MaxPodFailureBackoff = 6 * time.Minute
)

// Reasons of the controller's Events, as Kubernetes' job controller writes
// them; failures use the Failed condition's reason (BackoffLimitExceeded,
// DeadlineExceeded, PodFailurePolicy).
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedCreate     = "FailedCreate"
	ReasonCompleted        = "Completed"
	ReasonSuspended        = "Suspended"
	ReasonResumed          = "Resumed"
)

// Labels and annotations the controller puts on pods besides the batch/v1
// constants (batchv1.ControllerUidLabel, batchv1.JobNameLabel,
// batchv1.JobCompletionIndexAnnotation).
const (
	// LegacyControllerUIDLabel is the pre-1.27 controller-uid label Kubernetes still writes.
	LegacyControllerUIDLabel = "controller-uid"
	// LegacyJobNameLabel is the pre-1.27 job-name label Kubernetes still writes.
	LegacyJobNameLabel = "job-name"
	// CompletionIndexEnv is the variable holding an Indexed pod's index.
	CompletionIndexEnv = "JOB_COMPLETION_INDEX"
)

// Writer is how the controller creates and deletes pods, marks them for
// graceful deletion, writes Job status and deletes expired Jobs: each
// method is a compare-and-swap on resourceVersion (see package reconcile).
// *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer creates and deletes pods and writes Jobs.
	Writer Writer
	// Informers provides the shared Job and pod caches. New registers
	// handlers and indexes on them, so it must be called before
	// Informers.Start.
	Informers *cache.Informers
	// Admit admits each pod before it is created (quota, LimitRange); nil
	// admits every pod.
	Admit reconcile.PodAdmitter
	// Recorder receives the Jobs' Events; nil records none.
	Recorder *events.Recorder
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives deadlines, backoff, TTLs and the work queue; default
	// clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many Jobs are reconciled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// CreateParallelism bounds concurrent pod creates or deletes within one
	// pass; default DefaultCreateParallelism.
	CreateParallelism int
	// ExpectationsTimeout is how long to wait for the pod cache to show a
	// pass's writes before acting again anyway; default
	// DefaultExpectationsTimeout.
	ExpectationsTimeout time.Duration
}

// Controller runs the pods of every Job and reports the Jobs' status.
// Create it with New.
type Controller struct {
	writer      Writer
	admit       reconcile.PodAdmitter
	rec         *events.Recorder
	jobs        *cache.Informer
	pods        *cache.Informer
	log         *slog.Logger
	clock       clock.WithTicker
	parallelism int
	exp         *expectations
	queue       *reconcile.Controller
	podsRes     api.Resource
	jobsRes     api.Resource
}

// New returns a Controller and registers its handlers and index on the Job
// and pod informers. It panics when Writer or Informers is nil: a
// programming error.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("job: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.CreateParallelism, DefaultCreateParallelism)
	defaults.Positive(&cfg.ExpectationsTimeout, DefaultExpectationsTimeout)
	podsRes, _ := api.Lookup("pods")
	jobsRes, _ := api.Lookup("jobs")
	c := &Controller{
		writer:      cfg.Writer,
		admit:       cfg.Admit,
		rec:         cfg.Recorder,
		jobs:        cfg.Informers.For(jobsRes),
		pods:        cfg.Informers.For(podsRes),
		log:         cfg.Logger.With("controller", "job"),
		clock:       cfg.Clock,
		parallelism: cfg.CreateParallelism,
		exp:         newExpectations(cfg.Clock, cfg.ExpectationsTimeout),
		podsRes:     podsRes,
		jobsRes:     jobsRes,
	}
	c.queue = reconcile.NewController("job", c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.pods.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.jobs.AddHandler(c.queue.EnqueueHandler())
	c.pods.AddHandler(cache.Handler{
		OnAdd:    c.enqueuePodOwner,
		OnUpdate: func(_, cur api.Object) { c.enqueuePodOwner(cur) },
		OnDelete: c.enqueuePodOwner,
	})
	return c
}

// enqueuePodOwner queues the Job that controls pod, if any.
func (c *Controller) enqueuePodOwner(pod api.Object) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != "Job" || !strings.HasPrefix(ref.APIVersion, "batch/") {
		return
	}
	c.queue.Enqueue(pod.GetNamespace() + "/" + ref.Name)
}

// Run reconciles Jobs until ctx ends, then returns nil. The informers must
// be started by the caller; Run waits for the Job and pod caches to sync.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.jobs, c.pods) {
		return nil
	}
	c.log.Info("controller started")
	return c.queue.Run(ctx)
}

// Enqueue queues the Job key "namespace/name" for reconciliation.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// Reconcile brings one Job, named by key "namespace/name", towards its
// spec: it creates and deletes pods, decides success and failure, writes
// the status when it changed, and deletes a finished Job whose TTL expired.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.jobs.Get(ns, name)
	if !ok {
		c.exp.forget(key)
		return reconcile.Result{}, nil
	}
	job, ok := obj.(*batchv1.Job)
	if !ok || job.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	now := c.clock.Now()
	if finishedAt, done := finishTime(job); done {
		return c.expire(ctx, job, finishedAt, now)
	}
	p := c.newPass(job, now)
	p.decide()
	manageErr := error(nil)
	if synced, wait := c.exp.satisfied(key, c.pods); synced {
		manageErr = c.manage(ctx, p)
	} else {
		p.requeue(wait)
		p.fillCounts()
	}
	if err := c.writeStatus(ctx, p); err != nil {
		return reconcile.Result{}, err
	}
	if manageErr != nil {
		return reconcile.Result{}, manageErr
	}
	if p.finished && job.Spec.TTLSecondsAfterFinished != nil {
		p.requeue(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	}
	return reconcile.Result{RequeueAfter: p.after}, nil
}

// writeStatus writes p's status when it differs from the cached Job's, and
// records the Events of the conditions it adds.
func (c *Controller) writeStatus(ctx context.Context, p *pass) error {
	if equality.Semantic.DeepEqual(p.job.Status, p.status) {
		return nil
	}
	j := p.job.DeepCopy()
	j.Status = p.status
	if err := c.writer.Update(ctx, j); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("job: %s: update status: %w", reconcile.KeyOf(j), err)
	}
	for _, e := range p.events {
		c.rec.Event(events.Ref(j), e.typ, e.reason, e.message)
	}
	return nil
}

// expire deletes a finished Job once ttlSecondsAfterFinished passed since it
// finished (the garbage collector then deletes its pods), as Kubernetes'
// TTL-after-finished controller; before that it asks to be called again then.
func (c *Controller) expire(ctx context.Context, job *batchv1.Job, finishedAt, now time.Time) (reconcile.Result, error) {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return reconcile.Result{}, nil
	}
	at := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	if now.Before(at) {
		return reconcile.Result{RequeueAfter: at.Sub(now)}, nil
	}
	err := c.writer.Delete(ctx, c.jobsRes, job.Namespace, job.Name, job.ResourceVersion)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return reconcile.Result{}, fmt.Errorf("job: %s: delete after ttlSecondsAfterFinished: %w", reconcile.KeyOf(job), err)
	}
	c.log.Info("deleted finished job after its ttlSecondsAfterFinished", "job", reconcile.KeyOf(job))
	return reconcile.Result{}, nil
}

// finishTime returns when job got its Complete or Failed condition.
func finishTime(job *batchv1.Job) (time.Time, bool) {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			if job.Status.CompletionTime != nil && cond.Type == batchv1.JobComplete {
				return job.Status.CompletionTime.Time, true
			}
			return cond.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}
