package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/reconcile"
	"github.com/bosun-dev/bosun/reconcile/autorollback"
	"github.com/bosun-dev/bosun/reconcile/cronjob"
	"github.com/bosun-dev/bosun/reconcile/daemonset"
	"github.com/bosun-dev/bosun/reconcile/deployment"
	"github.com/bosun-dev/bosun/reconcile/disruption"
	"github.com/bosun-dev/bosun/reconcile/endpoints"
	"github.com/bosun-dev/bosun/reconcile/gc"
	"github.com/bosun-dev/bosun/reconcile/hpa"
	"github.com/bosun-dev/bosun/reconcile/job"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/reconcile/nodelifecycle"
	"github.com/bosun-dev/bosun/reconcile/podgc"
	"github.com/bosun-dev/bosun/reconcile/quota"
	"github.com/bosun-dev/bosun/reconcile/replicaset"
	"github.com/bosun-dev/bosun/reconcile/scheduler"
	"github.com/bosun-dev/bosun/reconcile/serviceaccount"
	"github.com/bosun-dev/bosun/reconcile/serviceip"
	"github.com/bosun-dev/bosun/reconcile/statefulset"
	"github.com/bosun-dev/bosun/reconcile/sysnamespaces"
	"github.com/bosun-dev/bosun/reconcile/volumebinding"
	"github.com/bosun-dev/bosun/store"
)

// ElectionName is the etcd election the controllers run under.
const ElectionName = "controllers"

// Config configures the control plane.
type Config struct {
	// Store is the cluster state the controllers read and write (required).
	// Each controller gets it as the narrow interfaces its Config declares
	// (Writer, Getter, a Batch of one transaction); Run also elects the leader
	// on its etcd client.
	Store *store.Store
	// Audit, when not nil, receives the audit events of automatic
	// rollbacks.
	Audit *audit.Logger
	// ID names this candidate in leader election (default hostname/pid).
	ID string
	// LeaseTTL is the leader election session TTL in seconds (default 5):
	// a standby takes over about this long after the leader dies.
	LeaseTTL int
	// ClusterCIDR is where node pod CIDRs are allocated from (default
	// 10.244.0.0/16), NodeCIDRMaskSize their size (default 24).
	ClusterCIDR      *net.IPNet
	NodeCIDRMaskSize int
	// ServiceCIDR is where ClusterIPs are allocated from (default
	// 10.96.0.0/16), NodePortRange where node ports are (30000-32767).
	ServiceCIDR   *net.IPNet
	NodePortRange serviceip.PortRange
	// NodeMonitorGracePeriod (default 40s) and PodEvictionTimeout (default
	// 5m) are node lifecycle's timings.
	NodeMonitorGracePeriod time.Duration
	PodEvictionTimeout     time.Duration
	// PodMetrics is the resource metrics API the HPA controller reads; nil
	// runs no HPA controller. HPASyncPeriod is its period (default 15s).
	PodMetrics    hpa.MetricsSource
	HPASyncPeriod time.Duration
	// AutoRollback reverts, through Reverter, the commit that started a
	// Deployment rollout that failed (all Deployments when true; else only
	// those annotated bosun.dev/auto-rollback: "true"). Without a Reverter
	// automatic rollback is off.
	AutoRollback bool
	Reverter     autorollback.Reverter
	// OnRevert is called with each revert commit pushed (to sync it at once).
	OnRevert func(sha string)
	// Workers per controller (default 4).
	Workers int
	// Logger receives every controller's log; nil discards it.
	Logger *slog.Logger
	// Clock drives the controllers' timers (default the real clock).
	Clock clock.WithTicker
	// Metrics, when not nil, receives the controllers' work queue metrics
	// and the scheduler's (package metrics names them).
	Metrics prometheus.Registerer
}

// instruments are the metrics the controllers of every term share: made
// once per process, since a registry takes each metric once.
type instruments struct {
	queues    workqueue.MetricsProvider
	scheduler *scheduler.Metrics
}

