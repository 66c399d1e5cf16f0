package proxy_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/proxy"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// snapshotNames returns the namespace/name of the Services and Endpoints of
// src's Snapshot, sorted.
func snapshotNames(src proxy.Source) (svcs, eps []string) {
	ss, es := src.Snapshot()
	for _, s := range ss {
		svcs = append(svcs, s.Namespace+"/"+s.Name)
	}
	for _, e := range es {
		eps = append(eps, e.Namespace+"/"+e.Name)
	}
	sort.Strings(svcs)
	sort.Strings(eps)
	return svcs, eps
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // poll interval
	}
}

func TestAPISource(t *testing.T) {
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	ep := func(name string) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	}
	tests := []struct {
		name               string
		initial            []api.Object
		wantSvcs, wantEps  []string // after the first list
		change             func(ctx context.Context, st *store.Store) error
		afterSvcs, afterEp []string // after change
	}{
		{name: "empty", change: func(ctx context.Context, st *store.Store) error { return st.Create(ctx, svc("a")) },
			afterSvcs: []string{"default/a"}},
		{name: "services and endpoints", initial: []api.Object{svc("a"), ep("a"), svc("b")},
			wantSvcs: []string{"default/a", "default/b"}, wantEps: []string{"default/a"},
			change: func(ctx context.Context, st *store.Store) error {
				r, _ := api.Lookup("endpoints")
				if err := st.Delete(ctx, r, "default", "a", ""); err != nil {
					return err
				}
				return st.Create(ctx, ep("b"))
			},
			afterSvcs: []string{"default/a", "default/b"}, afterEp: []string{"default/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.Start(t)
			ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, o := range tt.initial {
				if err := st.Create(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			src := proxy.NewAPISource(c, storetest.Logger(t))
			if src.Synced() {
				t.Fatal("Synced before Run")
			}
			var notified atomic.Int64
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- src.Run(runCtx, func() { notified.Add(1) }) }()

			eventually(t, "Synced", src.Synced)
			eventually(t, "a notification after the first lists", func() bool { return notified.Load() > 0 })
			svcs, eps := snapshotNames(src)
			if !slices.Equal(svcs, tt.wantSvcs) || !slices.Equal(eps, tt.wantEps) {
				t.Errorf("Snapshot after the first lists = %v, %v; want %v, %v", svcs, eps, tt.wantSvcs, tt.wantEps)
			}

			before := notified.Load()
			if err := tt.change(ctx, st); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the change in the Snapshot", func() bool {
				svcs, eps := snapshotNames(src)
				return slices.Equal(svcs, tt.afterSvcs) && slices.Equal(eps, tt.afterEp)
			})
			eventually(t, "a notification for the change", func() bool { return notified.Load() > before })

			stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil once its context ended", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
}
