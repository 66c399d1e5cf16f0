package apiserver_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestRunShutsDown checks that Run serves on a free port, reports it, and
// returns nil when ctx ends, ending open watches.
func TestRunShutsDown(t *testing.T) {
	st := storetest.Start(t)
	srv := apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)})
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	e := &env{t: t, st: st, url: "http://" + addr.String()}
	if code, _ := e.do("GET", "/healthz", nil); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	w := e.watch("/api/v1/pods?watch=true")
	stop()
	if err := testutil.Receive(t, done, 10*time.Second, "Run to return after ctx ended"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if ev, ok := w.next(); ok {
		t.Fatalf("watch went on after shutdown: %+v", ev)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Fatal("still listening after shutdown")
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := apiserver.New(apiserver.Config{Store: storetest.Start(t)})
	if err := srv.Run(context.Background(), ln.Addr().String(), nil); err == nil {
		t.Fatal("Run on a busy port succeeded")
	}
}
