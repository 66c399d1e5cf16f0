package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// Workloads tell the conformance suite how to make containers behave on the
// runtime under test: the fake reads environment variables, a real runtime
// runs a real image with a command.
type Workloads struct {
	// Image is an image the runtime can pull.
	Image string
	// AbsentImage is a well-formed image name that is not present (and never pulled).
	AbsentImage string
	// BadImage is an image whose pull fails.
	BadImage string
	// Sleep returns a config that runs until stopped and exits on SIGTERM.
	Sleep func() runtime.ContainerConfig
	// Exit returns a config that exits by itself within a second with code.
	Exit func(code int32) runtime.ContainerConfig
	// IgnoreTerm returns a config that runs until stopped and ignores SIGTERM.
	IgnoreTerm func() runtime.ContainerConfig
	// IgnoringTerm, when set, reports whether the started IgnoreTerm
	// container of rt, pod UID podUID, is ignoring SIGTERM yet (a real
	// process ignores it only once its code has run); the suite waits for it
	// before stopping the container. nil: at once.
	IgnoringTerm func(rt runtime.Runtime, podUID, name, id string) bool
	// Timeout bounds each wait of the suite; default 10s.
	Timeout time.Duration
}

// FakeImage is the image FakeWorkloads uses; FakeBadImage's pull fails
// when the Fake is configured with FakeConformanceConfig.
const (
	FakeImage    = "bosun.local/hello:v1"
	FakeBadImage = "bosun.local/does-not-exist:v0"
)

// FakeConformanceConfig is the Fake configuration FakeWorkloads expects.
func FakeConformanceConfig() Config {
	return Config{PodCIDR: "10.42.250.0/24", Images: map[string]Behavior{FakeBadImage: {PullError: "manifest unknown"}}}
}

// FakeWorkloads returns the workloads of the Fake (see FakeConformanceConfig).
func FakeWorkloads() Workloads {
	return Workloads{
		Image:       FakeImage,
		AbsentImage: "bosun.local/never-pulled:v0",
		BadImage:    FakeBadImage,
		Sleep:       func() runtime.ContainerConfig { return runtime.ContainerConfig{Image: FakeImage} },
		Exit: func(code int32) runtime.ContainerConfig {
			return runtime.ContainerConfig{Image: FakeImage, Env: []runtime.KeyValue{
				{Key: EnvExitAfter, Value: "50ms"}, {Key: EnvExitCode, Value: strconv.Itoa(int(code))}}}
		},
		IgnoreTerm: func() runtime.ContainerConfig {
			return runtime.ContainerConfig{Image: FakeImage, Env: []runtime.KeyValue{{Key: EnvIgnoreTerm, Value: "true"}}}
		},
	}
}

// RunConformance runs the contract of package runtime against runtimes made
// by newRuntime (one per subtest; it registers its own cleanup), with w
// saying how to make containers run, exit and ignore SIGTERM. The fake
// passes it with FakeWorkloads; the containerd runtime with its own.
func RunConformance(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, w Workloads) {
	if w.Timeout <= 0 {
		w.Timeout = 10 * time.Second
	}
	s := suite{w: w}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, rt runtime.Runtime)
	}{
		{"Version", s.version},
		{"SandboxLifecycle", s.sandboxLifecycle},
		{"ContainerLifecycle", s.containerLifecycle},
		{"ExitCodes", s.exitCodes},
		{"StopTimeout", s.stopTimeout},
		{"NotFound", s.notFound},
		{"ListFilters", s.listFilters},
		{"Attempts", s.attempts},
		{"StopSandboxStopsContainers", s.stopSandbox},
		{"ContainerStats", s.containerStats},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newRuntime(t))
		})
	}
}

type suite struct{ w Workloads }

func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*s.w.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func sandboxConfig(name, uid string) runtime.SandboxConfig {
	return runtime.SandboxConfig{
		Metadata:    runtime.SandboxMetadata{Name: name, Namespace: "conformance", UID: uid, Attempt: 1},
		Hostname:    name,
		Labels:      map[string]string{"app": name, runtime.LabelPodUID: uid},
		Annotations: map[string]string{"note": "sandbox " + name},
	}
}

func (s suite) runSandbox(t *testing.T, ctx context.Context, rt runtime.Runtime, name, uid string) runtime.Sandbox {
	t.Helper()
	sb, err := rt.RunPodSandbox(ctx, sandboxConfig(name, uid))
	if err != nil {
		t.Fatalf("RunPodSandbox(%s): %v", name, err)
	}
	t.Cleanup(func() { _ = rt.RemovePodSandbox(context.Background(), sb.ID) })
	return sb
}

