package syncer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/sync/state"
)

// syncMetrics measure the sync loop: attempts by result and how long they
// took, the objects written, and when a commit was last applied.
type syncMetrics struct {
	total       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	objects     *prometheus.CounterVec
	lastApplied prometheus.Gauge
}

func newSyncMetrics(reg prometheus.Registerer) *syncMetrics {
	m := &syncMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bosun_sync_total",
			Help: "Sync attempts of a commit, by result: applied, rejected, failed."}, []string{"result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bosun_sync_duration_seconds",
			Help:    "How long a sync attempt took, from reading the branch to the commit's transaction, by result.",
			Buckets: metrics.FastBuckets}, []string{"result"}),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bosun_sync_objects_total",
			Help: "Objects written by applied commits, by operation: created, updated, pruned."}, []string{"op"}),
		lastApplied: prometheus.NewGauge(prometheus.GaugeOpts{Name: "bosun_sync_last_applied_timestamp_seconds",
			Help: "When this server last applied a commit (Unix time)."}),
	}
	reg.MustRegister(m.total, m.duration, m.objects, m.lastApplied)
	return m
}

// observe counts one attempt that tried a commit (not a look at an
// unchanged branch).
func (m *syncMetrics) observe(att state.Attempt, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := att.Result
	if err != nil {
		result = state.ResultFailed
	}
	if result == "" {
		return // nothing new on the branch
	}
	m.total.WithLabelValues(result).Inc()
	m.duration.WithLabelValues(result).Observe(d.Seconds())
	if result == state.ResultApplied {
		m.objects.WithLabelValues("created").Add(float64(att.Created))
		m.objects.WithLabelValues("updated").Add(float64(att.Updated))
		m.objects.WithLabelValues("pruned").Add(float64(att.Pruned))
		m.lastApplied.Set(float64(att.Time.Unix()))
	}
}
