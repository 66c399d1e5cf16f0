package store

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Default values of Options.
const (
	DefaultPrefix          = "/registry"
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 3 * 1024 * 1024 / 2
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Prefix is the key prefix of Kubernetes objects; default "/registry".
	Prefix string
	// MaxTxnOps is the largest number of operations a Txn may carry; default 128,
	// etcd's own default. Set it to the etcd server's --max-txn-ops.
	MaxTxnOps int
	// MaxRequestBytes is the largest encoded transaction a Txn may send; default
	// 1.5 MiB, etcd's own default. Set it to the etcd server's --max-request-bytes.
	MaxRequestBytes int
	// Now returns the time used for creationTimestamp; default time.Now.
	Now func() time.Time
	// Logger receives the store's few log lines; default discards them.
	Logger *slog.Logger
	// EventTTL is how long an Event lives after its last write (etcd deletes
	// it through a lease); default DefaultEventTTL, negative keeps Events
	// forever.
	EventTTL time.Duration
	// Secrets, when set, encrypts Secrets on every write and decrypts them on
	// every read (Get, List, Watch, Txn); see encryption.Transformer. Nil
	// stores Secrets as plain JSON and refuses to read encrypted ones.
	Secrets ValueTransformer
}

// Store is a typed, Kubernetes-shaped view of etcd. It is safe for concurrent use.
type Store struct {
	c        *clientv3.Client
	prefix   string
	maxOps   int
	maxBytes int
	now      func() time.Time
	log      *slog.Logger
	table    []api.Resource
	byType   map[reflect.Type]api.Resource
	expiring *expiring        // nil when nothing expires
	secrets  ValueTransformer // nil: Secrets are stored in plain JSON
}

// New returns a Store on c. The Store does not own c: closing c is the caller's job.
func New(c *clientv3.Client, opts Options) *Store {
	s := &Store{
		c:        c,
		prefix:   strings.TrimRight(opts.Prefix, "/"),
		maxOps:   opts.MaxTxnOps,
		maxBytes: opts.MaxRequestBytes,
		now:      opts.Now,
		log:      opts.Logger,
		secrets:  opts.Secrets,
		table:    api.Resources(),
		byType:   map[reflect.Type]api.Resource{},
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	defaults.Positive(&s.maxOps, DefaultMaxTxnOps)
	defaults.Positive(&s.maxBytes, DefaultMaxRequestBytes)
	if s.now == nil {
		s.now = time.Now
	}
	defaults.Logger(&s.log)
	if opts.EventTTL == 0 {
		opts.EventTTL = DefaultEventTTL
	}
	if opts.EventTTL > 0 {
		s.expiring = &expiring{ttl: opts.EventTTL, now: s.now}
	}
	for _, r := range s.table {
		s.byType[r.GoType()] = r
	}
	return s
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.c }

// Prefix returns the key prefix of Kubernetes objects, without a trailing slash.
func (s *Store) Prefix() string { return s.prefix }

// Key returns the etcd key of an object: "<prefix>/<resource>/<namespace>/<name>",
// or "<prefix>/<resource>/<name>" for cluster-scoped resources (namespace ignored).
func (s *Store) Key(r api.Resource, namespace, name string) string {
	if r.Namespaced {
		return s.prefix + "/" + r.Name + "/" + namespace + "/" + name
	}
	return s.prefix + "/" + r.Name + "/" + name
}

// keyPrefix returns the prefix of every key of r in namespace ("" = all), ending in "/".
func (s *Store) keyPrefix(r api.Resource, namespace string) string {
	if r.Namespaced && namespace != "" {
		return s.prefix + "/" + r.Name + "/" + namespace + "/"
	}
	return s.prefix + "/" + r.Name + "/"
}

func (s *Store) resourceOf(obj api.Object) (api.Resource, error) {
	if obj == nil || reflect.ValueOf(obj).IsNil() {
		return api.Resource{}, fmt.Errorf("store: %w: nil object", api.ErrInvalid)
	}
	r, ok := s.byType[reflect.TypeOf(obj)]
	if !ok {
		return api.Resource{}, fmt.Errorf("store: %w: no stored resource has Go type %T", api.ErrInvalid, obj)
	}
	return r, nil
}

// objKey validates namespace and name for r and returns the key. A namespaced
// resource with an empty namespace means "default".
func (s *Store) objKey(r api.Resource, namespace, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("store: %s: %w: name is empty", r.Kind, api.ErrInvalid)
	}
	if strings.Contains(name, "/") || strings.Contains(namespace, "/") {
		return "", fmt.Errorf("store: %s %q: %w: namespace and name may not contain '/'", r.Kind, name, api.ErrInvalid)
	}
	if r.Namespaced && namespace == "" {
		namespace = "default"
	}
	return s.Key(r, namespace, name), nil
}

