package cache

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	kcache "k8s.io/client-go/tools/cache"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// EnvBenchInformer turns on TestMeasureInformers, which compares this package's
// Informer with client-go's SharedIndexInformer over the same ListWatcher.
const EnvBenchInformer = "BOSUN_BENCH_INFORMER"

// kIndexers are the client-go indexers equal to this Informer's: namespace,
// label key=value (for List by selector), owner UID and node name.
func kIndexers() kcache.Indexers {
	return kcache.Indexers{
		kcache.NamespaceIndex: kcache.MetaNamespaceIndexFunc,
		"label": func(obj any) ([]string, error) {
			o := obj.(api.Object)
			out := make([]string, 0, len(o.GetLabels()))
			for k, v := range o.GetLabels() {
				out = append(out, k+"="+v)
			}
			return out, nil
		},
		IndexOwnerUID: func(obj any) ([]string, error) { return IndexByOwnerUID(obj.(api.Object)), nil },
		IndexNodeName: func(obj any) ([]string, error) { return IndexByNodeName(obj.(api.Object)), nil },
	}
}

// measured is what one informer measured.
type measured struct {
	heapInuse, heapAlloc int64 // bytes more than before the informer, after sync and GC
	sync                 time.Duration
	latency              []time.Duration // sorted
}

func (m measured) String() string {
	q := func(p float64) time.Duration { return m.latency[int(p*float64(len(m.latency)-1))] }
	return fmt.Sprintf("heap in use +%.1f MiB (live +%.1f MiB), initial sync %v, event latency median %v p90 %v p99 %v over %d writes",
		float64(m.heapInuse)/(1<<20), float64(m.heapAlloc)/(1<<20), m.sync.Round(time.Millisecond),
		q(0.5).Round(10*time.Microsecond), q(0.9).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), len(m.latency))
}

// stamp is one handler call seen by the latency measurement.
type stamp struct {
	rv string
	at time.Time
}

// informerUnderTest starts an informer with handlers that count adds and
// stamp updates, and returns when it synced and its handlers saw every object.
type informerUnderTest func(ctx context.Context, t *testing.T, lw ListWatcher, r api.Resource, adds *atomic.Int64, updates chan<- stamp) (keep any)

func runBosun(ctx context.Context, t *testing.T, lw ListWatcher, r api.Resource, adds *atomic.Int64, updates chan<- stamp) any {
	inf := NewInformer(lw, r, nil)
	inf.AddIndex(IndexOwnerUID, IndexByOwnerUID)
	inf.AddIndex(IndexNodeName, IndexByNodeName)
	inf.AddHandler(Handler{
		OnAdd:    func(api.Object) { adds.Add(1) },
		OnUpdate: func(_, o api.Object) { updates <- stamp{o.GetResourceVersion(), time.Now()} },
	})
	go func() { _ = inf.Run(ctx) }()
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	return inf
}

func runClientGo(ctx context.Context, t *testing.T, lw ListWatcher, r api.Resource, adds *atomic.Int64, updates chan<- stamp) any {
	klw := &listerWatcher{lw: lw, interrupt: make(chan struct{}, 1)}
	inf := kcache.NewSharedIndexInformer(klw, r.New(), 0, kIndexers())
	reg, err := inf.AddEventHandler(kcache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { adds.Add(1) },
		UpdateFunc: func(_, o any) { updates <- stamp{o.(api.Object).GetResourceVersion(), time.Now()} },
	})
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	// Poll every millisecond: kcache.WaitForCacheSync polls every 100 ms,
	// which would add up to 100 ms to the measured sync.
	deadline := time.Now().Add(5 * time.Minute)
	for !inf.HasSynced() || !reg.HasSynced() {
		if time.Now().After(deadline) {
			t.Fatal("client-go informer did not sync")
		}
		time.Sleep(time.Millisecond)
	}
	return inf
}

// TestMeasureInformers measures, at 30,000 pods in a real embedded etcd, this
// package's Informer and client-go's SharedIndexInformer alone (Reflector,
// DeltaFIFO, indexer with the same indexes) fed by the same store ListWatcher:
// heap in use after the initial sync, the time of that sync, and the latency
// from a store write to the handler call. Since this package's Informer wraps
// client-go, it now measures the wrapper's cost; at commit 54edfa8 it
// measured the hand-written informer that client-go replaced (see doc.go).
// Run it with
//
//	BOSUN_BENCH_INFORMER=1 go test -count=1 -run MeasureInformers -v -timeout 20m ./client/cache/
//
// BOSUN_BENCH_INFORMER_PODS changes the number of pods.
func TestMeasureInformers(t *testing.T) {
	if os.Getenv(EnvBenchInformer) != "1" {
		t.Skipf("set %s=1 to measure the informers", EnvBenchInformer)
	}
	n := 30000
	if v := os.Getenv("BOSUN_BENCH_INFORMER_PODS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	const writes, rounds = 250, 2
	s := storetest.Start(t)
	r := storetest.Resource(t, "pods")
	pods := createPods(t, s, n)

	impls := []struct {
		name string
		run  informerUnderTest
	}{{"bosun Informer", runBosun}, {"client-go SharedIndexInformer", runClientGo}}
	next := 0 // index of the next pod to update
	for round := range rounds {
		for _, impl := range impls {
			m := measure(t, s, r, impl.run, n, pods[next:next+writes])
			next += writes
			t.Logf("round %d, %s, %d pods: %v", round+1, impl.name, n, m)
		}
	}
}

// createPods creates n pods shaped like the scale test's (100 Deployments,
// labels, an owner, a node each) with 16 writers.
func createPods(t *testing.T, s *store.Store, n int) []*corev1.Pod {
	t.Helper()
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		d := i % 100
		pods[i] = newPod("default", fmt.Sprintf("web-%d-%d", d, i), fmt.Sprintf("node-%d", i%1000),
			map[string]string{"app": fmt.Sprintf("web-%d", d), "pod-template-hash": fmt.Sprintf("h%d", d)},
			fmt.Sprintf("rs-%d", d))
		pods[i].Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if err := s.Create(context.Background(), pods[i]); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(*err)
	}
	t.Logf("created %d pods in %v", n, time.Since(start).Round(time.Millisecond))
	return pods
}

// measure runs one informer of total objects until it synced, reads the heap, then updates each
// of toUpdate in turn and times the handler call of each update.
func measure(t *testing.T, s *store.Store, r api.Resource, run informerUnderTest, total int, toUpdate []*corev1.Pod) measured {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)

	var adds atomic.Int64
	updates := make(chan stamp, 16)
	start := time.Now()
	keep := run(ctx, t, s.ListWatcher(r), r, &adds, updates)
	var m measured
	m.sync = time.Since(start)
	if got := adds.Load(); got != int64(total) { // both sync only after the handlers saw the list
		t.Fatalf("handler saw %d adds after sync, want %d", got, total)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	m.heapInuse = int64(after.HeapInuse) - int64(before.HeapInuse)
	m.heapAlloc = int64(after.HeapAlloc) - int64(before.HeapAlloc)

	for i, p := range toUpdate {
		p.Labels["gen"] = strconv.Itoa(i)
		t0 := time.Now()
		if err := s.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(10 * time.Second)
		for got := false; !got; {
			select {
			case st := <-updates:
				if st.rv == p.ResourceVersion {
					m.latency = append(m.latency, st.at.Sub(t0))
					got = true
				}
			case <-timeout:
				t.Fatalf("no handler call for the update of %s to resourceVersion %s", p.Name, p.ResourceVersion)
			}
		}
	}
	slices.Sort(m.latency)
	runtime.KeepAlive(keep)
	return m
}