func (s suite) pull(t *testing.T, ctx context.Context, rt runtime.Runtime) {
	t.Helper()
	if _, err := rt.PullImage(ctx, s.w.Image); err != nil {
		t.Fatalf("PullImage(%s): %v", s.w.Image, err)
	}
}

func (s suite) create(t *testing.T, ctx context.Context, rt runtime.Runtime, sbID string, cfg runtime.ContainerConfig, name string, attempt uint32) string {
	t.Helper()
	cfg.Metadata = runtime.ContainerMetadata{Name: name, Attempt: attempt}
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	cfg.Labels["container"] = name
	id, err := rt.CreateContainer(ctx, sbID, cfg)
	if err != nil {
		t.Fatalf("CreateContainer(%s, attempt %d): %v", name, attempt, err)
	}
	return id
}

func getContainer(t *testing.T, ctx context.Context, rt runtime.Runtime, id string) runtime.Container {
	t.Helper()
	cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{ID: id})
	if err != nil {
		t.Fatalf("ListContainers(id %s): %v", id, err)
	}
	if len(cs) != 1 {
		t.Fatalf("ListContainers(id %s) = %d containers, want 1", id, len(cs))
	}
	return cs[0]
}

func (s suite) waitExited(t *testing.T, ctx context.Context, rt runtime.Runtime, id string) runtime.Container {
	t.Helper()
	deadline := time.Now().Add(s.w.Timeout)
	for {
		c := getContainer(t, ctx, rt, id)
		if c.State == runtime.ContainerExited {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s is %s after %v, want Exited", id, c.State, s.w.Timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

func (s suite) version(t *testing.T, rt runtime.Runtime) {
	v, err := rt.Version(s.ctx(t))
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v.RuntimeName == "" || v.RuntimeVersion == "" {
		t.Errorf("Version = %+v, want a name and a version", v)
	}
}

func (s suite) sandboxLifecycle(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	a := s.runSandbox(t, ctx, rt, "pod-a", "uid-a")
	b := s.runSandbox(t, ctx, rt, "pod-b", "uid-b")
	if a.State != runtime.SandboxReady {
		t.Errorf("new sandbox state = %s, want Ready", a.State)
	}
	ipA, errA := netip.ParseAddr(a.IP)
	ipB, errB := netip.ParseAddr(b.IP)
	if errA != nil || errB != nil || ipA == ipB {
		t.Errorf("sandbox IPs %q and %q: want two different valid IPs", a.IP, b.IP)
	}
	got, err := rt.ListPodSandboxes(ctx, runtime.SandboxFilter{ID: a.ID})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListPodSandboxes(id) = %v, %v; want one sandbox", got, err)
	}
	want := sandboxConfig("pod-a", "uid-a")
	if got[0].Metadata != want.Metadata || got[0].Labels["app"] != "pod-a" || got[0].Annotations["note"] != "sandbox pod-a" {
		t.Errorf("listed sandbox = %+v, want metadata %+v and the labels and annotations given", got[0], want.Metadata)
	}
	if got[0].IP != a.IP || got[0].State != runtime.SandboxReady {
		t.Errorf("listed sandbox IP %q state %s, want %q Ready", got[0].IP, got[0].State, a.IP)
	}
	if err := rt.StopPodSandbox(ctx, a.ID); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if err := rt.StopPodSandbox(ctx, a.ID); err != nil {
		t.Errorf("second StopPodSandbox: %v, want nil (idempotent)", err)
	}
	got, _ = rt.ListPodSandboxes(ctx, runtime.SandboxFilter{ID: a.ID})
	if len(got) != 1 || got[0].State != runtime.SandboxNotReady {
		t.Errorf("stopped sandbox listed as %+v, want NotReady", got)
	}
	if err := rt.RemovePodSandbox(ctx, a.ID); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	if err := rt.RemovePodSandbox(ctx, a.ID); err != nil {
		t.Errorf("second RemovePodSandbox: %v, want nil (idempotent)", err)
	}
	got, _ = rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: "uid-a"})
	if len(got) != 0 {
		t.Errorf("removed sandbox still listed: %+v", got)
	}
	got, _ = rt.ListPodSandboxes(ctx, runtime.SandboxFilter{PodUID: "uid-b", State: runtime.SandboxReady})
	if len(got) != 1 || got[0].ID != b.ID {
		t.Errorf("ListPodSandboxes(uid-b, Ready) = %+v, want sandbox %s", got, b.ID)
	}
}

