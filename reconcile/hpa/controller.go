package hpa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Defaults of Config, kube-controller-manager's.
const (
	// DefaultSyncPeriod is how often each HPA is evaluated
	// (--horizontal-pod-autoscaler-sync-period).
	DefaultSyncPeriod = 15 * time.Second
	// DefaultTolerance is the band around a usage ratio of 1.0 within which
	// nothing is scaled (--horizontal-pod-autoscaler-tolerance).
	DefaultTolerance = 0.1
	// DefaultCPUInitializationPeriod is how long after a pod's start its cpu
	// samples may be skipped (--horizontal-pod-autoscaler-cpu-initialization-period).
	DefaultCPUInitializationPeriod = 5 * time.Minute
	// DefaultInitialReadinessDelay is how long after a pod's start a not-ready
	// pod counts as never ready yet
	// (--horizontal-pod-autoscaler-initial-readiness-delay).
	DefaultInitialReadinessDelay = 30 * time.Second
	// DefaultDownscaleStabilization is the scale-down stabilization window
	// when spec.behavior sets none
	// (--horizontal-pod-autoscaler-downscale-stabilization).
	DefaultDownscaleStabilization = 5 * time.Minute
	// defaultTargetCPUUtilization is autoscaling/v2's target when spec.metrics is empty.
	defaultTargetCPUUtilization = 80
)

// Reasons of the controller's Events and conditions, as Kubernetes' HPA
// controller writes them.
const (
	ReasonSuccessfulRescale            = "SuccessfulRescale"
	ReasonFailedRescale                = "FailedRescale"
	ReasonFailedGetScale               = "FailedGetScale"
	ReasonFailedUpdateScale            = "FailedUpdateScale"
	ReasonSucceededGetScale            = "SucceededGetScale"
	ReasonSucceededRescale             = "SucceededRescale"
	ReasonFailedGetResourceMetric      = "FailedGetResourceMetric"
	ReasonFailedComputeMetricsReplicas = "FailedComputeMetricsReplicas"
	ReasonInvalidSelector              = "InvalidSelector"
	ReasonSelectorRequired             = "SelectorRequired"
	ReasonValidMetricFound             = "ValidMetricFound"
	ReasonScalingDisabled              = "ScalingDisabled"
	ReasonInvalidMetricSourceType      = "InvalidMetricSourceType"
)

// Writer writes the target's spec.replicas and the HPA's status, each a
// compare-and-swap on resourceVersion. *store.Store is a Writer.
type Writer interface {
	reconcile.Updater
}

// Getter reads the HPA's target from the store itself. *store.Store is a Getter.
type Getter = reconcile.Getter

// Config configures a Controller. Writer, Getter, Informers and Metrics are
// required.
type Config struct {
	// Writer writes targets' spec.replicas and HPAs' status.
	Writer Writer
	// Getter reads the targets.
	Getter Getter
	// Informers provides the HPA and pod caches; New registers its handlers,
	// so it must be called before Informers.Start.
	Informers *cache.Informers
	// Metrics is the resource metrics API.
	Metrics MetricsSource
	// Recorder receives the HPAs' Events; nil records none.
	Recorder *events.Recorder
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the sync period, the windows and the timestamps; default
	// clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many HPAs are evaluated at once; default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// SyncPeriod is how often each HPA is evaluated; default DefaultSyncPeriod.
	SyncPeriod time.Duration
	// Tolerance is the ratio band in which nothing changes; default DefaultTolerance.
	Tolerance float64
	// CPUInitializationPeriod, InitialReadinessDelay and
	// DownscaleStabilization default to the constants of the same names.
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
	DownscaleStabilization  time.Duration
}

// Controller evaluates every HorizontalPodAutoscaler each sync period and
// scales its target. Create it with New.
type Controller struct {
	writer          Writer
	getter          Getter
	hpas            *cache.Informer
	pods            *cache.Informer
	calc            *calculator
	rec             *events.Recorder
	log             *slog.Logger
	clock           clock.WithTicker
	period          time.Duration
	downscaleWindow time.Duration
	history         *history
	queue           *reconcile.Controller
}

// New returns a Controller and registers its handlers on the HPA and pod
// informers. It panics when Writer, Getter, Informers or Metrics is nil.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.Informers == nil || cfg.Metrics == nil {
		panic("hpa: Config.Writer, Config.Getter, Config.Informers and Config.Metrics are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.SyncPeriod, DefaultSyncPeriod)
	defaults.Positive(&cfg.Tolerance, DefaultTolerance)
	defaults.Positive(&cfg.CPUInitializationPeriod, DefaultCPUInitializationPeriod)
	defaults.Positive(&cfg.InitialReadinessDelay, DefaultInitialReadinessDelay)
	defaults.Positive(&cfg.DownscaleStabilization, DefaultDownscaleStabilization)
	hpaRes, _ := api.Lookup("horizontalpodautoscalers")
	podRes, _ := api.Lookup("pods")
	c := &Controller{
		writer:          cfg.Writer,
		getter:          cfg.Getter,
		hpas:            cfg.Informers.For(hpaRes),
		pods:            cfg.Informers.For(podRes),
		rec:             cfg.Recorder,
		log:             cfg.Logger.With("controller", "horizontal-pod-autoscaler"),
		clock:           cfg.Clock,
		period:          cfg.SyncPeriod,
		downscaleWindow: cfg.DownscaleStabilization,
		history:         newHistory(),
	}
	c.calc = &calculator{
		metrics:        cfg.Metrics,
		pods:           c.listPods,
		now:            cfg.Clock.Now,
		tolerance:      cfg.Tolerance,
		cpuInitPeriod:  cfg.CPUInitializationPeriod,
		readinessDelay: cfg.InitialReadinessDelay,
	}
	c.queue = reconcile.NewController("horizontal-pod-autoscaler", c, reconcile.ControllerOptions{
		Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.hpas.AddHandler(cache.Handler{
		OnAdd: func(o api.Object) { c.queue.EnqueueObject(o) },
		OnUpdate: func(old, o api.Object) {
			// The controller's own status writes do not make it look again
			// before the sync period: only spec changes do.
			if old.GetGeneration() != o.GetGeneration() {
				c.queue.EnqueueObject(o)
			}
		},
		OnDelete: func(o api.Object) { c.queue.EnqueueObject(o) },
	})
	return c
}

// Run evaluates HPAs until ctx ends, then returns nil. The informers must be
// started by the caller; Run waits for their caches first.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.hpas, c.pods) {
		return nil
	}
	c.log.Info("controller started", "syncPeriod", c.period)
	return c.queue.Run(ctx)
}

