package autorollback

import (
	"context"
	"fmt"

	"github.com/bosun-dev/bosun/sync/gitwrite"
)

// GitReverter is the production Reverter: it writes the revert commit with
// sync/gitwrite and pushes it to the tracked branch (never to a pull-request
// branch: the point is to restore what runs).
type GitReverter struct {
	// Writer commits to the repository and branch bosun syncs from.
	Writer *gitwrite.Writer
}

// Revert reverts sha on the tracked branch with why in the commit body and
// returns the revert commit's SHA. Errors are gitwrite's (e.g. wrapping
// gitwrite.ErrConflict when a later commit changed the same files).
func (g GitReverter) Revert(ctx context.Context, sha, why string) (string, error) {
	newSHA, err := g.Writer.Revert(ctx, sha, why, gitwrite.PushOptions{})
	if err != nil {
		return "", fmt.Errorf("autorollback: revert %s: %w", short(sha), err)
	}
	return newSHA, nil
}
