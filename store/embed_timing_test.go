package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestSingleMemberRestartIsQuick restarts a lone embedded member with
// SingleMemberTickMs and SingleMemberElectionMs on its data dir, as a
// server's upgrade does, and checks that each start (WAL replayed, leader
// elected, ready to serve) takes well under the 0.1–1 s that etcd's default
// timing leaves to chance: the median of five under 250 ms, the slowest
// under 500 ms.
func TestSingleMemberRestartIsQuick(t *testing.T) {
	cfg := storetest.Config(t, t.TempDir())
	cfg.TickMs, cfg.ElectionMs = store.SingleMemberTickMs, store.SingleMemberElectionMs
	start := func() *store.Embedded {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e, err := store.StartEmbedded(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start()
	if _, err := e.Client().Put(t.Context(), "/bosun/test/restart", "v"); err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
	var took []time.Duration
	for range 5 {
		began := time.Now()
		e := start()
		took = append(took, time.Since(began))
		if _, err := e.Client().Get(t.Context(), "/bosun/test/restart"); err != nil {
			t.Fatalf("read after the restart: %v", err)
		}
		_ = e.Close()
	}
	slices.Sort(took)
	t.Logf("restarts: %v", took)
	if took[2] >= 250*time.Millisecond || took[4] >= 500*time.Millisecond {
		t.Errorf("restarts of a lone member took %v (sorted): want a median under 250ms and none over 500ms", took)
	}
}
