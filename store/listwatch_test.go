package store_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestListWatch(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	pods := storetest.Resource(t, "pods")
	a, b := pod("x", "a", nil), pod("y", "b", nil)
	for _, p := range []api.Object{a, b} {
		if err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		namespace string
		wantList  []string
		wantWatch []string // after creating x/c, deleting x/a, creating y/d
	}{
		{name: "all namespaces", wantList: []string{"x/a", "y/b"}, wantWatch: []string{"ADDED x/c", "DELETED x/a", "ADDED y/d"}},
		{name: "one namespace", namespace: "x", wantList: []string{"x/a"}, wantWatch: []string{"ADDED x/c", "DELETED x/a"}},
	}
	lws := make([]int64, len(tests))
	for n, tt := range tests {
		lw := s.ListWatcher(pods)
		lw.Namespace = tt.namespace
		objs, rev, err := lw.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := storetest.Names(objs); !slices.Equal(got, tt.wantList) {
			t.Errorf("%s: List = %v, want %v", tt.name, got, tt.wantList)
		}
		lws[n] = rev
	}
	if err := s.Create(ctx, pod("x", "c", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, pods, "x", "a", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, pod("y", "d", nil)); err != nil {
		t.Fatal(err)
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lw := s.ListWatcher(pods)
			lw.Namespace = tt.namespace
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var got []string
			err := lw.Watch(wctx, lws[n], func(typ watch.EventType, o api.Object) {
				got = append(got, string(typ)+" "+o.GetNamespace()+"/"+o.GetName())
				if _, err := strconv.ParseInt(o.GetResourceVersion(), 10, 64); err != nil {
					t.Errorf("resourceVersion %q: %v", o.GetResourceVersion(), err)
				}
				if len(got) == len(tt.wantWatch) {
					cancel()
				}
			})
			if err != nil || wctx.Err() != context.Canceled {
				t.Errorf("Watch = %v (context: %v), want nil after its context was cancelled", err, wctx.Err())
			}
			if !slices.Equal(got, tt.wantWatch) {
				t.Errorf("Watch events = %v, want %v", got, tt.wantWatch)
			}
		})
	}

	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	err = s.ListWatcher(pods).Watch(ctx, lws[0], func(watch.EventType, api.Object) { t.Error("event from a compacted revision") })
	if !errors.Is(err, api.ErrCompacted) {
		t.Errorf("Watch from a compacted revision = %v, want api.ErrCompacted", err)
	}
}
