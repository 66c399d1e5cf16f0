package hollow_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/hollow"
	"github.com/bosun-dev/bosun/reconcile/controlplane"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

func must(name string) api.Resource {
	r, ok := api.Lookup(name)
	if !ok {
		panic(name)
	}
	return r
}

var (
	podsR  = must("pods")
	nodesR = must("nodes")
)

// setup starts a control plane on embedded etcd: the API server and the
// controllers (node lifecycle assigns pod CIDRs, the scheduler binds pods
// to Ready nodes).
func setup(tb testing.TB) (*store.Store, *client.Client) {
	tb.Helper()
	st := storetest.Start(tb)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := controlplane.RunControllers(ctx, controlplane.Config{Store: st, Logger: storetest.Logger(tb)}); err != nil && ctx.Err() == nil {
			tb.Errorf("controllers: %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(tb)}).Handler())
	tb.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.WithHTTPClient(hollow.HTTPClient()))
	if err != nil {
		tb.Fatal(err)
	}
	return st, c
}

func run(tb testing.TB, cfg hollow.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := hollow.Run(ctx, cfg); err != nil {
			tb.Errorf("hollow.Run: %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

func pod(i int, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("p-%d", i)},
		Spec: corev1.PodSpec{NodeName: node, RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{Name: "app", Image: "bosun.local/hello:v1"}}},
	}
}

func ready(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitAllReady polls the API until n pods are Running and Ready.
func waitAllReady(tb testing.TB, c *client.Client, n int, timeout time.Duration) {
	tb.Helper()
	testutil.EventuallyEvery(tb, timeout, 200*time.Millisecond, fmt.Sprintf("%d pods Running and Ready", n), func() (bool, string) {
		objs, err := c.List(context.Background(), podsR, "", "")
		if err != nil {
			tb.Fatal(err)
		}
		got := 0
		for _, o := range objs {
			if ready(o.(*corev1.Pod)) {
				got++
			}
		}
		return got == n, fmt.Sprintf("%d Running and Ready", got)
	})
}

func TestHollowNodes(t *testing.T) {
	st, c := setup(t)
	cfg := hollow.Config{Nodes: 20, Client: c, StartDelay: 20 * time.Millisecond, Logger: storetest.Logger(t)}
	// Some pods are bound before the nodes start, some after.
	for i := range 20 {
		if err := st.Create(context.Background(), pod(i, cfg.NodeName(i%20))); err != nil {
			t.Fatal(err)
		}
	}
	run(t, cfg)
	var nodes []api.Object
	testutil.Eventually(t, 15*time.Second, "20 nodes to register", func() (bool, string) {
		var err error
		if nodes, err = c.List(context.Background(), nodesR, "", ""); err != nil {
			t.Fatal(err)
		}
		return len(nodes) == 20, fmt.Sprintf("%d registered", len(nodes))
	})
	if q := nodes[0].(*corev1.Node).Status.Capacity[corev1.ResourceCPU]; q.String() != "4" {
		t.Errorf("cpu capacity = %s, want 4", q.String())
	}
	for i := 20; i < 40; i++ {
		if err := st.Create(context.Background(), pod(i, cfg.NodeName(i%20))); err != nil {
			t.Fatal(err)
		}
	}
	waitAllReady(t, c, 40, 20*time.Second)
	objs, _ := c.List(context.Background(), podsR, "", "")
	ips := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.Status.HostIP == "" || p.Status.PodIP == "" {
			t.Errorf("pod %s: hostIP %q podIP %q", p.Name, p.Status.HostIP, p.Status.PodIP)
		}
		ips[p.Spec.NodeName+"/"+p.Status.PodIP] = true
	}
	if len(ips) != 40 {
		t.Errorf("%d distinct node/podIP pairs, want 40", len(ips))
	}
}

// TestNoAddressConflict registers many hollow nodes at once and creates
// pods immediately, before any node has its pod CIDR: no pod may start
// before its node's network is ready, so every pod IP is unique and inside
// its node's pod CIDR (the fallback range once gave several nodes the
// same 10.88.0.x).
func TestNoAddressConflict(t *testing.T) {
	const nodes, pods = 30, 120
	st, c := setup(t)
	cfg := hollow.Config{Nodes: nodes, Client: c, StartDelay: 10 * time.Millisecond, Logger: storetest.Logger(t), Seed: 11}
	run(t, cfg)
	for i := range pods {
		p := pod(i, "") // the scheduler binds them, to Ready nodes only
		if err := st.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	waitAllReady(t, c, pods, 60*time.Second)

	objs, err := c.List(context.Background(), nodesR, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cidrOf := map[string]netip.Prefix{}
	for _, o := range objs {
		n := o.(*corev1.Node)
		p, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			t.Fatalf("node %s: pod CIDR %q: %v", n.Name, n.Spec.PodCIDR, err)
		}
		for _, other := range cidrOf {
			if other.Overlaps(p) {
				t.Errorf("node %s: pod CIDR %s overlaps %s", n.Name, p, other)
			}
		}
		cidrOf[n.Name] = p
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeNetworkUnavailable && cond.Status != corev1.ConditionFalse {
				t.Errorf("node %s: NetworkUnavailable = %s after its pods run", n.Name, cond.Status)
			}
		}
	}
	if len(cidrOf) != nodes {
		t.Fatalf("%d nodes, want %d", len(cidrOf), nodes)
	}
	objs, err = c.List(context.Background(), podsR, "", "")
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	used := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		used[p.Spec.NodeName] = true
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			t.Errorf("pod %s on %s: pod IP %q: %v", p.Name, p.Spec.NodeName, p.Status.PodIP, err)
			continue
		}
		if cidr, ok := cidrOf[p.Spec.NodeName]; !ok || !cidr.Contains(ip) {
			t.Errorf("pod %s on %s: IP %s outside the node's pod CIDR %s", p.Name, p.Spec.NodeName, ip, cidr)
		}
		if prev, dup := owner[ip.String()]; dup {
			t.Errorf("pod IP %s given to %s and %s", ip, prev, p.Name)
		}
		owner[ip.String()] = p.Name
	}
	if len(owner) != pods {
		t.Errorf("%d distinct pod IPs, want %d", len(owner), pods)
	}
	t.Logf("%d pods on %d of %d nodes, every IP unique and in its node's CIDR", pods, len(used), nodes)
}

// BenchmarkHollowPodsRunning measures how fast 100 hollow nodes bring 3,000
// pods, bound before they start, to Running and Ready through the API.
func BenchmarkHollowPodsRunning(b *testing.B) {
	const nodes, pods = 100, 3000
	for range b.N {
		b.StopTimer()
		st, c := setup(b)
		cfg := hollow.Config{Nodes: nodes, Client: c, StartDelay: 100 * time.Millisecond}
		for start := 0; start < pods; start += 100 {
			txn := st.Txn()
			for i := start; i < start+100; i++ {
				if err := txn.Create(pod(i, cfg.NodeName(i%nodes))); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := txn.Commit(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		began := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = hollow.Run(ctx, cfg) })
		waitAllReady(b, c, pods, 120*time.Second)
		b.ReportMetric(float64(pods)/time.Since(began).Seconds(), "pods/s")
		b.StopTimer()
		cancel()
		wg.Wait()
	}
}
