package apply_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/apply"
)

// TestApplyFenced applies a commit whose transaction carries the sync
// leader's fence: it writes while the fence holds, and once the fence's key is
// gone (the leader's lease expired) it writes nothing, objects and records
// alike, and is not retried as a conflict.
func TestApplyFenced(t *testing.T) {
	const key = "/bosun/elections/sync/7"
	tests := []struct {
		name    string
		lost    bool
		wantErr error
	}{
		{name: "fence held"},
		{name: "fence lost", lost: true, wantErr: store.ErrFenced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := t.Context()
			resp, err := s.Client().Put(ctx, key, "leader")
			if err != nil {
				t.Fatal(err)
			}
			fence := store.Fence{Election: "sync", Key: key, Revision: resp.Header.Revision}
			a := apply.New(s, storetest.Logger(t))
			if _, err := a.Apply(ctx, apply.Input{Commit: commit("c1"), Objects: decode(t, "web/deploy.yaml", deployment(1, "nginx:1")), Fence: fence}); err != nil {
				t.Fatalf("Apply with a held fence: %v", err)
			}
			if tt.lost {
				if _, err := s.Client().Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			before, err := s.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := records.ReadStatus(ctx, s)
			if err != nil {
				t.Fatal(err)
			}

			_, err = a.Apply(ctx, apply.Input{Commit: commit("c2"), Objects: decode(t, "web/deploy.yaml", deployment(3, "nginx:2")), Status: st, Fence: fence})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Apply = %v", err)
				}
				if got := *getDeployment(t, s).Spec.Replicas; got != 3 {
					t.Errorf("replicas = %d, want 3", got)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || errors.Is(err, api.ErrConflict) || strings.Contains(err.Error(), "gave up") {
				t.Fatalf("Apply = %v, want %v at once, not a retried conflict", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name the fence key", err)
			}
			if after, err := s.Revision(ctx); err != nil || after != before {
				t.Errorf("revision %d -> %d (%v): a fenced Apply wrote something", before, after, err)
			}
			if got := *getDeployment(t, s).Spec.Replicas; got != 1 {
				t.Errorf("replicas = %d, want c1's 1", got)
			}
		})
	}
}
