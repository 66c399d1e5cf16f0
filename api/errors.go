package api

import "errors"

// Sentinel errors of the API, returned (wrapped) by the store, the API server and the client. Check them with errors.Is.
var (
	// ErrNotFound means the object or key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a create found the object already stored.
	ErrExists = errors.New("already exists")
	// ErrConflict means a compare-and-swap failed: the resourceVersion given is stale,
	// or (for a Txn) at least one compare of the transaction did not hold.
	ErrConflict = errors.New("conflict")
	// ErrCompacted means the requested revision is older than etcd's compacted revision.
	ErrCompacted = errors.New("revision compacted")
	// ErrTooLarge means a transaction exceeds MaxTxnOps or MaxRequestBytes (of the store
	// or of etcd itself); the message names the limit and the values.
	ErrTooLarge = errors.New("transaction too large")
	// ErrInvalid means the request itself is malformed: an empty name, a bad
	// resourceVersion, an unknown Go type, a key written twice in one Txn.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden means admission refused a write: a ResourceQuota or
	// LimitRange that a pod a controller was about to create would break.
	ErrForbidden = errors.New("forbidden")
)
