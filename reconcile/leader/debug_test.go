package leader

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/store/storetest"
)

func TestDebugKill(t *testing.T) {
	s := storetest.Start(t)
	c := newClient(t, s.Client())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	elected := make(chan struct{})
	go Run(ctx, c, "x", "me", 1, log, func(ctx context.Context) error { close(elected); <-ctx.Done(); log.Info("lead ctx done"); return nil })
	<-elected
	began := time.Now()
	c.Close()
	for i := 0; i < 40; i++ {
		resp, _ := s.Client().Get(context.Background(), KeyPrefix+"x/", clientv3.WithPrefix())
		t.Logf("%v keys=%d", time.Since(began), len(resp.Kvs))
		if len(resp.Kvs) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
