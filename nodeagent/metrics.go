package nodeagent

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/metrics"
)

// agentMetrics are the kubelet's metrics of one agent: how long pods take
// to start, and how many run.
type agentMetrics struct {
	podStart prometheus.Histogram

	mu        sync.Mutex
	firstSeen map[string]time.Time // by pod UID, until the pod runs or goes
	running   map[string]int       // running containers by pod UID
}

func newAgentMetrics(reg prometheus.Registerer) *agentMetrics {
	m := &agentMetrics{
		podStart: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kubelet_pod_start_duration_seconds",
			Help:    "Duration in seconds from the agent seeing a pod for the first time to all its containers running.",
			Buckets: metrics.SlowBuckets}),
		firstSeen: map[string]time.Time{},
		running:   map[string]int{},
	}
	pods := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kubelet_running_pods",
		Help: "Number of pods with at least one running container."}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for _, c := range m.running {
			if c > 0 {
				n++
			}
		}
		return float64(n)
	})
	containers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kubelet_running_containers",
		Help: "Number of running containers."}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for _, c := range m.running {
			n += c
		}
		return float64(n)
	})
	reg.MustRegister(m.podStart, pods, containers)
	return m
}

// seen starts the clock of a pod the first time a sync looks at it, unless
// it already had a ready sandbox then (adopted after a restart of the
// agent: its start was not seen).
func (m *agentMetrics) seen(uid string, hasSandbox bool, now time.Time) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.firstSeen[uid]; ok {
		return
	}
	if hasSandbox {
		now = time.Time{}
	}
	m.firstSeen[uid] = now
}

// synced records the status a sync computed for a pod at now: the first
// status with every container running stops the pod's clock.
func (m *agentMetrics) synced(uid string, st *corev1.PodStatus, now time.Time) {
	if m == nil {
		return
	}
	n := 0
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil {
			n++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running[uid] = n
	started := st.Phase == corev1.PodRunning && n > 0 && n == len(st.ContainerStatuses)
	if seen := m.firstSeen[uid]; !seen.IsZero() && started {
		m.podStart.Observe(now.Sub(seen).Seconds())
		m.firstSeen[uid] = time.Time{} // observed: never again for this pod
	}
}

// gone forgets a pod torn down.
func (m *agentMetrics) gone(uid string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.firstSeen, uid)
	delete(m.running, uid)
}