// Get reads the object namespace/name into into; the resource is found from into's
// Go type, and namespace "" means "default" for namespaced kinds (it is ignored for
// cluster-scoped ones). into's resourceVersion is set to the key's mod revision.
// The error wraps api.ErrNotFound when there is no such object.
func (s *Store) Get(ctx context.Context, namespace, name string, into api.Object) error {
	r, err := s.resourceOf(into)
	if err != nil {
		return err
	}
	key, err := s.objKey(r, namespace, name)
	if err != nil {
		return err
	}
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("store: get %s %s: %w", r.Kind, key, api.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return s.decode(r, key, kv.Value, kv.ModRevision, into)
}

// Create stores a new object. It sets obj's uid (a fresh UUID), creationTimestamp
// (Options.Now, whole seconds), generation (1 for kinds with a spec, else 0),
// apiVersion/kind and, after the write, its resourceVersion. A namespaced object
// without namespace goes to "default"; an empty name is filled from generateName
// or refused with api.ErrInvalid. The error wraps api.ErrExists when the key is taken.
func (s *Store) Create(ctx context.Context, obj api.Object) error {
	r, err := s.resourceOf(obj)
	if err != nil {
		return err
	}
	if err := s.prepareCreate(r, obj); err != nil {
		return err
	}
	key, err := s.objKey(r, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return err
	}
	data, err := s.encode(r, key, obj)
	if err != nil {
		return err
	}
	var resp *clientv3.TxnResponse
	err = s.withLease(func() (clientv3.LeaseID, error) {
		put, id, err := s.putOp(ctx, r, key, data)
		if err != nil {
			return 0, err
		}
		resp, err = s.c.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
			Then(put).
			Commit()
		return id, err
	})
	if err != nil {
		return mapErr("create "+key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: create %s %s: %w", r.Kind, key, api.ErrExists)
	}
	obj.SetResourceVersion(strconv.FormatInt(resp.Header.Revision, 10))
	return nil
}

// Update replaces a stored object by compare-and-swap on obj's resourceVersion,
// which is required (empty means api.ErrInvalid). uid and creationTimestamp are kept
// from the stored object; generation is the stored one, plus one when the JSON of
// spec changed. On success obj carries the new resourceVersion. The error wraps
// api.ErrNotFound when the object is gone and api.ErrConflict when it changed since
// obj's resourceVersion.
func (s *Store) Update(ctx context.Context, obj api.Object) error {
	r, err := s.resourceOf(obj)
	if err != nil {
		return err
	}
	if r.Namespaced && obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	key, err := s.objKey(r, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return err
	}
	rev, err := parseRV(obj.GetResourceVersion())
	if err != nil {
		return fmt.Errorf("store: update %s: %w", key, err)
	}
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return mapErr("update "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("store: update %s %s: %w", r.Kind, key, api.ErrNotFound)
	}
	if cur := resp.Kvs[0].ModRevision; cur != rev {
		return fmt.Errorf("store: update %s %s: %w: resourceVersion %d is stale, stored object is at %d", r.Kind, key, api.ErrConflict, rev, cur)
	}
	old := r.New()
	if err := s.decode(r, key, resp.Kvs[0].Value, rev, old); err != nil {
		return err
	}
	if err := prepareUpdate(r, old, obj); err != nil {
		return err
	}
	data, err := s.encode(r, key, obj)
	if err != nil {
		return err
	}
	var tresp *clientv3.TxnResponse
	err = s.withLease(func() (clientv3.LeaseID, error) {
		put, id, err := s.putOp(ctx, r, key, data)
		if err != nil {
			return 0, err
		}
		tresp, err = s.cas(ctx, "update", r, key, rev, put)
		return id, err
	})
	if err != nil {
		return err
	}
	obj.SetResourceVersion(strconv.FormatInt(tresp.Header.Revision, 10))
	return nil
}

// casFailure explains a failed compare-and-swap whose else branch read the key.
func (s *Store) casFailure(op string, r api.Resource, key string, rev int64, resp *clientv3.TxnResponse) error {
	if len(resp.Responses) > 0 {
		if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) == 0 {
			return fmt.Errorf("store: %s %s %s: %w", op, r.Kind, key, api.ErrNotFound)
		} else if rr != nil {
			return fmt.Errorf("store: %s %s %s: %w: resourceVersion %d is stale, stored object is at %d",
				op, r.Kind, key, api.ErrConflict, rev, rr.Kvs[0].ModRevision)
		}
	}
	return fmt.Errorf("store: %s %s %s: %w: resourceVersion %d is stale", op, r.Kind, key, api.ErrConflict, rev)
}

// Delete removes the object namespace/name of r ("" namespace = "default" for
// namespaced kinds). With a non-empty resourceVersion the delete is conditional on
// it (api.ErrConflict when the object changed since); "" deletes unconditionally. The
// error wraps api.ErrNotFound when there is no such object.
func (s *Store) Delete(ctx context.Context, r api.Resource, namespace, name string, resourceVersion string) error {
	key, err := s.objKey(r, namespace, name)
	if err != nil {
		return err
	}
	if resourceVersion == "" {
		resp, err := s.c.Delete(ctx, key)
		if err != nil {
			return mapErr("delete "+key, err)
		}
		if resp.Deleted == 0 {
			return fmt.Errorf("store: delete %s %s: %w", r.Kind, key, api.ErrNotFound)
		}
		return nil
	}
	rev, err := parseRV(resourceVersion)
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	_, err = s.cas(ctx, "delete", r, key, rev, clientv3.OpDelete(key))
	return err
}

// cas runs op (the verb of an update or delete of r) on key if key's mod
// revision is still rev; when it is not, the error is casFailure's.
func (s *Store) cas(ctx context.Context, verb string, r api.Resource, key string, rev int64, op clientv3.Op) (*clientv3.TxnResponse, error) {
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(op).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return nil, mapErr(verb+" "+key, err)
	}
	if !resp.Succeeded {
		return nil, s.casFailure(verb, r, key, rev, resp)
	}
	return resp, nil
}

