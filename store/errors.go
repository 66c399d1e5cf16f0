package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/bosun-dev/bosun/api"
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
		return fmt.Errorf("store: %s: %w: %w", what, api.ErrCompacted, err)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("store: %s: %w: etcd refused the transaction: too many operations (raise etcd's --max-txn-ops): %w", what, api.ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("store: %s: %w: etcd refused the request as too large (raise etcd's --max-request-bytes): %w", what, api.ErrTooLarge, err)
	case errors.Is(err, rpctypes.ErrDuplicateKey):
		return fmt.Errorf("store: %s: %w: a key is written twice in one transaction: %w", what, api.ErrInvalid, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("store: %s: %w: revision is in the future: %w", what, api.ErrInvalid, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.ResourceExhausted &&
		strings.Contains(s.Message(), "larger than max") {
		// gRPC's own message size limit (client send or server receive).
		return fmt.Errorf("store: %s: %w: gRPC message size limit: %w", what, api.ErrTooLarge, err)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
