package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestTxnFence checks that a transaction carrying a Fence writes while the
// fence's key exists with its create revision, and otherwise writes nothing
// and names the fence.
func TestTxnFence(t *testing.T) {
	const electionKey = "/bosun/elections/test/1"
	tests := []struct {
		name string
		// lose changes the fence's key after the fence was taken.
		lose func(t *testing.T, c *clientv3.Client)
		// zero uses the zero Fence instead.
		zero bool
		// conflict makes the transaction's own compare fail too.
		conflict bool
		// wantErr is the sentinel the commit must wrap (nil: it succeeds);
		// wantMsg a part of its message.
		wantErr error
		wantMsg string
	}{
		{name: "held", lose: func(*testing.T, *clientv3.Client) {}},
		{
			name: "key deleted (lease expired or revoked)",
			lose: func(t *testing.T, c *clientv3.Client) {
				if _, err := c.Delete(context.Background(), electionKey); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: store.ErrFenced, wantMsg: "the key is gone",
		},
		{
			name: "key made again (a later term of the same lease)",
			lose: func(t *testing.T, c *clientv3.Client) {
				ctx := context.Background()
				if _, err := c.Delete(ctx, electionKey); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Put(ctx, electionKey, "again"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: store.ErrFenced, wantMsg: "made again",
		},
		{
			name: "key rewritten but not remade (leader's value changed)",
			lose: func(t *testing.T, c *clientv3.Client) {
				if _, err := c.Put(context.Background(), electionKey, "proclaimed"); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name:     "held, but an object changed meanwhile",
			lose:     func(*testing.T, *clientv3.Client) {},
			conflict: true,
			wantErr:  api.ErrConflict, wantMsg: "stale",
		},
		{
			name: "lost and an object changed meanwhile",
			lose: func(t *testing.T, c *clientv3.Client) {
				if _, err := c.Delete(context.Background(), electionKey); err != nil {
					t.Fatal(err)
				}
			},
			conflict: true,
			wantErr:  store.ErrFenced, wantMsg: "the key is gone",
		},
		{
			name: "zero fence fences nothing",
			lose: func(t *testing.T, c *clientv3.Client) {
				if _, err := c.Delete(context.Background(), electionKey); err != nil {
					t.Fatal(err)
				}
			},
			zero: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			ctx := context.Background()
			c := s.Client()
			resp, err := c.Put(ctx, electionKey, "leader")
			if err != nil {
				t.Fatal(err)
			}
			fence := store.Fence{Election: "test", Key: electionKey, Revision: resp.Header.Revision, Lease: 0x42}
			if err := fence.Check(ctx, c); err != nil {
				t.Fatalf("Check of a held fence: %v", err)
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}, Data: map[string]string{"v": "1"}}
			if err := s.Create(ctx, cm); err != nil {
				t.Fatal(err)
			}
			old := cm.DeepCopy()
			if tt.conflict {
				storetest.Modify(t, s, "default", "cm", &corev1.ConfigMap{}, func(cm *corev1.ConfigMap) { cm.Data["v"] = "other" })
			}
			tt.lose(t, c)
			before, err := s.Revision(ctx)
			if err != nil {
				t.Fatal(err)
			}

			if tt.zero {
				fence = store.Fence{}
			}
			txn := s.Txn().Fence(fence)
			upd := old.DeepCopy()
			upd.Data["v"] = "2"
			if err := txn.Update(old, upd); err != nil {
				t.Fatal(err)
			}
			if err := txn.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "default"}}); err != nil {
				t.Fatal(err)
			}
			txn.PutRaw("/bosun/test/record", []byte("x"))
			_, err = txn.Commit(ctx)

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Commit = %v, want success", err)
				}
				if _, _, err := s.GetRaw(ctx, "/bosun/test/record"); err != nil {
					t.Errorf("the record was not written: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Commit = %v, want an error wrapping %v that says %q", err, tt.wantErr, tt.wantMsg)
			}
			if errors.Is(err, store.ErrFenced) {
				if errors.Is(err, api.ErrConflict) {
					t.Errorf("a fenced error wraps api.ErrConflict, which callers retry: %v", err)
				}
				if !strings.Contains(err.Error(), electionKey) || !strings.Contains(err.Error(), `election "test"`) {
					t.Errorf("error %q does not name the fence", err)
				}
				if ferr := fence.Check(ctx, c); !errors.Is(ferr, store.ErrFenced) {
					t.Errorf("Check of the lost fence = %v, want store.ErrFenced", ferr)
				}
			}
			if after, err := s.Revision(ctx); err != nil || after != before {
				t.Errorf("revision went from %d to %d (%v): the refused transaction wrote something", before, after, err)
			}
		})
	}
}

// TestTxnFenceEmpty: a transaction with no writes writes nothing, fenced or
// not, and reports the current revision.
func TestTxnFenceEmpty(t *testing.T) {
	s := storetest.Start(t)
	lost := store.Fence{Election: "test", Key: "/bosun/elections/test/gone", Revision: 7}
	if _, err := s.Txn().Fence(lost).Commit(context.Background()); err != nil {
		t.Errorf("empty fenced Commit = %v, want nil", err)
	}
}
