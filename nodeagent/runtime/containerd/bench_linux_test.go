package containerd

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// BenchmarkPodStart compares the start of a one-container pod through the
// Runtime (RunPodSandbox + CreateContainer + StartContainer) with raw
// containerd for the same image in the same run (network Setup, then client
// NewContainer + NewTask + Start, no bosun), alternating, 30 samples each.
// It reports both medians and their ratio (the target: <= 1.3).
func BenchmarkPodStart(b *testing.B) {
	e := newEnv(b)
	r, ns, _ := e.runtime(b)
	ctx := context.Background()
	nsCtx := namespaces.WithNamespace(ctx, ns)
	img, err := e.client.GetImage(nsCtx, "bosun.local/hello:v1")
	if err != nil {
		b.Fatal(err)
	}
	const samples = 30
	for b.Loop() {
		var bosun, raw []time.Duration
		for i := 0; i < samples; i++ {
			uid := "bench-" + strconv.Itoa(i)
			start := time.Now()
			sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{Metadata: runtime.SandboxMetadata{Name: uid, Namespace: "bench", UID: uid}})
			if err != nil {
				b.Fatal(err)
			}
			id, err := r.CreateContainer(ctx, sb.ID, runtime.ContainerConfig{
				Metadata: runtime.ContainerMetadata{Name: "app"}, Image: testImage, Args: []string{"sleep", "3600"}})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.StartContainer(ctx, id); err != nil {
				b.Fatal(err)
			}
			bosun = append(bosun, time.Since(start))
			if err := r.RemovePodSandbox(ctx, sb.ID); err != nil {
				b.Fatal(err)
			}

			rawID := "raw" + strconv.Itoa(i) + randHex(b, 4)
			start = time.Now()
			att, err := e.net.Setup(ctx, rawID, "bench", rawID, nil)
			if err != nil {
				b.Fatal(err)
			}
			c, err := e.client.NewContainer(nsCtx, rawID,
				containerd.WithImage(img),
				containerd.WithSnapshotter(DefaultSnapshotter),
				containerd.WithNewSnapshot(rawID, img),
				containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/app", "sleep", "3600"),
					oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: att.NetNSPath})))
			if err != nil {
				b.Fatal(err)
			}
			task, err := c.NewTask(nsCtx, cio.NullIO)
			if err != nil {
				b.Fatal(err)
			}
			if err := task.Start(nsCtx); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(start))
			if _, err := task.Delete(nsCtx, containerd.WithProcessKill); err != nil {
				b.Fatal(err)
			}
			if err := c.Delete(nsCtx, containerd.WithSnapshotCleanup); err != nil {
				b.Fatal(err)
			}
			if err := e.net.Teardown(ctx, rawID); err != nil {
				b.Fatal(err)
			}
		}
		mb, mr := median(bosun), median(raw)
		b.ReportMetric(float64(mb.Microseconds())/1000, "bosun-ms")
		b.ReportMetric(float64(mr.Microseconds())/1000, "raw-ms")
		b.ReportMetric(float64(mb)/float64(mr), "ratio")
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
