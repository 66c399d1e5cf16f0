package containerd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

// workloads runs the example app's subcommands.
func workloads() runtimetest.Workloads {
	app := func(args ...string) runtime.ContainerConfig {
		return runtime.ContainerConfig{Image: testImage, Args: args}
	}
	return runtimetest.Workloads{
		Image:       testImage,
		AbsentImage: "bosun.local/never-pulled:v0",
		// A registry on a closed local port: the pull fails at once and
		// nothing leaves the machine.
		BadImage:   "127.0.0.1:1/does-not-exist:v0",
		Sleep:      func() runtime.ContainerConfig { return app("sleep", "3600") },
		Exit:       func(code int32) runtime.ContainerConfig { return app("exit", itoa(code)) },
		IgnoreTerm: func() runtime.ContainerConfig { return app("ignore-term") },
		// The app ignores SIGTERM once it says so; before that (PID 1, Go's
		// default handler) a SIGTERM ends it with code 2.
		IgnoringTerm: func(rt runtime.Runtime, podUID, name, _ string) bool {
			b, _ := os.ReadFile(rt.(*Runtime).LogPath(podUID, name, 0))
			return strings.Contains(string(b), "ignoring SIGTERM")
		},
		Timeout: 10 * time.Second,
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestConformance(t *testing.T) {
	e := newEnv(t)
	runtimetest.RunConformance(t, func(t *testing.T) runtime.Runtime {
		r, _, _ := e.runtime(t)
		return r
	}, workloads())
}

func waitExited(t *testing.T, ctx context.Context, r *Runtime, id string) runtime.Container {
	t.Helper()
	var c runtime.Container
	testutil.Eventually(t, 10*time.Second, "container "+id+" to exit", func() (bool, string) {
		cs, err := r.ListContainers(ctx, runtime.ContainerFilter{ID: id})
		if err != nil || len(cs) != 1 {
			t.Fatalf("ListContainers(%s) = %v, %v", id, cs, err)
		}
		c = cs[0]
		return c.State == runtime.ContainerExited, fmt.Sprintf("state %v", c.State)
	})
	return c
}

// stopForLog stops container id and waits until its log at path holds
// want: what the container wrote as it was stopped.
func stopForLog(t *testing.T, ctx context.Context, r *Runtime, id, path, want string) {
	t.Helper()
	if err := r.StopContainer(ctx, id, 5*time.Second); err != nil {
		t.Fatalf("StopContainer(%s): %v", id, err)
	}
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("%q in the log of the stopped container %s", want, id), func() (bool, string) {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), want), "log:\n" + string(b)
	})
}

