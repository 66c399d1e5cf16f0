// Package stats samples what the node and its running containers use
// (CPU and memory) on a period and answers kubelet's summary
// (k8s.io/kubelet/pkg/apis/stats/v1alpha1.Summary): what the agent's
// GET /stats/summary serves and the API server's metrics.k8s.io reads.
//
// # CPU rate
//
// Runtimes and the host report cumulative CPU time. The Collector takes a
// sample of every running container (runtime.ContainerManager's
// ListContainerStats) and of the host (by default host.ReadUsage) at once
// when Run starts and then every Config.Period (default 10 s, as kubelet's
// cadvisor housekeeping), keeping the last two. usageNanoCores is the CPU
// time between those two samples divided by the time between them
// (container samples are timed by the runtime, the host's by the clock),
// so it is the average over the last period: the Summary's Window. A
// container seen in one sample only (just started) has its memory but no
// rate until the next. Requests never sample: they read the last two
// samples, so any number of them cost nothing and agree with each other.
//
// Memory is the working set of the newest sample (usage less inactive file
// cache, as kubelet and cadvisor compute it); a pod's CPU and memory are
// the sums of its containers'.
//
// # Usage
//
//	c, err := stats.New(stats.Config{NodeName: "node-1", Runtime: rt, Logger: log})
//	go c.Run(ctx)              // samples every 10 s until ctx ends
//	sum, window := c.Summary() // nil until the first sample
package stats
