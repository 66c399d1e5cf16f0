package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Compactor.
const (
	DefaultCompactInterval = 5 * time.Minute
	DefaultCompactRetain   = 10000
	DefaultDefragInterval  = time.Hour
)

// Compactor keeps etcd's history bounded: every Interval it compacts away the
// revisions older than the last Retain ones, and when DefragInterval has passed
// since the last defragmentation it defragments every endpoint of Client to give
// the freed space back to the file system. Watchers and list clients that fall
// behind the compacted revision get api.ErrCompacted and must list again.
//
// Run blocks; CompactOnce is one tick of it. A Compactor must not be copied
// after first use.
type Compactor struct {
	// Client is the etcd client to compact through (required).
	Client *clientv3.Client
	// Interval between compactions; default 5 minutes.
	Interval time.Duration
	// Retain is how many revisions of history to keep; default 10000.
	Retain int64
	// DefragInterval is the least time between defragmentations; default 1 hour,
	// negative disables defragmentation.
	DefragInterval time.Duration
	// Logger receives one line per compaction and defragmentation; default discards.
	Logger *slog.Logger
	// Now is the clock that decides when a defragmentation is due; default time.Now.
	Now func() time.Time

	compacted  int64     // last revision this Compactor compacted to
	lastDefrag time.Time // when it last defragmented
}

func (c *Compactor) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Run compacts every Interval until ctx ends, then returns nil. Errors of a single
// round are logged and retried on the next tick.
func (c *Compactor) Run(ctx context.Context) error {
	if c.Client == nil {
		return fmt.Errorf("store: compactor: %w: no etcd client", api.ErrInvalid)
	}
	interval := c.Interval
	defaults.Positive(&interval, DefaultCompactInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.CompactOnce(ctx); err != nil && ctx.Err() == nil {
				c.logger().Warn("etcd compaction failed; it is retried on the next tick", "err", err)
			}
		}
	}
}

// CompactOnce compacts (physically, waiting for the compaction to reach the
// backend) to the current revision minus Retain, unless that is not newer than
// the last compaction, then defragments if DefragInterval has passed since the
// last defragmentation (the first call always defragments).
func (c *Compactor) CompactOnce(ctx context.Context) error {
	if c.Client == nil {
		return fmt.Errorf("store: compactor: %w: no etcd client", api.ErrInvalid)
	}
	log := c.logger()
	retain := c.Retain
	defaults.Positive(&retain, DefaultCompactRetain)
	resp, err := c.Client.Get(ctx, "compactor", clientv3.WithKeysOnly())
	if err != nil {
		return mapErr("compactor: read revision", err)
	}
	cur := resp.Header.Revision
	if target := cur - retain; target > c.compacted {
		_, err := c.Client.Compact(ctx, target, clientv3.WithCompactPhysical())
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			// Someone else compacted as far or further; nothing lost.
			c.compacted = target
		case err != nil:
			return mapErr(fmt.Sprintf("compactor: compact to revision %d", target), err)
		default:
			c.compacted = target
			log.Info("compacted etcd history", "revision", target, "current", cur)
		}
	}
	if c.DefragInterval < 0 {
		return nil
	}
	every := c.DefragInterval
	if every == 0 {
		every = DefaultDefragInterval
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	t := now()
	if !c.lastDefrag.IsZero() && t.Sub(c.lastDefrag) < every {
		return nil
	}
	for _, ep := range c.Client.Endpoints() {
		if _, err := c.Client.Defragment(ctx, ep); err != nil {
			return mapErr("compactor: defragment "+ep, err)
		}
		log.Info("defragmented etcd", "endpoint", ep)
	}
	c.lastDefrag = t
	return nil
}
