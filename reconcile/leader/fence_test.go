package leader

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// startFenced runs RunFenced for id on c until the test ends or the returned
// cancel is called; the fence of every term it wins is sent on the returned
// channel, and its lead blocks until the term ends.
func startFenced(t *testing.T, c *clientv3.Client, name, id string, ttl int) (<-chan store.Fence, context.CancelFunc) {
	t.Helper()
	terms := make(chan store.Fence, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := RunFenced(ctx, c, name, id, ttl, storetest.Logger(t), func(ctx context.Context, f store.Fence) error {
			terms <- f
			<-ctx.Done()
			return nil
		})
		if err != nil {
			t.Errorf("RunFenced(%s) = %v", id, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return terms, cancel
}

// put writes value at key in one transaction carrying fence.
func put(ctx context.Context, s *store.Store, fence store.Fence, key, value string) error {
	txn := s.Txn().Fence(fence)
	txn.PutRaw(key, []byte(value))
	_, err := txn.Commit(ctx)
	return err
}

// TestRunFencedOldFenceRefused is the paused leader: it keeps the fence of a
// term that ended (its lease expired or was revoked, its key deleted, or it
// resigned) while a standby took over, then writes with it. etcd must refuse
// the write, write nothing, and say which fence failed; the new leader's fence
// writes.
func TestRunFencedOldFenceRefused(t *testing.T) {
	const key = "/bosun/test/fenced"
	tests := []struct {
		name string
		ttl  int
		// end ends the term of the leader whose fence is f, on its client c.
		end func(t *testing.T, f store.Fence, c *clientv3.Client, cancel context.CancelFunc)
	}{
		{
			name: "lease revoked",
			ttl:  60, // the takeover must not wait for the lease
			end: func(t *testing.T, f store.Fence, c *clientv3.Client, _ context.CancelFunc) {
				if _, err := c.Revoke(context.Background(), f.Lease); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "lease expires after the leader's connection died",
			ttl:  1,
			end: func(t *testing.T, _ store.Fence, c *clientv3.Client, _ context.CancelFunc) {
				_ = c.Close() // no more keep-alives: the lease lapses after 1 s
			},
		},
		{
			name: "leader key deleted",
			ttl:  60,
			end: func(t *testing.T, f store.Fence, c *clientv3.Client, _ context.CancelFunc) {
				if _, err := c.Delete(context.Background(), f.Key); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "leader resigned",
			ttl:  60,
			end:  func(_ *testing.T, _ store.Fence, _ *clientv3.Client, cancel context.CancelFunc) { cancel() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := context.Background()
			ca := newClient(t, s.Client())
			termsA, cancelA := startFenced(t, ca, "fenced", "a", tt.ttl)
			fa := testutil.Receive(t, termsA, 10*time.Second, "a to be elected")
			if fa.Election != "fenced" || !strings.HasPrefix(fa.Key, KeyPrefix+"fenced/") || fa.Revision == 0 || fa.Lease == 0 {
				t.Fatalf("fence of a = %+v, want the election key, its revision and lease", fa)
			}
			termsB, _ := startFenced(t, newClient(t, s.Client()), "fenced", "b", tt.ttl)
			if err := put(ctx, s, fa, key, "a"); err != nil {
				t.Fatalf("write with the leader's fence: %v", err)
			}

			tt.end(t, fa, ca, cancelA)
			fb := testutil.Receive(t, termsB, 20*time.Second, "b to take over")
			if fb.Key == fa.Key && fb.Revision == fa.Revision {
				t.Fatalf("b's fence %v is a's", fb)
			}

			err := put(ctx, s, fa, key, "stale")
			if !errors.Is(err, store.ErrFenced) || errors.Is(err, api.ErrConflict) {
				t.Fatalf("write with the old fence = %v, want store.ErrFenced (and not api.ErrConflict)", err)
			}
			if !strings.Contains(err.Error(), fa.Key) || !strings.Contains(err.Error(), `"fenced"`) {
				t.Errorf("error %q does not name the fence's election and key", err)
			}
			if v, _, err := s.GetRaw(ctx, key); err != nil || string(v) != "a" {
				t.Fatalf("after the refused write %s = %q, %v; want the leader's \"a\"", key, v, err)
			}
			if err := put(ctx, s, fb, key, "b"); err != nil {
				t.Fatalf("write with the new leader's fence: %v", err)
			}
		})
	}
}
