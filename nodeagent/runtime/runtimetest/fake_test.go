package runtimetest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/nodeagent/network"
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

func TestExec(t *testing.T) {
	var gotCmd []string
	f := runtimetest.New(runtimetest.Config{PodCIDR: "10.42.8.0/24", Images: map[string]runtimetest.Behavior{"scripted:v1": {Exec: func(id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) int {
		gotCmd = cmd
		_, _ = io.WriteString(stdout, "hello")
		return 3
	}}}})
	ctx := context.Background()
	sb, err := f.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: "p", Namespace: "d", UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	start := func(image string) string {
		if _, err := f.PullImage(ctx, image); err != nil {
			t.Fatal(err)
		}
		id, err := f.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: image}, Image: image})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	plain, scripted := start("plain:v1"), start("scripted:v1")
	for _, tc := range []struct {
		name string
		id   string
		cmd  []string
		code int
		out  string
	}{
		{"true", plain, []string{"true"}, 0, ""},
		{"false", plain, []string{"false"}, 1, ""},
		{"unknown command", plain, []string{"curl"}, 127, ""},
		{"scripted", scripted, []string{"check", "-v"}, 3, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code, err := f.Exec(ctx, tc.id, tc.cmd, nil, &out, &errOut, false)
			if err != nil || code != tc.code || out.String() != tc.out {
				t.Errorf("Exec = %d, %v, out %q; want %d, %q", code, err, out.String(), tc.code, tc.out)
			}
		})
	}
	if strings.Join(gotCmd, " ") != "check -v" {
		t.Errorf("scripted exec got %v", gotCmd)
	}
	if err := f.StopContainer(ctx, plain, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Exec(ctx, plain, []string{"true"}, nil, io.Discard, io.Discard, false); !errors.Is(err, runtime.ErrInvalidState) {
		t.Errorf("exec in a stopped container: %v, want ErrInvalidState", err)
	}
	if _, err := f.Exec(ctx, "nope", []string{"true"}, nil, io.Discard, io.Discard, false); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("exec in an unknown container: %v, want ErrNotFound", err)
	}
}

// TestPodCIDR checks where the fake takes pod IPs from: the sandbox's pod
// CIDR, else the configured one, else nowhere (network.ErrNoPodCIDR).
func TestPodCIDR(t *testing.T) {
	tests := []struct {
		name       string
		configured string
		sandbox    string
		wantPrefix string // "" = ErrNoPodCIDR
	}{
		{"no CIDR anywhere", "", "", ""},
		{"the node's CIDR", "", "10.244.3.0/24", "10.244.3."},
		{"configured", "10.42.7.0/24", "", "10.42.7."},
		{"the node's CIDR wins", "10.42.7.0/24", "10.244.3.0/24", "10.244.3."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := runtimetest.New(runtimetest.Config{PodCIDR: tc.configured})
			sb, err := rt.RunPodSandbox(context.Background(), runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{UID: "u"}, PodCIDR: tc.sandbox})
			if tc.wantPrefix == "" {
				if !errors.Is(err, network.ErrNoPodCIDR) {
					t.Fatalf("RunPodSandbox = %+v, %v; want network.ErrNoPodCIDR", sb, err)
				}
				if sbs, _ := rt.ListPodSandboxes(context.Background(), runtime.SandboxFilter{}); len(sbs) != 0 {
					t.Errorf("a failed RunPodSandbox left sandboxes: %+v", sbs)
				}
				return
			}
			if err != nil || !strings.HasPrefix(sb.IP, tc.wantPrefix) {
				t.Fatalf("RunPodSandbox = IP %q, %v; want an IP in %s*", sb.IP, err, tc.wantPrefix)
			}
		})
	}
}

// TestFakeUsage: CPU time grows at the image's rate on the fake clock,
// SetUsage changes the rate from then on, memory is as set.
func TestFakeUsage(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := runtimetest.New(runtimetest.Config{Clock: clk, PodCIDR: "10.42.7.0/24",
		Images: map[string]runtimetest.Behavior{"busy": {Usage: runtimetest.Usage{NanoCores: 500_000_000, MemoryBytes: 64 << 20}}}})
	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{UID: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, img := range []string{"busy", "idle"} {
		if _, err := rt.PullImage(ctx, img); err != nil {
			t.Fatal(err)
		}
		id, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{Metadata: runtime.ContainerMetadata{Name: img}, Image: img})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	sample := func() map[string]runtime.ContainerStats {
		t.Helper()
		st, err := rt.ListContainerStats(ctx, runtime.ContainerFilter{PodUID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]runtime.ContainerStats{}
		for _, s := range st {
			out[s.ID] = s
		}
		return out
	}
	clk.Step(2 * time.Second)
	st := sample()
	if got := st[ids[0]]; got.CPUUsageNanos != 1e9 || got.MemoryWorkingSetBytes != 64<<20 || !got.Timestamp.Equal(clk.Now()) {
		t.Errorf("busy after 2s = %+v, want 1e9 ns of CPU, 64Mi", got)
	}
	if got := st[ids[1]]; got.CPUUsageNanos != 2*runtimetest.DefaultUsage.NanoCores || got.MemoryWorkingSetBytes != runtimetest.DefaultUsage.MemoryBytes {
		t.Errorf("idle after 2s = %+v, want DefaultUsage", got)
	}
	if err := rt.SetUsage(ids[0], runtimetest.Usage{NanoCores: 2e9, MemoryBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Second)
	if got := sample()[ids[0]]; got.CPUUsageNanos != 3e9 || got.MemoryWorkingSetBytes != 1<<30 {
		t.Errorf("busy 1s after SetUsage = %+v, want 3e9 ns, 1Gi", got)
	}
	if err := rt.SetUsage("nope", runtimetest.Usage{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("SetUsage of an unknown container = %v, want ErrNotFound", err)
	}
}
