package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors returned (wrapped) by the store. Check them with errors.Is.
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
)

// mapErr turns an etcd client error into one wrapping the matching sentinel (when
// there is one) and prefixes it with what the store was doing. The original error
// stays in the chain.
func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("store: %s: %w: %w", what, ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("store: %s: %w: etcd refused the transaction: too many operations (raise etcd's --max-txn-ops): %w", what, ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("store: %s: %w: etcd refused the request as too large (raise etcd's --max-request-bytes): %w", what, ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrDuplicateKey):
		return fmt.Errorf("store: %s: %w: a key is written twice in one transaction: %w", what, ErrInvalid, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("store: %s: %w: revision is in the future: %w", what, ErrInvalid, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.ResourceExhausted &&
		strings.Contains(s.Message(), "larger than max") {
		// gRPC's own message size limit (client send or server receive).
		return fmt.Errorf("store: %s: %w: gRPC message size limit: %w", what, ErrTooLarge, err)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