func (s suite) containerLifecycle(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	sb := s.runSandbox(t, ctx, rt, "pod-c", "uid-c")
	s.pull(t, ctx, rt)
	img, err := rt.ImageStatus(ctx, s.w.Image)
	if err != nil || img.ID == "" {
		t.Fatalf("ImageStatus after pull = %+v, %v; want the image with an id", img, err)
	}
	cfg := s.w.Sleep()
	cfg.Annotations = map[string]string{"note": "main"}
	id := s.create(t, ctx, rt, sb.ID, cfg, "main", 0)
	c := getContainer(t, ctx, rt, id)
	if c.State != runtime.ContainerCreated || c.SandboxID != sb.ID || c.PodUID != "uid-c" ||
		c.Metadata != (runtime.ContainerMetadata{Name: "main"}) || c.Labels["container"] != "main" ||
		c.Annotations["note"] != "main" || c.Image != s.w.Image || c.ImageRef == "" {
		t.Errorf("created container = %+v, want Created in sandbox %s of uid-c, named main, with labels, annotations, image and ref", c, sb.ID)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	c = getContainer(t, ctx, rt, id)
	if c.State != runtime.ContainerRunning || c.StartedAt.IsZero() {
		t.Errorf("started container = %s started at %v, want Running with a start time", c.State, c.StartedAt)
	}
	if err := rt.StartContainer(ctx, id); !errors.Is(err, runtime.ErrInvalidState) {
		t.Errorf("StartContainer of a running container = %v, want ErrInvalidState", err)
	}
	start := time.Now()
	if err := rt.StopContainer(ctx, id, s.w.Timeout); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(start); d > s.w.Timeout/2 {
		t.Errorf("StopContainer of a container that handles SIGTERM took %v", d)
	}
	c = getContainer(t, ctx, rt, id)
	if c.State != runtime.ContainerExited || c.FinishedAt.Before(c.StartedAt) {
		t.Errorf("stopped container = %s finished %v started %v, want Exited after its start", c.State, c.FinishedAt, c.StartedAt)
	}
	if err := rt.StopContainer(ctx, id, time.Second); err != nil {
		t.Errorf("second StopContainer: %v, want nil", err)
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	if cs, _ := rt.ListContainers(ctx, runtime.ContainerFilter{ID: id}); len(cs) != 0 {
		t.Errorf("removed container still listed: %+v", cs)
	}
	if err := rt.RemoveContainer(ctx, id); err != nil {
		t.Errorf("second RemoveContainer: %v, want nil", err)
	}
}

func (s suite) exitCodes(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	sb := s.runSandbox(t, ctx, rt, "pod-exit", "uid-exit")
	s.pull(t, ctx, rt)
	for _, tc := range []struct {
		name   string
		code   int32
		reason string
	}{
		{"zero", 0, "Completed"},
		{"three", 3, "Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.create(t, ctx, rt, sb.ID, s.w.Exit(tc.code), "exit-"+tc.name, 0)
			if err := rt.StartContainer(ctx, id); err != nil {
				t.Fatalf("StartContainer: %v", err)
			}
			c := s.waitExited(t, ctx, rt, id)
			if c.ExitCode != tc.code || c.Reason != tc.reason {
				t.Errorf("exited with code %d reason %q, want %d %q", c.ExitCode, c.Reason, tc.code, tc.reason)
			}
			if c.FinishedAt.IsZero() || c.FinishedAt.Before(c.StartedAt) {
				t.Errorf("finishedAt %v, startedAt %v: want a finish after the start", c.FinishedAt, c.StartedAt)
			}
		})
	}
}

func (s suite) stopTimeout(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	sb := s.runSandbox(t, ctx, rt, "pod-term", "uid-term")
	s.pull(t, ctx, rt)
	id := s.create(t, ctx, rt, sb.ID, s.w.IgnoreTerm(), "stubborn", 0)
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	if s.w.IgnoringTerm != nil {
		testutil.EventuallyTrue(t, s.w.Timeout, "the container to ignore SIGTERM", func() bool {
			return s.w.IgnoringTerm(rt, "uid-term", "stubborn", id)
		})
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	if err := rt.StopContainer(ctx, id, timeout); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(start); d < timeout-50*time.Millisecond || d > timeout+s.w.Timeout/2 {
		t.Errorf("StopContainer of a container ignoring SIGTERM returned after %v, want about %v", d, timeout)
	}
	c := getContainer(t, ctx, rt, id)
	if c.State != runtime.ContainerExited || c.ExitCode != 137 {
		t.Errorf("killed container = %s code %d, want Exited 137", c.State, c.ExitCode)
	}
}

func (s suite) notFound(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	s.pull(t, ctx, rt)
	if err := rt.StartContainer(ctx, "no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("StartContainer(unknown) = %v, want ErrNotFound", err)
	}
	cfg := s.w.Sleep()
	cfg.Metadata.Name = "orphan"
	if _, err := rt.CreateContainer(ctx, "no-such-sandbox", cfg); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CreateContainer(unknown sandbox) = %v, want ErrNotFound", err)
	}
	if _, err := rt.ImageStatus(ctx, s.w.AbsentImage); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("ImageStatus(absent) = %v, want ErrNotFound", err)
	}
	if _, err := rt.PullImage(ctx, s.w.BadImage); !errors.Is(err, runtime.ErrImagePull) {
		t.Errorf("PullImage(bad) = %v, want ErrImagePull", err)
	}
	for name, err := range map[string]error{
		"StopContainer":    rt.StopContainer(ctx, "no-such-container", time.Second),
		"RemoveContainer":  rt.RemoveContainer(ctx, "no-such-container"),
		"StopPodSandbox":   rt.StopPodSandbox(ctx, "no-such-sandbox"),
		"RemovePodSandbox": rt.RemovePodSandbox(ctx, "no-such-sandbox"),
	} {
		if err != nil {
			t.Errorf("%s(unknown) = %v, want nil", name, err)
		}
	}
}