func newInstruments(reg prometheus.Registerer) instruments {
	if reg == nil {
		return instruments{}
	}
	return instruments{queues: metrics.NewWorkqueueProvider(reg), scheduler: scheduler.NewMetrics(reg)}
}

// Run campaigns for leadership and runs the controllers while leading,
// until ctx ends. Every write of the controllers during a term carries that
// term's fence (leader.RunFenced), so a deposed leader's controllers write
// nothing, even before they notice that they lost.
func Run(ctx context.Context, cfg Config) error {
	defaults.Logger(&cfg.Logger)
	if cfg.ID == "" {
		cfg.ID = leader.DefaultID()
	}
	defaults.Positive(&cfg.LeaseTTL, leader.DefaultTTL)
	log := cfg.Logger
	ins := newInstruments(cfg.Metrics)
	return leader.RunFenced(ctx, cfg.Store.Client(), ElectionName, cfg.ID, cfg.LeaseTTL, log, func(ctx context.Context, fence store.Fence) error {
		log.Info("leading the control plane: starting controllers", "id", cfg.ID)
		err := runControllers(ctx, cfg, fence, ins)
		log.Info("controllers stopped", "id", cfg.ID)
		return err
	})
}

// RunControllers runs every controller without leader election until ctx
// ends. Only one process may run it against a store at a time: its writes
// carry no fence.
func RunControllers(ctx context.Context, cfg Config) error {
	return runControllers(ctx, cfg, store.Fence{}, newInstruments(cfg.Metrics))
}

