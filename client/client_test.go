package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func setup(t *testing.T) (*client.Client, *store.Store) {
	t.Helper()
	st, url := apitest.Start(t)
	c, err := client.New(url)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func cm(ns, name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Data: map[string]string{"k": name}}
}

func TestGetList(t *testing.T) {
	c, st := setup(t)
	for _, o := range []api.Object{
		cm("default", "a", map[string]string{"app": "x"}),
		cm("default", "b", map[string]string{"app": "y"}),
		cm("shop", "c", map[string]string{"app": "x"}),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
	} {
		if err := st.Create(ctx(t), o); err != nil {
			t.Fatal(err)
		}
	}
	cms := storetest.Resource(t, "configmaps")
	obj, err := c.Get(ctx(t), cms, "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := obj.(*corev1.ConfigMap)
	if !ok || got.Data["k"] != "a" || got.Kind != "ConfigMap" || got.APIVersion != "v1" || got.ResourceVersion == "" {
		t.Fatalf("Get = %#v", obj)
	}
	ns, err := c.Get(ctx(t), storetest.Resource(t, "ns"), "", "shop")
	if err != nil || ns.GetName() != "shop" {
		t.Fatalf("Get namespace = %v, %v", ns, err)
	}

	tests := []struct {
		name, ns, selector string
		want               []string
	}{
		{"namespace", "default", "", []string{"default/a", "default/b"}},
		{"all namespaces", "", "", []string{"default/a", "default/b", "shop/c"}},
		{"selector", "", "app=x", []string{"default/a", "shop/c"}},
		{"nothing", "empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := c.List(ctx(t), cms, tc.ns, tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range objs {
				if _, ok := o.(*corev1.ConfigMap); !ok || o.GetObjectKind().GroupVersionKind().Kind != "ConfigMap" {
					t.Fatalf("item %T %v", o, o.GetObjectKind().GroupVersionKind())
				}
				names = append(names, o.GetNamespace()+"/"+o.GetName())
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("List = %v, want %v", names, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	c, _ := setup(t)
	_, err := c.Get(ctx(t), storetest.Resource(t, "deploy"), "default", "web")
	if err == nil || err.Error() != `deployments "web" not found in namespace "default"` || !client.IsNotFound(err) {
		t.Fatalf("Get missing = %v (not found %v)", err, client.IsNotFound(err))
	}
	if _, err := c.Get(ctx(t), storetest.Resource(t, "deploy"), "", "web"); err == nil || !strings.Contains(err.Error(), "namespace is required") {
		t.Fatalf("Get without namespace = %v", err)
	}
	_, err = c.List(ctx(t), storetest.Resource(t, "deploy"), "", "a===b")
	if client.Reason(err) != metav1.StatusReasonBadRequest || !strings.Contains(err.Error(), "labelSelector") {
		t.Fatalf("bad selector = %v", err)
	}

	// A server answering something that is not a Status still gives an APIError.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
	}))
	defer plain.Close()
	pc, err := client.New(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pc.Status(ctx(t))
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status.Code != 504 || err.Error() != "gateway timeout" {
		t.Fatalf("plain error = %#v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(ctx(t), storetest.Resource(t, "pods"), "", "")
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	for _, want := range []string{"not reachable at http://" + addr, "--server", client.EnvServer} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", client.DefaultServer, true},
		{"127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"https://bosun.example/", "https://bosun.example", true},
		{"ftp://x", "", false},
		{"http://", "", false},
	}
	for _, tc := range tests {
		c, err := client.New(tc.in)
		if (err == nil) != tc.ok {
			t.Fatalf("New(%q) err = %v", tc.in, err)
		}
		if err == nil && c.URL() != tc.want {
			t.Fatalf("New(%q).URL() = %q, want %q", tc.in, c.URL(), tc.want)
		}
	}
}

func TestStatusHistory(t *testing.T) {
	c, st := setup(t)
	s, err := c.Status(ctx(t))
	if err != nil || s.Synced != nil || s.LastAttempt != nil {
		t.Fatalf("Status before sync = %+v, %v", s, err)
	}
	h, err := c.History(ctx(t), 10)
	if err != nil || len(h) != 0 {
		t.Fatalf("History before sync = %+v, %v", h, err)
	}
	t0 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var attempts []state.Attempt
	for i := range 3 {
		a := state.Attempt{Commit: state.CommitInfo{SHA: strings.Repeat(string(rune('a'+i)), 40)}, Time: t0.Add(time.Duration(i) * time.Minute), Result: state.ResultApplied}
		attempts = append(attempts, a)
		if err := records.Append(ctx(t), st, a); err != nil {
			t.Fatal(err)
		}
	}
	want := state.Status{Repo: "/srv/repo", Synced: &attempts[2], LastAttempt: &attempts[2], Objects: 4}
	if err := records.SetStatus(ctx(t), st, want); err != nil {
		t.Fatal(err)
	}
	s, err = c.Status(ctx(t))
	if err != nil || s.Repo != "/srv/repo" || s.Objects != 4 || s.Synced == nil || !s.Synced.Time.Equal(attempts[2].Time) {
		t.Fatalf("Status = %+v, %v", s, err)
	}
	h, err = c.History(ctx(t), 2)
	if err != nil || len(h) != 2 || h[0].Commit.Short() != "cccccccc" || h[1].Commit.Short() != "bbbbbbbb" {
		t.Fatalf("History(2) = %+v, %v", h, err)
	}
	if h, err = c.History(ctx(t), 0); err != nil || len(h) != 3 {
		t.Fatalf("History(0) = %d, %v", len(h), err)
	}
}

// TestWrites: Create, Update, UpdateStatus and Delete, compare-and-swap
// included, on Nodes (a kind clients may write: desired state comes from
// Git).
func TestWrites(t *testing.T) {
	c, st := setup(t)
	nodes := storetest.Resource(t, "nodes")
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}}
	if err := c.Create(ctx(t), nodes, n); err != nil {
		t.Fatal(err)
	}
	if n.UID == "" || n.ResourceVersion == "" {
		t.Fatalf("Create did not return the stored object: %+v", n.ObjectMeta)
	}
	stale := n.DeepCopy()
	n.Labels = map[string]string{"x": "y"}
	if err := c.Update(ctx(t), nodes, n); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx(t), nodes, stale); !client.IsConflict(err) {
		t.Fatalf("stale Update = %v, want conflict", err)
	}
	n.Status.Phase = corev1.NodeRunning
	if err := c.UpdateStatus(ctx(t), nodes, n); err != nil || n.Status.Phase != corev1.NodeRunning {
		t.Fatalf("UpdateStatus = %v (%+v)", err, n.Status)
	}
	if err := c.Delete(ctx(t), nodes, "", "n1", stale.ResourceVersion); !client.IsConflict(err) {
		t.Fatalf("stale Delete = %v", err)
	}
	if err := c.Delete(ctx(t), nodes, "", "n1", n.ResourceVersion); err != nil {
		t.Fatal(err)
	}
	var got corev1.Node
	if err := st.Get(ctx(t), "", "n1", &got); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

// lease returns a Lease, an object clients may write.
func lease(ns, name string) *coordinationv1.Lease {
	holder := name
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
}

func TestWatch(t *testing.T) {
	c, st := setup(t)
	cms := storetest.Resource(t, "configmaps")
	a := cm("default", "a", nil)
	if err := st.Create(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	events := make(chan client.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(wctx, cms, "default", "", "", func(ev client.Event) error {
			events <- ev
			return nil
		})
	}()
	next := func() client.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-done:
			t.Fatalf("watch ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event within 10s")
		}
		return client.Event{}
	}
	if ev := next(); ev.Type != "ADDED" || ev.Object.GetName() != "a" {
		t.Fatalf("first event %s %s", ev.Type, ev.Object.GetName())
	}
	a.Data["k"] = "changed"
	if err := st.Update(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	ev := next()
	if got, ok := ev.Object.(*corev1.ConfigMap); ev.Type != "MODIFIED" || !ok || got.Data["k"] != "changed" || got.ResourceVersion != a.ResourceVersion {
		t.Fatalf("second event %s %#v", ev.Type, ev.Object)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch after cancel = %v", err)
	}

	// A compacted resourceVersion ends the watch with a 410 APIError.
	rev, err := st.Revision(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	a.Data["k"] = "again"
	if err := st.Update(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Client().Compact(ctx(t), rev+1); err != nil {
		t.Fatal(err)
	}
	err = c.Watch(ctx(t), cms, "", "", "1", func(client.Event) error { return nil })
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status.Code != 410 {
		t.Fatalf("Watch from compacted rv = %v", err)
	}
}
