// Package serviceaccount keeps a ServiceAccount named "default" in every
// namespace, as kube-controller-manager's serviceaccounts controller does:
// created when a namespace appears without one, created again when it is
// deleted, never changed (a "default" ServiceAccount committed to Git is
// synced over it like any other object). Namespaces that are terminating are
// left alone. DefaultPodServiceAccount is the pod side: a pod that names no
// service account runs as "default", as kube-apiserver's ServiceAccount
// admission sets it.
//
// Tokens are not mounted into pods yet: that waits for bosun's workload
// identities.
//
//	c := serviceaccount.New(serviceaccount.Config{Writer: st, Informers: inf, Logger: log})
//	inf.Start(ctx)
//	err := c.Run(ctx) // until ctx ends
package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Name is the controller's name in logs and its work queue.
const Name = "serviceaccount"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Config configures a Controller. Writer and Informers are required.
type Config struct {
	// Writer creates the ServiceAccounts (the control plane's fenced
	// store).
	Writer reconcile.Creator
	// Informers supplies the Namespace and ServiceAccount caches.
	Informers *cache.Informers
	// Logger receives what was created; nil discards.
	Logger *slog.Logger
	// Clock drives the work queue's delays; default the real clock.
	Clock clock.WithTicker
	// Workers is how many namespaces are handled at once; default
	// reconcile.DefaultWorkers.
	Workers int
	// QueueMetrics receives the work queue's metrics; nil keeps none.
	QueueMetrics workqueue.MetricsProvider
}

// Controller creates the missing default ServiceAccounts.
type Controller struct {
	cfg        Config
	log        *slog.Logger
	namespaces *cache.Informer
	accounts   *cache.Informer
	queue      *reconcile.Controller
}

// New returns a Controller and registers its handlers on cfg.Informers; call
// it before cfg.Informers.Start. It panics when cfg.Writer or cfg.Informers
// is nil (a wiring mistake).
func New(cfg Config) *Controller {
	if cfg.Writer == nil || cfg.Informers == nil {
		panic("serviceaccount: Config.Writer and Config.Informers are required")
	}
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	c := &Controller{
		cfg:        cfg,
		log:        cfg.Logger.With("controller", Name),
		namespaces: cfg.Informers.ForKind("namespaces"),
		accounts:   cfg.Informers.ForKind("serviceaccounts"),
	}
	c.queue = reconcile.NewController(Name, c, reconcile.ControllerOptions{Workers: cfg.Workers, Logger: cfg.Logger,
		Clock: cfg.Clock, Metrics: cfg.QueueMetrics})
	c.namespaces.AddHandler(cache.Handler{
		OnAdd:    func(o api.Object) { c.queue.Enqueue(o.GetName()) },
		OnUpdate: func(_, o api.Object) { c.queue.Enqueue(o.GetName()) },
	})
	c.accounts.AddHandler(cache.Handler{
		OnDelete: func(o api.Object) {
			if o.GetName() == DefaultName {
				c.queue.Enqueue(o.GetNamespace())
			}
		},
	})
	return c
}

// Run waits for the caches, then reconciles namespaces until ctx ends; it
// returns nil then.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx, c.namespaces, c.accounts) {
		return nil
	}
	return c.queue.Run(ctx)
}

// Reconcile creates the default ServiceAccount of namespace key when the
// namespace exists, is not terminating and has none.
func (c *Controller) Reconcile(ctx context.Context, key string) (reconcile.Result, error) {
	o, ok := c.namespaces.Get("", key)
	if !ok {
		return reconcile.Result{}, nil
	}
	ns := o.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return reconcile.Result{}, nil
	}
	if _, ok := c.accounts.Get(key, DefaultName); ok {
		return reconcile.Result{}, nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: key, Name: DefaultName}}
	switch err := c.cfg.Writer.Create(ctx, sa); {
	case err == nil:
		c.log.Info("created the default service account", "namespace", key)
	case errors.Is(err, api.ErrExists):
	case errors.Is(err, api.ErrNotFound): // the namespace went meanwhile
	default:
		return reconcile.Result{}, fmt.Errorf("serviceaccount: create serviceaccount %s/%s: %w", key, DefaultName, err)
	}
	return reconcile.Result{}, nil
}

// DefaultPodServiceAccount sets spec.serviceAccountName of pod to "default"
// when it names none (keeping the deprecated spec.serviceAccount when only
// that is set, as the API's defaulting does) and reports whether it changed
// the pod.
func DefaultPodServiceAccount(pod *corev1.Pod) bool {
	if pod.Spec.ServiceAccountName != "" {
		return false
	}
	if pod.Spec.DeprecatedServiceAccount != "" {
		pod.Spec.ServiceAccountName = pod.Spec.DeprecatedServiceAccount
		return true
	}
	pod.Spec.ServiceAccountName = DefaultName
	pod.Spec.DeprecatedServiceAccount = DefaultName
	return true
}

// Admitter is the ServiceAccount admission of pods controllers create: it
// applies DefaultPodServiceAccount. It implements reconcile.PodAdmitter and
// never refuses (a pod naming a ServiceAccount that does not exist is
// admitted: bosun mounts no tokens yet, so nothing depends on it).
type Admitter struct{}

var _ reconcile.PodAdmitter = Admitter{}

// AdmitPod defaults pod's service account; it always returns nil.
func (Admitter) AdmitPod(_ context.Context, pod *corev1.Pod) error {
	DefaultPodServiceAccount(pod)
	return nil
}
