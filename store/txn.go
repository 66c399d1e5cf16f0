package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/bosun-dev/bosun/api"
)

// raftOverhead is what etcd adds around a TxnRequest in the raft entry it checks
// against --max-request-bytes (request header, field tags).
const raftOverhead = 64

// Txn collects object writes for one etcd transaction: all of them apply, or none.
// Nothing is sent before Commit. A Txn is not safe for concurrent use and is
// meant to be committed once.
type Txn struct {
	s     *Store
	cmps  []clientv3.Cmp
	ops   []clientv3.Op
	req   pb.TxnRequest // the same transaction in wire form, for sizing
	keys  map[string]bool
	objs  []api.Object // objects whose resourceVersion Commit sets
	check []txnCheck
	dup   string  // a key PutRaw saw twice
	fence []Fence // leadership the transaction is conditional on
}

// txnCheck remembers what a compare expected, to explain a conflict.
type txnCheck struct {
	key    string
	rev    int64 // expected mod revision; 0 = must not exist
	create bool
}

// Txn starts a transaction.
func (s *Store) Txn() *Txn {
	return &Txn{s: s, keys: map[string]bool{}}
}

func (t *Txn) addKey(key string) error {
	if t.keys[key] {
		return fmt.Errorf("store: txn: %w: %s is written twice in one transaction", api.ErrInvalid, key)
	}
	t.keys[key] = true
	return nil
}

func (t *Txn) compare(c clientv3.Cmp, chk txnCheck) {
	pc := c.GetCompare()
	t.cmps = append(t.cmps, c)
	t.req.Compare = append(t.req.Compare, pc)
	t.check = append(t.check, chk)
}

func (t *Txn) put(key string, value []byte) {
	t.ops = append(t.ops, clientv3.OpPut(key, string(value)))
	t.req.Success = append(t.req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
		RequestPut: &pb.PutRequest{Key: []byte(key), Value: value}}})
}

func (t *Txn) del(key string) {
	t.ops = append(t.ops, clientv3.OpDelete(key))
	t.req.Success = append(t.req.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
		RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}}})
}

// Create adds the creation of obj, conditional on its key not existing. Like
// Store.Create it sets uid, creationTimestamp, generation, namespace defaulting and
// apiVersion/kind in obj now; Commit sets its resourceVersion.
func (t *Txn) Create(obj api.Object) error {
	r, err := t.s.resourceOf(obj)
	if err != nil {
		return err
	}
	if err := t.s.prepareCreate(r, obj); err != nil {
		return err
	}
	return t.write(r, obj, func(key string) (clientv3.Cmp, txnCheck) {
		return clientv3.Compare(clientv3.CreateRevision(key), "=", 0), txnCheck{key: key, create: true}
	})
}

// Update adds the replacement of old (as read from the store) by obj, conditional
// on the key's mod revision still being old's resourceVersion. uid,
// creationTimestamp and generation are set in obj from old as Store.Update does;
// Commit sets obj's resourceVersion.
func (t *Txn) Update(old, obj api.Object) error {
	r, err := t.s.resourceOf(obj)
	if err != nil {
		return err
	}
	if ro, err := t.s.resourceOf(old); err != nil {
		return err
	} else if ro.GVK() != r.GVK() {
		return fmt.Errorf("store: txn update: %w: old is a %s, new is a %s", api.ErrInvalid, ro.Kind, r.Kind)
	}
	rev, err := parseRV(old.GetResourceVersion())
	if err != nil {
		return fmt.Errorf("store: txn update %s %s: %w", r.Kind, objName(old), err)
	}
	if err := prepareUpdate(r, old, obj); err != nil {
		return err
	}
	return t.write(r, obj, func(key string) (clientv3.Cmp, txnCheck) {
		return clientv3.Compare(clientv3.ModRevision(key), "=", rev), txnCheck{key: key, rev: rev}
	})
}

// write adds the put of obj, of resource r, at its key, conditional on what
// cond returns for that key.
func (t *Txn) write(r api.Resource, obj api.Object, cond func(key string) (clientv3.Cmp, txnCheck)) error {
	key, err := t.s.objKey(r, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return err
	}
	data, err := t.s.encode(r, key, obj)
	if err != nil {
		return err
	}
	if err := t.addKey(key); err != nil {
		return err
	}
	t.compare(cond(key))
	t.put(key, data)
	t.objs = append(t.objs, obj)
	return nil
}

