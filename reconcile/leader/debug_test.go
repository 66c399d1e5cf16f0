package leader

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/bosun-dev/bosun/store/storetest"
)

func TestDebugKill(t *testing.T) {
	s := storetest.Start(t)
	c := newClient(t, s.Client())
	sess, err := concurrency.NewSession(c, concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	e := concurrency.NewElection(sess, "/x")
	if err := e.Campaign(context.Background(), "me"); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c.Close()
	for i := 0; i < 40; i++ {
		resp, _ := s.Client().Get(context.Background(), "/x/", clientv3.WithPrefix())
		ttl, _ := s.Client().TimeToLive(context.Background(), sess.Lease())
		t.Logf("%v keys=%d ttl=%v", time.Since(began), len(resp.Kvs), ttl.TTL)
		if len(resp.Kvs) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}
