package servers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/servers"
	"github.com/bosun-dev/bosun/store/storetest"
)

// newClient connects a client of its own to the etcd base talks to, as
// another server would.
func newClient(t *testing.T, base *clientv3.Client) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: base.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// register runs Register in the background until the returned stop is
// called, which waits for it and returns its error.
func register(t *testing.T, cli *clientv3.Client, s api.ServerInfo, ttl time.Duration) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servers.Register(ctx, cli, s, ttl, storetest.Logger(t)) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// names returns the names List finds, or the error as the reason.
func names(t *testing.T, cli *clientv3.Client) ([]string, string) {
	l, err := servers.List(t.Context(), cli)
	if err != nil {
		return nil, err.Error()
	}
	var out []string
	for _, s := range l {
		out = append(out, s.Name)
	}
	return out, fmt.Sprint(out)
}

// waitFor waits until List names exactly want.
func waitFor(t *testing.T, cli *clientv3.Client, want []string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, fmt.Sprintf("servers %v registered", want), func() (bool, string) {
		got, reason := names(t, cli)
		return slices.Equal(got, want), reason
	})
}

// leaseOf returns the lease the key of server name is attached to.
func leaseOf(t *testing.T, cli *clientv3.Client, name string) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(t.Context(), servers.KeyPrefix+name)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v (%d keys)", name, err, len(resp.Kvs))
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// TestRegisterList registers two servers: List returns both sorted by name
// with what they registered, and a clean stop removes one at once.
func TestRegisterList(t *testing.T) {
	base := storetest.Start(t).Client()
	started := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	stopB := register(t, newClient(t, base), api.ServerInfo{Name: "s-b", URL: "https://127.0.0.2:6443", Started: started}, time.Minute)
	register(t, newClient(t, base), api.ServerInfo{Name: "s-a", URL: "https://127.0.0.1:6443"}, time.Minute)
	waitFor(t, base, []string{"s-a", "s-b"})

	l, err := servers.List(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if l[0].URL != "https://127.0.0.1:6443" || l[0].Started.IsZero() {
		t.Errorf("s-a = %+v, want its URL and the time it registered", l[0])
	}
	if l[1].URL != "https://127.0.0.2:6443" || !l[1].Started.Equal(started) {
		t.Errorf("s-b = %+v, want its URL and Started %v", l[1], started)
	}
	if leaseOf(t, base, "s-a") == leaseOf(t, base, "s-b") {
		t.Error("two servers share one lease")
	}

	if err := stopB(); err != nil {
		t.Fatalf("Register after its context ended = %v, want nil", err)
	}
	// A clean stop revokes the lease before Register returns.
	if got, reason := names(t, base); !slices.Equal(got, []string{"s-a"}) {
		t.Errorf("after s-b stopped: List = %s, want [s-a]", reason)
	}
}

// TestRegisterInvalid checks what Register refuses to register.
func TestRegisterInvalid(t *testing.T) {
	base := storetest.Start(t).Client()
	tests := []struct {
		name string
		info api.ServerInfo
	}{
		{"no name", api.ServerInfo{URL: "https://127.0.0.1:6443"}},
		{"name with a slash", api.ServerInfo{Name: "a/b", URL: "https://127.0.0.1:6443"}},
		{"no URL", api.ServerInfo{Name: "s1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := servers.Register(t.Context(), base, tc.info, time.Minute, nil); err == nil {
				t.Fatalf("Register(%+v) = nil, want an error", tc.info)
			}
		})
	}
	if got, reason := names(t, base); len(got) != 0 {
		t.Errorf("List = %s, want nothing registered", reason)
	}
}

// TestReregisterAfterLeaseLost revokes a server's lease behind its back: the
// key goes with it, and Register puts it back under a new lease.
func TestReregisterAfterLeaseLost(t *testing.T) {
	base := storetest.Start(t).Client()
	register(t, newClient(t, base), api.ServerInfo{Name: "s1", URL: "https://127.0.0.1:6443"}, time.Minute)
	waitFor(t, base, []string{"s1"})
	lost := leaseOf(t, base, "s1")
	if _, err := base.Revoke(t.Context(), lost); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "s1 registered again under a new lease", func() (bool, string) {
		resp, err := base.Get(t.Context(), servers.KeyPrefix+"s1")
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Kvs) == 0 {
			return false, "no key"
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease) != lost, fmt.Sprintf("lease %x", resp.Kvs[0].Lease)
	})
}

// TestDeadServerExpires has a registrant die without revoking its lease
// (its etcd client closes under it, as when the process is killed): it
// stays listed until its lease's TTL passes, then drops out, while a live
// server stays.
func TestDeadServerExpires(t *testing.T) {
	base := storetest.Start(t).Client()
	register(t, newClient(t, base), api.ServerInfo{Name: "alive", URL: "https://127.0.0.1:6443"}, 2*time.Second)
	dying := newClient(t, base)
	register(t, dying, api.ServerInfo{Name: "dead", URL: "https://127.0.0.2:6443"}, 2*time.Second)
	waitFor(t, base, []string{"alive", "dead"})
	lease := leaseOf(t, base, "dead")
	if err := dying.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, base, []string{"alive"})
	ttl, err := base.TimeToLive(t.Context(), lease)
	if err != nil || ttl.TTL != -1 {
		t.Errorf("dead server's lease: TTL %v, %v; want expired (-1)", ttl, err)
	}
}
