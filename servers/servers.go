package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// KeyPrefix is where the registry lives in etcd: server NAME is the key
// KeyPrefix + NAME, its value api.ServerInfo as JSON.
const KeyPrefix = "/bosun/servers/"

// DefaultTTL is the lease TTL a server registers with when Register is given
// none: how long a dead server stays in the list.
const DefaultTTL = 15 * time.Second

// Backoff bounds between failed registration attempts.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// revokeTimeout bounds the revocation of the lease on a clean stop.
const revokeTimeout = 5 * time.Second

// Register keeps s in the registry until ctx ends: it puts s under a new
// lease of ttl (DefaultTTL when ttl <= 0; rounded up to whole seconds) and
// keeps the lease alive. When the lease is lost (it expired while etcd could
// not be reached, or was revoked) or etcd refuses a registration, it logs
// why and registers again after a backoff, for as long as ctx lasts. When ctx
// ends it revokes the lease, deleting the key at once, and returns nil. It
// returns an error only for an s it cannot register: a name that is empty or
// holds "/", or an empty URL. s.Started zero is set to the time of the first
// registration. logger nil discards.
func Register(ctx context.Context, cli *clientv3.Client, s api.ServerInfo, ttl time.Duration, logger *slog.Logger) error {
	if cli == nil {
		return errors.New("servers: register: no etcd client")
	}
	if s.Name == "" || strings.Contains(s.Name, "/") {
		return fmt.Errorf("servers: register: invalid server name %q: want a non-empty name without /", s.Name)
	}
	if s.URL == "" {
		return fmt.Errorf("servers: register server %s: no URL", s.Name)
	}
	defaults.Positive(&ttl, DefaultTTL)
	defaults.Logger(&logger)
	if s.Started.IsZero() {
		s.Started = time.Now()
	}
	value, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("servers: register server %s: encode: %w", s.Name, err)
	}
	log := logger.With("server", s.Name, "url", s.URL)
	seconds := int64(math.Ceil(ttl.Seconds()))
	backoff := minBackoff
	for ctx.Err() == nil {
		registered, err := keep(ctx, cli, KeyPrefix+s.Name, string(value), seconds)
		if ctx.Err() != nil {
			break
		}
		if registered {
			backoff = minBackoff
		}
		log.Warn("API server registration lost: registering again", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
			backoff = min(2*backoff, maxBackoff)
		}
		t.Stop()
	}
	return nil
}

// keep puts key = value under a new lease of ttl seconds and keeps it alive
// until ctx ends (it then revokes the lease and returns nil) or the lease is
// lost (it returns why). registered says whether the key was put.
func keep(ctx context.Context, cli *clientv3.Client, key, value string, ttl int64) (registered bool, err error) {
	lease, err := cli.Grant(ctx, ttl)
	if err != nil {
		return false, fmt.Errorf("servers: grant a lease of %ds: %w", ttl, err)
	}
	defer func() {
		if cli.Ctx().Err() != nil {
			return // the client is closed: the lease expires by itself
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
		defer cancel()
		_, _ = cli.Revoke(rctx, lease.ID) // deletes key; a lost lease is already gone
	}()
	put, err := cli.Put(ctx, key, value, clientv3.WithLease(lease.ID))
	if err != nil {
		return false, fmt.Errorf("servers: put %s: %w", key, err)
	}
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	alive, err := cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return true, fmt.Errorf("servers: keep lease %x of %s alive: %w", lease.ID, key, err)
	}
	// The key's deletion (a revoked lease, or someone deleting it) is seen at
	// once on a watch; an expired lease also on the next keep-alive answer.
	changes := cli.Watch(clientv3.WithRequireLeader(kctx), key, clientv3.WithRev(put.Header.Revision+1))
	for {
		select {
		case _, ok := <-alive:
			if !ok { // the lease expired, or ctx ended
				if ctx.Err() != nil {
					return true, nil
				}
				return true, fmt.Errorf("servers: lease %x of %s expired or was revoked", lease.ID, key)
			}
		case wr, ok := <-changes:
			if ctx.Err() != nil {
				return true, nil
			}
			if !ok || wr.Err() != nil {
				changes = nil // the lease's keep-alive still guards the key
				continue
			}
			for _, ev := range wr.Events {
				// A put by another server of the same name wins until it
				// stops: no fight over the key.
				if ev.Type == clientv3.EventTypeDelete {
					return true, fmt.Errorf("servers: %s was deleted (lease %x revoked?)", key, lease.ID)
				}
			}
		}
	}
}

// List returns the registered servers sorted by name. A value that is not
// a ServerInfo is an error naming its key.
func List(ctx context.Context, cli *clientv3.Client) ([]api.ServerInfo, error) {
	resp, err := cli.Get(ctx, KeyPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("servers: list: %w", err)
	}
	out := make([]api.ServerInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var s api.ServerInfo
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			return nil, fmt.Errorf("servers: list: %s: %w", kv.Key, err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
