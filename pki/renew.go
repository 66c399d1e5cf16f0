package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of RenewerConfig.
const (
	DefaultRetryInterval = time.Minute
	DefaultCheckInterval = time.Hour
)

// RenewAt returns when cert should be renewed: when less than a third of its
// lifetime (NotBefore to NotAfter) is left.
func RenewAt(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Add(-lifetime / 3)
}

// NeedsRenewal reports whether less than a third of cert's lifetime is left
// at now (or it has expired).
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	return !now.Before(RenewAt(cert))
}

// RenewFunc obtains a new certificate and key: the server re-issues from its
// CA; an agent sends a signing request to the server. The Renewer checks
// that they belong together before storing them.
type RenewFunc func(ctx context.Context) (certPEM, keyPEM []byte, err error)

// RenewerConfig configures a Renewer.
type RenewerConfig struct {
	// Name says which credential this is in logs and errors, e.g.
	// "serving certificate".
	Name string
	// KeyPair is the pair to keep current; required.
	KeyPair *KeyPair
	// Renew obtains the new pair; required.
	Renew RenewFunc
	// OnRenew, when set, is called after each renewal with the new pair
	// (e.g. to rewrite a kubeconfig that embeds it). Its error is logged and
	// does not undo the renewal.
	OnRenew func(certPEM, keyPEM []byte) error
	// Clock is the time source; default the real clock.
	Clock clock.Clock
	// Logger receives renewals and failures; nil discards.
	Logger *slog.Logger
	// RetryInterval is the wait after a failed renewal; default 1 minute.
	RetryInterval time.Duration
	// CheckInterval bounds every wait, so that a clock that jumped (a
	// suspended machine) is noticed; default 1 hour.
	CheckInterval time.Duration
}

// Renewer renews a KeyPair when less than a third of its certificate's
// lifetime is left, in memory and on disk, so the new certificate is used
// without a restart. Create it with NewRenewer.
type Renewer struct {
	cfg RenewerConfig
}

// NewRenewer checks cfg and fills its defaults.
func NewRenewer(cfg RenewerConfig) (*Renewer, error) {
	if cfg.KeyPair == nil {
		return nil, errors.New("pki: renewer: KeyPair is required")
	}
	if cfg.Renew == nil {
		return nil, errors.New("pki: renewer: Renew is required")
	}
	if cfg.Name == "" {
		cfg.Name = cfg.KeyPair.CertFile()
	}
	defaults.Clock(&cfg.Clock)
	defaults.Logger(&cfg.Logger)
	defaults.Positive(&cfg.RetryInterval, DefaultRetryInterval)
	defaults.Positive(&cfg.CheckInterval, DefaultCheckInterval)
	return &Renewer{cfg: cfg}, nil
}

// Run renews the pair whenever it needs it, until ctx ends; it then returns
// nil. A failed renewal is logged and retried after RetryInterval: the
// current certificate stays in use meanwhile.
func (r *Renewer) Run(ctx context.Context) error {
	for {
		leaf := r.cfg.KeyPair.Current().Leaf
		now := r.cfg.Clock.Now()
		wait := RenewAt(leaf).Sub(now)
		if wait <= 0 {
			if err := r.RenewNow(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.cfg.Logger.Error("Certificate renewal failed; the current certificate stays in use, retrying",
					"credential", r.cfg.Name, "notAfter", leaf.NotAfter, "retryIn", r.cfg.RetryInterval, "err", err)
				wait = r.cfg.RetryInterval
			} else if renewed := r.cfg.KeyPair.Current().Leaf; NeedsRenewal(renewed, r.cfg.Clock.Now()) {
				r.cfg.Logger.Warn("Renewed certificate is already due for renewal (is the CA about to expire?); retrying later",
					"credential", r.cfg.Name, "notAfter", renewed.NotAfter, "retryIn", r.cfg.RetryInterval)
				wait = r.cfg.RetryInterval
			} else {
				continue
			}
		}
		wait = min(wait, r.cfg.CheckInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-r.cfg.Clock.After(wait):
		}
	}
}

// RenewNow renews the pair at once: it calls Renew, stores the new pair and
// calls OnRenew.
func (r *Renewer) RenewNow(ctx context.Context) error {
	certPEM, keyPEM, err := r.cfg.Renew(ctx)
	if err != nil {
		return fmt.Errorf("pki: renew %s: %w", r.cfg.Name, err)
	}
	old := r.cfg.KeyPair.Current().Leaf
	if err := r.cfg.KeyPair.Store(certPEM, keyPEM); err != nil {
		return fmt.Errorf("pki: renew %s: %w", r.cfg.Name, err)
	}
	leaf := r.cfg.KeyPair.Current().Leaf
	r.cfg.Logger.Info("Certificate renewed", "credential", r.cfg.Name,
		"oldNotAfter", old.NotAfter, "notAfter", leaf.NotAfter, "serial", leaf.SerialNumber.String())
	if r.cfg.OnRenew != nil {
		if err := r.cfg.OnRenew(certPEM, keyPEM); err != nil {
			r.cfg.Logger.Error("After renewing the certificate, updating its copies failed", "credential", r.cfg.Name, "err", err)
		}
	}
	return nil
}