// Delete adds the deletion of namespace/name of r. With a resourceVersion it is
// conditional on the key's mod revision; with "" it is unconditional and deleting
// a missing key is a no-op.
func (t *Txn) Delete(r api.Resource, namespace, name string, resourceVersion string) error {
	key, err := t.s.objKey(r, namespace, name)
	if err != nil {
		return err
	}
	var rev int64
	if resourceVersion != "" {
		if rev, err = parseRV(resourceVersion); err != nil {
			return fmt.Errorf("store: txn delete %s: %w", key, err)
		}
	}
	if err := t.addKey(key); err != nil {
		return err
	}
	if rev > 0 {
		t.compare(clientv3.Compare(clientv3.ModRevision(key), "=", rev), txnCheck{key: key, rev: rev})
	}
	t.del(key)
	return nil
}

// PutRaw adds an unconditional write of a key outside the typed layout, such as
// bosun's own "/bosun/sync/..." records. A key written twice makes Commit fail
// with api.ErrInvalid.
func (t *Txn) PutRaw(key string, value []byte) {
	if t.keys[key] {
		t.dup = key
	}
	t.keys[key] = true
	t.put(key, value)
}

// ErrFenced is wrapped by the error of a write refused because the
// leadership it was conditional on (a Fence) is lost: nothing was written,
// and the writer must stop, since another process leads now. It does not
// wrap api.ErrConflict: retrying cannot succeed.
var ErrFenced = errors.New("fenced: leadership lost")

// Fence describes one held leadership of an etcd election (the key the
// holder's session owns in it), so that a write can be made conditional on
// still holding it: etcd's concurrency.Mutex.IsOwner comparison, "the key
// still exists with the create revision it had when it was won". When the
// holder's lease expires or is revoked, or the key is deleted, the key is
// gone (a key made again later has a later create revision), and every
// write carrying the Fence is refused with ErrFenced, however long the
// holder was paused. A Fence is plain data, safe to copy and share; the
// zero Fence holds nothing and fences nothing.
type Fence struct {
	// Election names the election ("sync", "controllers"), for messages.
	Election string
	// Key is the holder's key in the election; Revision is its create revision.
	Key      string
	Revision int64
	// Lease is the session lease the key is bound to (for messages and for
	// revoking it).
	Lease clientv3.LeaseID
}

// IsZero reports whether f is the zero Fence, which fences nothing.
func (f Fence) IsZero() bool { return f.Key == "" }

// String describes f for messages: the election, its key, lease and create
// revision.
func (f Fence) String() string {
	return fmt.Sprintf("election %q (key %s, lease %x, won at revision %d)", f.Election, f.Key, int64(f.Lease), f.Revision)
}

// Cmp returns the comparison that holds exactly while f is held, for a
// transaction built on the etcd client directly: f's key exists with f's
// create revision.
func (f Fence) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Revision)
}

// Check reads f's key through c and returns nil while f is held, an error
// wrapping ErrFenced when it is lost, and another error when etcd cannot
// be read. A Fence once lost is never held again, so a transaction carrying
// f that failed while Check still finds f held failed for another reason.
func (f Fence) Check(ctx context.Context, c *clientv3.Client) error {
	if f.IsZero() {
		return nil
	}
	resp, err := c.Get(ctx, f.Key, clientv3.WithKeysOnly())
	if err != nil {
		return mapErr("check "+f.String(), err)
	}
	switch {
	case len(resp.Kvs) == 0:
		return fmt.Errorf("store: %w: %s: the key is gone (lease expired or revoked, or resigned)", ErrFenced, f)
	case resp.Kvs[0].CreateRevision != f.Revision:
		return fmt.Errorf("store: %w: %s: the key was made again at revision %d", ErrFenced, f, resp.Kvs[0].CreateRevision)
	}
	return nil
}

// Fence makes the transaction conditional on f being held (see Fence.Cmp),
// in the same etcd transaction as its writes, and returns t. When f is lost
// Commit writes nothing and returns an error wrapping ErrFenced that names
// f. Several fences may be added; a zero Fence adds nothing.
func (t *Txn) Fence(f Fence) *Txn {
	if f.IsZero() {
		return t
	}
	c := f.Cmp()
	t.cmps = append(t.cmps, c)
	t.req.Compare = append(t.req.Compare, c.GetCompare())
	t.fence = append(t.fence, f)
	return t
}

