package containerdproctest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
)

// Env is a running test containerd.
type Env struct {
	// Client is connected to it with default namespace containerdproc.Namespace;
	// it is closed at the end of the test.
	Client *client.Client
	// Supervisor runs it.
	Supervisor *containerdproc.Supervisor
	// Dir holds its root, state, socket and config.
	Dir string
	// Address is its socket.
	Address string
}

// Start starts a supervised containerd for t and returns a client of it (see
// StartEnv).
func Start(t testing.TB) *client.Client {
	t.Helper()
	return StartEnv(t).Client
}

// StartEnv starts a supervised containerd in a new temporary directory (a
// short one under os.TempDir, as the socket path must fit in 107 bytes),
// with restarts after 100 ms. It skips t, or fails it in CI, when not root
// or containerd/runc are missing. Everything is cleaned up at the end of the
// test (see the package documentation); what cannot be is reported as a
// test error.
func StartEnv(t testing.TB) *Env {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"), testenv.Binary("runc"))
	dir, err := os.MkdirTemp("", "bosun-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	env := &Env{Dir: dir, Address: filepath.Join(dir, "containerd.sock")}
	t.Cleanup(func() { cleanup(t, env, cancel) })
	sup, err := containerdproc.Start(ctx, containerdproc.Config{
		Dir:             dir,
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MinRestartDelay: 100 * time.Millisecond,
		MaxRestartDelay: time.Second,
		StopTimeout:     5 * time.Second,
	})
	if err != nil {
		t.Fatalf("containerdproctest: %v", err)
	}
	env.Supervisor = sup
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	c, err := containerdproc.Connect(cctx, sup.Address())
	if err != nil {
		t.Fatalf("containerdproctest: %v", err)
	}
	env.Client = c
	return env
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ref names a container of the test containerd.
type ref struct{ ns, id string }

// cleanup removes everything the test containerd and its containers left.
func cleanup(t testing.TB, env *Env, stop context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if env.Client != nil {
		env.Client.Close()
	}
	var refs []ref
	if env.Supervisor != nil {
		var err error
		refs, err = deleteContainers(ctx, env.Address)
		if err != nil {
			t.Errorf("containerdproctest: cleanup: %v", err)
		}
	}
	stop()
	if env.Supervisor != nil {
		env.Supervisor.Wait()
	}
	// What survives containerd: shims serving it and processes in the
	// cgroups of its containers.
	for _, pid := range shimPIDs(env.Address) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, r := range refs {
		for _, cg := range cgroupDirs(r) {
			for _, pid := range cgroupPIDs(cg) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if err := poll(ctx, func() error {
		if pids := shimPIDs(env.Address); len(pids) > 0 {
			return fmt.Errorf("shims %v still run", pids)
		}
		return nil
	}); err != nil {
		t.Errorf("containerdproctest: cleanup: %v", err)
	}
	if err := unmountUnder(env.Dir); err != nil {
		t.Errorf("containerdproctest: cleanup: %v", err)
	}
	nss := map[string]bool{}
	for _, r := range refs {
		nss[r.ns] = true
		os.RemoveAll(filepath.Join("/run/containerd/runc", r.ns, r.id))
		os.Remove(shimSocket(env.Address, r))
		for _, cg := range cgroupDirs(r) {
			if err := poll(ctx, func() error { return removeCgroup(cg) }); err != nil {
				t.Errorf("containerdproctest: cleanup: cgroup %s: %v", cg, err)
			}
		}
	}
	for ns := range nss {
		// Only when empty: other tests' containers may live there.
		os.Remove(filepath.Join("/run/containerd/runc", ns))
		for _, c := range cgroupControllers() {
			syscall.Rmdir(filepath.Join("/sys/fs/cgroup", c, ns))
		}
	}
	if err := os.RemoveAll(env.Dir); err != nil {
		t.Errorf("containerdproctest: cleanup: %v", err)
	}
}

// deleteContainers kills and deletes every task and container, in every
// namespace, of the containerd at address, and returns them.
func deleteContainers(ctx context.Context, address string) ([]ref, error) {
	var c *client.Client
	// containerd may be between a crash and its restart.
	err := poll(ctx, func() error {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var err error
		c, err = containerdproc.Connect(cctx, address)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var refs []ref
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		ctrs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers in %s: %w", ns, err))
			continue
		}
		for _, ctr := range ctrs {
			refs = append(refs, ref{ns, ctr.ID()})
			if task, err := ctr.Task(nctx, nil); err == nil {
				if _, err := task.Delete(nctx, client.WithProcessKill); err != nil {
					errs = append(errs, fmt.Errorf("delete task %s/%s: %w", ns, ctr.ID(), err))
				}
			}
			if err := ctr.Delete(nctx, client.WithSnapshotCleanup); err != nil {
				errs = append(errs, fmt.Errorf("delete container %s/%s: %w", ns, ctr.ID(), err))
			}
		}
	}
	return refs, errors.Join(errs...)
}

// shimPIDs returns the shims serving the containerd at address.
func shimPIDs(address string) []int {
	return proctest.Find(func(args []string) bool {
		if !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			return false
		}
		for i, a := range args {
			if a == "-address" && i+1 < len(args) && args[i+1] == address {
				return true
			}
		}
		return false
	})
}

// shimSocket returns the socket file containerd 1.6 gives the shim of r.
func shimSocket(address string, r ref) string {
	sum := sha256.Sum256([]byte(filepath.Join(address, r.ns, r.id)))
	return fmt.Sprintf("/run/containerd/s/%x", sum)
}

// cgroupControllers lists the cgroup v1 hierarchies (and "unified").
func cgroupControllers() []string {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// cgroupDirs returns the cgroup directories of r that exist.
func cgroupDirs(r ref) []string {
	var out []string
	for _, c := range cgroupControllers() {
		d := filepath.Join("/sys/fs/cgroup", c, r.ns, r.id)
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// cgroupPIDs lists the processes in the cgroup dir and below.
func cgroupPIDs(dir string) []int {
	var pids []int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// removeCgroup removes the cgroup dir and its children, deepest first.
func removeCgroup(dir string) error {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			return err
		}
	}
	return nil
}

// poll calls f every 50 ms until it returns nil or ctx ends.
func poll(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		}
	}
}

// CleanupDir removes what a stopped supervised containerd in dir (e.g. the
// one of a bosun server a test ran as a child process) and its containers
// left behind: it starts that containerd once more, kills and deletes every
// task and container, stops it, and then removes shims, runc state,
// cgroups and mounts as Start's cleanup does. Call it after the process
// that owned dir has stopped, and after its pods' networks are torn down.
func CleanupDir(t testing.TB, dir string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	env := &Env{Dir: dir, Address: filepath.Join(dir, "containerd.sock")}
	sup, err := containerdproc.Start(ctx, containerdproc.Config{
		Dir:         dir,
		Logger:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		cancel()
		t.Errorf("containerdproctest: cleanup of %s: %v", dir, err)
		return
	}
	env.Supervisor = sup
	cleanup(t, env, cancel)
}
