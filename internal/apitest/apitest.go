package apitest

import (
	"net/http/httptest"
	"testing"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// Start starts an embedded etcd (storetest.Start) and serves the API on it
// (Serve). It returns the store, for the test to arrange and inspect state,
// and the API's base URL. Everything stops when the test ends.
func Start(tb testing.TB) (*store.Store, string) {
	tb.Helper()
	st := storetest.Start(tb)
	return st, Serve(tb, st)
}

// Serve serves the API on st at a local URL, which it returns, until the
// test ends; the server logs through tb.
func Serve(tb testing.TB, st *store.Store) string {
	tb.Helper()
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(tb)}).Handler())
	tb.Cleanup(ts.Close)
	return ts.URL
}
