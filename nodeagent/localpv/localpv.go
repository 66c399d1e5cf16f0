package localpv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// DefaultInterval is how often a Collector looks without being told.
const DefaultInterval = 30 * time.Second

// retryDelay is how long a Collector waits before watching again after
// the watch failed.
const retryDelay = 5 * time.Second

// Lister lists the cluster's PersistentVolumes.
type Lister interface {
	// PersistentVolumes returns every PersistentVolume; an error means
	// the list may be incomplete (and nothing is removed).
	PersistentVolumes(ctx context.Context) ([]*corev1.PersistentVolume, error)
}

// Watcher reports PersistentVolume deletions.
type Watcher interface {
	// WatchDeletions calls deleted after each PersistentVolume deletion. It
	// blocks until ctx ends (returning nil) or the watch fails.
	WatchDeletions(ctx context.Context, deleted func()) error
}

// Config configures a Collector. Dir, Volumes and InUse are required.
type Config struct {
	// Dir is the node's volume directory, <agent RootDir>/volumes.
	Dir string
	// Volumes lists the PersistentVolumes.
	Volumes Lister
	// Deletions, if set, triggers a pass soon after a PV is deleted.
	Deletions Watcher
	// InUse returns the host directories the node's pods mount
	// (volumes.Manager.ClaimedPaths); an error means nothing is removed.
	InUse func() (map[string]bool, error)
	// Interval between passes; 0 means DefaultInterval.
	Interval time.Duration
	// Clock drives the passes; nil means the real clock.
	Clock clock.WithTicker
	// Logger receives one line per removed directory; nil discards.
	Logger *slog.Logger
}

// Collector removes deleted volumes' directories; see the package doc.
type Collector struct{ cfg Config }

// New returns a Collector for cfg.
func New(cfg Config) *Collector {
	defaults.Logger(&cfg.Logger)
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Collector{cfg: cfg}
}

// Run makes a pass at once, then every Interval and after each PV
// deletion, until ctx ends; it returns nil then. A failed pass is logged
// and retried at the next one.
func (c *Collector) Run(ctx context.Context) error {
	kick := make(chan struct{}, 1)
	if c.cfg.Deletions != nil {
		go c.watch(ctx, kick)
	}
	t := c.cfg.Clock.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := c.Collect(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("could not look for deleted local volumes; trying again later", "dir", c.cfg.Dir, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-kick:
		}
	}
}

// watch turns PV deletions into kicks, watching again after a failure.
func (c *Collector) watch(ctx context.Context, kick chan<- struct{}) {
	for ctx.Err() == nil {
		err := c.cfg.Deletions.WatchDeletions(ctx, func() {
			select {
			case kick <- struct{}{}:
			default:
			}
		})
		if err != nil && ctx.Err() == nil {
			c.cfg.Logger.Debug("persistent volume watch ended; watching again", "error", err)
		}
		select {
		case <-ctx.Done():
		case <-c.cfg.Clock.After(retryDelay):
		}
	}
}

// Collect makes one pass and returns the directories it removed.
func (c *Collector) Collect(ctx context.Context) ([]string, error) {
	// Read the directories before the volumes: a directory is created only
	// after its PV, so a PV listed later than its directory was read is in
	// the list.
	entries, err := os.ReadDir(c.cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("localpv: read %s: %w", c.cfg.Dir, err)
	}
	pvs, err := c.cfg.Volumes.PersistentVolumes(ctx)
	if err != nil {
		return nil, fmt.Errorf("localpv: list persistent volumes: %w", err)
	}
	known := map[string]bool{}
	for _, pv := range pvs {
		known[filepath.Join(c.cfg.Dir, pv.Name)] = true
		if pv.Spec.Local != nil {
			known[filepath.Clean(pv.Spec.Local.Path)] = true
		}
		if pv.Spec.HostPath != nil {
			known[filepath.Clean(pv.Spec.HostPath.Path)] = true
		}
	}
	inUse, err := c.cfg.InUse()
	if err != nil {
		return nil, fmt.Errorf("localpv: find the volumes pods use: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		p := filepath.Join(c.cfg.Dir, e.Name())
		if !e.IsDir() || known[p] || inUse[p] {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("localpv: remove %s: %w", p, err))
			continue
		}
		c.cfg.Logger.Info("removed the directory of a deleted persistent volume", "pv", e.Name(), "path", p)
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
