package images

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/image-spec/identity"
	corev1 "k8s.io/api/core/v1"

	client "github.com/containerd/containerd/v2/client"

	"github.com/bosun-dev/bosun/examples/app/appimage"
	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/containerdproc/containerdproctest"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		ref, want string
		wantErr   bool
	}{
		{ref: "nginx", want: "docker.io/library/nginx:latest"},
		{ref: "bosun.local/hello:v1", want: "bosun.local/hello:v1"},
		{ref: "127.0.0.1:5000/x/y:z", want: "127.0.0.1:5000/x/y:z"},
		{ref: "Bad:Name", wantErr: true},
		{ref: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := Normalize(tt.ref)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalidName", tt.ref, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	tests := []struct {
		ref  string
		want corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"bosun.local/hello:v1", corev1.PullIfNotPresent},
		{"nginx@sha256:" + strings.Repeat("a", 64), corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		if got := DefaultPolicy(tt.ref); got != tt.want {
			t.Errorf("DefaultPolicy(%q) = %s, want %s", tt.ref, got, tt.want)
		}
	}
}

func TestEnsureRejectsInvalidNames(t *testing.T) {
	// The name is checked before containerd is asked.
	if _, err := Ensure(context.Background(), nil, "Bad:Name", corev1.PullNever); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Ensure = %v, want ErrInvalidName", err)
	}
}

