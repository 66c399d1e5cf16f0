package client_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestListWatch(t *testing.T) {
	c, st := setup(t)
	cms := storetest.Resource(t, "configmaps")
	for _, o := range []api.Object{cm("default", "a", map[string]string{"app": "x"}), cm("default", "b", nil), cm("other", "c", map[string]string{"app": "x"})} {
		if err := st.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		lw        client.ListWatch
		wantList  []string // after creating default/d (app=x), deleting default/a
		wantWatch []string // from before those changes
	}{
		{name: "all", lw: client.ListWatch{Client: c, Resource: cms},
			wantList: []string{"default/b", "default/d", "other/c"}, wantWatch: []string{"ADDED default/d", "DELETED default/a"}},
		{name: "namespace and selector", lw: client.ListWatch{Client: c, Resource: cms, Namespace: "default", Options: client.ListOptions{LabelSelector: "app=x"}},
			wantList: []string{"default/d"}, wantWatch: []string{"ADDED default/d", "DELETED default/a"}},
		{name: "selector matching nothing", lw: client.ListWatch{Client: c, Resource: cms, Options: client.ListOptions{LabelSelector: "app=none"}}},
	}
	// One change set, watched by every case from the same revision.
	objs, rev, err := tests[0].lw.List(ctx(t))
	if err != nil || len(objs) != 3 || rev <= 0 {
		t.Fatalf("List = %d objects at revision %d, %v", len(objs), rev, err)
	}
	if err := st.Create(ctx(t), cm("default", "d", map[string]string{"app": "x"})); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx(t), cms, "default", "a", ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, _, err := tt.lw.List(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := storetest.Names(objs); !slices.Equal(got, tt.wantList) {
				t.Errorf("List = %v, want %v", got, tt.wantList)
			}
			if len(tt.wantWatch) == 0 {
				return // nothing would end the watch
			}
			wctx, cancel := context.WithCancel(ctx(t))
			defer cancel()
			var events []string
			err = tt.lw.Watch(wctx, rev, func(typ watch.EventType, o api.Object) {
				events = append(events, string(typ)+" "+o.GetNamespace()+"/"+o.GetName())
				if len(events) == len(tt.wantWatch) {
					cancel()
				}
			})
			if err != nil {
				t.Errorf("Watch ended by its context = %v, want nil", err)
			}
			if !slices.Equal(events, tt.wantWatch) {
				t.Errorf("Watch events = %v, want %v", events, tt.wantWatch)
			}
		})
	}

	// A compacted revision is api.ErrCompacted.
	now, err := st.Revision(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().Compact(ctx(t), now); err != nil {
		t.Fatal(err)
	}
	err = tests[0].lw.Watch(ctx(t), rev, func(watch.EventType, api.Object) { t.Error("event from a compacted revision") })
	if !errors.Is(err, api.ErrCompacted) {
		t.Errorf("Watch from a compacted revision = %v, want api.ErrCompacted", err)
	}
}
