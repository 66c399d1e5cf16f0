package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// BenchmarkTxnCreate1000 measures one Txn creating 1,000 Deployments on embedded
// etcd (with fsync), including encoding: the shape of a large Git commit's sync.
func BenchmarkTxnCreate1000(b *testing.B) {
	e := storetest.StartEmbedded(b, storetest.Config(b, b.TempDir()))
	s := store.New(e.Client(), e.StoreOptions())
	ctx := b.Context()
	var size int
	var commit time.Duration
	i := 0
	for b.Loop() {
		txn := s.Txn()
		ns := fmt.Sprintf("bench-%d", i)
		i++
		for j := range 1000 {
			if err := txn.Create(deployment(ns, fmt.Sprintf("app-%04d", j), 3, map[string]string{"app": "bench"})); err != nil {
				b.Fatal(err)
			}
		}
		size = txn.Size()
		start := time.Now()
		if _, err := txn.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		commit += time.Since(start)
	}
	b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric(float64(size), "txn-bytes")
}

// BenchmarkPutLoop is the raw reference: one clientv3 Put per op, one after the
// other, of a value about the size of a stored Deployment.
func BenchmarkPutLoop(b *testing.B) {
	e := storetest.StartEmbedded(b, storetest.Config(b, b.TempDir()))
	c := e.Client()
	ctx := b.Context()
	r, _ := api.Lookup("deploy")
	s := store.New(c, e.StoreOptions())
	d := deployment("default", "app", 3, map[string]string{"app": "bench"})
	if err := s.Create(ctx, d); err != nil {
		b.Fatal(err)
	}
	value, _, err := s.GetRaw(ctx, s.Key(r, "default", "app"))
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := c.Put(ctx, fmt.Sprintf("/bench/put/%d", i), string(value)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	b.ReportMetric(float64(len(value)), "value-bytes")
}
