package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
)

// DefaultEventTTL is how long an Event lives after its last write, as
// kube-apiserver's --event-ttl.
const DefaultEventTTL = time.Hour

// leaseReuse is how long one granted lease is attached to new writes
// before another is granted: one lease per minute of writes rather than
// one per Event, as kube-apiserver's lease manager does. The lease is
// granted for the TTL plus this, so the last key attached to it still
// lives at least the TTL.
const leaseReuse = time.Minute

// expiring hands out etcd leases for the keys of resources that expire
// (Events): a write of such a key attaches the current lease, so etcd
// deletes the key when it runs out — no sweeper, and it works the same on
// an external etcd.
type expiring struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
}

// expires reports whether keys of r carry a lease.
func expires(r api.Resource) bool { return r.Name == "events" }

// reuseFor is how long one lease is handed out for a TTL: leaseReuse, or a
// twentieth of a short TTL.
func reuseFor(ttl time.Duration) time.Duration {
	return min(leaseReuse, ttl/20)
}

// lease returns the lease to attach to a write made now, granting a new one
// when there is none yet or the current one has been handed out for
// reuseFor(ttl).
func (e *expiring) lease(ctx context.Context, c *clientv3.Client) (clientv3.LeaseID, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	reuse := reuseFor(e.ttl)
	if e.id != 0 && now.Sub(e.granted) < reuse {
		return e.id, nil
	}
	secs := int64((e.ttl + reuse + time.Second - 1) / time.Second)
	resp, err := c.Grant(ctx, secs)
	if err != nil {
		return 0, mapErr("grant lease", err)
	}
	e.id, e.granted = resp.ID, now
	return e.id, nil
}

// forget drops id, so the next write grants a new lease: etcd said it no
// longer exists (it expired while the process was stopped, say).
func (e *expiring) forget(id clientv3.LeaseID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.id == id {
		e.id = 0
	}
}

// putOp returns the put of key for resource r: with the current lease for
// kinds that expire, whose ID it returns too (0 for others).
func (s *Store) putOp(ctx context.Context, r api.Resource, key string, data []byte) (clientv3.Op, clientv3.LeaseID, error) {
	if s.expiring == nil || !expires(r) {
		return clientv3.OpPut(key, string(data)), 0, nil
	}
	id, err := s.expiring.lease(ctx, s.c)
	if err != nil {
		return clientv3.Op{}, 0, err
	}
	return clientv3.OpPut(key, string(data), clientv3.WithLease(id)), id, nil
}

// withLease runs write, which builds its put with putOp, once more when
// etcd refused the lease that put carried.
func (s *Store) withLease(write func() (clientv3.LeaseID, error)) error {
	id, err := write()
	if id != 0 && errors.Is(err, rpctypes.ErrLeaseNotFound) {
		s.expiring.forget(id)
		_, err = write()
	}
	return err
}
