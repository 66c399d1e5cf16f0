package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// TriggerKey is the etcd key that wakes the sync leader from any server: a
// webhook that reached a standby puts it (RemoteTrigger), and the Syncer
// leading the sync election watches it (RunFenced).
const TriggerKey = "/bosun/sync/trigger"

// remoteTriggerTimeout bounds the put of a RemoteTrigger.
const remoteTriggerTimeout = 5 * time.Second

// remoteTrigger is the value of TriggerKey: who asked, when. The leader
// reacts to the change, not to the value; the value is for people reading
// etcd.
type remoteTrigger struct {
	Time   time.Time `json:"time"`
	Source string    `json:"source"`
}

// RemoteTrigger returns the trigger a server's webhook handler calls: it
// asks the sync leader, on whichever server it runs (this one included), to
// look at the branch now, by putting TriggerKey through cli with the time
// and source (the server's name) as value. Each call blocks until etcd took
// the put or 5 s passed; a failure is logged at Warn (the leader's poll
// interval still catches up) and not returned. logger nil discards.
func RemoteTrigger(cli *clientv3.Client, source string, logger *slog.Logger) func() {
	defaults.Logger(&logger)
	return func() {
		v, err := json.Marshal(remoteTrigger{Time: time.Now().UTC(), Source: source})
		if err != nil {
			logger.Warn("could not wake the sync leader", "err", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), remoteTriggerTimeout)
		defer cancel()
		if _, err := cli.Put(ctx, TriggerKey, string(v)); err != nil {
			logger.Warn("could not wake the sync leader through etcd: it syncs at its next poll", "key", TriggerKey, "err", err)
		}
	}
}

// triggerRevision returns the revision after which changes of TriggerKey
// wake this leader: the store's current one, read before the loop's first
// sync so that no trigger between the two is missed; 0 when etcd cannot be
// read (watchTriggers then reads it itself).
func (s *Syncer) triggerRevision(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, remoteTriggerTimeout)
	defer cancel()
	resp, err := s.cfg.Store.Client().Get(ctx, TriggerKey, clientv3.WithCountOnly())
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// watchTriggers calls Trigger on every put of TriggerKey after revision rev
// (0: after now) until ctx ends. A broken watch is watched again from the
// last revision seen, after a backoff; a compacted one triggers once (a
// change may be lost) and watches on from the compaction.
func (s *Syncer) watchTriggers(ctx context.Context, rev int64) {
	cli := s.cfg.Store.Client()
	backoff := s.cfg.MinBackoff
	for ctx.Err() == nil {
		if rev == 0 {
			rev = s.triggerRevision(ctx)
		}
		if rev != 0 {
			err := s.watchTriggersFrom(ctx, cli, &rev)
			if ctx.Err() != nil {
				return
			}
			s.cfg.Logger.Warn("watch of remote sync triggers ended; watching again", "key", TriggerKey, "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, s.cfg.MaxBackoff)
	}
}

// watchTriggersFrom watches TriggerKey after *rev, advancing *rev past each
// change seen, until the watch ends; it returns why.
func (s *Syncer) watchTriggersFrom(ctx context.Context, cli *clientv3.Client, rev *int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range cli.Watch(wctx, TriggerKey, clientv3.WithRev(*rev+1)) {
		if wr.CompactRevision != 0 {
			*rev = wr.CompactRevision - 1
			s.Trigger()
			return fmt.Errorf("syncer: watch %s: revision %d compacted", TriggerKey, wr.CompactRevision)
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("syncer: watch %s: %w", TriggerKey, err)
		}
		for _, ev := range wr.Events {
			*rev = ev.Kv.ModRevision
			if ev.Type == clientv3.EventTypePut {
				s.cfg.Logger.Debug("woken by a remote sync trigger", "revision", ev.Kv.ModRevision)
				s.Trigger()
			}
		}
	}
	return fmt.Errorf("syncer: watch %s: closed", TriggerKey)
}
