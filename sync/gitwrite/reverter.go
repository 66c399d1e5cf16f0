package gitwrite

import (
	"context"
	"fmt"
)

// BranchReverter adapts a Writer to the Reverter interface of the automatic
// rollback controller (reconcile/autorollback): it writes the revert commit
// and pushes it to the tracked branch, never to a pull-request branch, since
// the point is to restore what runs. cmd/bosun wires it in.
type BranchReverter struct {
	// Writer commits to the repository and branch bosun syncs from.
	Writer *Writer
}

// Revert reverts sha on the tracked branch with why in the commit body and
// returns the revert commit's SHA. It blocks until the push is done or ctx
// ends. Errors are Writer.Revert's (e.g. wrapping ErrConflict when a later
// commit changed the same lines).
func (r BranchReverter) Revert(ctx context.Context, sha, why string) (string, error) {
	newSHA, err := r.Writer.Revert(ctx, sha, why, PushOptions{})
	if err != nil {
		if len(sha) > 8 {
			sha = sha[:8]
		}
		return "", fmt.Errorf("gitwrite: automatic revert of %s: %w", sha, err)
	}
	return newSHA, nil
}
