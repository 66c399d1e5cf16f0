package scheduler

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current results")

func bound(p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeName = node
	return p
}

// TestScheduleGolden schedules pods one after the other (each placed pod is
// assumed, so later ones see it) and compares every decision and unschedulable
// message with testdata/<case>.golden.
func TestScheduleGolden(t *testing.T) {
	const (
		noSched = corev1.TaintEffectNoSchedule
		noExec  = corev1.TaintEffectNoExecute
		prefer  = corev1.TaintEffectPreferNoSchedule
		exists  = corev1.TolerationOpExists
		equal   = corev1.TolerationOpEqual
	)
	cases := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod // already bound
		pods     []*corev1.Pod // to schedule, in order
	}{
		{
			name: "resources",
			nodes: []*corev1.Node{
				makeNode("small-a", "1", "1Gi", 110),
				makeNode("small-b", "1", "1Gi", 110),
				makeNode("big", "4", "8Gi", 110),
			},
			existing: []*corev1.Pod{bound(makePod("old", "500m", "512Mi"), "small-a")},
			pods: []*corev1.Pod{
				makePod("cpu-2", "2", "100Mi"),                               // only big
				makePod("cpu-1500m", "1500m", ""),                            // big has 2 left
				makePod("cpu-600m", "600m", "10Mi"),                          // small-b (emptier than small-a)
				makePod("cpu-3", "3", ""),                                    // nowhere: cpu everywhere
				makePod("mem-4gi", "", "4Gi"),                                // big has 8Gi-100Mi
				makePod("mem-8gi", "", "8Gi"),                                // nowhere: memory everywhere
				makePod("both", "2", "4Gi"),                                  // nowhere: both
				makePod("init-heavy", "100m", "10Mi", withInit("3", "10Mi")), // init needs 3 cpu
				makePod("best-effort", "", ""),                               // anywhere
			},
		},
		{
			name: "too-many-pods",
			nodes: []*corev1.Node{
				makeNode("n1", "4", "4Gi", 1),
				makeNode("n2", "4", "4Gi", 2),
			},
			pods: []*corev1.Pod{
				makePod("p1", "", ""),
				makePod("p2", "", ""),
				makePod("p3", "", ""),
				makePod("p4", "", ""),
			},
		},
		{
			name: "issue-example",
			nodes: []*corev1.Node{
				makeNode("a", "1", "4Gi", 110, withLabels("disk", "ssd")),
				makeNode("b", "1", "4Gi", 110, withLabels("disk", "ssd")),
				makeNode("c", "8", "4Gi", 110, withLabels("disk", "hdd")),
			},
			pods: []*corev1.Pod{makePod("web", "2", "", withNodeSelector("disk", "ssd"))},
		},
		{
			name: "node-selector",
			nodes: []*corev1.Node{
				makeNode("eu-1", "4", "4Gi", 110, withLabels("zone", "eu", "gpu", "true")),
				makeNode("eu-2", "4", "4Gi", 110, withLabels("zone", "eu")),
				makeNode("us-1", "4", "4Gi", 110, withLabels("zone", "us")),
			},
			pods: []*corev1.Pod{
				makePod("in-us", "", "", withNodeSelector("zone", "us")),
				makePod("eu-gpu", "", "", withNodeSelector("zone", "eu", "gpu", "true")),
				makePod("asia", "", "", withNodeSelector("zone", "asia")),
				makePod("by-hostname", "", "", withNodeSelector("kubernetes.io/hostname", "eu-2")),
			},
		},
		{
			name: "affinity-operators",
			nodes: []*corev1.Node{
				makeNode("n1", "4", "4Gi", 110, withLabels("zone", "a", "cores", "8")),
				makeNode("n2", "4", "4Gi", 110, withLabels("zone", "b", "cores", "16", "spot", "")),
				makeNode("n3", "4", "4Gi", 110, withLabels("zone", "c", "cores", "x")),
			},
			pods: []*corev1.Pod{
				makePod("in", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpIn, "b", "z"))),
				makePod("notin", "", "", withAffinity(expr("zone", corev1.NodeSelectorOpNotIn, "a", "b"))),
				makePod("exists", "", "", withAffinity(expr("spot", corev1.NodeSelectorOpExists))),
				makePod("doesnotexist", "", "", withAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "spot", Operator: corev1.NodeSelectorOpDoesNotExist},
					{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}},
				}})),
				makePod("gt", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpGt, "10"))),
				makePod("lt", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpLt, "10"))),
				makePod("gt-none", "", "", withAffinity(expr("cores", corev1.NodeSelectorOpGt, "100"))),
				makePod("fields", "", "", withAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
					{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n3"}},
				}})),
				makePod("terms-ored", "", "", withAffinity(
					expr("zone", corev1.NodeSelectorOpIn, "nowhere"),
					expr("zone", corev1.NodeSelectorOpIn, "c"))),
				makePod("empty-term", "", "", withAffinity(corev1.NodeSelectorTerm{})),
				makePod("selector-and-affinity", "", "", withNodeSelector("zone", "a"),
					withAffinity(expr("zone", corev1.NodeSelectorOpIn, "b"))),
			},
		},
		{
			name: "taints",
			nodes: []*corev1.Node{
				makeNode("gpu", "4", "4Gi", 110, withTaint("gpu", "true", noSched)),
				makeNode("drain", "4", "4Gi", 110, withTaint("maintenance", "", noExec)),
				makeNode("soft", "4", "4Gi", 110, withTaint("slow", "yes", prefer)),
			},
			pods: []*corev1.Pod{
				makePod("plain", "", ""),
				makePod("tolerates-gpu", "", "", withToleration("gpu", equal, "true", noSched),
					withNodeSelector("kubernetes.io/hostname", "gpu")),
				makePod("wrong-value", "", "", withToleration("gpu", equal, "false", noSched),
					withNodeSelector("kubernetes.io/hostname", "gpu")),
				makePod("wrong-effect", "", "", withToleration("gpu", exists, "", noExec),
					withNodeSelector("kubernetes.io/hostname", "gpu")),
				makePod("exists-any-effect", "", "", withToleration("maintenance", exists, "", ""),
					withNodeSelector("kubernetes.io/hostname", "drain")),
				makePod("tolerates-all", "", "", withToleration("", exists, "", ""),
					withAffinity(expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, "gpu", "drain"))),
				makePod("nothing-tolerated", "", "", withAffinity(expr("kubernetes.io/hostname", corev1.NodeSelectorOpIn, "gpu", "drain"))),
			},
		},
		{
			name: "host-ports",
			nodes: []*corev1.Node{
				makeNode("n1", "4", "4Gi", 110),
				makeNode("n2", "4", "4Gi", 110),
			},
			existing: []*corev1.Pod{bound(makePod("old", "", "", withHostPort(8080, "", "10.0.0.1")), "n2")},
			pods: []*corev1.Pod{
				makePod("http-1", "", "", withHostPort(80, corev1.ProtocolTCP, "")),
				makePod("http-2", "", "", withHostPort(80, corev1.ProtocolTCP, "")),
				makePod("http-3", "", "", withHostPort(80, "", "")),
				makePod("dns-udp", "", "", withHostPort(80, corev1.ProtocolUDP, "")),
				makePod("alt-ip", "", "", withHostPort(8080, corev1.ProtocolTCP, "10.0.0.2"),
					withNodeSelector("kubernetes.io/hostname", "n2")),
				makePod("any-ip", "", "", withHostPort(8080, corev1.ProtocolTCP, "0.0.0.0"),
					withNodeSelector("kubernetes.io/hostname", "n2")),
			},
		},
		{
			name: "unschedulable-and-not-ready",
			nodes: []*corev1.Node{
				makeNode("cordoned", "4", "4Gi", 110, cordoned),
				makeNode("down", "4", "4Gi", 110, withReady(corev1.ConditionFalse)),
				makeNode("lost", "4", "4Gi", 110, withReady(corev1.ConditionUnknown)),
				makeNode("ok", "1", "4Gi", 110),
			},
			pods: []*corev1.Pod{
				makePod("fits-ok", "500m", ""),
				makePod("too-big", "2", ""),
				makePod("tolerates-cordon", "2", "", withToleration(TaintNodeUnschedulable, exists, "", noSched)),
				makePod("tolerates-not-ready", "2", "", withToleration(TaintNodeNotReady, exists, "", noSched)),
				makePod("tolerates-unreachable", "2", "", withToleration(TaintNodeUnreachable, exists, "", "")),
			},
		},
		{
			name: "scoring",
			nodes: []*corev1.Node{
				makeNode("busy", "4", "8Gi", 110),
				makeNode("idle", "4", "8Gi", 110),
				makeNode("cpu-heavy", "4", "8Gi", 110),
			},
			existing: []*corev1.Pod{
				bound(makePod("x", "3", "6Gi"), "busy"),
				bound(makePod("y", "3", "1Gi"), "cpu-heavy"),
			},
			pods: []*corev1.Pod{
				makePod("first", "1", "2Gi"),     // idle: least allocated
				makePod("memory", "500m", "5Gi"), // busy lacks memory; idle 112 beats cpu-heavy 111
			},
		},
		{
			name:  "no-nodes",
			nodes: nil,
			pods:  []*corev1.Pod{makePod("lonely", "", "")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSnapshot(SnapshotOptions{Rand: rand.New(rand.NewPCG(1, 2))})
			for _, n := range tc.nodes {
				s.SetNode(n)
			}
			for _, p := range tc.existing {
				s.SetPod(p)
			}
			var b strings.Builder
			for _, p := range tc.pods {
				node, fe := s.Schedule(p)
				if fe != nil {
					fmt.Fprintf(&b, "%s: %s\n", p.Name, fe.Error())
					continue
				}
				s.Assume(p, node)
				fmt.Fprintf(&b, "%s -> %s\n", p.Name, node)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), []byte(b.String()), *update)
		})
	}
}

