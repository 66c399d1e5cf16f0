package cronjob

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

// Reasons of the controller's Events, as Kubernetes' CronJob controller
// writes them.
const (
	ReasonSuccessfulCreate    = "SuccessfulCreate"
	ReasonSuccessfulDelete    = "SuccessfulDelete"
	ReasonFailedCreate        = "FailedCreate"
	ReasonSawCompletedJob     = "SawCompletedJob"
	ReasonJobAlreadyActive    = "JobAlreadyActive"
	ReasonMissSchedule        = "MissSchedule"
	ReasonTooManyMissedTimes  = "TooManyMissedTimes"
	ReasonUnparseableSchedule = "UnparseableSchedule"
	ReasonUnsupportedSchedule = "UnsupportedSchedule"
	ReasonUnknownTimeZone     = "UnknownTimeZone"
)

// Writer is how the controller creates and deletes Jobs and writes CronJob
// status: each method is a compare-and-swap on resourceVersion (see
// package reconcile). *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer creates and deletes Jobs and writes CronJobs' status.
	Writer Writer
	// Informers provides the shared CronJob and Job caches. New registers
	// handlers and indexes on them, so it must be called before
	// Informers.Start.
	Informers *cache.Informers
	// Recorder receives the CronJobs' Events; nil records none.
	Recorder *events.Recorder
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock tells the time of schedules and drives the work queue; default
	// clock.RealClock{}. Tests pass a fake clock.
	Clock clock.WithTicker
	// Location is the time zone of schedules whose CronJob sets no
	// spec.timeZone (kube-controller-manager's local zone); default time.Local.
	Location *time.Location
	// Workers is how many CronJobs are reconciled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
}

// Controller starts the Jobs of every CronJob on schedule and reports the
// CronJobs' status. Create it with New.
type Controller struct {
	writer  Writer
	rec     *events.Recorder
	cronJob *cache.Informer
	jobs    *cache.Informer
	log     *slog.Logger
	clock   clock.WithTicker
	loc     *time.Location
	queue   *reconcile.Controller
	jobsRes api.Resource
}

// New returns a Controller and registers its handlers and index on the
// CronJob and Job informers. It panics when Writer or Informers is nil: a
// programming error.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("cronjob: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	cjRes, _ := api.Lookup("cronjobs")
	jobsRes, _ := api.Lookup("jobs")
	c := &Controller{
		writer:  cfg.Writer,
		rec:     cfg.Recorder,
		cronJob: cfg.Informers.For(cjRes),
		jobs:    cfg.Informers.For(jobsRes),
		log:     cfg.Logger.With("controller", "cronjob"),
		clock:   cfg.Clock,
		loc:     cfg.Location,
		jobsRes: jobsRes,
	}
	c.queue = reconcile.NewController("cronjob", c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.jobs.AddIndex(cache.IndexOwnerUID, cache.IndexByOwnerUID)
	c.cronJob.AddHandler(c.queue.EnqueueHandler())
	c.jobs.AddHandler(cache.Handler{
		OnAdd:    c.enqueueJobOwner,
		OnUpdate: func(_, cur api.Object) { c.enqueueJobOwner(cur) },
		OnDelete: c.enqueueJobOwner,
	})
	return c
}

// enqueueJobOwner queues the CronJob that controls job, if any.
func (c *Controller) enqueueJobOwner(job api.Object) {
	ref := metav1.GetControllerOfNoCopy(job)
	if ref == nil || ref.Kind != "CronJob" || !strings.HasPrefix(ref.APIVersion, "batch/") {
		return
	}
	c.queue.Enqueue(job.GetNamespace() + "/" + ref.Name)
}

// Run reconciles CronJobs until ctx ends, then returns nil. The informers
// must be started by the caller; Run waits for the caches to sync.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.cronJob, c.jobs) {
		return nil
	}
	c.log.Info("controller started")
	return c.queue.Run(ctx)
}

// Enqueue queues the CronJob key "namespace/name" for reconciliation.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// Reconcile brings one CronJob, named by key "namespace/name", up to date:
// it tracks its Jobs in status.active, starts the Job of the most recent
// missed start time (per concurrencyPolicy and startingDeadlineSeconds),
// deletes finished Jobs beyond the history limits and writes the status.
// It asks to be called again at the next start time.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.cronJob.Get(ns, name)
	if !ok {
		return reconcile.Result{}, nil
	}
	cj, ok := obj.(*batchv1.CronJob)
	if !ok {
		return reconcile.Result{}, nil
	}
	p := &pass{cj: cj, status: *cj.Status.DeepCopy(), now: c.clock.Now(), jobs: c.ownedJobs(cj)}
	c.syncActive(p)
	var res reconcile.Result
	var err error
	if cj.DeletionTimestamp == nil {
		res, err = c.schedule(ctx, p)
		if cerr := c.cleanupHistory(ctx, p); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	if werr := c.writeStatus(ctx, p); werr != nil {
		return reconcile.Result{}, errors.Join(err, werr)
	}
	return res, err
}

// pass is one reconciliation of one CronJob.
type pass struct {
	cj     *batchv1.CronJob
	status batchv1.CronJobStatus
	now    time.Time
	jobs   []*batchv1.Job // the Jobs the CronJob controls
}

// ownedJobs returns the Jobs cj controls.
func (c *Controller) ownedJobs(cj *batchv1.CronJob) []*batchv1.Job {
	var out []*batchv1.Job
	for _, obj := range c.jobs.ByIndex(cache.IndexOwnerUID, string(cj.UID)) {
		j, ok := obj.(*batchv1.Job)
		ref := metav1.GetControllerOfNoCopy(obj)
		if ok && ref != nil && ref.UID == cj.UID && j.Namespace == cj.Namespace {
			out = append(out, j)
		}
	}
	return out
}

// syncActive makes status.active list exactly the CronJob's unfinished
// Jobs, and advances lastSuccessfulTime for the Jobs that completed.
func (c *Controller) syncActive(p *pass) {
	byUID := map[string]*batchv1.Job{}
	for _, j := range p.jobs {
		byUID[string(j.UID)] = j
	}
	var active []corev1.ObjectReference
	listed := map[string]bool{}
	for _, ref := range p.status.Active {
		j := byUID[string(ref.UID)]
		if j == nil {
			continue // gone
		}
		if cond := finishedCondition(j); cond != "" {
			c.rec.Eventf(events.Ref(p.cj), corev1.EventTypeNormal, ReasonSawCompletedJob, "Saw completed job: %s, condition: %s", j.Name, cond)
			continue
		}
		active = append(active, ref)
		listed[string(ref.UID)] = true
	}
	for _, j := range p.jobs {
		if finishedCondition(j) == "" && !listed[string(j.UID)] {
			active = append(active, jobRef(j))
		}
		if finishedCondition(j) == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(p.status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(p.status.LastSuccessfulTime.Time)) {
			p.status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
	}
	p.status.Active = active
}

// writeStatus writes p's status when it changed.
func (c *Controller) writeStatus(ctx context.Context, p *pass) error {
	if equality.Semantic.DeepEqual(p.cj.Status, p.status) {
		return nil
	}
	cj := p.cj.DeepCopy()
	cj.Status = p.status
	if err := c.writer.Update(ctx, cj); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("cronjob: %s: update status: %w", reconcile.KeyOf(cj), err)
	}
	return nil
}

// finishedCondition returns Complete or Failed when the Job has that
// condition True, else "".
func finishedCondition(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// jobRef is the reference to j that status.active holds.
func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name,
		UID: j.UID, ResourceVersion: j.ResourceVersion}
}
