package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestClusterSettings stores the first settings given and keeps them
// against later ones.
func TestClusterSettings(t *testing.T) {
	c := storetest.Start(t).Client()
	ctx := t.Context()
	if _, ok, err := store.LoadClusterSettings(ctx, c); ok || err != nil {
		t.Fatalf("an empty store has settings (%t, %v), want none", ok, err)
	}
	first := api.ClusterSettings{ClusterCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/16", NodePortRange: "30000-32767", Repo: "/srv/repo", Branch: "main"}
	second := first
	second.ClusterCIDR = "10.64.0.0/12"
	for _, tt := range []struct {
		name        string
		give        api.ClusterSettings
		wantCreated bool
	}{
		{"first server", first, true},
		{"a later server with other settings", second, false},
		{"the first again", first, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, created, err := store.InitClusterSettings(ctx, c, tt.give)
			if err != nil || got != first || created != tt.wantCreated {
				t.Fatalf("InitClusterSettings = %+v, %t, %v; want %+v, %t", got, created, err, first, tt.wantCreated)
			}
			if loaded, ok, err := store.LoadClusterSettings(ctx, c); !ok || err != nil || loaded != first {
				t.Fatalf("LoadClusterSettings = %+v, %t, %v; want %+v", loaded, ok, err, first)
			}
		})
	}
}

// TestPromoteSelf starts a learner that promotes itself (over the peer
// connection: its own client port refuses), then checks that its client
// serves writes and that a data directory with a member is told apart.
func TestPromoteSelf(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m1 := start(t, tlsMember(t, ca, "m1", "https://127.0.0.1:0"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	peerURL := "https://" + testutil.FreeAddr(t)
	added, initial, err := store.AddLearner(ctx, m1.Client(), "m2", peerURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlsMember(t, ca, "m2", peerURL)
	if store.MemberDataExists(cfg.DataDir) {
		t.Fatalf("MemberDataExists(%s) before the start = true", cfg.DataDir)
	}
	cfg.InitialCluster, cfg.ClusterState = initial, store.ClusterStateExisting
	m2 := start(t, cfg)
	if !m2.IsLearner() || m2.ID() != added.ID {
		t.Fatalf("started member: learner %t, ID %s; want a learner, ID %s", m2.IsLearner(), store.FormatID(m2.ID()), store.FormatID(added.ID))
	}
	if !store.MemberDataExists(cfg.DataDir) {
		t.Fatalf("MemberDataExists(%s) after the start = false", cfg.DataDir)
	}
	if _, err := m2.Client().Put(ctx, "/test/learner", "x"); err == nil {
		t.Fatal("a learner's client port took a write; the test's premise is wrong")
	}
	if err := m2.PromoteSelf(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if m2.IsLearner() {
		t.Fatal("still a learner after PromoteSelf")
	}
	// A voter: PromoteSelf is a no-op.
	if err := m2.PromoteSelf(ctx, 0); err != nil {
		t.Fatalf("PromoteSelf of a voter: %v", err)
	}
	put(t, m2.Client(), "/test/voter", "two")
	checkGet(t, m1.Client(), "/test/voter", "two")
	checkMembers(t, m1.Client(), "m1", "m2")

	// A learner removed before it promotes itself is told so.
	peer3 := "https://" + testutil.FreeAddr(t)
	_, initial3, err := store.AddLearner(ctx, m1.Client(), "m3", peer3)
	if err != nil {
		t.Fatal(err)
	}
	cfg3 := tlsMember(t, ca, "m3", peer3)
	cfg3.InitialCluster, cfg3.ClusterState = initial3, store.ClusterStateExisting
	m3 := start(t, cfg3)
	if _, err := store.RemoveMember(ctx, m1.Client(), "m3"); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	if err := m3.PromoteSelf(short, 50*time.Millisecond); err == nil {
		t.Fatal("a removed learner promoted itself")
	} else if !errors.Is(err, api.ErrNotFound) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PromoteSelf of a removed learner = %v, want api.ErrNotFound or a deadline", err)
	}
}
