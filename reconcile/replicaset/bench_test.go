package replicaset

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/store/storetest"
)

// BenchmarkScaleUp1000 measures the time from creating one ReplicaSet of 1,000
// replicas to the pod cache holding all 1,000 pods, with the controller running
// (Run, real clock) on embedded etcd.
func BenchmarkScaleUp1000(b *testing.B) {
	const n = 1000
	s := storetest.Start(b)
	inf := cache.NewInformers(s, storetest.Logger(b))
	c := New(Config{Writer: s, Getter: s, NewBatch: func() Batch { return s.Txn() }, Informers: inf, Logger: storetest.Logger(b), Clock: clock.RealClock{}, Kind: KindReplicaSet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	pods := inf.ForKind("pods")
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		ns := fmt.Sprintf("bench-%d", i)
		rs := testRS("web", n, map[string]string{"app": "web"})
		rs.Namespace = ns
		start := time.Now()
		if err := s.Create(ctx, rs); err != nil {
			b.Fatal(err)
		}
		deadline := start.Add(2 * time.Minute)
		for len(pods.List(ns, nil)) < n {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d pods after 2 minutes", len(pods.List(ns, nil)), n)
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "pods/s")
	}
	b.StopTimer()
}
