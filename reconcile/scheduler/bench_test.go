package scheduler

import (
	"context"

	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/store/storetest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// benchPods returns owners×replicas pods, as Deployments of that many replicas
// would create them (100m cpu, 128Mi memory each).
func benchPods(owners, replicas int) []*corev1.Pod {
	pods := make([]*corev1.Pod, 0, owners*replicas)
	for o := range owners {
		for r := range replicas {
			p := makePod(fmt.Sprintf("app-%d-%d", o, r), "100m", "128Mi", withOwner(fmt.Sprintf("rs-%d", o)))
			p.UID = types.UID(fmt.Sprintf("uid-%d-%d", o, r))
			pods = append(pods, p)
		}
	}
	return pods
}

// BenchmarkSchedule30000Pods1000Nodes places the pods of 100 Deployments × 300
// replicas on 1,000 nodes with the algorithm alone (Schedule + Assume on a
// Snapshot, adaptive percentageOfNodesToScore: 420 feasible nodes scored per pod).
func BenchmarkSchedule30000Pods1000Nodes(b *testing.B) {
	pods := benchPods(100, 300)
	nodes := make([]*corev1.Node, 1000)
	for i := range nodes {
		nodes[i] = makeNode(fmt.Sprintf("node-%04d", i), "32", "128Gi", 110)
	}
	b.ReportAllocs()
	var total time.Duration
	for b.Loop() {
		s := NewSnapshot(SnapshotOptions{Rand: rand.New(rand.NewPCG(1, 1))})
		for _, n := range nodes {
			s.SetNode(n)
		}
		start := time.Now()
		for _, p := range pods {
			node, fe := s.Schedule(p)
			if fe != nil {
				b.Fatalf("%s: %v", p.Name, fe)
			}
			s.Assume(p, node)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(len(pods)*b.N)/total.Seconds(), "pods/s")
}

// BenchmarkScheduleAndBind measures the whole scheduler on real embedded etcd:
// 5,000 pending pods (50 owners × 100) and 1,000 nodes are stored first, then
// the timer runs from Run until every pod's binding is written (each binding
// one compare-and-swap transaction, 16 bind workers).
func BenchmarkScheduleAndBind(b *testing.B) {
	const numNodes, owners, replicas = 1000, 50, 100
	pods := benchPods(owners, replicas)
	var total time.Duration
	b.StopTimer()
	for range b.N {
		st := storetest.Start(b)
		ctx := b.Context()
		txn := st.Txn()
		for i := range numNodes {
			if err := txn.Create(makeNode(fmt.Sprintf("node-%04d", i), "32", "128Gi", 110)); err != nil {
				b.Fatal(err)
			}
		}
		for _, p := range pods {
			p = p.DeepCopy()
			p.UID = ""
			if err := txn.Create(p); err != nil {
				b.Fatal(err)
			}
			if txn.Len() >= 1000 {
				if _, err := txn.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				txn = st.Txn()
			}
		}
		if _, err := txn.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		inf := cache.NewInformers(st, storetest.Logger(b))
		s := New(Config{NewBatch: func() Batch { return st.Txn() }, Informers: inf, Logger: storetest.Logger(b), Seed: 1, BindWorkers: benchWorkers})
		runCtx, cancel := context.WithCancel(ctx)
		inf.Start(runCtx)
		if err := inf.WaitForSync(ctx); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- s.Run(runCtx) }()
		deadline := start.Add(2 * time.Minute)
		for s.Stats().Bound < int64(len(pods)) {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d pods bound after 2 minutes: %+v", s.Stats().Bound, len(pods), s.Stats())
			}
			time.Sleep(time.Millisecond) // poll interval
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if f := s.Stats().BindFailures; f != 0 {
			b.Logf("%d bindings failed and were retried", f)
		}
	}
	b.ReportMetric(float64(len(pods)*b.N)/total.Seconds(), "pods/s")
}

var benchWorkers = 16
