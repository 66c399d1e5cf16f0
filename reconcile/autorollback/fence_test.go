package autorollback

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/deployment"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

// TestFenced reverts a failed rollout under the controllers' fence: while it
// holds, the commit is claimed, reverted and recorded; once it is lost (a
// leader paused past its lease), nothing is claimed, reverted or recorded,
// and the error names the fence.
func TestFenced(t *testing.T) {
	const electionKey = "/bosun/elections/controllers/1"
	tests := []struct {
		name      string
		lost      bool
		wantCalls int
		wantErr   error
	}{
		{name: "fence held", wantCalls: 1},
		{name: "fence lost", lost: true, wantErr: store.ErrFenced},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			resp, err := e.s.Client().Put(ctx, electionKey, "leader")
			if err != nil {
				t.Fatal(err)
			}
			fence := store.Fence{Election: "controllers", Key: electionKey, Revision: resp.Header.Revision}
			log := storetest.Logger(t)
			inf := cache.NewInformers(e.s, log)
			c, err := New(Config{Store: e.s, Fence: fence, Informers: inf, Logger: log, Clock: e.clock, Enabled: true, Reverter: e.rev})
			if err != nil {
				t.Fatal(err)
			}
			ictx, cancel := context.WithCancel(ctx)
			defer cancel()
			inf.Start(ictx)
			if err := inf.WaitForSync(ictx); err != nil {
				t.Fatal(err)
			}
			r := rollout{name: "hello", sha: sha(100 + i), progress: deployment.ReasonProgressDeadlineExceeded}
			e.history(r.sha, "Deploy hello v2")
			e.create(r)
			testutil.EventuallyTrue(t, 10*time.Second, "the caches to show the failed rollout", func() bool {
				o, ok := c.deployments.Get("demo", r.name)
				if !ok {
					return false
				}
				why, _ := c.failure(o.(*appsv1.Deployment))
				return why != ""
			})
			if tt.lost {
				if _, err := e.s.Client().Delete(ctx, electionKey); err != nil {
					t.Fatal(err)
				}
			}

			_, err = c.Reconcile(ctx, "demo/"+r.name)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Reconcile = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), electionKey) {
				t.Errorf("error %q does not name the fence", err)
			}
			if n := len(e.rev.Calls()); n != tt.wantCalls {
				t.Errorf("Reverter called %d times, want %d", n, tt.wantCalls)
			}
			_, _, gerr := e.s.GetRaw(ctx, KeyPrefix+r.sha)
			if claimed := gerr == nil; claimed != (tt.wantCalls > 0) {
				t.Errorf("record of %s exists = %v (%v), want %v", r.sha, claimed, gerr, tt.wantCalls > 0)
			} else if gerr != nil && !errors.Is(gerr, api.ErrNotFound) {
				t.Fatal(gerr)
			}
			h, err := records.ReadHistory(ctx, e.s, 0)
			if err != nil {
				t.Fatal(err)
			}
			rolledBack := 0
			for _, a := range h {
				if a.Result == state.ResultRolledBack {
					rolledBack++
				}
			}
			if rolledBack != tt.wantCalls {
				t.Errorf("%d rolled-back history entries, want %d", rolledBack, tt.wantCalls)
			}
		})
	}
}