// unreachableRegistry returns a 127.0.0.1 host:port where nothing listens.
func unreachableRegistry(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// snapshotExists reports whether img's unpacked top layer is a committed
// snapshot in the overlayfs snapshotter.
func snapshotExists(ctx context.Context, t *testing.T, c *client.Client, img client.Image) bool {
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.SnapshotService(containerdproc.Snapshotter).Stat(ctx, identity.ChainID(diffIDs).String())
	return err == nil && info.Kind == snapshots.KindCommitted
}

func TestImportEnsurePull(t *testing.T) {
	testenv.E2E(t, testenv.Root(), testenv.Binary("containerd"), testenv.Binary("go"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := containerdproctest.Start(t)
	paths, err := appimage.Build(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("import", func(t *testing.T) {
		for i, img := range appimage.Images() {
			f, err := os.Open(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			names, err := Import(ctx, c, f)
			f.Close()
			if err != nil {
				t.Fatalf("Import %s: %v", paths[i], err)
			}
			if len(names) != 1 || names[0] != img.Ref {
				t.Fatalf("Import %s = %v, want [%s]", paths[i], names, img.Ref)
			}
			got, err := c.GetImage(ctx, img.Ref)
			if err != nil {
				t.Fatal(err)
			}
			if !snapshotExists(ctx, t, c, got) {
				t.Fatalf("%s: no committed overlayfs snapshot after Import", img.Ref)
			}
			spec, err := got.Spec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if spec.OS != "linux" || spec.Architecture != "amd64" || strings.Join(spec.Config.Entrypoint, " ") != "/app" {
				t.Fatalf("%s: config os=%s arch=%s entrypoint=%v", img.Ref, spec.OS, spec.Architecture, spec.Config.Entrypoint)
			}
		}
	})

	t.Run("import of a docker save archive", func(t *testing.T) {
		ref := "bosun.local/hello:docker"
		image, err := appimage.NewImage([]byte("not run"), appimage.Image{Ref: ref, Version: "docker"})
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tarball.Write(tag, image, &buf); err != nil {
			t.Fatal(err)
		}
		names, err := Import(ctx, c, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 1 || names[0] != ref {
			t.Fatalf("Import = %v, want [%s]", names, ref)
		}
		img, err := c.GetImage(ctx, ref)
		if err != nil || !snapshotExists(ctx, t, c, img) {
			t.Fatalf("GetImage = %v; unpacked: %v", err, err == nil && snapshotExists(ctx, t, c, img))
		}
	})

	t.Run("import of a stream that is no archive fails", func(t *testing.T) {
		_, err := Import(ctx, c, strings.NewReader(""))
		if err == nil {
			t.Fatal("Import of an empty stream succeeded")
		}
	})

	missing := unreachableRegistry(t) + "/hello:v1"
	// An image present locally under the name of an unreachable registry.
	presentRemote := unreachableRegistry(t) + "/hello:v1"
	v1, err := c.GetImage(ctx, "bosun.local/hello:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImageService().Create(ctx, images.Image{Name: presentRemote, Target: v1.Target()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ref     string
		policy  corev1.PullPolicy
		wantErr error
	}{
		{name: "never, present", ref: "bosun.local/hello:v1", policy: corev1.PullNever},
		{name: "never, missing", ref: "bosun.local/hello:v3", policy: corev1.PullNever, wantErr: ErrNeverPull},
		{name: "if not present, present", ref: "bosun.local/hello:v2", policy: corev1.PullIfNotPresent},
		{name: "default policy of a tagged image uses the local one", ref: "bosun.local/hello:broken"},
		{name: "if not present, missing: pulls and fails", ref: missing, policy: corev1.PullIfNotPresent, wantErr: ErrPull},
		{name: "if not present, present under a registry's name", ref: presentRemote, policy: corev1.PullIfNotPresent},
		{name: "always pulls even when present", ref: presentRemote, policy: corev1.PullAlways, wantErr: ErrPull},
		{name: "always: bosun.local is never pulled", ref: "bosun.local/hello:v1", policy: corev1.PullAlways, wantErr: ErrPull},
		{name: "unknown policy", ref: "bosun.local/hello:v1", policy: "Sometimes", wantErr: errors.New("unknown imagePullPolicy")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			img, err := Ensure(ctx, c, tt.ref, tt.policy)
			if tt.wantErr != nil {
				if err == nil || (!errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error())) {
					t.Fatalf("Ensure(%s, %s) = %v, want %v", tt.ref, tt.policy, err, tt.wantErr)
				}
				if took := time.Since(began); took > 15*time.Second {
					t.Fatalf("Ensure took %s to fail", took)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ensure(%s, %s) = %v", tt.ref, tt.policy, err)
			}
			if img.Name() != tt.ref || !snapshotExists(ctx, t, c, img) {
				t.Fatalf("Ensure(%s) = %s, snapshot exists %v", tt.ref, img.Name(), snapshotExists(ctx, t, c, img))
			}
		})
	}

	t.Run("pull from an unreachable registry fails fast with advice", func(t *testing.T) {
		ref := unreachableRegistry(t) + "/x:y"
		began := time.Now()
		_, err := Pull(ctx, c, ref)
		took := time.Since(began)
		if !errors.Is(err, ErrPull) {
			t.Fatalf("Pull = %v, want ErrPull", err)
		}
		for _, want := range []string{"pull " + ref + ":", "no registry reachable? import it with `bosun image import`"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("Pull error %q lacks %q", err, want)
			}
		}
		if took > 10*time.Second {
			t.Fatalf("Pull took %s to fail against a closed port", took)
		}
		t.Logf("pull failed in %s: %v", took, err)
	})

	t.Run("ensure unpacks an image that was not", func(t *testing.T) {
		img, err := c.GetImage(ctx, "bosun.local/hello:v1")
		if err != nil {
			t.Fatal(err)
		}
		diffIDs, _ := img.RootFS(ctx)
		if err := c.SnapshotService(containerdproc.Snapshotter).Remove(ctx, identity.ChainID(diffIDs).String()); err != nil {
			t.Fatal(err)
		}
		if snapshotExists(ctx, t, c, img) {
			t.Fatal("snapshot still exists after Remove")
		}
		if _, err := Ensure(ctx, c, "bosun.local/hello:v1", corev1.PullNever); err != nil {
			t.Fatal(err)
		}
		if !snapshotExists(ctx, t, c, img) {
			t.Fatal("Ensure did not unpack the image")
		}
	})
}
