package storetest

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// Config returns the EmbedConfig tests use: data in dir/etcd, free ports on 127.0.0.1,
// TickMs 10, ElectionMs 100, the embedded defaults for limits, and etcd's warnings
// logged through tb.Log while the test runs.
func Config(tb testing.TB, dir string) store.EmbedConfig {
	return store.EmbedConfig{
		DataDir:      filepath.Join(dir, "etcd"), // etcd creates it 0700 as it wants
		ClientURL:    "http://127.0.0.1:0",
		PeerURL:      "http://127.0.0.1:0",
		TickMs:       10,
		ElectionMs:   100,
		Logger:       Logger(tb),
		StartTimeout: 30 * time.Second,
	}
}

// StartEmbedded starts an embedded etcd with cfg and registers its Close with
// tb.Cleanup. It fails the test when etcd does not start.
func StartEmbedded(tb testing.TB, cfg store.EmbedConfig) *store.Embedded {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("storetest: %v", err)
		}
	})
	return e
}

// Start starts an embedded etcd in tb.TempDir() (see Config) and returns a Store on
// it whose limits match the server's. Everything is stopped by tb.Cleanup.
func Start(tb testing.TB) *store.Store {
	tb.Helper()
	return StartAt(tb, nil)
}

// StartAt is Start with a store whose clock (creationTimestamp and the like)
// is now; a nil now is time.Now.
func StartAt(tb testing.TB, now func() time.Time) *store.Store {
	tb.Helper()
	e := StartEmbedded(tb, Config(tb, tb.TempDir()))
	opts := e.StoreOptions()
	opts.Logger = Logger(tb)
	opts.Now = now
	return store.New(e.Client(), opts)
}

// Resource returns the resource api.Lookup finds for name ("pods",
// "deploy", "Deployment") and fails the test when there is none.
func Resource(tb testing.TB, name string) api.Resource {
	tb.Helper()
	r, ok := api.Lookup(name)
	if !ok {
		tb.Fatalf("storetest: no resource %q", name)
	}
	return r
}

// Modify reads the object namespace/name of s into obj, calls change on it
// and writes it back, as a controller updates what it owns; it fails the
// test when the read or the write fails (a conflict included).
func Modify[T api.Object](tb testing.TB, s *store.Store, namespace, name string, obj T, change func(T)) {
	tb.Helper()
	if err := s.Get(tb.Context(), namespace, name, obj); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	change(obj)
	if err := s.Update(tb.Context(), obj); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
}

// Names returns "namespace/name" of each of objs, in order, for comparing a
// list with what a test expects.
func Names(objs []api.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// Logger returns a logger that writes to tb.Log until the test ends and drops
// records after that (etcd's goroutines may still log while stopping).
func Logger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
