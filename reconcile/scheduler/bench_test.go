package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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