func TestSpreadOwnerPods(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		s := NewSnapshot(SnapshotOptions{Rand: rand.New(rand.NewPCG(seed, seed))})
		for _, n := range []string{"a", "b", "c"} {
			s.SetNode(makeNode(n, "4", "8Gi", 110))
		}
		// Another owner's pods weigh on node a: spreading still balances rs-1.
		perNode := map[string]int{}
		for i := range 6 {
			p := makePod(fmt.Sprintf("web-%d", i), "100m", "100Mi", withOwner("rs-1"))
			node, fe := s.Schedule(p)
			if fe != nil {
				t.Fatalf("seed %d: %s: %v", seed, p.Name, fe)
			}
			s.Assume(p, node)
			perNode[node]++
		}
		if perNode["a"] != 2 || perNode["b"] != 2 || perNode["c"] != 2 {
			t.Fatalf("seed %d: 6 pods of one owner over 3 equal nodes: got %v, want 2 each", seed, perNode)
		}
	}
}

func TestSpreadBeatsPacking(t *testing.T) {
	// Node a is emptier, but already runs 3 pods of the owner; b runs none.
	s := NewSnapshot(SnapshotOptions{})
	s.SetNode(makeNode("a", "8", "16Gi", 110))
	s.SetNode(makeNode("b", "8", "16Gi", 110))
	for i := range 3 {
		s.SetPod(bound(makePod(fmt.Sprintf("old-%d", i), "100m", "100Mi", withOwner("rs")), "a"))
	}
	s.SetPod(bound(makePod("other", "1", "1Gi"), "b"))
	node, fe := s.Schedule(makePod("new", "100m", "100Mi", withOwner("rs")))
	if fe != nil || node != "b" {
		t.Fatalf("got %q, %v; want b", node, fe)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	cases := []struct {
		pct   int32
		nodes int
		want  int
	}{
		{0, 3, 3},
		{0, 99, 99},
		{0, 100, 100},
		{0, 200, 100},     // 49% of 200 = 98 -> at least 100
		{0, 1000, 420},    // 50 - 8 = 42%
		{0, 5000, 500},    // 50 - 40 = 10%
		{0, 10000, 500},   // 50 - 80 < 5 -> 5%
		{10, 1000, 100},   // 10% = 100
		{50, 1000, 500},   //
		{100, 1000, 1000}, //
		{1, 5000, 100},    // at least 100
		{200, 5000, 5000}, // above 100 = all
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d%%-of-%d", tc.pct, tc.nodes), func(t *testing.T) {
			s := NewSnapshot(SnapshotOptions{PercentageOfNodesToScore: tc.pct})
			if got := s.numFeasibleNodesToFind(tc.nodes); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRoundRobinSample(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	for i := range 1000 {
		s.SetNode(makeNode(fmt.Sprintf("n%04d", i), "64", "256Gi", 1000))
	}
	// Each search stops after 420 feasible nodes and the next starts there: the
	// chosen nodes of three searches come from three different windows.
	for i := range 3 {
		start := 420 * i % 1000
		p := makePod(fmt.Sprintf("p%d", i), "100m", "100Mi")
		node, fe := s.Schedule(p)
		if fe != nil {
			t.Fatal(fe)
		}
		var idx int
		if _, err := fmt.Sscanf(node, "n%04d", &idx); err != nil {
			t.Fatal(err)
		}
		if off := (idx - start + 1000) % 1000; off >= 420 {
			t.Fatalf("search %d chose %s, outside the 420 nodes from n%04d", i, node, start)
		}
		if want := (start + 420) % 1000; s.next != want {
			t.Fatalf("search %d: next start %d, want %d", i, s.next, want)
		}
	}
	// Infeasible nodes count as processed too.
	s2 := NewSnapshot(SnapshotOptions{})
	for i := range 10 {
		s2.SetNode(makeNode(fmt.Sprintf("m%d", i), "1", "1Gi", 110))
	}
	if _, fe := s2.Schedule(makePod("huge", "2", "")); fe == nil || s2.next != 0 {
		t.Fatalf("got %v, next %d; want a fit error after all 10 nodes", fe, s2.next)
	}
}

func TestSnapshotAccounting(t *testing.T) {
	s := NewSnapshot(SnapshotOptions{})
	s.SetNode(makeNode("n", "1", "1Gi", 110))
	p := makePod("p", "600m", "", withOwner("rs"))
	s.Assume(p, "n")
	if _, fe := s.Schedule(makePod("q", "600m", "")); fe == nil {
		t.Fatal("assumed pod not counted")
	}
	s.SetPod(bound(p.DeepCopy(), "n")) // informer confirms: still counted once
	if got := s.byName["n"].reqCPU; got != 600 {
		t.Fatalf("after confirm: requested cpu %d, want 600", got)
	}
	s.Forget(p) // confirmed placements survive Forget
	if got := s.byName["n"].reqCPU; got != 600 {
		t.Fatalf("after forget of confirmed: requested cpu %d, want 600", got)
	}
	done := bound(p.DeepCopy(), "n")
	done.Status.Phase = corev1.PodSucceeded
	s.SetPod(done)
	if n := s.byName["n"]; n.reqCPU != 0 || n.pods != 0 || len(n.owners) != 0 {
		t.Fatalf("terminated pod still counted: %+v", n)
	}
	q := makePod("q", "600m", "", withHostPort(80, "", ""))
	s.Assume(q, "n")
	s.Forget(q)
	if n := s.byName["n"]; n.reqCPU != 0 || n.pods != 0 || len(n.ports) != 0 {
		t.Fatalf("forgotten pod still counted: %+v", n)
	}
	// A node removed keeps its pods' accounting until they go; it is no longer a candidate.
	s.Assume(q, "n")
	s.RemoveNode("n")
	if _, fe := s.Schedule(makePod("r", "", "")); fe == nil || fe.NumAllNodes != 0 {
		t.Fatalf("removed node still a candidate: %v", fe)
	}
	s.SetNode(makeNode("n", "1", "1Gi", 110))
	if got := s.byName["n"].reqCPU; got != 600 {
		t.Fatalf("node back: requested cpu %d, want 600", got)
	}
	s.RemovePod(q)
	s.RemoveNode("n")
	if len(s.byName) != 0 || len(s.pods) != 0 {
		t.Fatalf("leftovers: %d nodes, %d pods", len(s.byName), len(s.pods))
	}
}

func TestFitErrorMessage(t *testing.T) {
	cases := []struct {
		name string
		fe   FitError
		want string
	}{
		{"issue", FitError{NumAllNodes: 3, Reasons: map[string]int{ReasonInsufficientCPU: 2, ReasonNodeAffinity: 1}},
			"0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."},
		{"sorted-as-strings", FitError{NumAllNodes: 12, Reasons: map[string]int{ReasonInsufficientCPU: 10, ReasonInsufficientMem: 2}},
			"0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory."},
		{"no-nodes", FitError{}, "no nodes available to schedule pods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fe.Error(); got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
