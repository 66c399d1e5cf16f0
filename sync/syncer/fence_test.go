package syncer_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// server is one bosun server's share of the sync loop: its own etcd client
// and store, its own Syncer on the repository.
type server struct {
	client *clientv3.Client
	store  *store.Store
	sy     *syncer.Syncer
	src    *countingSource
}

// newServer connects a new client to base's etcd and makes a Syncer on src.
func newServer(t *testing.T, base *store.Store, src syncer.Source) *server {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: base.Client().Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	st := store.New(c, store.Options{})
	cs := &countingSource{Source: src}
	// An hour's interval: nothing syncs unless triggered or newly elected.
	sy := syncer.New(syncer.Config{Source: cs, Store: st, Repo: "test", Path: "deploy", Interval: time.Hour, Logger: storetest.Logger(t)})
	return &server{client: c, store: st, sy: sy, src: cs}
}

// elect runs the server's sync loop under the sync election, as bosun server
// does, until the returned function is called (which resigns).
func (sv *server) elect(t *testing.T, id string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = leader.RunFenced(ctx, sv.client, syncer.ElectionName, id, 60, storetest.Logger(t), sv.sy.RunFenced)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// countingSource counts the fetches of a Source: a syncer that never
// fetched never applied anything.
type countingSource struct {
	syncer.Source
	fetches atomic.Int32
}

func (c *countingSource) Fetch(ctx context.Context) (gitsource.Commit, error) {
	c.fetches.Add(1)
	return c.Source.Fetch(ctx)
}

// pinnedSource is a Source frozen at one commit: what a paused server still
// holds in memory when it wakes up.
type pinnedSource struct{ commit gitsource.Commit }

func (p pinnedSource) Head(context.Context) (string, error)            { return p.commit.SHA, nil }
func (p pinnedSource) Fetch(context.Context) (gitsource.Commit, error) { return p.commit, nil }

// applied returns how often each commit was recorded as applied.
func applied(t *testing.T, s *store.Store) map[string]int {
	t.Helper()
	h, err := records.ReadHistory(t.Context(), s, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range h {
		if a.Result == state.ResultApplied {
			out[a.Commit.SHA]++
		}
	}
	return out
}

// syncedSHA returns the commit the status says is synced ("" before any).
func syncedSHA(s *store.Store) string {
	st, err := records.ReadStatus(context.Background(), s)
	if err != nil || st.Synced == nil {
		return ""
	}
	return st.Synced.Commit.SHA
}

// TestTwoServersOneSyncs runs two servers' sync loops under the election on
// one etcd: exactly one applies each commit, once; when it stops, the other
// takes over and syncs the branch head at once, without a trigger.
func TestTwoServersOneSyncs(t *testing.T) {
	base := storetest.Start(t)
	g := newGitRepo(t)
	c1 := g.commit("first", map[string]string{"deploy/a.yaml": deployment("a", 1)})
	servers := map[string]*server{}
	stops := map[string]func(){}
	for _, id := range []string{"one", "two"} {
		servers[id] = newServer(t, base, localSource(t, g.dir))
		stops[id] = servers[id].elect(t, id)
	}
	testutil.EventuallyTrue(t, 20*time.Second, "the first commit to be applied", func() bool { return syncedSHA(base) == c1 })
	ldr, err := leader.Leader(t.Context(), base.Client(), syncer.ElectionName)
	if err != nil {
		t.Fatal(err)
	}
	standby := map[string]string{"one": "two", "two": "one"}[ldr]

	c2 := g.commit("scale", map[string]string{"deploy/a.yaml": deployment("a", 3)})
	for _, sv := range servers {
		sv.sy.Trigger() // a webhook reaching both servers
	}
	testutil.EventuallyTrue(t, 20*time.Second, "the second commit to be applied", func() bool { return syncedSHA(base) == c2 })
	if n := servers[standby].src.fetches.Load(); n != 0 {
		t.Errorf("the standby %s fetched %d commits, want 0", standby, n)
	}
	if err := servers[standby].sy.Ready(t.Context()); err != nil {
		t.Errorf("standby Ready = %v, want nil once the leader synced", err)
	}

	// Failover: the new leader syncs a commit nobody triggered.
	c3 := g.commit("scale again", map[string]string{"deploy/a.yaml": deployment("a", 5)})
	stops[ldr]()
	testutil.EventuallyTrue(t, 20*time.Second, "the new leader to sync the head at once", func() bool { return syncedSHA(base) == c3 })
	if got := replicas(t, base, "a"); got != 5 {
		t.Errorf("replicas = %d after failover, want 5", got)
	}
	if n := servers[standby].src.fetches.Load(); n == 0 {
		t.Errorf("the new leader %s never fetched", standby)
	}
	for _, c := range []string{c1, c2, c3} {
		if n := applied(t, base)[c]; n != 1 {
			t.Errorf("commit %.8s applied %d times, want once", c, n)
		}
	}
}

// TestPausedLeaderAppliesNothing is a sync leader paused past its lease
// (SIGSTOP, GC): another server takes over and syncs a newer commit; when the
// paused one wakes up and applies the stale commit it holds, with its old
// fence, etcd refuses it whole, and the error names the fence.
func TestPausedLeaderAppliesNothing(t *testing.T) {
	tests := []struct {
		name string
		ttl  int
		// end ends the paused leader's term: its session runs on client c.
		end func(t *testing.T, f store.Fence, c *clientv3.Client)
	}{
		{
			name: "lease expired (no keep-alives while paused)",
			ttl:  1,
			end:  func(_ *testing.T, _ store.Fence, c *clientv3.Client) { _ = c.Close() },
		},
		{
			name: "lease revoked",
			ttl:  60,
			end: func(t *testing.T, f store.Fence, c *clientv3.Client) {
				if _, err := c.Revoke(context.Background(), f.Lease); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := storetest.Start(t)
			ctx := t.Context()
			g := newGitRepo(t)
			c1 := g.commit("first", map[string]string{"deploy/a.yaml": deployment("a", 1)})
			stale, err := localSource(t, g.dir).Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// The old leader: its election session (keep-alives) on one client,
			// its syncer, frozen at c1, on another that stays up.
			sessClient := newServer(t, base, nil).client
			sess, err := concurrency.NewSession(sessClient, concurrency.WithTTL(tt.ttl))
			if err != nil {
				t.Fatal(err)
			}
			e := concurrency.NewElection(sess, leader.KeyPrefix+syncer.ElectionName)
			if err := e.Campaign(ctx, "old"); err != nil {
				t.Fatal(err)
			}
			fence := store.Fence{Election: syncer.ElectionName, Key: e.Key(), Revision: e.Rev(), Lease: sess.Lease()}
			old := newServer(t, base, pinnedSource{stale})
			termCtx, endTerm := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- old.sy.RunFenced(termCtx, fence) }()
			testutil.EventuallyTrue(t, 10*time.Second, "the old leader to apply c1", func() bool { return syncedSHA(base) == c1 })
			endTerm() // paused: it does nothing more for now
			if err := testutil.Receive(t, done, 10*time.Second, "the old term to end"); err != nil {
				t.Fatalf("RunFenced of the old term = %v", err)
			}

			next := newServer(t, base, localSource(t, g.dir))
			next.elect(t, "next")
			c2 := g.commit("scale", map[string]string{"deploy/a.yaml": deployment("a", 4)})
			tt.end(t, fence, sessClient)
			testutil.EventuallyTrue(t, 20*time.Second, "the new leader to sync c2", func() bool { return syncedSHA(base) == c2 })
			before, err := base.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}

			// The old leader wakes up and goes on with its stale term.
			err = old.sy.RunFenced(ctx, fence)
			if !errors.Is(err, store.ErrFenced) {
				t.Fatalf("the woken leader's sync = %v, want store.ErrFenced", err)
			}
			if !strings.Contains(err.Error(), fence.Key) || !strings.Contains(err.Error(), `election "sync"`) {
				t.Errorf("error %q does not name the fence", err)
			}
			if after, err := base.Revision(ctx); err != nil || after != before {
				t.Errorf("store revision %d -> %d (%v): the woken leader wrote something", before, after, err)
			}
			if got := replicas(t, base, "a"); got != 4 {
				t.Errorf("replicas = %d, want c2's 4", got)
			}
			if got := syncedSHA(base); got != c2 {
				t.Errorf("status says %.8s is synced, want c2 %.8s", got, c2)
			}
			if n := applied(t, base)[c1]; n != 1 {
				t.Errorf("c1 applied %d times, want once", n)
			}
		})
	}
}