// runControllers runs every controller until ctx ends, each write carrying
// fence (none when it is zero).
func runControllers(ctx context.Context, cfg Config, fence store.Fence, ins instruments) error {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.Workers, 4)
	log := cfg.Logger
	inf := cache.NewInformers(cfg.Store, log.With("component", "informers"))
	sub := func(name string) *slog.Logger { return log.With("controller", name) }

	st := fencedStore{s: cfg.Store, fence: fence} // every controller's Writer, Getter and batches
	var recorders []*events.Recorder
	recorder := func(component string) *events.Recorder {
		r := events.New(events.Config{Sink: st, Component: component, Clock: cfg.Clock, Logger: sub(component)})
		recorders = append(recorders, r)
		return r
	}
	nl, err := nodelifecycle.New(nodelifecycle.Config{
		Writer: st, Getter: st, Informers: inf, Logger: sub("nodelifecycle"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
		Recorder:    recorder("node-controller"),
		ClusterCIDR: cfg.ClusterCIDR, NodeCIDRMaskSize: cfg.NodeCIDRMaskSize,
		NodeMonitorGracePeriod: cfg.NodeMonitorGracePeriod, PodEvictionTimeout: cfg.PodEvictionTimeout,
	})
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	sip, err := serviceip.New(serviceip.Config{
		Writer: st, Recorder: recorder("service-ip-controller"), Informers: inf, Logger: sub("serviceip"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
		ServiceCIDR: cfg.ServiceCIDR, NodePortRange: cfg.NodePortRange,
	})
	if err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	podBatch := func() replicaset.Batch { return st.Txn() }
	// Pods controllers create pass kube-apiserver's admission chain:
	// the default ServiceAccount, then LimitRange defaults and ResourceQuota.
	admit := reconcile.PodAdmitters{serviceaccount.Admitter{},
		quota.NewAdmitter(quota.AdmitterConfig{Informers: inf, Clock: cfg.Clock, Logger: sub("quota-admission")})}
	var ar *autorollback.Controller
	if cfg.Reverter != nil {
		ar, err = autorollback.New(autorollback.Config{
			Store: cfg.Store, Fence: fence, Informers: inf, Logger: sub("autorollback"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
			Enabled: cfg.AutoRollback, Reverter: cfg.Reverter, OnRevert: cfg.OnRevert, Recorder: recorder("bosun-autorollback"), Audit: cfg.Audit,
		})
		if err != nil {
			return fmt.Errorf("controlplane: %w", err)
		}
	}
	runners := []interface {
		Run(context.Context) error
	}{
		deployment.New(deployment.Config{Writer: st, Getter: st, Informers: inf, Logger: sub("deployment"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
			Recorder: recorder("deployment-controller")}),
		replicaset.NewReplicaSets(replicaset.Config{Writer: st, Getter: st, NewBatch: podBatch, Admit: admit, Informers: inf, Logger: sub("replicaset"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
			Recorder: recorder("replicaset-controller")}),
		replicaset.NewReplicationControllers(replicaset.Config{Writer: st, Getter: st, NewBatch: podBatch, Admit: admit, Informers: inf, Logger: sub("replicationcontroller"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues,
			Recorder: recorder("replication-controller")}),
		scheduler.New(scheduler.Config{NewBatch: func() scheduler.Batch { return st.Txn() }, Informers: inf, Logger: sub("scheduler"), Clock: cfg.Clock, Metrics: ins.scheduler,
			Recorder: recorder("default-scheduler")}),
		endpoints.New(endpoints.Config{Writer: st, Informers: inf, Logger: sub("endpoints"), Clock: cfg.Clock, Workers: cfg.Workers}),
		disruption.New(disruption.Config{Writer: st, Informers: inf, Logger: sub("disruption"), Clock: cfg.Clock, Workers: cfg.Workers,
			QueueMetrics: ins.queues, Recorder: recorder("disruption-controller")}),
		nl,
		sip,
		gc.New(gc.Config{Writer: st, Getter: st, Informers: inf, Logger: sub("gc"), Clock: cfg.Clock, Workers: cfg.Workers}),
		sysnamespaces.New(sysnamespaces.Config{Writer: st, Logger: sub("sysnamespaces"), Clock: cfg.Clock}),
		daemonset.New(daemonset.Config{Writer: st, Getter: st, NewBatch: func() daemonset.Batch { return st.Txn() }, Informers: inf,
			Admit: admit, Recorder: recorder("daemonset-controller"), Logger: sub("daemonset"), Clock: cfg.Clock, Workers: cfg.Workers,
			QueueMetrics: ins.queues}),
		statefulset.New(statefulset.Config{Writer: st, Informers: inf, Admit: admit, Logger: sub("statefulset"),
			Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues, Recorder: recorder("statefulset-controller")}),
		volumebinding.New(volumebinding.Config{Writer: st, Getter: st, Informers: inf, Logger: sub("volumebinding"),
			Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues, Recorder: recorder("persistentvolume-controller")}),
		job.New(job.Config{Writer: st, Informers: inf, Admit: admit, Logger: sub("job"), Clock: cfg.Clock, Workers: cfg.Workers,
			QueueMetrics: ins.queues, Recorder: recorder("job-controller")}),
		cronjob.New(cronjob.Config{Writer: st, Informers: inf, Logger: sub("cronjob"), Clock: cfg.Clock, Workers: cfg.Workers,
			QueueMetrics: ins.queues, Recorder: recorder("cronjob-controller")}),
		podgc.New(podgc.Config{Writer: st, Getter: st, Informers: inf, Logger: sub("podgc"), Clock: cfg.Clock}),
		quota.New(quota.Config{Writer: st, Informers: inf, Recorder: recorder("resourcequota-controller"),
			Logger: sub("resourcequota"), Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues}),
		serviceaccount.New(serviceaccount.Config{Writer: st, Informers: inf, Logger: sub("serviceaccount"),
			Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues}),
	}
	if ar != nil {
		runners = append(runners, ar)
	}
	if cfg.PodMetrics != nil {
		runners = append(runners, hpa.New(hpa.Config{Writer: st, Getter: st, Informers: inf, Metrics: cfg.PodMetrics, Logger: sub("hpa"),
			Clock: cfg.Clock, Workers: cfg.Workers, QueueMetrics: ins.queues, SyncPeriod: cfg.HPASyncPeriod,
			Recorder: recorder("horizontal-pod-autoscaler")}))
	}
	for _, r := range recorders {
		runners = append(runners, r)
	}
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		return nil // ctx ended before the caches filled
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range runners {
		g.Go(func() error { return r.Run(ctx) })
	}
	return g.Wait()
}