func (s suite) listFilters(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	s.pull(t, ctx, rt)
	a := s.runSandbox(t, ctx, rt, "pod-la", "uid-la")
	b := s.runSandbox(t, ctx, rt, "pod-lb", "uid-lb")
	a1 := s.create(t, ctx, rt, a.ID, s.w.Sleep(), "one", 0)
	a2 := s.create(t, ctx, rt, a.ID, s.w.Sleep(), "two", 0)
	b1 := s.create(t, ctx, rt, b.ID, s.w.Sleep(), "one", 0)
	if err := rt.StartContainer(ctx, a1); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	ids := func(cs []runtime.Container) map[string]bool {
		m := map[string]bool{}
		for _, c := range cs {
			m[c.ID] = true
		}
		return m
	}
	for _, tc := range []struct {
		name string
		f    runtime.ContainerFilter
		want []string
	}{
		{"sandbox", runtime.ContainerFilter{SandboxID: a.ID}, []string{a1, a2}},
		{"pod uid", runtime.ContainerFilter{PodUID: "uid-lb"}, []string{b1}},
		{"state", runtime.ContainerFilter{PodUID: "uid-la", State: runtime.ContainerRunning}, []string{a1}},
		{"labels", runtime.ContainerFilter{Labels: map[string]string{"container": "one"}}, []string{a1, b1}},
		{"id", runtime.ContainerFilter{ID: a2}, []string{a2}},
		{"no match", runtime.ContainerFilter{Labels: map[string]string{"container": "three"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := rt.ListContainers(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListContainers: %v", err)
			}
			got := ids(cs)
			if len(got) != len(tc.want) {
				t.Fatalf("ListContainers(%+v) = %d containers, want %d", tc.f, len(got), len(tc.want))
			}
			for _, id := range tc.want {
				if !got[id] {
					t.Errorf("ListContainers(%+v) misses %s", tc.f, id)
				}
			}
		})
	}
	sbs, err := rt.ListPodSandboxes(ctx, runtime.SandboxFilter{Labels: map[string]string{"app": "pod-lb"}})
	if err != nil || len(sbs) != 1 || sbs[0].ID != b.ID {
		t.Errorf("ListPodSandboxes(label app=pod-lb) = %+v, %v; want sandbox %s", sbs, err, b.ID)
	}
}

func (s suite) attempts(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	s.pull(t, ctx, rt)
	sb := s.runSandbox(t, ctx, rt, "pod-att", "uid-att")
	first := s.create(t, ctx, rt, sb.ID, s.w.Exit(1), "app", 0)
	if err := rt.StartContainer(ctx, first); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	s.waitExited(t, ctx, rt, first)
	if _, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{
		Metadata: runtime.ContainerMetadata{Name: "app", Attempt: 0}, Image: s.w.Image}); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Errorf("CreateContainer with a used name and attempt = %v, want ErrAlreadyExists", err)
	}
	second := s.create(t, ctx, rt, sb.ID, s.w.Sleep(), "app", 1)
	if err := rt.StartContainer(ctx, second); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	cs, err := rt.ListContainers(ctx, runtime.ContainerFilter{PodUID: "uid-att", Labels: map[string]string{"container": "app"}})
	if err != nil || len(cs) != 2 {
		t.Fatalf("ListContainers = %+v, %v; want both attempts", cs, err)
	}
	byAttempt := map[uint32]runtime.Container{}
	for _, c := range cs {
		byAttempt[c.Metadata.Attempt] = c
	}
	if byAttempt[0].ID != first || byAttempt[0].State != runtime.ContainerExited || byAttempt[0].ExitCode != 1 {
		t.Errorf("attempt 0 = %+v, want %s exited with 1", byAttempt[0], first)
	}
	if byAttempt[1].ID != second || byAttempt[1].State != runtime.ContainerRunning {
		t.Errorf("attempt 1 = %+v, want %s running", byAttempt[1], second)
	}
}

