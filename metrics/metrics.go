package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns an empty registry, for one process's components to
// register their metrics on.
func NewRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// Handler serves reg's metrics in the Prometheus text format (or
// OpenMetrics when asked), with those of the Prometheus client's default
// registry: the Go runtime's and the process's, and the embedded etcd's,
// which etcd registers there itself.
func Handler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{reg, prometheus.DefaultGatherer},
		promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Buckets of latency histograms, in seconds: from 1 ms to about a minute,
// as Kubernetes' request and pod start latencies span.
var (
	// FastBuckets are for requests and syncs: 1 ms to 60 s.
	FastBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// SlowBuckets are for pod starts: 100 ms to 10 minutes.
	SlowBuckets = []float64{.1, .25, .5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600}
)
