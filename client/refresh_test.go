package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

// registry is what fake servers answer on api.PathServers.
type registry struct {
	mu   sync.Mutex
	list []api.ServerInfo
}

func (r *registry) set(urls ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = nil
	for i, u := range urls {
		r.list = append(r.list, api.ServerInfo{Name: fmt.Sprintf("s%d", i), URL: u})
	}
}

func (r *registry) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != api.PathServers {
		echo(w, req)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = json.NewEncoder(w).Encode(r.list)
}

// TestServerRefresh has an agent's client learn the registered servers,
// save them, fail over to one it learned, and, restarted with only the
// saved file and a dead --server, still reach the cluster.
func TestServerRefresh(t *testing.T) {
	var reg registry
	a, b, c := newCounter(t, reg.serve), newCounter(t, reg.serve), newCounter(t, reg.serve)
	reg.set(a.srv.URL, b.srv.URL)
	path := filepath.Join(t.TempDir(), "agent", "servers.json")
	cl, err := client.New(a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := (client.ServerRefresh{Client: cl, Static: []string{a.srv.URL}, Path: path, Interval: 10 * time.Millisecond, Logger: storetest.Logger(t)}).Run(ctx); err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitServers := func(want ...string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("servers %v", want), func() (bool, string) {
			got := cl.ServerURLs()
			return slices.Equal(got, want), fmt.Sprint(got)
		})
	}
	waitServers(a.srv.URL, b.srv.URL)
	// The file is written after the client switched to the new list.
	testutil.Eventually(t, 10*time.Second, "servers saved", func() (bool, string) {
		saved, err := client.LoadServerList(path)
		return err == nil && slices.Equal(saved, []string{a.srv.URL, b.srv.URL}), fmt.Sprint(saved, err)
	})

	// The registry changes: the static server stays first, the list follows.
	reg.set(b.srv.URL, c.srv.URL)
	waitServers(a.srv.URL, b.srv.URL, c.srv.URL)

	// The server given on the command line dies: requests and refreshes go on
	// through a learned one.
	a.srv.Close()
	if _, err := cl.Get(ctx, storetest.Resource(t, "configmaps"), "default", "x"); err != nil {
		t.Fatalf("Get with the --server dead: %v", err)
	}
	reg.set(c.srv.URL)
	waitServers(a.srv.URL, c.srv.URL)
	if cl.URL() != c.srv.URL {
		t.Errorf("URL = %s, want %s (b is no longer listed, a is down)", cl.URL(), c.srv.URL)
	}

	// Every server gone: the list and the file stay as they were.
	cancel()
	<-done
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Close()
	c.srv.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_ = client.ServerRefresh{Client: cl, Static: []string{a.srv.URL}, Path: path, Interval: 10 * time.Millisecond}.Run(ctx2)
	after, err := os.ReadFile(path)
	if err != nil || string(after) != string(before) {
		t.Errorf("saved list after failed refreshes = %s, %v; want it unchanged: %s", after, err, before)
	}
	if got := cl.ServerURLs(); !slices.Equal(got, []string{a.srv.URL, c.srv.URL}) {
		t.Errorf("servers after failed refreshes = %v, want them kept", got)
	}
}

// TestRestartFromSavedList starts a client as a restarted agent does: its
// --server is dead, and the saved list names a live one.
func TestRestartFromSavedList(t *testing.T) {
	live := newCounter(t, echo)
	dir := t.TempDir()
	path := filepath.Join(dir, "servers.json")
	if saved, err := client.LoadServerList(path); err != nil || saved != nil {
		t.Fatalf("LoadServerList of a missing file = %v, %v; want nothing", saved, err)
	}
	list := []api.ServerInfo{{Name: "s2", URL: live.srv.URL}}
	b, _ := json.Marshal(list)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	saved, err := client.LoadServerList(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(deadURL(t), client.WithServers(saved...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx(t), storetest.Resource(t, "configmaps"), "default", "x"); err != nil || live.n.Load() != 1 {
		t.Fatalf("Get = %v, %d requests to the saved server; want it answered there", err, live.n.Load())
	}
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.LoadServerList(path); err == nil {
		t.Error("LoadServerList of a corrupt file = nil error")
	}
}