// Len returns the number of writes in the transaction.
func (t *Txn) Len() int { return len(t.ops) }

// Size returns the encoded size in bytes of the transaction request, the figure
// Commit checks against MaxRequestBytes (plus a small allowance for etcd's own
// raft header).
func (t *Txn) Size() int { return proto.Size(&t.req) + raftOverhead }

// Commit sends the transaction and returns the revision it was written at; the
// resourceVersion of every created or updated object is set to it.
//
// Before sending, Commit refuses with api.ErrTooLarge a transaction that etcd would
// refuse: etcd's --max-txn-ops limits each of the compare, success and failure
// lists of a transaction separately, so the figure checked against MaxTxnOps is
// the larger of the number of compares (one per Create, Update and conditional
// Delete) and the number of writes; the encoded size is checked against
// MaxRequestBytes. The same limits reported by etcd itself also map to
// api.ErrTooLarge. When a Fence of the transaction is lost nothing is written
// and the error wraps ErrFenced (and not api.ErrConflict), naming the fence.
// An empty transaction writes nothing and checks no fence. When any other
// compare fails nothing is written and the error wraps
// api.ErrConflict, naming the first key found to differ (read after the failure, so
// best effort); it also wraps api.ErrExists when a created key exists, or api.ErrNotFound
// when an updated or conditionally deleted key is gone.
func (t *Txn) Commit(ctx context.Context) (int64, error) {
	if t.dup != "" {
		return 0, fmt.Errorf("store: txn: %w: %s is written twice in one transaction", api.ErrInvalid, t.dup)
	}
	if len(t.ops) == 0 {
		return t.s.Revision(ctx)
	}
	if n := max(len(t.ops), len(t.cmps)); n > t.s.maxOps {
		return 0, fmt.Errorf("store: txn: %w: transaction has %d operations, above etcd's limit of %d (--max-txn-ops)",
			api.ErrTooLarge, n, t.s.maxOps)
	}
	if size := t.Size(); size > t.s.maxBytes {
		return 0, fmt.Errorf("store: txn: %w: transaction of %d operations is %d bytes, above etcd's limit of %d bytes (--max-request-bytes)",
			api.ErrTooLarge, len(t.ops), size, t.s.maxBytes)
	}
	resp, err := t.s.c.Txn(ctx).If(t.cmps...).Then(t.ops...).Commit()
	if err != nil {
		return 0, mapErr(fmt.Sprintf("txn of %d operations", len(t.ops)), err)
	}
	if !resp.Succeeded {
		for _, f := range t.fence {
			// Read after the failure: a fence lost then was lost at the
			// transaction, or the failure was a conflict of a writer that
			// must stop anyway; a fence held then was held at the transaction.
			if err := f.Check(ctx, t.s.c); errors.Is(err, ErrFenced) {
				return 0, fmt.Errorf("%w; the transaction of %d operations wrote nothing", err, len(t.ops))
			}
		}
		return 0, t.conflict(ctx)
	}
	rv := strconv.FormatInt(resp.Header.Revision, 10)
	for _, o := range t.objs {
		o.SetResourceVersion(rv)
	}
	return resp.Header.Revision, nil
}

// conflict builds the error of a failed transaction, reading the compared keys
// (after the fact, so best effort) to name the first that differs.
func (t *Txn) conflict(ctx context.Context) error {
	for _, c := range t.check {
		resp, err := t.s.c.Get(ctx, c.key, clientv3.WithKeysOnly())
		if err != nil {
			break
		}
		switch {
		case c.create && len(resp.Kvs) > 0:
			return fmt.Errorf("store: txn: %w: %s already exists (%w)", api.ErrConflict, c.key, api.ErrExists)
		case !c.create && len(resp.Kvs) == 0:
			return fmt.Errorf("store: txn: %w: %s was deleted (%w)", api.ErrConflict, c.key, api.ErrNotFound)
		case !c.create && resp.Kvs[0].ModRevision != c.rev:
			return fmt.Errorf("store: txn: %w: %s changed: resourceVersion %d is stale, stored object is at %d",
				api.ErrConflict, c.key, c.rev, resp.Kvs[0].ModRevision)
		}
	}
	return fmt.Errorf("store: txn: %w: a compare of the %d in the transaction failed; nothing was written", api.ErrConflict, len(t.check))
}
