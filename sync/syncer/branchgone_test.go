package syncer_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/state"
)

// TestBranchGone deletes the tracked branch after a sync: the next sync
// fails saying the branch is gone and which commit still runs, the synced
// commit and its objects stay, and nothing is pruned.
func TestBranchGone(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	sha := g.commit("web", map[string]string{"deploy/web.yaml": deployment("web", 2)})
	sy := newSyncer(t, localSource(t, g.dir), s, false)
	mustSync(t, sy, sha, state.ResultApplied)

	if err := g.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName("master")); err != nil {
		t.Fatal(err)
	}
	if _, err := sy.SyncOnce(t.Context()); !errors.Is(err, gitsource.ErrBranchGone) {
		t.Fatalf("SyncOnce after the branch went = %v, want ErrBranchGone", err)
	}
	st, err := records.ReadStatus(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Synced == nil || st.Synced.Commit.SHA != sha || st.LastAttempt == nil || st.LastAttempt.Result != state.ResultFailed {
		t.Fatalf("status after the branch went: synced %+v, last %+v", st.Synced, st.LastAttempt)
	}
	for _, w := range []string{`branch "master"`, "no longer exists", "still running commit " + sha[:8]} {
		if !strings.Contains(st.LastAttempt.Message, w) {
			t.Fatalf("last attempt %q does not say %q", st.LastAttempt.Message, w)
		}
	}
	if got := replicas(t, s, "web"); got != 2 {
		t.Fatalf("web has %d replicas, want 2: the running commit is kept", got)
	}
}
