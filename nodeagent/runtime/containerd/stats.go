package containerd

import (
	"context"
	"fmt"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// ListContainerStats returns the usage of the running containers matching
// f from their tasks' cgroup metrics (containerd's Metrics call, cgroup v1
// or v2): CPU time, memory usage and working set computed as kubelet
// (cadvisor) does, usage less inactive file pages.
func (r *Runtime) ListContainerStats(ctx context.Context, f runtime.ContainerFilter) ([]runtime.ContainerStats, error) {
	ctx = r.withNS(ctx)
	f.State = runtime.ContainerRunning
	cs, err := r.ListContainers(ctx, f)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	req := &tasks.MetricsRequest{}
	if f.ID != "" {
		req.Filters = []string{fmt.Sprintf("id==%q", f.ID)}
	}
	resp, err := r.client.TaskService().Metrics(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: task metrics: %w", errgrpc.ToNative(err))
	}
	byID := make(map[string]runtime.ContainerStats, len(resp.Metrics))
	for _, m := range resp.Metrics {
		st, err := containerStats(m)
		if err != nil {
			return nil, err
		}
		byID[m.ID] = st
	}
	var out []runtime.ContainerStats
	for _, c := range cs {
		if st, ok := byID[c.ID]; ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// containerStats decodes one task's metrics, cgroup v1's or v2's.
func containerStats(m *types.Metric) (runtime.ContainerStats, error) {
	st := runtime.ContainerStats{ID: m.ID}
	if m.Timestamp != nil {
		st.Timestamp = m.Timestamp.AsTime()
	}
	if m.Data == nil {
		return st, nil
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return st, fmt.Errorf("containerd runtime: metrics of container %s: %w", m.ID, err)
	}
	var inactiveFile uint64
	switch v := v.(type) {
	case *cg1.Metrics:
		st.CPUUsageNanos = v.GetCPU().GetUsage().GetTotal()
		st.MemoryUsageBytes = v.GetMemory().GetUsage().GetUsage()
		inactiveFile = v.GetMemory().GetTotalInactiveFile()
	case *cg2.Metrics:
		st.CPUUsageNanos = v.GetCPU().GetUsageUsec() * 1000
		st.MemoryUsageBytes = v.GetMemory().GetUsage()
		inactiveFile = v.GetMemory().GetInactiveFile()
	default:
		return st, fmt.Errorf("containerd runtime: metrics of container %s: unknown type %T", m.ID, v)
	}
	if st.MemoryUsageBytes > inactiveFile {
		st.MemoryWorkingSetBytes = st.MemoryUsageBytes - inactiveFile
	}
	return st, nil
}
