package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"

	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/metrics/metricstest"
)

func TestWorkqueueProvider(t *testing.T) {
	reg := metrics.NewRegistry()
	p := metrics.NewWorkqueueProvider(reg)
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment", MetricsProvider: p})
	defer q.ShutDown()
	for _, k := range []string{"a", "b", "c", "a"} { // a twice: deduplicated, one add
		q.Add(k)
	}
	k, _ := q.Get()
	q.AddRateLimited(k) // a retry
	q.Done(k)
	fams := metricstest.Families(t, reg)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"workqueue_adds_total", 3},
		{"workqueue_depth", 2},
		{"workqueue_retries_total", 1},
		{"workqueue_queue_duration_seconds", 1},
		{"workqueue_work_duration_seconds", 1},
	} {
		got, ok := metricstest.Value(fams, c.name, map[string]string{"name": "deployment"})
		if !ok || got != c.want {
			t.Errorf("%s{name=deployment} = %v (found %v), want %v", c.name, got, ok, c.want)
		}
	}
	// A second queue of another name shares the families.
	q2 := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "gc", MetricsProvider: p})
	defer q2.ShutDown()
	q2.Add("x")
	if got, _ := metricstest.Value(metricstest.Families(t, reg), "workqueue_adds_total", map[string]string{"name": "gc"}); got != 1 {
		t.Errorf("workqueue_adds_total{name=gc} = %v, want 1", got)
	}
}

func TestHandler(t *testing.T) {
	reg := metrics.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "bosun_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fams, err := metricstest.Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := metricstest.Value(fams, "bosun_test_total", nil); !ok || v != 3 {
		t.Errorf("bosun_test_total = %v (found %v), want 3", v, ok)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("the Go runtime's metrics (default registry) are missing")
	}
}
