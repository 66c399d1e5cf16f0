package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/store"
)

// DefaultTTL is the session TTL, in seconds, of a Run whose ttl is 0 or less:
// how long a dead leader's lease outlives it.
const DefaultTTL = 5

// KeyPrefix is where elections live in etcd: the candidates of election name
// hold keys under KeyPrefix + name + "/", and the oldest one leads.
const KeyPrefix = "/bosun/elections/"

// ErrNoLeader is returned by Leader when nobody leads the election.
var ErrNoLeader = errors.New("leader: no leader")

// errLost says that leadership (or the session) was lost.
var errLost = errors.New("leader: leadership lost")

// Backoff bounds between failed campaign attempts.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// DefaultID returns a candidate id made of the host name and the process id,
// e.g. "node-1/4242".
func DefaultID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + "/" + strconv.Itoa(os.Getpid())
}

// Run campaigns for leadership of election name on etcd through c (package
// go.etcd.io/etcd/client/v3/concurrency, with a session whose lease has a TTL of
// ttl seconds, DefaultTTL when ttl <= 0). Once elected it calls lead with a
// context that is cancelled when leadership is lost (the session's lease expired
// or could not be renewed, or the leader key vanished) or when ctx ends, and
// waits for lead to return. Then, unless ctx ended, it campaigns again with a new
// session. If lead returns by itself (error or not) while still leading, Run
// logs it, resigns and campaigns again after a backoff.
//
// A standby blocks in its campaign and takes over within about ttl seconds after
// the leader dies, at once when the leader resigns. When ctx ends Run cancels
// lead, waits for it, resigns (so a standby takes over without waiting for the
// lease to expire) and returns nil. id identifies this candidate in logs and in
// Leader (DefaultID is a good choice). logger nil discards. lead must return
// soon after its ctx ends: until it does, Run neither campaigns again nor returns.
//
// The cancellation of lead's ctx comes late to a process that was paused: a
// leader whose writes must never land after it lost the lease uses RunFenced.
func Run(ctx context.Context, c *clientv3.Client, name, id string, ttl int, logger *slog.Logger,
	lead func(ctx context.Context) error) error {
	if lead == nil {
		return fmt.Errorf("leader: run: need an etcd client, an election name and a lead function")
	}
	return RunFenced(ctx, c, name, id, ttl, logger, func(ctx context.Context, _ store.Fence) error { return lead(ctx) })
}

// RunFenced is Run, and hands lead the store.Fence of the leadership it
// holds: its key in the election, that key's create revision and the
// session's lease. A store.Txn carrying the fence (Txn.Fence) commits only
// while this term of leadership lasts, and is refused with store.ErrFenced
// once the lease expired, was revoked or the key was deleted, even when lead's
// ctx is not cancelled yet (a process paused past its lease, say by SIGSTOP or
// a long GC pause, wakes up still running lead). Each term has its own fence:
// the fence of an earlier term never holds again.
func RunFenced(ctx context.Context, c *clientv3.Client, name, id string, ttl int, logger *slog.Logger,
	lead func(ctx context.Context, fence store.Fence) error) error {
	if c == nil || name == "" || lead == nil {
		return fmt.Errorf("leader: run: need an etcd client, an election name and a lead function")
	}
	defaults.Positive(&ttl, DefaultTTL)
	defaults.Logger(&logger)
	log := logger.With("election", name, "id", id)
	backoff := minBackoff
	for ctx.Err() == nil {
		led, err := term(ctx, c, name, id, ttl, log, lead)
		if ctx.Err() != nil {
			break
		}
		if led {
			backoff = minBackoff
		}
		if err != nil {
			log.Warn("leader election: campaigning again", "err", err, "retryIn", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, maxBackoff)
	}
	return nil
}

// term is one session: campaign, lead until leadership or ctx is lost, resign.
// led says whether this candidate was elected.
func term(ctx context.Context, c *clientv3.Client, name, id string, ttl int, log *slog.Logger,
	lead func(ctx context.Context, fence store.Fence) error) (led bool, err error) {
	// The session outlives ctx so that Close can still revoke its lease.
	sess, err := concurrency.NewSession(c, concurrency.WithTTL(ttl), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return false, fmt.Errorf("leader: %s: new session: %w", name, err)
	}
	defer func() {
		if c.Ctx().Err() != nil {
			sess.Orphan() // the client is closed: nothing to revoke with
			return
		}
		_ = sess.Close() // revokes the lease: our key goes at once
	}()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	e := concurrency.NewElection(sess, KeyPrefix+name)
	log.Debug("campaigning for leadership")
	if err := e.Campaign(cctx, id); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("leader: %s: campaign: %w", name, err)
	}
	defer func() {
		if c.Ctx().Err() != nil {
			return // the client is closed: the lease expires instead
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(ttl)*time.Second)
		defer rcancel()
		if err := e.Resign(rctx); err != nil {
			log.Debug("resign failed; the lease expires instead", "err", err)
		}
	}()

	select {
	case <-sess.Done(): // the lease lapsed while we waited
		return false, fmt.Errorf("leader: %s: session ended during the campaign", name)
	default:
	}
	// Leadership ends when the session dies or someone deletes our key.
	lctx, lcancel := context.WithCancel(cctx)
	defer lcancel()
	wch := c.Watch(clientv3.WithRequireLeader(lctx), e.Key(), clientv3.WithRev(e.Header().Revision+1))
	lost := make(chan struct{})
	go func() {
		defer close(lost)
		for {
			select {
			case <-lctx.Done():
				return
			case wr, ok := <-wch:
				if !ok || wr.Err() != nil {
					return
				}
				for _, ev := range wr.Events {
					if ev.Type == mvccpb.DELETE {
						return
					}
				}
			}
		}
	}()

	fence := store.Fence{Election: name, Key: e.Key(), Revision: e.Rev(), Lease: sess.Lease()}
	log.Info("elected leader", "key", fence.Key, "revision", fence.Revision)
	done := make(chan error, 1)
	go func() { done <- lead(lctx, fence) }()
	select {
	case err := <-done:
		lcancel()
		if ctx.Err() != nil {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("leader: %s: lead returned while leading: %w", name, err)
		}
		return true, fmt.Errorf("leader: %s: lead returned while leading", name)
	case <-lost:
		lcancel()
		if ctx.Err() != nil {
			<-done
			log.Info("stepping down: shutting down")
			return true, nil
		}
		log.Warn("leadership lost; stopping the controllers and campaigning again")
		<-done
		return true, errLost
	}
}

// Leader returns the id of the current leader of election name, or an error
// wrapping ErrNoLeader when there is none.
func Leader(ctx context.Context, c *clientv3.Client, name string) (string, error) {
	resp, err := c.Get(ctx, KeyPrefix+name+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader: %s: read leader: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("leader: %s: %w", name, ErrNoLeader)
	}
	return string(resp.Kvs[0].Value), nil
}
