package api

// The node agent's stats endpoint, which the API server's metrics.k8s.io
// reads.
const (
	// PathStatsSummary is the agent API's path of kubelet's stats summary
	// (k8s.io/kubelet/pkg/apis/stats/v1alpha1.Summary, JSON).
	PathStatsSummary = "/stats/summary"
	// HeaderStatsWindow, on the summary's answer, is the time (a Go
	// duration, "10s") its CPU rates (usageNanoCores) are averaged over:
	// metrics.k8s.io's window. Kubelet's summary has no field for it.
	HeaderStatsWindow = "Bosun-Stats-Window"
)
