package daemonset_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/hollow"
	"github.com/bosun-dev/bosun/reconcile/daemonset"
	"github.com/bosun-dev/bosun/reconcile/nodelifecycle"
	"github.com/bosun-dev/bosun/reconcile/scheduler"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// cluster is a control plane on embedded etcd (node lifecycle for pod CIDRs
// and not-ready taints, the scheduler, the DaemonSet controller) with its API
// served to hollow nodes.
type cluster struct {
	t  testing.TB
	st *store.Store
	c  *client.Client
}

// startCluster starts the control plane; log receives its logs (nil: the
// test's log).
func startCluster(tb testing.TB, log *slog.Logger) *cluster {
	tb.Helper()
	st := storetest.Start(tb)
	if log == nil {
		log = storetest.Logger(tb)
	}
	inf := cache.NewInformers(st, log)
	// A /24 for each of up to 4,096 nodes.
	_, cidr, _ := net.ParseCIDR("10.64.0.0/12")
	nl, err := nodelifecycle.New(nodelifecycle.Config{Writer: st, Getter: st, Informers: inf, Logger: log, Workers: 4, ClusterCIDR: cidr})
	if err != nil {
		tb.Fatal(err)
	}
	sched := scheduler.New(scheduler.Config{NewBatch: func() scheduler.Batch { return st.Txn() }, Informers: inf, Logger: log})
	ds := daemonset.New(daemonset.Config{Writer: st, Getter: st, NewBatch: func() daemonset.Batch { return st.Txn() }, Informers: inf, Logger: log, Workers: 4})
	testutil.Start(tb, func(ctx context.Context) error {
		inf.Start(ctx)
		var wg sync.WaitGroup
		for _, r := range []interface{ Run(context.Context) error }{nl, sched, ds} {
			wg.Go(func() {
				if err := r.Run(ctx); err != nil {
					tb.Errorf("controller: %v", err)
				}
			})
		}
		wg.Wait()
		return nil
	})
	ts := httptest.NewServer(apiserver.New(apiserver.Config{Store: st, Logger: log}).Handler())
	tb.Cleanup(ts.Close)
	c, err := client.New(ts.URL, client.WithHTTPClient(hollow.HTTPClient()))
	if err != nil {
		tb.Fatal(err)
	}
	return &cluster{t: tb, st: st, c: c}
}

// nodes runs n hollow nodes named prefix0..; stop ends them.
func (cl *cluster) nodes(n int, prefix string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		err := hollow.Run(ctx, hollow.Config{Nodes: n, NamePrefix: prefix, Client: cl.c, StartDelay: 50 * time.Millisecond, Seed: 7})
		if err != nil {
			cl.t.Errorf("hollow.Run: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	cl.t.Cleanup(stop)
	return stop
}

func agentSet(name string) *appsv1.DaemonSet {
	one := intstr.FromInt(1)
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					// The hollow agents do not run graceful termination
					// (yet): a grace period of 0 deletes pods at once.
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
					Containers:                    []corev1.Container{{Name: "agent", Image: "bosun.local/hello:v1"}},
				},
			},
		},
	}
}

func (cl *cluster) set(name string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	if err := cl.st.Get(context.Background(), "default", name, ds); err != nil {
		cl.t.Fatal(err)
	}
	return ds
}

// waitStatus polls the DaemonSet's status until ok.
func (cl *cluster) waitStatus(name string, timeout time.Duration, what string, ok func(appsv1.DaemonSetStatus) bool) {
	cl.t.Helper()
	testutil.EventuallyEvery(cl.t, timeout, 20*time.Millisecond, what, func() (bool, string) {
		ds := cl.set(name)
		return ds.Status.ObservedGeneration == ds.Generation && ok(ds.Status), fmt.Sprintf("status %+v", ds.Status)
	})
}

