package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"

	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
	"github.com/bosun-dev/bosun/nodeagent/images"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/network/nettest"
)

// TestMain runs the tests in a network namespace of their own acting as the
// node's host (see nettest.Main), so bridges and veths never touch the
// machine's namespace.
func TestMain(m *testing.M) { nettest.Main(m) }

// testImage is the example app's image, imported into every namespace.
const testImage = "bosun.local/hello:v1"

// env is one containerd, one pod network and the example image tarball,
// shared by the runtimes of one top-level test.
type env struct {
	client *containerd.Client
	net    *network.Network
	netDir string
	cidr   string
	image  []byte
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"), testenv.Binary("runc"),
		testenv.Binary("ip"), testenv.Binary("nsenter"))
	if os.Getenv(nettest.EnvRootNS) == "" {
		t.Fatal("the test must run inside nettest.Main's host namespace")
	}
	ctx := context.Background()
	e := &env{client: containerdproctest.Start(t)}
	dir, err := os.MkdirTemp("", "bosun-rt-net-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e.netDir, e.cidr = dir, nettest.CIDR(t, 24)
	if e.net, err = network.New(network.Config{Dir: dir, PodCIDR: e.cidr, Bridge: "bosun" + randHex(t, 4)}); err != nil {
		t.Fatalf("network.New: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	if err := appimage.BuildBinary(ctx, "v1", bin); err != nil {
		t.Fatalf("building the example app: %v", err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "hello.tar")
	if err := appimage.WriteFile(tarPath, b, appimage.Images()[0]); err != nil {
		t.Fatalf("writing the image: %v", err)
	}
	if e.image, err = os.ReadFile(tarPath); err != nil {
		t.Fatal(err)
	}
	return e
}

func randHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runtime returns a Runtime in a fresh containerd namespace with the
// example image imported, and a directory of its own; everything it left is
// removed when t ends.
func (e *env) runtime(t testing.TB) (*Runtime, string, string) {
	t.Helper()
	ns := "bosun-test-" + randHex(t, 4)
	dir, err := os.MkdirTemp("", "bosun-rt-")
	if err != nil {
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), ns)
	if _, err := images.Import(ctx, e.client, bytes.NewReader(e.image)); err != nil {
		t.Fatalf("importing the example image: %v", err)
	}
	r, err := New(context.Background(), Config{Client: e.client, Namespace: ns, Network: e.net, Dir: dir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		r.Close()
		e.cleanNamespace(t, ns)
		os.RemoveAll(dir)
	})
	return r, ns, dir
}

// cleanNamespace removes every task, container, snapshot and image of ns,
// the namespace itself and its cgroups.
func (e *env) cleanNamespace(t testing.TB, ns string) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 30*time.Second)
	defer cancel()
	cs, _ := e.client.Containers(ctx)
	for _, c := range cs {
		if task, err := c.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	is := e.client.ImageService()
	imgs, _ := is.List(ctx)
	for _, im := range imgs {
		_ = is.Delete(ctx, im.Name)
	}
	sn := e.client.SnapshotService(DefaultSnapshotter)
	var keys []string
	_ = sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error { keys = append(keys, i.Name); return nil })
	// Children before parents: retry until nothing more goes.
	for len(keys) > 0 {
		var left []string
		for _, k := range keys {
			if err := sn.Remove(ctx, k); err != nil {
				left = append(left, k)
			}
		}
		if len(left) == len(keys) {
			break
		}
		keys = left
	}
	cst := e.client.ContentStore()
	var blobs []digest.Digest
	_ = cst.Walk(ctx, func(i content.Info) error { blobs = append(blobs, i.Digest); return nil })
	for _, d := range blobs {
		_ = cst.Delete(ctx, d)
	}
	if err := e.client.NamespaceService().Delete(ctx, ns); err != nil {
		t.Logf("deleting namespace %s: %v", ns, err)
	}
	for _, d := range cgroupDirs(ns) {
		_ = os.Remove(d)
	}
}

// cgroupDirs are the cgroup directories runc makes for a namespace's
// containers (their parent; the containers' own are removed with them).
func cgroupDirs(ns string) []string {
	var out []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		out = append(out, filepath.Join("/sys/fs/cgroup", e.Name(), ns))
	}
	return append(out, filepath.Join("/sys/fs/cgroup", ns))
}