// Enqueue queues the HPA key "namespace/name" for evaluation now.
func (c *Controller) Enqueue(key string) { c.queue.Enqueue(key) }

// listPods lists the cached pods of namespace that selector selects.
func (c *Controller) listPods(namespace string, selector labels.Selector) []*corev1.Pod {
	objs := c.pods.List(namespace, selector)
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out
}

// Reconcile evaluates the HPA named by key "namespace/name" once: it scales
// the target when the metrics call for it and writes the HPA's status when
// it changed, then asks to be called again after the sync period. Problems
// with the target or the metrics are reported in the status and Events,
// not as errors; an error is a failed write, retried with backoff.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name := reconcile.SplitKey(key)
	obj, ok := c.hpas.Get(ns, name)
	if !ok {
		c.history.forget(key)
		return reconcile.Result{}, nil
	}
	hpa := obj.(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
	before := hpa.Status.DeepCopy()
	err := c.evaluate(ctx, key, hpa)
	if !equality.Semantic.DeepEqual(before, &hpa.Status) {
		if uerr := c.writer.Update(ctx, hpa); uerr != nil {
			err = errors.Join(err, fmt.Errorf("hpa: write the status of %s: %w", key, uerr))
		}
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: c.period}, nil
}

// evaluate is Kubernetes' reconcileAutoscaler: it reads the target's scale,
// computes the desired count and rescales. It changes hpa's status in
// place; the error is a failed write of the target.
func (c *Controller) evaluate(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	now := c.clock.Now()
	ref := hpa.Spec.ScaleTargetRef
	t, err := c.getTarget(ctx, hpa.Namespace, ref)
	if err != nil {
		c.warn(hpa, ReasonFailedGetScale, err.Error())
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, ReasonFailedGetScale,
			fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err), now)
		setStatus(hpa, hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas, hpa.Status.CurrentMetrics, false, now)
		return nil
	}
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, ReasonSucceededGetScale,
		"the HPA controller was able to get the target's current scale", now)
	current := t.replicas
	c.history.recordInitial(key, current, now)
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	var desired int32
	var reason string
	var statuses []autoscalingv2.MetricStatus
	rescale := true
	switch {
	case current == 0 && minReplicas != 0:
		desired, rescale = 0, false
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, ReasonScalingDisabled,
			"scaling is disabled since the replica count of the target is zero", now)
	case current > hpa.Spec.MaxReplicas:
		desired, reason = hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minReplicas:
		desired, reason = minReplicas, "Current number of replicas below Spec.MinReplicas"
	default:
		proposal, metricName, sts, ok := c.computeReplicasForMetrics(ctx, hpa, t)
		statuses = sts
		if !ok {
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			return nil
		}
		desired = max(desired, proposal)
		switch {
		case desired > current:
			reason = metricName + " above target"
		case desired < current:
			reason = "All metrics below target"
		}
		a := limits{key: key, min: minReplicas, max: hpa.Spec.MaxReplicas, current: current, desired: desired}
		if b := hpa.Spec.Behavior; b != nil {
			a.up, a.down = withDefaults(b.ScaleUp, defaultScaleUp()), withDefaults(b.ScaleDown, defaultScaleDown(c.downscaleWindow))
			desired = c.normalizeWithBehavior(hpa, a)
		} else {
			desired = c.normalizeLegacy(hpa, a)
		}
		rescale = desired != current
	}
	if rescale {
		if err := c.setReplicas(ctx, t, desired); err != nil {
			c.warn(hpa, ReasonFailedRescale, fmt.Sprintf("New size: %d; reason: %s; error: %v", desired, reason, err))
			setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, ReasonFailedUpdateScale,
				fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err), now)
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			return err
		}
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, ReasonSucceededRescale,
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired), now)
		c.rec.Eventf(events.Ref(hpa), corev1.EventTypeNormal, ReasonSuccessfulRescale, "New size: %d; reason: %s", desired, reason)
		if b := hpa.Spec.Behavior; b != nil {
			c.history.storeScaleEvent(key, withDefaults(b.ScaleUp, defaultScaleUp()),
				withDefaults(b.ScaleDown, defaultScaleDown(c.downscaleWindow)), current, desired, now)
		}
		c.log.Info("rescaled", "hpa", key, "target", ref.Kind+"/"+ref.Name, "from", current, "to", desired, "reason", reason)
	} else {
		desired = current
	}
	setStatus(hpa, current, desired, statuses, rescale, now)
	return nil
}

// warn records a Warning Event about hpa.
func (c *Controller) warn(hpa *autoscalingv2.HorizontalPodAutoscaler, reason, message string) {
	c.rec.Event(events.Ref(hpa), corev1.EventTypeWarning, reason, message)
}