func (s suite) stopSandbox(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	s.pull(t, ctx, rt)
	sb := s.runSandbox(t, ctx, rt, "pod-stop", "uid-stop")
	id := s.create(t, ctx, rt, sb.ID, s.w.Sleep(), "app", 0)
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	if err := rt.StopPodSandbox(ctx, sb.ID); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	if c := getContainer(t, ctx, rt, id); c.State != runtime.ContainerExited {
		t.Errorf("container of a stopped sandbox is %s, want Exited", c.State)
	}
	cfg := s.w.Sleep()
	cfg.Metadata.Name = "late"
	if _, err := rt.CreateContainer(ctx, sb.ID, cfg); !errors.Is(err, runtime.ErrInvalidState) {
		t.Errorf("CreateContainer in a stopped sandbox = %v, want ErrInvalidState", err)
	}
	if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	if cs, _ := rt.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sb.ID}); len(cs) != 0 {
		t.Errorf("containers of a removed sandbox still listed: %+v", cs)
	}
}

// containerStats: only running containers have stats; a sample has the
// container's id and time, some memory (a working set no larger than the
// usage), and CPU time that never goes back.
func (s suite) containerStats(t *testing.T, rt runtime.Runtime) {
	ctx := s.ctx(t)
	sb := s.runSandbox(t, ctx, rt, "pod-stats", "uid-stats")
	s.pull(t, ctx, rt)
	id := s.create(t, ctx, rt, sb.ID, s.w.Sleep(), "main", 0)
	stats := func(f runtime.ContainerFilter) []runtime.ContainerStats {
		t.Helper()
		st, err := rt.ListContainerStats(ctx, f)
		if err != nil {
			t.Fatalf("ListContainerStats(%+v): %v", f, err)
		}
		return st
	}
	if st := stats(runtime.ContainerFilter{ID: id}); len(st) != 0 {
		t.Errorf("stats of a created container = %+v, want none", st)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	var first runtime.ContainerStats
	testutil.Eventually(t, s.w.Timeout, "memory use of the running container", func() (bool, string) {
		st := stats(runtime.ContainerFilter{PodUID: "uid-stats"})
		if len(st) != 1 {
			return false, fmt.Sprintf("stats %+v", st)
		}
		first = st[0]
		return first.MemoryWorkingSetBytes > 0, fmt.Sprintf("stats %+v", first)
	})
	if first.ID != id || first.Timestamp.IsZero() || first.MemoryWorkingSetBytes > first.MemoryUsageBytes {
		t.Errorf("stats = %+v, want container %s, a time, a working set within the usage", first, id)
	}
	second := stats(runtime.ContainerFilter{ID: id})
	if len(second) != 1 || second[0].CPUUsageNanos < first.CPUUsageNanos || second[0].Timestamp.Before(first.Timestamp) {
		t.Errorf("second sample %+v after %+v: want the same container, CPU time and time not going back", second, first)
	}
	for _, f := range []runtime.ContainerFilter{{ID: "0123456789abcdef0123456789abcdef"}, {PodUID: "uid-other"}} {
		if st := stats(f); len(st) != 0 {
			t.Errorf("stats of %+v = %+v, want none", f, st)
		}
	}
	if err := rt.StopContainer(ctx, id, s.w.Timeout); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if st := stats(runtime.ContainerFilter{ID: id}); len(st) != 0 {
		t.Errorf("stats of an exited container = %+v, want none", st)
	}
}
