package routes_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/routes"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestThroughAPI runs the Controller on the informer over a real API (on
// embedded etcd): Node creates, updates and deletes reach the table
// without waiting for a resync.
func TestThroughAPI(t *testing.T) {
	st := storetest.Start(t)
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler())
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	nodesR, _ := api.Lookup("nodes")
	table := newFakeTable()
	rc, err := routes.New(routes.Config{NodeName: "self", Client: c, Table: table, ResyncPeriod: time.Hour, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	bg := context.Background()
	for _, n := range []string{"self", "b"} {
		if err := c.Create(bg, nodesR, node(n, map[string]string{"self": "10.0.0.1", "b": "10.0.0.2"}[n])); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, 10*time.Second, "not ready without a pod CIDR", func() bool { return rc.NetworkReady() != nil })
	for n, cidr := range map[string]string{"self": "10.244.0.0/24", "b": "10.244.1.0/24"} {
		obj, err := c.Get(bg, nodesR, "", n)
		if err != nil {
			t.Fatal(err)
		}
		o := node(n, map[string]string{"self": "10.0.0.1", "b": "10.0.0.2"}[n], cidr)
		o.ResourceVersion = obj.(api.Object).GetResourceVersion()
		if err := c.Update(bg, nodesR, o); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"10.244.1.0/24 via 10.0.0.2"}
	testutil.EventuallyTrue(t, 10*time.Second, "the route to b and readiness", func() bool {
		m, _ := table.state()
		return slices.Equal(m, want) && rc.NetworkReady() == nil
	})
	if err := c.Delete(bg, nodesR, "", "b", ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "b's route removed", func() bool {
		m, _ := table.state()
		return len(m) == 0 && rc.NetworkReady() == nil
	})
}