// ListOptions select what List returns.
type ListOptions struct {
	// Revision is the revision to read at: 0 reads the latest state; a positive value
	// is a consistent read of the state at that revision (api.ErrCompacted when etcd has
	// compacted it away).
	Revision int64
	// Selector filters objects by labels; nil selects everything.
	Selector labels.Selector
}

// listPage is how many keys List reads per etcd request.
const listPage = 500

// List returns the objects of r in namespace ("" = all namespaces; ignored for
// cluster-scoped resources), sorted by key, and the revision the list was read
// at. Every object's resourceVersion is its mod revision. Large lists are read in
// pages, all at the same revision, so the result is one consistent snapshot.
func (s *Store) List(ctx context.Context, r api.Resource, namespace string, opts ListOptions) ([]api.Object, int64, error) {
	prefix := s.keyPrefix(r, namespace)
	end := clientv3.GetPrefixRangeEnd(prefix)
	rev := opts.Revision
	if rev < 0 {
		return nil, 0, fmt.Errorf("store: list %s: %w: negative revision %d", prefix, api.ErrInvalid, rev)
	}
	var out []api.Object
	from := prefix
	for {
		getOpts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev > 0 {
			getOpts = append(getOpts, clientv3.WithRev(rev))
		}
		resp, err := s.c.Get(ctx, from, getOpts...)
		if err != nil {
			return nil, 0, mapErr(fmt.Sprintf("list %s at revision %d", prefix, rev), err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			obj := r.New()
			if err := s.decode(r, string(kv.Key), kv.Value, kv.ModRevision, obj); err != nil {
				return nil, 0, err
			}
			if opts.Selector != nil && !opts.Selector.Matches(labels.Set(obj.GetLabels())) {
				continue
			}
			out = append(out, obj)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// RawKV is one key of bosun's own records.
type RawKV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// GetRaw reads one key outside the typed layout (e.g. "/bosun/sync/status") and
// returns its value and mod revision. The error wraps api.ErrNotFound for a missing key.
func (s *Store) GetRaw(ctx context.Context, key string) ([]byte, int64, error) {
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return nil, 0, mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("store: get %s: %w", key, api.ErrNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// ListRaw returns the keys under prefix sorted by key, ascending or descending,
// at most limit of them (0 = no limit).
func (s *Store) ListRaw(ctx context.Context, prefix string, limit int64, descending bool) ([]RawKV, error) {
	order := clientv3.SortAscend
	if descending {
		order = clientv3.SortDescend
	}
	resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithLimit(limit),
		clientv3.WithSort(clientv3.SortByKey, order))
	if err != nil {
		return nil, mapErr("list "+prefix, err)
	}
	out := make([]RawKV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, RawKV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
	}
	return out, nil
}

// PutRaw writes one key outside the typed layout unconditionally and returns the
// revision of the write.
func (s *Store) PutRaw(ctx context.Context, key string, value []byte) (int64, error) {
	if key == "" {
		return 0, fmt.Errorf("store: put: %w: empty key", api.ErrInvalid)
	}
	resp, err := s.c.Put(ctx, key, string(value))
	if err != nil {
		return 0, mapErr("put "+key, err)
	}
	return resp.Header.Revision, nil
}

// Revision returns etcd's current revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.c.Get(ctx, s.prefix, clientv3.WithKeysOnly())
	if err != nil {
		return 0, mapErr("read revision", err)
	}
	return resp.Header.Revision, nil
}
