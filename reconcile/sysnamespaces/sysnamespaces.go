// Package sysnamespaces keeps Kubernetes' system namespaces in the store —
// default, kube-system, kube-public and kube-node-lease — as
// kube-apiserver's bootstrap controller does, so that `kubectl get ns`
// shows what people expect and objects can live there without a Namespace
// manifest in Git. It creates the missing ones when it starts and every
// Period after (a deleted one comes back), and never changes or deletes
// one: a Namespace of the same name committed to Git is synced over it
// like any other object.
//
//	c := sysnamespaces.New(sysnamespaces.Config{Writer: st, Logger: logger})
//	err := c.Run(ctx) // until ctx ends
package sysnamespaces

import (
	"context"
	"errors"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/reconcile"
)

// Names are the system namespaces, in the order they are created.
var Names = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// DefaultPeriod is how often missing namespaces are created again.
const DefaultPeriod = time.Minute

// Config configures a Controller.
type Config struct {
	// Writer creates the namespaces (the control plane's fenced store).
	Writer reconcile.Creator
	// Period between two checks; default DefaultPeriod.
	Period time.Duration
	// Logger receives what was created; nil discards.
	Logger *slog.Logger
	// Clock drives the period; default the real clock.
	Clock clock.WithTicker
}

// Controller creates the system namespaces that are missing.
type Controller struct {
	cfg Config
}

// New returns a Controller for cfg.
func New(cfg Config) *Controller {
	defaults.Logger(&cfg.Logger)
	defaults.Clock(&cfg.Clock)
	defaults.Positive(&cfg.Period, DefaultPeriod)
	return &Controller{cfg: cfg}
}

// Run creates the missing namespaces at once and every Period until ctx
// ends; it returns nil then. A failed create is logged and tried again the
// next period.
func (c *Controller) Run(ctx context.Context) error {
	t := c.cfg.Clock.NewTicker(c.cfg.Period)
	defer t.Stop()
	for {
		if err := c.Ensure(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("could not create the system namespaces; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// Ensure creates every system namespace that does not exist.
func (c *Controller) Ensure(ctx context.Context) error {
	var errs []error
	for _, name := range Names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		err := c.cfg.Writer.Create(ctx, ns)
		switch {
		case err == nil:
			c.cfg.Logger.Info("created system namespace", "namespace", name)
		case !errors.Is(err, api.ErrExists):
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
