package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// next returns the next event of w, failing the test after a deadline.
func next(t *testing.T, w *store.Watcher) store.Event {
	t.Helper()
	select {
	case e, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch closed early: %v", w.Err())
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return store.Event{}
}

func describe(e store.Event) string {
	return fmt.Sprintf("%s %s/%s@%d", e.Type, e.Object.GetNamespace(), e.Object.GetName(), e.Revision)
}

func TestWatch(t *testing.T) {
	s, e := newStore(t)
	ctx := t.Context()
	pods := storetest.Resource(t, "pods")
	start, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// History written before the watches start.
	p := pod("a", "web", map[string]string{"v": "1"})
	if err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	created := rvOf(t, p)
	if err := s.Create(ctx, pod("b", "other", nil)); err != nil {
		t.Fatal(err)
	}
	other := mustRev(t, s)
	p.Labels["v"] = "2"
	if err := s.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	updated := rvOf(t, p)
	if err := s.Delete(ctx, pods, "a", "web", p.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	deleted := mustRev(t, s)

	tests := []struct {
		name      string
		namespace string
		from      int64
		want      []string
	}{
		{"all namespaces from the start", "", start, []string{
			fmt.Sprintf("ADDED a/web@%d", created), fmt.Sprintf("ADDED b/other@%d", other),
			fmt.Sprintf("MODIFIED a/web@%d", updated), fmt.Sprintf("DELETED a/web@%d", deleted)}},
		{"one namespace", "a", start, []string{
			fmt.Sprintf("ADDED a/web@%d", created), fmt.Sprintf("MODIFIED a/web@%d", updated),
			fmt.Sprintf("DELETED a/web@%d", deleted)}},
		{"strictly after a revision", "", created, []string{
			fmt.Sprintf("ADDED b/other@%d", other), fmt.Sprintf("MODIFIED a/web@%d", updated),
			fmt.Sprintf("DELETED a/web@%d", deleted)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			w, err := s.Watch(wctx, pods, tc.namespace, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				ev := next(t, w)
				if got := describe(ev); got != want {
					t.Fatalf("event %d = %s, want %s", i, got, want)
				}
				if ev.Object.GetResourceVersion() != fmt.Sprint(ev.Revision) {
					t.Errorf("event %d: resourceVersion %s, revision %d", i, ev.Object.GetResourceVersion(), ev.Revision)
				}
				if ev.Type == store.Deleted && ev.Object.GetLabels()["v"] != "2" {
					t.Errorf("DELETED carries %v, want the last stored state", ev.Object.GetLabels())
				}
			}
			cancel()
			for range w.Events() {
			}
			if err := w.Err(); err != nil {
				t.Errorf("Err after cancel = %v, want nil", err)
			}
		})
	}

	t.Run("from now", func(t *testing.T) {
		w, err := s.Watch(ctx, pods, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := s.Create(ctx, pod("c", "new", nil)); err != nil {
			t.Fatal(err)
		}
		if got := describe(next(t, w)); !strings.HasPrefix(got, "ADDED c/new@") {
			t.Errorf("event = %s", got)
		}
		w.Stop()
		if _, ok := <-w.Events(); ok {
			t.Error("events still open after Stop")
		}
	})

	t.Run("compacted start", func(t *testing.T) {
		if _, err := e.Client().Compact(ctx, updated); err != nil {
			t.Fatal(err)
		}
		_, err := s.Watch(ctx, pods, "", start)
		if !errors.Is(err, api.ErrCompacted) {
			t.Fatalf("watch from compacted revision: %v, want ErrCompacted", err)
		}
		// The oldest revision the watch needs is still there: works.
		w, err := s.Watch(ctx, pods, "", updated-1)
		if err != nil {
			t.Fatalf("watch from the compaction edge: %v", err)
		}
		defer w.Stop()
		if got := describe(next(t, w)); got != fmt.Sprintf("MODIFIED a/web@%d", updated) {
			t.Errorf("event = %s", got)
		}
	})
}

func mustRev(t *testing.T, s *store.Store) int64 {
	t.Helper()
	r, err := s.Revision(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTxn(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	deploys := storetest.Resource(t, "deploy")
	existing := deployment("default", "existing", 1, nil)
	if err := s.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	gone := deployment("default", "gone", 1, nil)
	if err := s.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	stale := existing.DeepCopy()
	bumped := existing.DeepCopy()
	bumped.Labels = map[string]string{"touched": "yes"}
	if err := s.Update(ctx, bumped); err != nil {
		t.Fatal(err)
	}

	t.Run("one stale compare writes nothing", func(t *testing.T) {
		before := mustRev(t, s)
		txn := s.Txn()
		for i := range 5 {
			if err := txn.Create(deployment("default", fmt.Sprintf("new-%d", i), 1, nil)); err != nil {
				t.Fatal(err)
			}
		}
		upd := stale.DeepCopy()
		upd.Spec.Replicas = ptr(int32(9))
		if err := txn.Update(stale, upd); err != nil {
			t.Fatal(err)
		}
		txn.PutRaw("/bosun/sync/status", []byte("should not land"))
		_, err := txn.Commit(ctx)
		if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "/registry/deployments/default/existing") {
			t.Fatalf("commit = %v, want ErrConflict naming the stale key", err)
		}
		if after := mustRev(t, s); after != before {
			t.Errorf("revision moved from %d to %d", before, after)
		}
		objs, _, err := s.List(ctx, deploys, "", store.ListOptions{})
		if err != nil || len(objs) != 2 {
			t.Errorf("after failed txn: %d deployments (%v), want 2", len(objs), err)
		}
		if _, _, err := s.GetRaw(ctx, "/bosun/sync/status"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("raw record written by failed txn: %v", err)
		}
	})

	t.Run("create of an existing object conflicts", func(t *testing.T) {
		txn := s.Txn()
		if err := txn.Create(deployment("default", "existing", 1, nil)); err != nil {
			t.Fatal(err)
		}
		_, err := txn.Commit(ctx)
		if !errors.Is(err, api.ErrConflict) || !errors.Is(err, api.ErrExists) {
			t.Fatalf("commit = %v, want ErrConflict and ErrExists", err)
		}
	})

	t.Run("a successful txn applies everything at one revision", func(t *testing.T) {
		txn := s.Txn()
		var created []*appsv1.Deployment
		for i := range 3 {
			d := deployment("prod", fmt.Sprintf("app-%d", i), 2, nil)
			created = append(created, d)
			if err := txn.Create(d); err != nil {
				t.Fatal(err)
			}
		}
		upd := bumped.DeepCopy()
		upd.Spec.Replicas = ptr(int32(3))
		if err := txn.Update(bumped, upd); err != nil {
			t.Fatal(err)
		}
		if err := txn.Delete(deploys, "default", "gone", gone.ResourceVersion); err != nil {
			t.Fatal(err)
		}
		txn.PutRaw("/bosun/sync/status", []byte("ok"))
		if txn.Len() != 6 {
			t.Errorf("Len = %d, want 6", txn.Len())
		}
		rev, err := txn.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range append(created, upd) {
			if rvOf(t, d) != rev {
				t.Errorf("%s: resourceVersion %s, commit revision %d", d.Name, d.ResourceVersion, rev)
			}
		}
		if upd.Generation != 2 || upd.UID != existing.UID {
			t.Errorf("updated: generation %d uid %s, want 2 and %s", upd.Generation, upd.UID, existing.UID)
		}
		got := &appsv1.Deployment{}
		if err := s.Get(ctx, "prod", "app-1", got); err != nil || rvOf(t, got) != rev || got.Generation != 1 {
			t.Errorf("get app-1: %v rv %s generation %d", err, got.ResourceVersion, got.Generation)
		}
		if err := s.Get(ctx, "default", "gone", &appsv1.Deployment{}); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("deleted in txn: %v", err)
		}
		if v, mod, err := s.GetRaw(ctx, "/bosun/sync/status"); err != nil || string(v) != "ok" || mod != rev {
			t.Errorf("raw record: %q %d %v", v, mod, err)
		}
	})

	t.Run("a key twice is refused", func(t *testing.T) {
		txn := s.Txn()
		if err := txn.Create(deployment("default", "dup", 1, nil)); err != nil {
			t.Fatal(err)
		}
		if err := txn.Delete(deploys, "default", "dup", ""); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("second write of a key: %v, want ErrInvalid", err)
		}
		raw := s.Txn()
		raw.PutRaw("/bosun/k", nil)
		raw.PutRaw("/bosun/k", nil)
		if _, err := raw.Commit(ctx); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("raw key twice: %v, want ErrInvalid", err)
		}
	})

	t.Run("empty txn", func(t *testing.T) {
		rev, err := s.Txn().Commit(ctx)
		if err != nil || rev != mustRev(t, s) {
			t.Errorf("empty commit = %d, %v", rev, err)
		}
	})
}

func TestTxnTooLarge(t *testing.T) {
	ctx := t.Context()
	// A server with small limits, to see etcd's own refusals too.
	cfg := storetest.Config(t, t.TempDir())
	cfg.MaxTxnOps = 16
	cfg.MaxRequestBytes = 64 * 1024
	e := storetest.StartEmbedded(t, cfg)

	big := strings.Repeat("x", 8*1024)
	fill := func(txn *store.Txn, n int, value string) {
		t.Helper()
		for i := range n {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"v": value}}
			if err := txn.Create(cm); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		opts    store.Options
		n       int
		value   string
		wantMsg string
	}{
		{"ops over the store's limit, before sending", store.Options{MaxTxnOps: 10, MaxRequestBytes: 1 << 20}, 11, "",
			"transaction has 11 operations, above etcd's limit of 10 (--max-txn-ops)"},
		{"bytes over the store's limit, before sending", store.Options{MaxTxnOps: 100, MaxRequestBytes: 32 * 1024}, 5, big,
			"above etcd's limit of 32768 bytes (--max-request-bytes)"},
		{"ops refused by etcd", store.Options{MaxTxnOps: 1000, MaxRequestBytes: 1 << 20}, 17, "",
			"too many operations"},
		{"bytes refused by etcd", store.Options{MaxTxnOps: 1000, MaxRequestBytes: 1 << 20}, 12, big,
			"--max-request-bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := store.New(e.Client(), tc.opts)
			before := mustRev(t, s)
			txn := s.Txn()
			fill(txn, tc.n, tc.value)
			_, err := txn.Commit(ctx)
			t.Logf("commit: %v", err)
			if !errors.Is(err, api.ErrTooLarge) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("commit = %v, want ErrTooLarge with %q", err, tc.wantMsg)
			}
			if after := mustRev(t, s); after != before {
				t.Errorf("revision moved from %d to %d", before, after)
			}
		})
	}
	// At the limits exactly, the transaction goes through: the size the store
	// checks is never below what etcd checks.
	s := store.New(e.Client(), e.StoreOptions())
	txn := s.Txn()
	fill(txn, 16, "")
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatalf("16 operations with --max-txn-ops=16: %v", err)
	}
	limit := e.MaxRequestBytes()
	sized := func(n int) *store.Txn {
		txn := s.Txn()
		txn.PutRaw("/bosun/big", make([]byte, n))
		return txn
	}
	n := limit - sized(0).Size()
	for sized(n).Size() > limit {
		n--
	}
	if got := sized(n).Size(); got != limit {
		t.Fatalf("could not build a txn of exactly %d bytes (got %d)", limit, got)
	}
	if _, err := sized(n).Commit(ctx); err != nil {
		t.Errorf("txn of exactly --max-request-bytes: %v", err)
	}
	if _, err := sized(n + 1).Commit(ctx); !errors.Is(err, api.ErrTooLarge) || !strings.Contains(err.Error(), "bytes, above") {
		t.Errorf("txn one byte over: %v, want the store's own ErrTooLarge", err)
	}
}

