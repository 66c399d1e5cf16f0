package store_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// tlsMember is the configuration of one member with credentials from ca in
// its own temporary directory.
func tlsMember(t *testing.T, ca *pki.CA, name, peerURL string) store.EmbedConfig {
	t.Helper()
	dir := t.TempDir()
	creds, err := pki.EnsureEtcdPKI(pki.EtcdConfig{CA: ca, Dir: filepath.Join(dir, "pki", pki.EtcdDir), Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := storetest.Config(t, dir)
	cfg.Name = name
	cfg.ClientURL = "https://127.0.0.1:0"
	cfg.PeerURL = peerURL
	cfg.UnsafeNoFsync = true
	cfg.TLS = &store.EmbedTLS{
		CAFile:         creds.CAFile(),
		ServerCertFile: creds.Server.CertFile(),
		ServerKeyFile:  creds.Server.KeyFile(),
		PeerCertFile:   creds.Peer.CertFile(),
		PeerKeyFile:    creds.Peer.KeyFile(),
		ClientCNs:      pki.EtcdClientCNs(),
		PeerCNs:        pki.EtcdPeerCNs(),
		Client:         creds.ClientTLS(),
	}
	return cfg
}

// start starts cfg's member; the test stops it at the end unless it was
// stopped before.
func start(t *testing.T, cfg store.EmbedConfig) *store.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("start member %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// join adds name as a learner through via, starts it and promotes it.
func join(t *testing.T, ca *pki.CA, via *clientv3.Client, name string) *store.Embedded {
	t.Helper()
	e, _ := joinConfig(t, ca, via, name)
	return e
}

// joinConfig is join that also returns the member's configuration.
func joinConfig(t *testing.T, ca *pki.CA, via *clientv3.Client, name string) (*store.Embedded, store.EmbedConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	peerURL := "https://" + testutil.FreeAddr(t)
	added, initial, err := store.AddLearner(ctx, via, name, peerURL)
	if err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	if !added.Learner || added.Name != name || !slices.Equal(added.PeerURLs, []string{peerURL}) {
		t.Fatalf("added member = %+v, want learner %s at %s", added, name, peerURL)
	}
	if !strings.Contains(initial, name+"="+peerURL) {
		t.Fatalf("initial cluster %q does not name the new member %s=%s", initial, name, peerURL)
	}
	cfg := tlsMember(t, ca, name, peerURL)
	cfg.InitialCluster, cfg.ClusterState = initial, store.ClusterStateExisting
	e := start(t, cfg)
	if e.ID() != added.ID {
		t.Fatalf("started member's ID %s, added %s", store.FormatID(e.ID()), store.FormatID(added.ID))
	}
	if err := store.PromoteLearner(ctx, via, added.ID); err != nil {
		t.Fatalf("promote %s: %v", name, err)
	}
	// The member itself applies its promotion a moment later; until then
	// its client port refuses what a learner's does.
	for e.IsLearner() {
		if ctx.Err() != nil {
			t.Fatalf("%s promoted, but it still sees itself a learner", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e, cfg
}

// eventually retries f until it succeeds or 15 s pass.
func eventually(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkMembers waits until the cluster, seen through c, has exactly the
// voters named, all started, and one of them leads.
func checkMembers(t *testing.T, c *clientv3.Client, names ...string) []store.Member {
	t.Helper()
	var got []store.Member
	eventually(t, "member list", func(ctx context.Context) error {
		var err error
		if got, err = store.ListMembers(ctx, c); err != nil {
			return err
		}
		var gotNames []string
		leaders := 0
		for _, m := range got {
			if m.Learner || !m.Started() {
				return fmt.Errorf("member %+v is a learner or not started", m)
			}
			if len(m.PeerURLs) != 1 || !strings.HasPrefix(m.PeerURLs[0], "https://") ||
				len(m.ClientURLs) != 1 || !strings.HasPrefix(m.ClientURLs[0], "https://") {
				return fmt.Errorf("member %s: peer URLs %v, client URLs %v: want one https URL each", m.Name, m.PeerURLs, m.ClientURLs)
			}
			gotNames = append(gotNames, m.Name)
			if m.Leader {
				leaders++
			}
		}
		if !slices.Equal(gotNames, names) || leaders != 1 {
			return fmt.Errorf("members %v with %d leaders, want %v with one", gotNames, leaders, names)
		}
		return nil
	})
	return got
}

func put(t *testing.T, c *clientv3.Client, key, value string) {
	t.Helper()
	eventually(t, "put "+key, func(ctx context.Context) error {
		_, err := c.Put(ctx, key, value)
		return err
	})
}

// checkGet reads key linearizably through c.
func checkGet(t *testing.T, c *clientv3.Client, key, want string) {
	t.Helper()
	eventually(t, "get "+key, func(ctx context.Context) error {
		resp, err := c.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
			return fmt.Errorf("got %v, want %q", resp.Kvs, want)
		}
		return nil
	})
}

// TestThreeMembers grows one TLS member into three (learner, then voter),
// loses the leader, removes it and adds a member back.
func TestThreeMembers(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m1 := start(t, tlsMember(t, ca, "m1", "https://127.0.0.1:0"))
	put(t, m1.Client(), "/test/before", "one")
	m2 := join(t, ca, m1.Client(), "m2")
	m3 := join(t, ca, m2.Client(), "m3")
	byName := map[string]*store.Embedded{"m1": m1, "m2": m2, "m3": m3}

	checkGet(t, m3.Client(), "/test/before", "one") // replicated to a member added later
	for _, writer := range []*store.Embedded{m1, m2, m3} {
		key := "/test/from-" + writer.Name()
		put(t, writer.Client(), key, writer.Name())
		for _, reader := range []*store.Embedded{m1, m2, m3} {
			checkGet(t, reader.Client(), key, writer.Name())
		}
	}
	members := checkMembers(t, m1.Client(), "m1", "m2", "m3")

	// Stop the leader: the two others elect another and keep taking writes.
	var leader string
	for _, m := range members {
		if m.Leader {
			leader = m.Name
		}
	}
	if err := byName[leader].Close(); err != nil {
		t.Fatal(err)
	}
	var alive []*store.Embedded
	for _, n := range []string{"m1", "m2", "m3"} {
		if n != leader {
			alive = append(alive, byName[n])
		}
	}
	put(t, alive[0].Client(), "/test/after-loss", "two")
	checkGet(t, alive[1].Client(), "/test/after-loss", "two")

	// Remove it; add a member back on a new data directory.
	eventually(t, "remove "+leader, func(ctx context.Context) error {
		removed, err := store.RemoveMember(ctx, alive[1].Client(), leader)
		if err == nil && removed.Name != leader {
			t.Fatalf("removed %+v, want %s", removed, leader)
		}
		return err
	})
	var left []string
	for _, e := range alive {
		left = append(left, e.Name())
	}
	checkMembers(t, alive[0].Client(), left...)

	back, backCfg := joinConfig(t, ca, alive[0].Client(), "m4")
	checkMembers(t, back.Client(), append(left, "m4")...)
	checkGet(t, back.Client(), "/test/after-loss", "two")
	put(t, back.Client(), "/test/from-m4", "four")
	checkGet(t, alive[1].Client(), "/test/from-m4", "four")

	// A joined member restarts on its data directory (the same
	// configuration: InitialCluster and ClusterState are then ignored) and
	// catches up with what was written while it was down.
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}
	put(t, alive[0].Client(), "/test/while-m4-down", "five")
	back = start(t, backCfg)
	checkGet(t, back.Client(), "/test/while-m4-down", "five")
	checkMembers(t, back.Client(), append(left, "m4")...)

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func(ctx context.Context) error
			want error
		}{
			{"remove unknown name", func(ctx context.Context) error {
				_, err := store.RemoveMember(ctx, back.Client(), "nobody")
				return err
			}, api.ErrNotFound},
			{"add an existing name", func(ctx context.Context) error {
				_, _, err := store.AddLearner(ctx, alive[0].Client(), "m4", "https://"+testutil.FreeAddr(t))
				return err
			}, api.ErrExists},
			{"add an existing peer URL", func(ctx context.Context) error {
				_, _, err := store.AddLearner(ctx, alive[0].Client(), "m5", back.PeerURLs()[0])
				return err
			}, api.ErrExists},
			{"add with a bad name", func(ctx context.Context) error {
				_, _, err := store.AddLearner(ctx, alive[0].Client(), "a=b", "https://"+testutil.FreeAddr(t))
				return err
			}, api.ErrInvalid},
			{"promote a voter", func(ctx context.Context) error {
				return store.PromoteLearner(ctx, back.Client(), back.ID())
			}, api.ErrConflict},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				if err := tc.do(ctx); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}
	})

	t.Run("a member added but never started", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		stale, _, err := store.AddLearner(ctx, alive[0].Client(), "m5", "https://"+testutil.FreeAddr(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.AddLearner(ctx, alive[0].Client(), "m6", "https://"+testutil.FreeAddr(t)); !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), store.FormatID(stale.ID)) {
			t.Fatalf("add beside a member never started: err = %v, want api.ErrConflict naming %s", err, store.FormatID(stale.ID))
		}
		if _, err := store.RemoveMember(ctx, alive[0].Client(), store.FormatID(stale.ID)); err != nil {
			t.Fatalf("remove by ID: %v", err)
		}
		checkMembers(t, back.Client(), append(left, "m4")...)
	})

	t.Run("client port", func(t *testing.T) {
		ep := back.Endpoints()[0]
		node, nodeKey, err := ca.Issue(pki.Request{User: api.User{Name: "system:node:n1", Groups: []string{"system:nodes"}}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Usage: pki.UsageBoth})
		if err != nil {
			t.Fatal(err)
		}
		nodePair, err := tls.X509KeyPair(node, nodeKey)
		if err != nil {
			t.Fatal(err)
		}
		bosun, err := pki.EnsureEtcdPKI(pki.EtcdConfig{CA: ca, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			cfg  *tls.Config
			ok   bool
		}{
			{"bosun's client credential", bosun.ClientTLS(), true},
			{"no certificate", &tls.Config{RootCAs: ca.Pool()}, false},
			{"a node's certificate from the same CA", &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{nodePair}}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: tc.cfg, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				_, err = c.Get(ctx, "/test/from-m4")
				if (err == nil) != tc.ok {
					t.Fatalf("get with %s: err = %v, want success %t", tc.name, err, tc.ok)
				}
			})
		}
	})
}

