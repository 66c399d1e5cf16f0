package runtimetest_test

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

func TestConformance(t *testing.T) {
	runtimetest.RunConformance(t, func(t *testing.T) runtime.Runtime {
		return runtimetest.New(runtimetest.FakeConformanceConfig())
	}, runtimetest.FakeWorkloads())
}

// TestFakeClockExit checks that exits follow the injected clock.
func TestFakeClockExit(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := runtimetest.New(runtimetest.Config{Clock: clk, PodCIDR: "10.42.7.0/24",
		Images: map[string]runtimetest.Behavior{"crash": {Exits: true, ExitAfter: 5 * time.Second, ExitCode: 2}}})
	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	if sb.IP != "10.42.7.2" {
		t.Errorf("first IP = %s, want 10.42.7.2", sb.IP)
	}
	if _, err := rt.PullImage(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
	id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: "c"}, Image: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step  time.Duration
		state runtime.ContainerState
	}{
		{4 * time.Second, runtime.ContainerRunning},
		{time.Second, runtime.ContainerExited},
	} {
		clk.Step(tc.step)
		cs, _ := rt.ListContainers(ctx, runtime.ContainerFilter{ID: id})
		if len(cs) != 1 || cs[0].State != tc.state {
			t.Fatalf("after %v more: %+v, want %s", tc.step, cs, tc.state)
		}
		if tc.state == runtime.ContainerExited && (cs[0].ExitCode != 2 || !cs[0].FinishedAt.Equal(cs[0].StartedAt.Add(5*time.Second))) {
			t.Errorf("exit = code %d at %v, want 2 at start+5s", cs[0].ExitCode, cs[0].FinishedAt)
		}
	}
}