func TestCompactor(t *testing.T) {
	s, e := newStore(t)
	ctx := t.Context()
	c := e.Client()
	big := []byte(strings.Repeat("y", 64*1024))
	var first int64
	for i := range 60 {
		rev, err := s.PutRaw(ctx, fmt.Sprintf("/bosun/blob/%d", i%3), big)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rev
		}
	}
	for i := range 3 {
		if _, err := c.Delete(ctx, fmt.Sprintf("/bosun/blob/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	status := func() (dbSize int64) {
		t.Helper()
		st, err := c.Status(ctx, e.Endpoints()[0])
		if err != nil {
			t.Fatal(err)
		}
		return st.DbSize
	}
	// etcd commits its backend in batches (every 100 ms): wait until the
	// 60 writes of 64 KiB show in the database size before measuring.
	var sizeBefore int64
	testutil.Eventually(t, 10*time.Second, fmt.Sprintf("the database size to reach the %d bytes written", 60*64*1024), func() (bool, string) {
		sizeBefore = status()
		return sizeBefore >= 60*64*1024, fmt.Sprintf("size %d", sizeBefore)
	})
	cur := mustRev(t, s)

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	comp := &store.Compactor{Client: c, Retain: 5, DefragInterval: time.Hour, Now: func() time.Time { return now }}
	if err := comp.CompactOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/bosun/blob/0", clientv3.WithRev(first)); err == nil {
		t.Errorf("revision %d still readable after compaction to %d", first, cur-5)
	}
	if _, _, err := s.List(ctx, storetest.Resource(t, "pods"), "", store.ListOptions{Revision: cur - 6}); !errors.Is(err, api.ErrCompacted) {
		t.Errorf("list below the retained window: %v, want ErrCompacted", err)
	}
	if _, _, err := s.List(ctx, storetest.Resource(t, "pods"), "", store.ListOptions{Revision: cur - 5}); err != nil {
		t.Errorf("list inside the retained window: %v", err)
	}
	sizeAfter := status()
	if sizeAfter >= sizeBefore/2 {
		t.Errorf("db size %d after compact+defrag, %d before: defrag did not give space back", sizeAfter, sizeBefore)
	}

	// Within DefragInterval: compaction only. The second round compacts further
	// once there is new history, and defragments again when the hour has passed.
	for range 10 {
		if _, err := s.PutRaw(ctx, "/bosun/blob/x", big); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour)
	if err := comp.CompactOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cur2 := mustRev(t, s)
	if _, _, err := s.List(ctx, storetest.Resource(t, "pods"), "", store.ListOptions{Revision: cur2 - 6}); !errors.Is(err, api.ErrCompacted) {
		t.Errorf("second compaction did not advance: %v", err)
	}
}

func TestCompactorRun(t *testing.T) {
	s, e := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for i := range 20 {
		if _, err := s.PutRaw(ctx, "/bosun/k", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	target := mustRev(t, s) - 2
	comp := &store.Compactor{Client: e.Client(), Interval: 10 * time.Millisecond, Retain: 2, DefragInterval: -1}
	done := make(chan error, 1)
	go func() { done <- comp.Run(ctx) }()
	testutil.Eventually(t, 10*time.Second, "Run to compact", func() (bool, string) {
		_, _, err := s.List(ctx, storetest.Resource(t, "pods"), "", store.ListOptions{Revision: target - 1})
		return errors.Is(err, api.ErrCompacted), fmt.Sprintf("a list below the retained window: %v", err)
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
