package containerdproctest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/proctest"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/images"
)

// TestCleanupAfterContainerdWasKilled runs a container, kills containerd
// (its shim and the container survive, as they are meant to), and checks
// that the test cleanup leaves nothing behind.
func TestCleanupAfterContainerdWasKilled(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"), testenv.Binary("runc"), testenv.Binary("go"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	paths, err := appimage.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("cleanup-%d", time.Now().UnixNano())
	var env *containerdproctest.Env
	var taskPID int
	t.Run("run a container and kill containerd", func(t *testing.T) {
		env = containerdproctest.StartEnv(t)
		c := env.Client
		f, err := os.Open(paths[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := images.Import(ctx, c, f); err != nil {
			t.Fatal(err)
		}
		img, err := c.GetImage(ctx, appimage.Images()[0].Ref)
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := c.NewContainer(ctx, id,
			client.WithSnapshotter(containerdproc.Snapshotter),
			client.WithNewSnapshot(id, img),
			client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/app", "sleep", "600")))
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		taskPID = int(task.Pid())
		if !proctest.Alive(taskPID) {
			t.Fatalf("task pid %d not running", taskPID)
		}
		if err := syscall.Kill(env.Supervisor.PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if !proctest.Alive(taskPID) {
			t.Fatal("the task died with containerd")
		}
	})
	if env == nil || taskPID == 0 {
		t.Fatal("setup failed")
	}
	if proctest.Alive(taskPID) {
		t.Errorf("task pid %d still runs after cleanup", taskPID)
	}
	if _, err := os.Stat(env.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", env.Dir, err)
	}
	if _, err := os.Stat(filepath.Join("/run/containerd/runc", containerdproc.Namespace, id)); !os.IsNotExist(err) {
		t.Errorf("runc state of %s remains: %v", id, err)
	}
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", containerdproc.Namespace, id))
	if len(matches) > 0 {
		t.Errorf("cgroups remain: %v", matches)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), env.Dir) {
			pid, _ := strconv.Atoi(e.Name())
			if proctest.Alive(pid) {
				t.Errorf("process %s still refers to %s: %q", e.Name(), env.Dir, b)
			}
		}
	}
}
