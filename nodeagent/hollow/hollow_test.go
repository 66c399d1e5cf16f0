package hollow_test

import (
	"context"
	"fmt"
	"net/http/httptest"
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

func setup(tb testing.TB) (*store.Store, *client.Client) {
	tb.Helper()
	st := storetest.Start(tb)
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
