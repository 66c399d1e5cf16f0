package volumebinding

import (
	"context"
	"log/slog"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Annotations and values shared with the scheduler, the node agent and
// Kubernetes' tools.
const (
	// AnnSelectedNode is the claim annotation the scheduler writes with the
	// node of the first pod using an unbound claim (WaitForFirstConsumer).
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// AnnProvisionedBy names the provisioner of a PV.
	AnnProvisionedBy = "pv.kubernetes.io/provisioned-by"
	// AnnBindCompleted marks a claim whose binding the controller finished.
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController marks a binding the controller made (not the user).
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnStorageProvisioner names the provisioner that handles a claim.
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnLocalVolumeDir is the Node annotation the agent writes with the
	// directory under which local volumes of that node live.
	AnnLocalVolumeDir = "bosun.dev/local-volume-dir"
	// Provisioner is bosun's node-local provisioner's name.
	Provisioner = "bosun.dev/local-path"
	// DefaultClass is the storage class of a provisioned PV whose claim names none.
	DefaultClass = "local-path"
	// LabelHostname is the node label a provisioned PV's node affinity names.
	LabelHostname = "kubernetes.io/hostname"
)

// Reasons of the controller's Events, as Kubernetes' PV controller writes them.
const (
	ReasonProvisioningSucceeded = "ProvisioningSucceeded"
	ReasonProvisioningFailed    = "ProvisioningFailed"
	ReasonWaitForFirstConsumer  = "WaitForFirstConsumer"
	ReasonFailedBinding         = "FailedBinding"
	ReasonVolumeFailedDelete    = "VolumeFailedDelete"
)

// indexClaimRef finds PVs by their claimRef "namespace/name".
const indexClaimRef = "volumebinding.claimRef"

// Writer creates, updates and deletes claims and volumes, each a
// compare-and-swap on resourceVersion. *store.Store is a Writer.
type Writer interface {
	reconcile.Creator
	reconcile.Updater
	reconcile.Deleter
}

// Config configures a Controller. Writer, Getter and Informers are required;
// the control plane passes one *store.Store as Writer and Getter.
type Config struct {
	// Writer writes claims and volumes.
	Writer Writer
	// Getter re-reads a claim from the store before a PV is released (the
	// cache may not have seen a new claim yet).
	Getter reconcile.Getter
	// Informers provides the claims, volumes and nodes caches; New registers
	// handlers and indexes, so call it before Informers.Start.
	Informers *cache.Informers
	// Logger receives the controller's logs; nil discards.
	Logger *slog.Logger
	// Clock drives the work queues' backoff; default clock.RealClock{}.
	Clock clock.WithTicker
	// Workers is how many claims (and volumes) are reconciled at once;
	// default reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queues' metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
	// Recorder receives ProvisioningSucceeded, ProvisioningFailed,
	// WaitForFirstConsumer and FailedBinding Events; nil records none.
	Recorder *events.Recorder
}

// Controller binds claims to volumes, provisions node-local volumes and
// releases or deletes volumes whose claim is gone. Create it with New.
type Controller struct {
	writer  Writer
	getter  reconcile.Getter
	claims  *cache.Informer
	volumes *cache.Informer
	nodes   *cache.Informer
	log     *slog.Logger
	rec     *events.Recorder
	claimQ  *reconcile.Controller
	volumeQ *reconcile.Controller
	pvcRes  api.Resource
	pvRes   api.Resource
}

// New returns a Controller and registers its handlers and the claimRef index
// on the claims and volumes informers. It panics when Writer, Getter or
// Informers is nil: a wiring mistake.
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Getter == nil || cfg.Informers == nil {
		panic("volumebinding: Config.Writer, Config.Getter and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	pvcRes, _ := api.Lookup("persistentvolumeclaims")
	pvRes, _ := api.Lookup("persistentvolumes")
	c := &Controller{
		writer:  cfg.Writer,
		getter:  cfg.Getter,
		claims:  cfg.Informers.For(pvcRes),
		volumes: cfg.Informers.For(pvRes),
		nodes:   cfg.Informers.ForKind("nodes"),
		log:     cfg.Logger.With("controller", "volumebinding"),
		rec:     cfg.Recorder,
		pvcRes:  pvcRes,
		pvRes:   pvRes,
	}
	opts := reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger, Clock: cfg.Clock, Metrics: cfg.QueueMetrics}
	c.claimQ = reconcile.NewController("persistentvolume-binder-claims", reconcile.ReconcilerFunc(c.ReconcileClaim), opts)
	c.volumeQ = reconcile.NewController("persistentvolume-binder-volumes", reconcile.ReconcilerFunc(c.ReconcileVolume), opts)
	c.volumes.AddIndex(indexClaimRef, claimRefKey)
	c.claims.AddHandler(cache.Handler{
		OnAdd:    c.claimChanged,
		OnUpdate: func(_, o api.Object) { c.claimChanged(o) },
		OnDelete: c.claimChanged,
	})
	c.volumes.AddHandler(cache.Handler{
		OnAdd:    c.volumeChanged,
		OnUpdate: func(_, o api.Object) { c.volumeChanged(o) },
		OnDelete: c.volumeChanged,
	})
	c.nodes.AddHandler(cache.Handler{
		OnAdd: func(o api.Object) { c.enqueueClaimsSelecting(o.GetName()) },
		OnUpdate: func(old, o api.Object) {
			if old.GetAnnotations()[AnnLocalVolumeDir] != o.GetAnnotations()[AnnLocalVolumeDir] {
				c.enqueueClaimsSelecting(o.GetName())
			}
		},
	})
	return c
}

// claimRefKey indexes a PV by its claimRef's "namespace/name".
func claimRefKey(obj api.Object) []string {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || pv.Spec.ClaimRef == nil {
		return nil
	}
	return []string{pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name}
}

// claimChanged queues the claim and the volume it names.
func (c *Controller) claimChanged(obj api.Object) {
	c.claimQ.EnqueueObject(obj)
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc.Spec.VolumeName != "" {
		c.volumeQ.Enqueue(pvc.Spec.VolumeName)
	}
	for _, pv := range c.volumes.ByIndex(indexClaimRef, reconcile.KeyOf(obj)) {
		c.volumeQ.EnqueueObject(pv)
	}
}

// volumeChanged queues the volume and the claim it refers to.
func (c *Controller) volumeChanged(obj api.Object) {
	c.volumeQ.EnqueueObject(obj)
	if pv, ok := obj.(*corev1.PersistentVolume); ok && pv.Spec.ClaimRef != nil {
		c.claimQ.Enqueue(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	}
}

// enqueueClaimsSelecting queues the unbound claims waiting for node.
func (c *Controller) enqueueClaimsSelecting(node string) {
	for _, obj := range c.claims.List("", nil) {
		if obj.GetAnnotations()[AnnSelectedNode] == node {
			c.claimQ.EnqueueObject(obj)
		}
	}
}

// Run reconciles claims and volumes until ctx ends, then returns nil. The
// informers must be started by the caller; Run waits for their caches first.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.claims, c.volumes, c.nodes) {
		return nil // ctx ended
	}
	c.log.Info("controller started")
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.claimQ.Run(ctx) })
	g.Go(func() error { return c.volumeQ.Run(ctx) })
	return g.Wait()
}