func allAvailable(n int32) func(appsv1.DaemonSetStatus) bool {
	return func(st appsv1.DaemonSetStatus) bool {
		return st.DesiredNumberScheduled == n && st.NumberAvailable == n && st.UpdatedNumberScheduled == n && st.NumberMisscheduled == 0
	}
}

// setImage changes the template's image, retrying on conflicts with the
// controller's status writes.
func (cl *cluster) setImage(name, image string) {
	cl.t.Helper()
	for {
		ds := cl.set(name)
		ds.Spec.Template.Spec.Containers[0].Image = image
		if err := cl.st.Update(context.Background(), ds); err == nil {
			return
		}
	}
}

// TestHollowNodes runs a DaemonSet on hollow nodes (real agents on fake
// runtimes): it follows nodes joining and leaving and taints, and rolls a
// new template out within maxUnavailable.
func TestHollowNodes(t *testing.T) {
	cl := startCluster(t, nil)
	ctx := context.Background()
	cl.nodes(6, "hollow-a-")
	if err := cl.st.Create(ctx, agentSet("agent")); err != nil {
		t.Fatal(err)
	}
	cl.waitStatus("agent", 60*time.Second, "6 daemon pods available", allAvailable(6))

	stopB := cl.nodes(3, "hollow-b-")
	cl.waitStatus("agent", 60*time.Second, "9 daemon pods available after 3 nodes joined", allAvailable(9))

	stopB()
	for i := range 3 {
		if err := cl.st.Delete(ctx, storetest.Resource(t, "nodes"), "", fmt.Sprintf("hollow-b-%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	cl.waitStatus("agent", 30*time.Second, "back to 6 after 3 nodes left", allAvailable(6))
	testutil.Eventually(t, 30*time.Second, "the pods of the nodes that left removed", func() (bool, string) {
		objs, err := cl.c.List(ctx, storetest.Resource(t, "pods"), "default", "app=agent")
		if err != nil {
			t.Fatal(err)
		}
		return len(objs) == 6, fmt.Sprintf("%d pods", len(objs))
	})

	storetest.Modify(t, cl.st, "", "hollow-a-0", &corev1.Node{}, func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute})
	})
	cl.waitStatus("agent", 30*time.Second, "5 desired once a node is tainted NoExecute", allAvailable(5))

	// Roll a new image out, 2 nodes at a time: never more than 2 of the 5
	// eligible nodes without an available pod.
	storetest.Modify(t, cl.st, "default", "agent", &appsv1.DaemonSet{}, func(ds *appsv1.DaemonSet) {
		two := intstr.FromInt(2)
		ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &two
		ds.Spec.Template.Spec.Containers[0].Image = "bosun.local/hello:v2"
	})
	worst := 0
	testutil.EventuallyEvery(t, 60*time.Second, 10*time.Millisecond, "the new image on 5 nodes", func() (bool, string) {
		objs, err := cl.c.List(ctx, storetest.Resource(t, "pods"), "default", "app=agent")
		if err != nil {
			t.Fatal(err)
		}
		available, updated := map[string]bool{}, 0
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if p.DeletionTimestamp == nil && ready(p) {
				available[p.Spec.NodeName] = true
				if p.Spec.Containers[0].Image == "bosun.local/hello:v2" {
					updated++
				}
			}
		}
		worst = max(worst, 5-len(available))
		return updated == 5 && len(objs) == 5, fmt.Sprintf("%d of 5 updated and ready, %d pods", updated, len(objs))
	})
	if worst > 2 {
		t.Errorf("%d nodes without an available daemon pod during the rollout, maxUnavailable 2", worst)
	}
	cl.waitStatus("agent", 30*time.Second, "5 updated and available", allAvailable(5))
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestBenchRollout1000 measures a DaemonSet over many hollow nodes (1,000 by
// default, DAEMONSET_NODES): from create to every daemon pod available, and
// a template change rolled out with maxUnavailable 10%. It is a benchmark of
// a minute or more on 2 cores: run it with BOSUN_BENCH_DAEMONSET=1.
func TestBenchRollout1000(t *testing.T) {
	// Opt-in, as make bench-scale's runs: too long for make test; make bench runs it.
	if os.Getenv("BOSUN_BENCH_DAEMONSET") == "" {
		t.Skip("benchmark: run with BOSUN_BENCH_DAEMONSET=1 (DAEMONSET_NODES nodes, default 1000)")
	}
	n := testutil.EnvInt("DAEMONSET_NODES", 1000)
	cl := startCluster(t, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	cl.nodes(n, "hollow-")
	begin := time.Now()
	// Ready, and untainted: node lifecycle has removed the not-ready taint
	// (until then a node is not eligible, as in Kubernetes).
	testutil.EventuallyEvery(t, 10*time.Minute, time.Second, fmt.Sprintf("%d nodes Ready and untainted", n), func() (bool, string) {
		objs, err := cl.c.List(ctx, storetest.Resource(t, "nodes"), "", "")
		if err != nil {
			t.Fatal(err)
		}
		readyNodes := 0
		for _, o := range objs {
			if nd := o.(*corev1.Node); nodeReady(nd) && len(nd.Spec.Taints) == 0 {
				readyNodes++
			}
		}
		return readyNodes == n, fmt.Sprintf("%d Ready", readyNodes)
	})
	t.Logf("%d hollow nodes Ready and untainted in %v", n, time.Since(begin).Round(time.Millisecond))

	ds := agentSet("agent")
	ten := intstr.FromString("10%")
	ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &ten
	begin = time.Now()
	if err := cl.st.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	stopWatch := cl.milestones(n, begin)
	cl.waitStatus("agent", 10*time.Minute, fmt.Sprintf("%d daemon pods available", n), allAvailable(int32(n)))
	create := time.Since(begin)
	stopWatch()
	t.Logf("create → %d daemon pods available: %v (%.0f pods/s)", n, create.Round(time.Millisecond), float64(n)/create.Seconds())

	begin = time.Now()
	cl.setImage("agent", "bosun.local/hello:v2")
	cl.waitStatus("agent", 10*time.Minute, fmt.Sprintf("%d daemon pods updated and available", n), func(st appsv1.DaemonSetStatus) bool {
		return allAvailable(int32(n))(st) && st.CurrentNumberScheduled == int32(n)
	})
	roll := time.Since(begin)
	t.Logf("template change → %d pods replaced and available (maxUnavailable 10%%): %v (%.0f pods/s)", n, roll.Round(time.Millisecond), float64(n)/roll.Seconds())
	fmt.Printf("BENCH daemonset nodes=%d create_to_available=%v rollout_maxUnavailable10pct=%v\n", n, create.Round(time.Millisecond), roll.Round(time.Millisecond))
}

// milestones logs, until stopped, when all n daemon pods first exist, are
// bound and are ready (read from the store every 100 ms).
func (cl *cluster) milestones(n int, begin time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var created, bound, readyAt time.Duration
		for ctx.Err() == nil {
			objs, _, err := cl.st.List(ctx, storetest.Resource(cl.t, "pods"), "default", store.ListOptions{})
			if err != nil {
				break // stopped
			}
			nb, nr := 0, 0
			for _, o := range objs {
				p := o.(*corev1.Pod)
				if p.Spec.NodeName != "" {
					nb++
				}
				if ready(p) {
					nr++
				}
			}
			at := time.Since(begin)
			if created == 0 && len(objs) >= n {
				created = at
			}
			if bound == 0 && nb >= n {
				bound = at
			}
			if readyAt == 0 && nr >= n {
				readyAt = at
			}
			time.Sleep(100 * time.Millisecond)
		}
		cl.t.Logf("all %d pods created after %v, bound after %v, ready after %v", n, created.Round(time.Millisecond), bound.Round(time.Millisecond), readyAt.Round(time.Millisecond))
	}()
	return func() { cancel(); <-done }
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