func run(t *testing.T, ctx context.Context, r *Runtime, sbID string, cfg runtime.ContainerConfig) string {
	t.Helper()
	id, err := r.CreateContainer(ctx, sbID, cfg)
	if err != nil {
		t.Fatalf("CreateContainer(%s): %v", cfg.Metadata.Name, err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer(%s): %v", cfg.Metadata.Name, err)
	}
	return id
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] `)

// readLog returns the contents of a log file after checking every line's
// format.
func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading log: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line != "" && !logLine.MatchString(line) {
			t.Errorf("log line %q lacks the timestamp, stream, tag format", line)
		}
	}
	return string(b)
}

// TestPodNetwork: a pod's IP answers HTTP from the host namespace, two
// containers of a pod talk over localhost, the environment and limits
// reach the container, and output lands in timestamped log files.
func TestPodNetwork(t *testing.T) {
	e := newEnv(t)
	r, ns, dir := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{
		Metadata: runtime.SandboxMetadata{Name: "web", Namespace: "prod", UID: "uid-web"},
	})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	defer r.RemovePodSandbox(context.Background(), sb.ID)
	server := run(t, ctx, r, sb.ID, runtime.ContainerConfig{
		Metadata:  runtime.ContainerMetadata{Name: "server"},
		Image:     testImage,
		Env:       []runtime.KeyValue{{Key: "POD_NAME", Value: "web"}},
		Resources: runtime.Resources{CPUMillis: 250, MemoryBytes: 64 << 20},
	})

	url := "http://" + sb.IP + ":8080/"
	var body string
	client := &http.Client{Timeout: time.Second}
	testutil.Eventually(t, 10*time.Second, "the pod answering on "+url, func() (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if !strings.Contains(body, "web") {
		t.Errorf("GET %s = %q, want the pod name", url, body)
	}

	// The limits are in the container's cgroup (v1 here).
	for file, want := range map[string]string{
		filepath.Join("/sys/fs/cgroup/memory", ns, server, "memory.limit_in_bytes"): "67108864",
		filepath.Join("/sys/fs/cgroup/cpu", ns, server, "cpu.cfs_quota_us"):         "25000",
	} {
		b, err := os.ReadFile(file)
		if os.IsNotExist(err) {
			t.Logf("no %s (not cgroup v1?): limits not checked", file)
			continue
		}
		if got := strings.TrimSpace(string(b)); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %s", file, got, err, want)
		}
	}

	client2 := run(t, ctx, r, sb.ID, runtime.ContainerConfig{
		Metadata: runtime.ContainerMetadata{Name: "client"},
		Image:    testImage,
		Args:     []string{"get", "http://127.0.0.1:8080/"},
	})
	if c := waitExited(t, ctx, r, client2); c.ExitCode != 0 || c.Reason != "Completed" {
		t.Errorf("client over localhost exited %d %q, want 0 Completed; log:\n%s", c.ExitCode, c.Reason,
			readLog(t, LogPath(dir, "uid-web", "client", 0)))
	}
	if log := readLog(t, LogPath(dir, "uid-web", "client", 0)); !strings.Contains(log, "stdout F hello from web") {
		t.Errorf("client log = %q, want the server's answer", log)
	}

	envc := run(t, ctx, r, sb.ID, runtime.ContainerConfig{
		Metadata:   runtime.ContainerMetadata{Name: "env", Attempt: 2},
		Image:      testImage,
		Command:    []string{"/app", "env"},
		Env:        []runtime.KeyValue{{Key: "GREETING", Value: "hello world"}},
		WorkingDir: "/tmp",
	})
	waitExited(t, ctx, r, envc)
	log := readLog(t, LogPath(dir, "uid-web", "env", 2))
	for _, want := range []string{"stdout F GREETING=hello world", "stdout F HOSTNAME=web", "stdout F PATH=/usr/local/sbin"} {
		if !strings.Contains(log, want) {
			t.Errorf("env log lacks %q:\n%s", want, log)
		}
	}

	// Exec runs in the container's namespaces.
	var out, errOut bytes.Buffer
	code, err := r.Exec(ctx, server, []string{"/app", "get", "http://localhost:8080/healthz"}, nil, &out, &errOut, false)
	if err != nil || code != 0 {
		t.Errorf("Exec = %d, %v (stderr %q), want 0", code, err, errOut.String())
	}
	if code, err := r.Exec(ctx, server, []string{"/app", "exit", "7"}, nil, &out, &errOut, false); err != nil || code != 7 {
		t.Errorf("Exec(exit 7) = %d, %v; want 7", code, err)
	}
	if code, err := r.Exec(ctx, server, []string{"/app", "cat", "/dev/stdin"}, strings.NewReader("piped\n"), &out, &errOut, false); err != nil || code != 0 || !strings.Contains(out.String(), "piped") {
		t.Errorf("Exec(cat stdin) = %d, %v, output %q; want the input echoed", code, err, out.String())
	}

	// With a terminal: typed keys are echoed, lines end in CR LF, Ctrl-D
	// ends the input (the end of stdin itself is a hangup, so it stays
	// open); the terminal takes the sizes sent.
	out.Reset()
	sizes := make(chan runtime.TerminalSize, 1)
	sizes <- runtime.TerminalSize{Width: 100, Height: 40}
	keys, typing := io.Pipe()
	go func() { _, _ = io.WriteString(typing, "typed\n\x04") }()
	code, err = r.ExecTTY(ctx, server, []string{"/app", "cat", "/dev/stdin"}, keys, &out, sizes)
	typing.Close()
	if err != nil || code != 0 || !strings.Contains(out.String(), "typed\r\ntyped\r\n") {
		t.Errorf("ExecTTY(cat stdin) = %d, %v, output %q; want the input echoed, then printed", code, err, out.String())
	}

	// DialSandbox connects to the pod's loopback.
	conn, err := r.DialSandbox(ctx, sb.ID, 8080)
	if err != nil {
		t.Fatalf("DialSandbox: %v", err)
	}
	_, _ = io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.Contains(string(b), "hello from web") {
		t.Errorf("GET / through DialSandbox = %q, want the pod's answer", b)
	}
	if _, err := r.DialSandbox(ctx, sb.ID, 8081); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("DialSandbox to a closed port: %v, want connection refused", err)
	}
	if _, err := r.DialSandbox(ctx, "nope", 8080); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("DialSandbox to an unknown sandbox: %v, want ErrNotFound", err)
	}

	path := LogPath(dir, "uid-web", "server", 0)
	stopForLog(t, ctx, r, server, path, "shutting down")
	if log := readLog(t, path); !strings.Contains(log, "stdout F") || !strings.Contains(log, "path=/healthz") {
		t.Errorf("server log lacks the requests:\n%s", log)
	}
}

// TestAdoption: a new Runtime on the same containerd and directory finds
// the same sandboxes and containers, running with the same PIDs, and
// copies their output again.
func TestAdoption(t *testing.T) {
	e := newEnv(t)
	r1, ns, dir := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	sb, err := r1.RunPodSandbox(ctx, runtime.SandboxConfig{
		Metadata: runtime.SandboxMetadata{Name: "db", Namespace: "prod", UID: "uid-db", Attempt: 3},
		Labels:   map[string]string{"app": "db"},
	})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	id := run(t, ctx, r1, sb.ID, runtime.ContainerConfig{
		Metadata:    runtime.ContainerMetadata{Name: "main", Attempt: 4},
		Image:       testImage,
		Args:        []string{"sleep", "3600"},
		Labels:      map[string]string{"tier": "data"},
		Annotations: map[string]string{"note": "kept"},
	})
	nsCtx := namespaces.WithNamespace(ctx, ns)
	pid := func() uint32 {
		c, err := e.client.LoadContainer(nsCtx, id)
		if err != nil {
			t.Fatalf("LoadContainer: %v", err)
		}
		task, err := c.Task(nsCtx, nil)
		if err != nil {
			t.Fatalf("Task: %v", err)
		}
		return task.Pid()
	}
	before := pid()
	// sleep handles SIGTERM only once it says so; stopping it earlier (on a
	// busy machine) would leave nothing in its log to check below.
	logPath := LogPath(dir, "uid-db", "main", 4)
	testutil.Eventually(t, 30*time.Second, "sleep to handle SIGTERM", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "app sleep: sleeping"), "log:\n" + string(b)
	})
	cs1, err := r1.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	r1.Close()

	r2, err := New(ctx, Config{Client: e.client, Namespace: ns, Network: e.net, Dir: dir})
	if err != nil {
		t.Fatalf("New (adoption): %v", err)
	}
	defer r2.Close()
	sbs, err := r2.ListPodSandboxes(ctx, runtime.SandboxFilter{})
	if err != nil || len(sbs) != 1 || sbs[0].ID != sb.ID || sbs[0].State != runtime.SandboxReady || sbs[0].IP != sb.IP ||
		sbs[0].Metadata != sb.Metadata || sbs[0].Labels["app"] != "db" {
		t.Errorf("adopted sandboxes = %+v, %v; want %+v", sbs, err, sb)
	}
	cs2, err := r2.ListContainers(ctx, runtime.ContainerFilter{})
	if err != nil || len(cs2) != 1 {
		t.Fatalf("adopted containers = %+v, %v; want one", cs2, err)
	}
	c := cs2[0]
	if c.ID != id || c.State != runtime.ContainerRunning || c.Metadata != (runtime.ContainerMetadata{Name: "main", Attempt: 4}) ||
		c.Labels["tier"] != "data" || c.Annotations["note"] != "kept" || !c.StartedAt.Equal(cs1[0].StartedAt) ||
		!c.CreatedAt.Equal(cs1[0].CreatedAt) || c.PodUID != "uid-db" || c.SandboxID != sb.ID {
		t.Errorf("adopted container = %+v, want %+v", c, cs1[0])
	}
	if after := pid(); after != before {
		t.Errorf("PID after adoption = %d, want %d", after, before)
	}
	// The adopted task's output still reaches its log: sleep says it was
	// terminated.
	stopForLog(t, ctx, r2, id, logPath, "terminated")
	if err := r2.RemovePodSandbox(ctx, sb.ID); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
}

// cyclesFlag sets TestCycles' count: the 200 take about 40 s here
// (almost all of it CNI ADD and DEL), so the default run does fewer.
var cyclesFlag = flag.Int("cycles", 50, "sandbox create/remove cycles of TestCycles (the issue asks for 200)")

// TestCycles: sandboxes with a running container, created and removed
// many times, leave nothing behind: no netns files, IP reservations,
// mounts, containers, snapshots, FIFOs, records or logs.
func TestCycles(t *testing.T) {
	e := newEnv(t)
	r, ns, dir := e.runtime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	nsCtx := namespaces.WithNamespace(ctx, ns)
	snaps := func() int {
		n := 0
		_ = e.client.SnapshotService(DefaultSnapshotter).Walk(nsCtx, func(context.Context, snapshots.Info) error { n++; return nil })
		return n
	}
	mounts := func() map[string]bool {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		m := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.Contains(f[4], "bosun-rt-") {
				m[f[4]] = true
			}
		}
		return m
	}
	snapsBefore, mountsBefore := snaps(), mounts()
	// Four pods at a time, as an agent starting and stopping pods would.
	cycles := *cyclesFlag
	const withContainer, workers = 10, 4 // every tenth cycle runs a container
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, cycles+1)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range next {
				if err := cycle(ctx, r, i, i%withContainer == 0); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := 0; i < cycles; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d cycles in %v", cycles, time.Since(start))
	if cs, _ := e.client.Containers(nsCtx); len(cs) != 0 {
		t.Errorf("%d containers left", len(cs))
	}
	if n := snaps(); n != snapsBefore {
		t.Errorf("%d snapshots, want %d as before", n, snapsBefore)
	}
	for mp := range mounts() {
		if !mountsBefore[mp] {
			t.Errorf("mount left: %s", mp)
		}
	}
	for _, d := range []string{
		filepath.Join(dir, "sandboxes"), filepath.Join(dir, "pods"), filepath.Join(dir, "fifo"),
		filepath.Join(e.netDir, "netns"),
	} {
		if entries, err := os.ReadDir(d); err != nil && !os.IsNotExist(err) || len(entries) != 0 {
			t.Errorf("%s holds %d entries (%v), want none", d, len(entries), err)
		}
	}
	// host-local keeps one file per reserved IP (plus its lock and last
	// reserved marker).
	_ = filepath.Walk(filepath.Join(e.netDir, "ipam"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.Count(filepath.Base(p), ".") == 3 {
			t.Errorf("IP still reserved: %s", p)
		}
		return nil
	})
}

// cycle creates a sandbox (with a running container if withContainer) and
// removes it.
func cycle(ctx context.Context, r *Runtime, i int, withContainer bool) error {
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{
		Metadata: runtime.SandboxMetadata{Name: "cycle", Namespace: "test", UID: "uid-cycle-" + strconv.Itoa(i)},
	})
	if err != nil {
		return fmt.Errorf("cycle %d: RunPodSandbox: %w", i, err)
	}
	if withContainer {
		id, err := r.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{
			Metadata: runtime.ContainerMetadata{Name: "app"}, Image: testImage, Args: []string{"sleep", "3600"},
		})
		if err != nil {
			return fmt.Errorf("cycle %d: CreateContainer: %w", i, err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			return fmt.Errorf("cycle %d: StartContainer: %w", i, err)
		}
	}
	if err := r.RemovePodSandbox(ctx, sb.ID); err != nil {
		return fmt.Errorf("cycle %d: RemovePodSandbox: %w", i, err)
	}
	return nil
}