// TestStartEmbeddedRefuses checks the configurations StartEmbedded refuses
// before starting anything.
func TestStartEmbeddedRefuses(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*store.EmbedConfig)
		want   string
	}{
		{"http client URL with TLS", func(c *store.EmbedConfig) { c.ClientURL = "http://127.0.0.1:0" }, "want an https URL"},
		{"http peer URL with TLS", func(c *store.EmbedConfig) { c.PeerURL = "http://127.0.0.1:0" }, "want an https URL"},
		{"https without TLS", func(c *store.EmbedConfig) { c.TLS = nil }, "want an http URL"},
		{"TLS without a client configuration", func(c *store.EmbedConfig) { c.TLS.Client = nil }, "TLS needs"},
		{"existing without a cluster", func(c *store.EmbedConfig) { c.ClusterState = store.ClusterStateExisting }, "needs InitialCluster"},
		{"joining on port 0", func(c *store.EmbedConfig) {
			c.ClusterState, c.InitialCluster = store.ClusterStateExisting, "m1=https://127.0.0.1:2380,j=https://127.0.0.1:0"
		}, "not port 0"},
		{"unknown cluster state", func(c *store.EmbedConfig) { c.ClusterState = "joined" }, "ClusterState \"joined\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tlsMember(t, ca, "j", "https://127.0.0.1:0")
			tc.change(&cfg)
			e, err := store.StartEmbedded(t.Context(), cfg)
			if err == nil {
				_ = e.Close()
				t.Fatal("started; want an error")
			}
			if !errors.Is(err, api.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want api.ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}
