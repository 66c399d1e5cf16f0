package syncer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// TestRemoteTrigger runs two servers' sync loops on one etcd, neither
// polling: a webhook reaching the standby (its RemoteTrigger) makes the
// leader fetch and sync the new commit, and after the leadership moved, a
// trigger from the old leader wakes the new one.
func TestRemoteTrigger(t *testing.T) {
	base := storetest.Start(t)
	g := newGitRepo(t)
	c1 := g.commit("first", map[string]string{"deploy/a.yaml": deployment("a", 1)})
	one := newServer(t, base, localSource(t, g.dir))
	two := newServer(t, base, localSource(t, g.dir))
	stopOne := one.elect(t, "one")
	testutil.EventuallyTrue(t, 20*time.Second, "the first commit to be applied", func() bool { return syncedSHA(base) == c1 })
	two.elect(t, "two")
	commits := []string{c1}
	if ldr, err := leader.Leader(t.Context(), base.Client(), syncer.ElectionName); err != nil || ldr != "one" {
		t.Fatalf("sync leader = %q, %v; want one", ldr, err)
	}

	tests := []struct {
		name           string
		from, to       *server
		beforeTrigger  func()
		replicas       int
		wantTriggerSrc string
	}{
		{name: "standby's webhook wakes the leader", from: two, to: one, replicas: 2, wantTriggerSrc: "two"},
		{name: "after failover, the old leader's webhook wakes the new one", from: one, to: two, replicas: 3, wantTriggerSrc: "one",
			beforeTrigger: func() {
				stopOne() // resigns: two leads and syncs the head at once
				testutil.EventuallyTrue(t, 20*time.Second, "two to lead and sync", func() bool {
					ldr, err := leader.Leader(t.Context(), base.Client(), syncer.ElectionName)
					return err == nil && ldr == "two" && two.src.fetches.Load() > 0
				})
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.beforeTrigger != nil {
				tc.beforeTrigger()
			}
			fetches, idle := tc.to.src.fetches.Load(), tc.from.src.fetches.Load()
			c := g.commit("scale", map[string]string{"deploy/a.yaml": deployment("a", tc.replicas)})
			commits = append(commits, c)
			syncer.RemoteTrigger(tc.from.client, tc.wantTriggerSrc, storetest.Logger(t))()
			testutil.EventuallyTrue(t, 20*time.Second, "the leader to sync the triggered commit", func() bool { return syncedSHA(base) == c })
			if tc.to.src.fetches.Load() == fetches {
				t.Error("the leader synced without fetching")
			}
			if n := tc.from.src.fetches.Load(); n != idle {
				t.Errorf("the triggering standby fetched %d times, want none", n-idle)
			}
			if got := replicas(t, base, "a"); got != int32(tc.replicas) {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			resp, err := base.Client().Get(t.Context(), syncer.TriggerKey)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("get %s: %v", syncer.TriggerKey, err)
			}
			var v struct {
				Time   time.Time `json:"time"`
				Source string    `json:"source"`
			}
			if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil || v.Source != tc.wantTriggerSrc || v.Time.IsZero() {
				t.Errorf("%s = %s (%v), want the time and source %q", syncer.TriggerKey, resp.Kvs[0].Value, err, tc.wantTriggerSrc)
			}
		})
	}
	for _, c := range commits {
		if n := applied(t, base)[c]; n != 1 {
			t.Errorf("commit %.8s applied %d times, want once", c, n)
		}
	}
}

// TestRemoteTriggerRun checks a lone server's loop (Run, no election)
// reacts to the etcd trigger too.
func TestRemoteTriggerRun(t *testing.T) {
	base := storetest.Start(t)
	g := newGitRepo(t)
	c1 := g.commit("first", map[string]string{"deploy/a.yaml": deployment("a", 1)})
	sv := newServer(t, base, localSource(t, g.dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sv.sy.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	})
	testutil.EventuallyTrue(t, 20*time.Second, "the first commit to be applied", func() bool { return syncedSHA(base) == c1 })
	c2 := g.commit("scale", map[string]string{"deploy/a.yaml": deployment("a", 2)})
	syncer.RemoteTrigger(base.Client(), "webhook", nil)()
	testutil.EventuallyTrue(t, 20*time.Second, "the triggered commit to be applied", func() bool { return syncedSHA(base) == c2 })
}
