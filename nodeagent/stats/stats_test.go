package stats_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/nodeagent/host"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
	"github.com/bosun-dev/bosun/nodeagent/stats"
)

// TestSummary: the fake's usage becomes kubelet's summary, CPU as the
// rate over the last period, a new container with memory but no rate
// until its second sample.
func TestSummary(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := runtimetest.New(runtimetest.Config{Clock: clk, PodCIDR: "10.42.7.0/24"})
	hostCPU := uint64(0)
	c, err := stats.New(stats.Config{NodeName: "node-1", Runtime: rt, Clock: clk, Host: func() (host.Usage, error) {
		hostCPU += 30e9 // 3 cores busy over each 10 s step
		return host.Usage{CPUUsageNanos: hostCPU, MemoryUsageBytes: 3 << 30, MemoryWorkingSetBytes: 2 << 30, MemoryAvailableBytes: 5 << 30}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Summary(); s != nil {
		t.Fatalf("summary before a sample = %+v, want nil", s)
	}
	run := func(ns, name, uid string, containers map[string]runtimetest.Usage) map[string]string {
		sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: name, Namespace: ns, UID: uid}})
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for cname, u := range containers {
			if _, err := rt.PullImage(ctx, "img"); err != nil {
				t.Fatal(err)
			}
			id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: cname}, Image: "img"})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.StartContainer(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := rt.SetUsage(id, u); err != nil {
				t.Fatal(err)
			}
			ids[cname] = id
		}
		return ids
	}
	run("prod", "web", "uid-web", map[string]runtimetest.Usage{
		"app":     {NanoCores: 250_000_000, MemoryBytes: 64 << 20},
		"sidecar": {NanoCores: 10_000_000, MemoryBytes: 8 << 20},
	})
	if err := c.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	s, window := c.Summary()
	if window != 0 || s.Node.CPU.UsageNanoCores != nil || *s.Node.Memory.WorkingSetBytes != 2<<30 {
		t.Errorf("after one sample: window %v, node %+v; want no window, no CPU rate, memory", window, s.Node)
	}
	if len(s.Pods) != 1 || s.Pods[0].Containers[0].CPU.UsageNanoCores != nil || *s.Pods[0].Memory.WorkingSetBytes != 72<<20 {
		t.Errorf("pods after one sample = %s, want web with 72Mi and no CPU rate", js(s.Pods))
	}

	clk.Step(10 * time.Second)
	run("prod", "db", "uid-db", map[string]runtimetest.Usage{"db": {NanoCores: 1e9, MemoryBytes: 1 << 30}})
	if err := c.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	s, window = c.Summary()
	if window != 10*time.Second || *s.Node.CPU.UsageNanoCores != 3e9 || s.Node.NodeName != "node-1" {
		t.Errorf("after two samples: window %v, node %s; want 10s, 3 cores", window, js(s.Node))
	}
	if len(s.Pods) != 2 || s.Pods[0].PodRef.Name != "db" || s.Pods[1].PodRef.Name != "web" {
		t.Fatalf("pods = %s, want db and web of prod", js(s.Pods))
	}
	db, web := s.Pods[0], s.Pods[1]
	if db.CPU.UsageNanoCores != nil || *db.Memory.WorkingSetBytes != 1<<30 {
		t.Errorf("db, seen once = %s, want memory and no CPU rate", js(db))
	}
	if web.PodRef.UID != "uid-web" || web.PodRef.Namespace != "prod" || len(web.Containers) != 2 ||
		web.Containers[0].Name != "app" || *web.Containers[0].CPU.UsageNanoCores != 250_000_000 ||
		*web.Containers[1].CPU.UsageNanoCores != 10_000_000 || *web.CPU.UsageNanoCores != 260_000_000 ||
		*web.Containers[0].Memory.WorkingSetBytes != 64<<20 {
		t.Errorf("web = %s, want app 250m 64Mi, sidecar 10m, pod 260m", js(web))
	}
}

func js(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}
